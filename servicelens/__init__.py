"""servicelens: the nightly feedback-survey pipeline.

Packages go down the floors a date travels: ``cli`` -> ``stages`` -> ``ingest`` /
``validation`` / ``storage`` -> ``transforms`` and ``models`` (pure polars and scikit-learn).
``reporting`` reads what is on disk; ``synthetic`` plays the source systems for the demo.
"""
