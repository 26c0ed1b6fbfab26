"""Monitoring: the training reference, drift and feedback."""
