"""Benchmarks of the pipeline at scale (``make bench``); not part of the test suite."""
