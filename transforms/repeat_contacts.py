"""Repeat contacts, derived from the interaction history across dates (pure polars).

The CRM's ``prior_contacts`` is whatever the CRM counted; these count from the interactions
themselves. A *contact* is one interaction: ``interaction_id``, ``customer_id``, ``queue``,
``started_at`` (UTC). Two contacts are the same problem coming back when the same customer
contacted the same queue.

* Looking back (:func:`with_earlier_contacts`): how many contacts the customer made with the
  queue in the :data:`LOOKBACK_DAYS` before this one started. Known when the response is
  scored, so the model may use it.
* Looking forward (:func:`with_returns`): whether the customer came back within a window
  (7 days by default). Only known once the window has passed: until then a contact whose
  customer has not come back is *provisional* (``settled`` false). It is the basis of
  first-contact resolution.
"""

from __future__ import annotations

from datetime import date, datetime

import polars as pl

from transforms.schemas import (
    ABANDONED,
    CONTACT_SCHEMA,
    RESOLVED_FLAG,
    conform,
    with_contract_columns,
)

#: How far back :func:`with_earlier_contacts` counts, in days (the issue's "previous 30 days").
LOOKBACK_DAYS = 30
#: Days after a contact within which the customer coming back means it was not resolved.
DEFAULT_RETURN_WINDOW_DAYS = 7

_KEYS = ["customer_id", "queue"]


def contacts_from_interactions(interactions: pl.DataFrame, day: date) -> pl.DataFrame:
    """The contacts of one interaction export (``prepare_interactions`` output), partition
    ``day``, in :data:`transforms.schemas.CONTACT_SCHEMA` (rows without an id are dropped:
    validation quarantines them where they matter; an export without a resolved or abandoned
    flag, as the sample's are, has it null)."""
    return conform(
        with_contract_columns(
            interactions.filter(pl.col("interaction_id").is_not_null()).with_columns(
                pl.lit(day).alias("survey_date")
            ),
            {name: CONTACT_SCHEMA[name] for name in (RESOLVED_FLAG, ABANDONED)},
        ),
        CONTACT_SCHEMA,
    )


def contacts_with_unsurveyed(
    surveyed: pl.DataFrame, fed: pl.DataFrame, feed_ids: pl.Series
) -> pl.DataFrame:
    """The contacts of a source's partition whose contact-facts feed names each contact's
    customer: every contact the feed dates in the partition, surveyed or not, and the
    surveyed contacts the feed lacks; one row per ``interaction_id``, in
    :data:`transforms.schemas.CONTACT_SCHEMA`.

    ``surveyed``: the partition's clean rows as contacts
    (:func:`transforms.clean.contacts_from_responses`: joined to the feed, its facts won
    where it gives them, so a surveyed ticket's customer and queue are the survey row's where
    the feed has none). ``fed``: the feed's rows started in the partition
    (:func:`contacts_from_interactions`). ``feed_ids``: every interaction id the partition's
    surveys were joined to (the look-back days' too). A surveyed contact whose ticket the
    feed dates in an earlier partition is that partition's contact, not this one's, so a
    ticket is one contact however many rows name it (a trial's agent read first-contact
    resolution 1.0 where the customer's unrated ticket two days later made it 0.875).
    """
    own = fed.get_column("interaction_id")
    kept = surveyed.filter(
        pl.col("interaction_id").is_in(own.implode())
        | ~pl.col("interaction_id").is_in(feed_ids.implode())
    )
    unsurveyed = fed.join(kept.select("interaction_id"), on="interaction_id", how="anti")
    return conform(
        pl.concat([kept, unsurveyed], how="vertical_relaxed")
        .unique("interaction_id", keep="first", maintain_order=True)
        .sort("started_at", "interaction_id", nulls_last=True),
        CONTACT_SCHEMA,
    )


def _history(history: pl.DataFrame) -> pl.LazyFrame:
    """One row per contact (the latest export of an interaction wins), keyed for matching.

    Lazy: run eagerly, each step copied the day's history, and the copies were the 1M
    date's memory peak (about 570 MB on its two million contacts, against 150-270 MB lazily).
    """
    return (
        history.lazy()
        .select("interaction_id", *_KEYS, "started_at")
        .filter(pl.all_horizontal(pl.col(k).is_not_null() for k in ["interaction_id", *_KEYS]))
        .filter(pl.col("started_at").is_not_null())
        .unique("interaction_id", keep="last", maintain_order=True)
        .rename({"interaction_id": "other_id", "started_at": "other_started_at"})
    )


