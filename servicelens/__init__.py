"""servicelens: the nightly feedback-survey pipeline.

Packages go down the floors a date travels: ``cli`` -> ``stages`` -> ``ingest`` /
``validation`` / ``storage`` -> ``transforms`` and ``models`` (pure polars and scikit-learn).
``reporting`` reads what is on disk; ``synthetic`` plays the source systems for the demo.
"""

import os

# polars allocates with jemalloc and sets its page decay when imported (dirty pages kept
# 0.5 s, then "muzzy" for 1 s: MADV_FREE, which Linux still counts in the resident set). A
# date frees frames of hundreds of megabytes a second apart, so at a million surveys about
# 0.3 GB of the 3.1 GB peak was memory already freed. Purged straight away once dirty for
# 0.3 s, the peak is 2.8 GB in the same time (25.3 s against 25.7 s, two runs each; purging
# at once cost 30%). polars appends this variable to its own options, so it wins; it must
# be set before polars is imported, and a value already in the environment wins over ours.
# The options are jemalloc's (``man jemalloc``, "opt.dirty_decay_ms", "opt.muzzy_decay_ms");
# the ``_RJEM_`` prefix is that of the jemalloc crate polars links (polars/__init__.py).
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:300,muzzy_decay_ms:0")

import warnings

# urllib3 warns that SOCKS proxies need PySocks each time ``urllib3.contrib.socks`` is
# imported without it; requests imports it once and silences that warning just before, by a
# filter it adds as it is imported. In a served flow run requests is first imported late (by
# Great Expectations, as a date is validated) while Prefect's and pandas' threads enter and
# leave ``warnings.catch_warnings`` blocks, which are not thread-safe before Python 3.14: one
# that leaves puts back the filters it found, without requests' new one, and the warning
# reached serve's output (a trial: "socks.py:50: DependencyWarning: SOCKS support in urllib3
# requires ..." after most runs). Added here, as a process starts, every such block finds
# this filter and puts it back. Matched by message and module: naming urllib3's category
# would import urllib3 (64 ms) into every command.
warnings.filterwarnings(
    "ignore", "SOCKS support in urllib3 requires", Warning, r"urllib3\.contrib\.socks"
)
