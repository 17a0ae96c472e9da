"""Ingest: raw exports in, line-numbered text rows out (decoding, readers, source mappings).

May import ``storage.fs``, ``transforms`` and ``models.pipeline``; never Prefect.
"""
