"""Serving: what the BentoML service needs at run time."""
