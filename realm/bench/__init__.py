"""Benchmarks: the wiring layer that runs several stages end to end (like realm.cli)."""