def _pairs(contacts: pl.DataFrame, history: pl.DataFrame) -> pl.LazyFrame:
    """Every (contact, other contact of the same customer and queue) pair (lazy)."""
    return (
        contacts.lazy()
        .select("interaction_id", *_KEYS, "started_at")
        .unique("interaction_id", keep="last")
        .join(_history(history), on=_KEYS, how="inner")
        .filter(pl.col("other_id") != pl.col("interaction_id"))
    )


def with_earlier_contacts(
    responses: pl.DataFrame, history: pl.DataFrame, days: int = LOOKBACK_DAYS
) -> pl.DataFrame:
    """Add ``repeat_contacts_30d``: contacts in ``history`` by the same customer with the same
    queue that started in the ``days`` days before each response's interaction started.

    ``responses`` carry ``interaction_id``, ``customer_id``, ``queue`` and ``started_at``
    (UTC); ``history`` the same columns for every contact known (any dates, the responses'
    own contacts included: a contact is never counted as its own predecessor). A response
    without a customer, queue or start time gets null (unknown), one with no earlier contact 0.
    """
    earlier = (
        _pairs(responses, history)
        .filter(
            (pl.col("other_started_at") < pl.col("started_at"))
            & (pl.col("other_started_at") >= pl.col("started_at") - pl.duration(days=days))
        )
        .group_by("interaction_id")
        .agg(pl.col("other_id").n_unique().alias("_earlier"))
        .collect()
    )
    # One column, in the responses' order: joining the counts onto the responses themselves
    # would copy every column of a day's responses (hundreds of megabytes at a million).
    counts = (
        responses.select("interaction_id")
        .join(earlier, on="interaction_id", how="left", maintain_order="left")
        .get_column("_earlier")
    )
    known = pl.all_horizontal(pl.col(c).is_not_null() for c in [*_KEYS, "started_at"])
    return responses.with_columns(
        pl.when(known).then(pl.lit(counts).fill_null(0)).cast(pl.Int16).alias("repeat_contacts_30d")
    )


def with_returns(
    contacts: pl.DataFrame,
    history: pl.DataFrame,
    window_days: int = DEFAULT_RETURN_WINDOW_DAYS,
    known_until: datetime | pl.Expr | None = None,
) -> pl.DataFrame:
    """Add the look-forward of each contact: ``came_back``, ``days_to_return``, ``settled``.

    ``came_back`` is true when ``history`` holds a later contact of the same customer with
    the same queue that started within ``window_days`` days after this one (started_at <
    other <= started_at + window). ``days_to_return`` is the gap to the first such contact,
    in days. ``settled`` says the contact's window is over: the history is complete up to
    ``known_until`` (UTC; an expression over ``contacts`` gives each contact its own, as
    far as the history runs unbroken from the contact's day; None: complete forever) and the
    window ended by then. Only settled
    contacts may be counted for first-contact resolution: a return inside a window still
    open is final for its contact, but counting it while the contacts that will not come
    back wait would bias the share towards returns (a trial's agents were judged on a week
    whose history was never complete: first-contact resolution 0.000, every settled contact
    one that came back). An unsettled ``came_back = false`` is provisional. Contacts without
    a customer, queue or start time cannot be followed: all three are null.
    """
    window = pl.duration(days=window_days)
    returns = (
        _pairs(contacts, history)
        .filter(
            (pl.col("other_started_at") > pl.col("started_at"))
            & (pl.col("other_started_at") <= pl.col("started_at") + window)
        )
        .group_by("interaction_id")
        .agg(
            (
                (pl.col("other_started_at").min() - pl.col("started_at").first()).dt.total_seconds(
                    fractional=True
                )
                / 86_400
            ).alias("days_to_return")
        )
        .collect()
    )
    trackable = pl.all_horizontal(pl.col(c).is_not_null() for c in [*_KEYS, "started_at"])
    known = known_until if isinstance(known_until, pl.Expr) else pl.lit(known_until)
    window_over = (
        pl.lit(True)
        if known_until is None
        else ((pl.col("started_at") + window) <= known.cast(pl.Datetime("us", "UTC"))).fill_null(
            False
        )
    )
    came_back = pl.col("days_to_return").is_not_null()
    return contacts.join(returns, on="interaction_id", how="left").with_columns(
        pl.when(trackable).then(came_back).alias("came_back"),
        pl.when(trackable).then(window_over).alias("settled"),
    )
