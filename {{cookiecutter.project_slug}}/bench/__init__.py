"""`make bench` and `make load`: the service measured against the in-process limit and two alternatives."""
