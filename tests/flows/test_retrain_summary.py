"""The served retrain's summary artifact says what a promotion leaves to do: the dates
published before there was a champion stay unscored until the backfill it names, in the
words ``train`` and ``run`` print (``servicelens.cli.models.rescore_hint``). Real configured
source run, real retrain flow on the tests' Prefect API, the artifact read back from it.

Found by a UK energy supplier's QA lead: the ``retrain-summary`` artifact of "2 promoted"
said nothing of the published dates, which stayed without root causes until ``backfill
--rerun all``; only the ``run`` output said so."""

from __future__ import annotations

from pathlib import Path

import pytest

from servicelens.cli.models import rescore_hint
from servicelens.ingest.configured import configured_source
from servicelens.settings import Settings
from tests.flows.test_backfill import _artifact
from tests.sources.configured_run import run_configured_source
from tests.sources.test_train_and_score import VENDOR_MAPPING, _vendor_export


@pytest.mark.slow
def test_the_retrain_summary_says_the_published_dates_stay_unscored_until_a_backfill(
    prefect_api: None, tmp_path: Path
) -> None:
    from flows.pipeline import train

    data, _ = run_configured_source(
        tmp_path, "acme-vendor", VENDOR_MAPPING, _vendor_export().write_csv()
    )
    state = train(data_dir=str(data), folds=2, return_state=True)
    assert state.is_completed(), state.message
    [row] = state.result()
    assert row["outcome"] == "promoted"
    vendor = configured_source(Settings(data_dir=str(data)), "acme-vendor")
    hint = rescore_hint(vendor, vendor.models_dir, vendor.source)
    assert hint is not None and "not scored at all" in hint and "--rerun all" in hint
    assert row["note"] == hint
    summary = _artifact(state.state_details.flow_run_id, "retrain-summary")
    assert f"- acme-vendor: {hint}" in summary.data, summary.data
