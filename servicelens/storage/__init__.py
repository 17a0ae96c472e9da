"""Storage: local and object-store paths, partitions and manifests, locks, per-date state.

May import ``transforms`` and ``checkpoints``; never Prefect, ingest or models.
"""
