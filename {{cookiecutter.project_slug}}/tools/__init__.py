"""Checks and helpers run from the project's root (`make smoke`, `make bench`); not part of the package
or the bento."""
