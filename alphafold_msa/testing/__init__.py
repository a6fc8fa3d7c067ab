"""Helpers for tests and benchmarks: generated weights in the official layout."""
