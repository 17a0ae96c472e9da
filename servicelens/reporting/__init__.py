"""Reporting: the run report and its charts, the data dictionary, the analyst queries.

Reads what is on disk through ``storage``, ``models.registry`` and ``transforms``; never Prefect.
"""
