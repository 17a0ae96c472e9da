"""Validation: the Great Expectations suites (as code), checkpoints and Data Docs.

May import ``transforms``; never Prefect, storage or ingest.
"""
