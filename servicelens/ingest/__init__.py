"""Ingest: raw exports in, canonical text rows out (decoding, readers, source definitions and
their presets, landing). May import ``storage``, ``settings``, ``transforms`` and
``models.pipeline``; never Prefect.
"""
