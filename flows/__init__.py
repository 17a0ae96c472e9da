"""Prefect flows: thin wiring of :mod:`servicelens` stages into tasks, schedules and backfills."""

# servicelens first: it sets polars' allocator options, read before polars is imported.
import servicelens  # noqa: F401
