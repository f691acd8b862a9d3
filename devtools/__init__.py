"""Helpers shared by the tests and the benchmark (not shipped): synthetic drawn digits, and running the
real servers on loopback ports."""
