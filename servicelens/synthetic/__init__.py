"""Synthetic data: the generator that plays survey vendor, CRM, QA team and policy catalogue.

May import ``transforms.schemas`` and ``storage.fs``; read by the demo, tests and the benchmark.
"""
