"""The run report and the Data Docs say what the data on disk says.

One demo flow (Prefect's real engine, Great Expectations, a trained model; see
tests/bi/conftest.py) writes a temporary data directory; each test reads the report and the
Data Docs pages it left, and compares them with the quarantine, the marts, the manifests and
the model's metadata on disk.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.drift import PSI_ALERT
from models.registry import champion_version, read_metadata
from servicelens.reporting.report import confusion_counts
from servicelens.settings import Settings
from servicelens.stages import read_audits
from servicelens.storage.partitions import scan_table
from tests.bi.conftest import DEMO_DAYS, DEMO_START

pytestmark = pytest.mark.slow

START = DEMO_START
DAYS = DEMO_DAYS


@pytest.fixture(scope="module")
def settings(demo_data: Settings) -> Settings:
    return demo_data


class _Tables(HTMLParser):
    """Every table of a page as rows of cell texts (header row included)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._row is not None and self._cell is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _tables(html: str) -> list[list[list[str]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


def _section(settings: Settings, anchor: str) -> str:
    html = (settings.reports_dir / "latest.html").read_text()
    found = re.search(rf'<section id="{anchor}">(.*?)</section>', html, re.S)
    assert found, anchor
    return found.group(1)


def _manifests(settings: Settings) -> list[dict]:
    paths = sorted(settings.clean_dir.glob("survey_date=*/_manifest.json"))
    assert len(paths) == DAYS
    return [json.loads(p.read_text()) for p in paths]


def _kinds_by_hand(reason: str) -> tuple[str, str]:
    """(kind, column) of one reason, read as a person would."""
    for record_kind in ("duplicate delivery", "malformed line", "malformed JSON"):
        if reason.startswith(record_kind + ":"):
            return record_kind, "-"
    column, rest = reason.split(": ", 1)
    problem = rest.removeprefix("(empty) ") if rest.startswith("(empty) ") else rest
    if rest.startswith("'"):
        problem = rest[rest.rindex("' ") + 2 :]
    return problem, column


def test_quarantine_reasons_are_counted_by_their_own_kind(settings: Settings) -> None:
    quarantine = scan_table(settings.quarantine_dir).collect()
    manifests = _manifests(settings)
    superseded = sum(m["counts"]["superseded_duplicates"] for m in manifests)
    malformed = sum(m["counts"]["malformed_lines"] for m in manifests)
    # The generated exports hold both kinds, so the test can tell them apart.
    assert superseded > 0 and malformed > 0

    section = _section(settings, "quality")
    head = ["quarantined_as", "source", "feed", "kind", "column", "rows"]
    (table,) = [t for t in _tables(section) if t[0] == head]
    # Every row of the generated data is the sample source's; the feed tells surveys from
    # interactions.
    assert {s for _, s, *_ in table[1:]} == {"sample"}
    shown = {(a, f, k, c): int(n.replace(",", "")) for a, _, f, k, c, n in table[1:]}
    # The earlier copies a later delivery replaced are counted apart from the rejects, and
    # after them: nothing wrong with them.
    assert shown[("superseded", "surveys", "duplicate delivery", "-")] == superseded
    assert not [key for key in shown if key[0] == "rejected" and key[2] == "duplicate delivery"]
    assert [a for a, *_ in table[1:]] == sorted(a for a, *_ in table[1:])
    assert shown[("rejected", "surveys", "malformed line", "-")] == malformed
    interactions = sum(m["counts"]["interactions_quarantined"] for m in manifests)
    assert shown.get(("rejected", "interactions", "malformed JSON", "-"), 0) == interactions
    expected: Counter[tuple[str, str, str, str]] = Counter()
    for feed, reasons, copy in quarantine.select("feed", "reasons", "superseded").iter_rows():
        quarantined_as = "superseded" if copy else "rejected"
        for kind, column in {_kinds_by_hand(r) for r in reasons}:
            expected[(quarantined_as, feed, kind, column)] += 1
    assert shown == dict(expected)
    assert shown[("rejected", "surveys", "is not a score from 1 to 5", "csat")] > 0
    assert "unreadable line" not in section


def test_the_confusion_matrix_classifies_at_the_models_threshold(settings: Settings) -> None:
    version = champion_version(settings.models_dir)
    assert version is not None
    threshold = float(read_metadata(settings.models_dir, version)["decision"]["threshold"])
    scored = scan_table(settings.marts_dir / "feedback_scored").collect()
    negatives = scored.filter(pl.col("p_policy_failure").is_not_null())
    assert negatives.get_column("model_version").unique().to_list() == [version]
    # The marts classify at the model's threshold...
    at_threshold = negatives.get_column("p_policy_failure") >= threshold
    assert ((negatives.get_column("root_cause") == "policy_failure") == at_threshold).all()
    # ...and so does the report's matrix, and it says which threshold.
    audits = read_audits(settings, [START + timedelta(days=i) for i in range(DAYS)])
    audited = negatives.join(
        audits.select("response_id", pl.col("root_cause").alias("audit_root_cause")),
        "response_id",
    ).filter(pl.col("audit_root_cause").is_in(["perceived", "policy_failure"]))
    y = (audited.get_column("audit_root_cause") == "policy_failure").to_numpy()
    p = audited.get_column("p_policy_failure").to_numpy()
    by_hand = [
        [int((~y & (p < threshold)).sum()), int((~y & (p >= threshold)).sum())],
        [int((y & (p < threshold)).sum()), int((y & (p >= threshold)).sum())],
    ]
    assert confusion_counts(audited) == by_hand
    assert sum(map(sum, by_hand)) == audited.height > 0
    errors = _section(settings, "errors")
    assert f"threshold {threshold:.2f}, as the marts classify" in errors
    assert "threshold 0.5)" not in errors
    model = _section(settings, "model")
    assert f"P(policy_failure) >= {threshold:.2f}" in model
    # Where it comes from, exactly (a trial's QA lead read "chosen on validation data").
    assert "the best macro-F1 (thresholds 0.20 to 0.80" in model
    assert "out-of-fold probabilities of the training slice" in model


def test_drift_is_flagged_at_the_psi_line_of_models_drift(settings: Settings) -> None:
    section = _section(settings, "drift")
    assert f"above {PSI_ALERT} is flagged" in section
    (table,) = [t for t in _tables(section) if t[0] == ["what", "psi", "flag"]]
    for what, value, flag in table[1:]:
        # Flagged only past the line (and past sampling noise, models.drift.judge_psi).
        assert flag in ("DRIFT", "ok") or flag.startswith("not judged: too few rows"), what
        if flag == "DRIFT":
            assert float(value) > PSI_ALERT, what
    # One index recomputed by hand from the marts: the channel mix of the last 3 dates
    # (half of 6) against the 3 before.
    scored = scan_table(settings.marts_dir / "feedback_scored").collect()
    cutoff = START + timedelta(days=DAYS // 2)

    def shares(frame: pl.DataFrame) -> dict[str, float]:
        counts = Counter(frame.get_column("channel").drop_nulls().to_list())
        return {k: v / sum(counts.values()) for k, v in counts.items()}

    before = shares(scored.filter(pl.col("survey_date") < cutoff))
    after = shares(scored.filter(pl.col("survey_date") >= cutoff))
    keys = sorted(set(before) | set(after))
    a = np.clip([before.get(k, 0.0) for k in keys], 1e-4, None)
    b = np.clip([after.get(k, 0.0) for k in keys], 1e-4, None)
    by_hand = float(np.sum((b - a) * np.log(b / a)))
    shown = {what: float(value) for what, value, _ in table[1:]}
    assert shown["channel mix"] == pytest.approx(by_hand, abs=5e-4)


def test_data_docs_list_failing_rows_by_their_line_in_the_file(settings: Settings) -> None:
    quarantine = scan_table(settings.quarantine_dir).collect()
    listed_anywhere = 0
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        page = (settings.gx_docs_dir / str(day) / "surveys_rows.html").read_text()
        failed_lines = set(
            quarantine.filter(
                (pl.col("survey_date") == day)
                & (pl.col("feed") == "surveys")
                & ~pl.col("reasons").list.first().str.starts_with("duplicate delivery")
                & ~pl.col("reasons").list.first().str.starts_with("malformed")
            )
            .get_column("source_line")
            .to_list()
        )
        tables = [t for t in _tables(page) if t and t[0][-1:] == ["source_line"]]
        assert tables, f"{day}: no table of failing rows by source_line"
        assert not [t for t in _tables(page) if t and "_row" in t[0]]
        for table in tables:
            for row in table[1:]:
                lines = [int(x) for x in row[-1].split(", ") if x.strip().isdigit()]
                assert set(lines) <= failed_lines, (day, row)
                listed_anywhere += len(lines)
    assert listed_anywhere > 0


def _asset_references(html: str) -> list[str]:
    return re.findall(r"<(?:link|script|img)\b[^>]*\b(?:href|src)=\"([^\"]+)\"", html)


def test_data_docs_load_their_styles_and_scripts_from_the_data_directory(
    settings: Settings,
) -> None:
    pages = [settings.gx_docs_dir / "index.html"]
    pages += [
        settings.gx_docs_dir / str(START) / f"{s}.html" for s in ("surveys_batch", "surveys_rows")
    ]
    for page in pages:
        html = page.read_text()
        references = _asset_references(html)
        assert references, page
        for reference in references:
            assert not re.match(r"(https?:)?//", reference), (page, reference)
            assert (page.parent / reference.split("?")[0]).resolve().is_file(), (page, reference)
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", html), page
    rows_page = pages[-1].read_text()
    # What GX's template needs to style the page and draw its status column.
    for shipped in (
        "bootstrap.min.css",
        "bootstrap.min.js",
        "jquery.min.js",
        "bootstrap-table.min.js",
        "fontawesome.min.css",
        "solid.min.css",
    ):
        assert any(r.endswith(shipped) for r in _asset_references(rows_page)), shipped
    assert "fas fa-times text-danger" in rows_page  # the status of a failed expectation
    # Every link goes to a file of the site or within the page (found by a trial: GX's
    # home and suite links pointed four folders up, and its footer to its newsletter), and
    # the run is named (its name and time read "__none__", the data asset "None").
    for page in pages[1:]:
        html = page.read_text()
        for link in re.findall(r"<a\b[^>]*\bhref=\"([^\"]+)\"", html):
            if not link.startswith("#"):
                assert (page.parent / link).resolve().is_file(), (page, link)
        assert "__none__" not in html and "Data asset: None" not in html, page
        assert "greatexpectations.io" not in html, page
    crumb = re.search(r"Validations / surveys_rows / [^<]*", rows_page)
    assert crumb and str(START) in crumb.group(0), crumb
    font = settings.gx_docs_dir / "static" / "fontawesome" / "webfonts" / "fa-solid-900.woff2"
    assert font.stat().st_size > 10_000
    assert Path(font).read_bytes()[:4] == b"wOF2"


def test_the_report_lists_what_qa_audits_next_from_the_queues_on_disk(settings: Settings) -> None:
    """The review-queue section counts the queue partitions' items (none audited since in
    this run) and shows the most urgent first, as `servicelens review-queue` does."""
    queue = scan_table(settings.marts_dir / "review_queue").collect()
    assert queue.height > 0
    section = _section(settings, "review-queue")
    uncertain = int((queue.get_column("reason") == "uncertain").sum())
    assert f"{queue.height:,} open items over" in section
    assert f"{uncertain:,} uncertain" in section
    (rows,) = _tables(section)
    top = queue.sort(["priority", "survey_date"], descending=True).get_column("response_id")
    assert rows[1][1] == top[0]


def test_drift_of_a_few_dozen_rows_is_measured_not_flagged(tmp_path: Path) -> None:
    """Found by a QA lead's trial: the report flagged "predicted P(policy_failure), deciles
    ... DRIFT" comparing 28 negatives with 32: too few rows for 10 deciles to tell a shift
    from chance (models.drift.ROWS_PER_BIN per value compared, as a scoring run judges). A
    complete change of a two-valued mix in 30 rows is no chance, and is flagged."""
    from models.drift import ROWS_PER_BIN
    from servicelens.reporting.report import _drift, _Inputs

    days = [START + timedelta(days=i) for i in range(4)]
    # Every check's values change completely between the halves: far past PSI's line.
    scored = pl.DataFrame(
        {
            "survey_date": [d for d in days for _ in range(15)],
            "channel": ["phone"] * 30 + ["chat"] * 30,
            "queue": ["billing"] * 30 + ["returns"] * 30,
            "policy_code": ["P1"] * 30 + ["P2"] * 30,
            "csat": [str(1 + i % 5) for i in range(30)] + ["5"] * 30,
            "transfers": [0] * 30 + [3] * 30,
            "p_policy_failure": [i / 60 for i in range(30)] + [0.5 + i / 60 for i in range(30)],
        }
    )
    inputs = _Inputs(
        Settings(data_dir=str(tmp_path)), pl.DataFrame(), scored, None, None, None, None, None,
        None,
    )  # fmt: skip
    section = _drift(inputs)
    (table,) = [t for t in _tables(section) if t[0] == ["what", "psi", "flag"]]
    assert {what: flag for what, _, flag in table[1:]} == {
        "channel mix": "DRIFT",
        "queue mix": "DRIFT",
        "policy mix": "DRIFT",
        "csat distribution": "not judged: too few rows (30) for 5 values (judged from 50)",
        "transfers distribution": "DRIFT",
        "predicted P(policy_failure), deciles": "not judged: too few rows (30) for 10 values "
        "(judged from 100)",
    }
    assert f"fewer than {ROWS_PER_BIN} rows per value compared is measured, not judged" in section
    assert "4 flag(s)" in section


def test_the_reports_counts_have_thousands_separators(settings: Settings, tmp_path: Path) -> None:
    """Found by a QA lead's trial: the model section read "trained on 18219 audited
    negatives" beside the audit tally's "18,219 used". Every count in the report's prose is
    written 18,219, as its tables and the tally write them (the demo's champion is given the
    trial's counts in a copy of its data directory)."""
    import shutil
    from datetime import UTC, datetime

    from servicelens.reporting.report import render_report

    root = tmp_path / "data"
    shutil.copytree(settings.root, root)
    copy = Settings(data_dir=str(root))
    version = champion_version(copy.models_dir) or ""
    meta_file = copy.models_dir / version / "metadata.json"
    meta = {**json.loads(meta_file.read_text()), "training_rows": 18_219}
    meta_file.write_text(json.dumps(meta))
    metrics_file = copy.models_dir / version / "metrics.json"
    metrics = json.loads(metrics_file.read_text())
    metrics["split"] = {**metrics["split"], "train_rows": 13_725, "test_rows": 4_494}
    metrics_file.write_text(json.dumps(metrics))
    html, _ = render_report(copy, None, datetime.now(UTC))
    assert "trained on 18,219 audited negatives" in html and "(4,494 rows)" in html
    # Prose only: no tables, preformatted text, code, scripts or styles; no dates or times.
    prose = re.sub(r"<(table|pre|code|script|style|svg)\b.*?</\1>", " ", html, flags=re.S)
    prose = re.sub(r"<[^>]+>", " ", prose)
    prose = re.sub(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?", " ", prose)
    prose = re.sub(r"\b\d{8}T\d+Z-[0-9a-f]+\b", " ", prose)  # model versions
    bare = sorted(set(re.findall(r"(?<![\d.,])\d{4,}(?![\d.,]*\d)", prose)))
    assert bare == [], [re.search(rf".{{60}}\b{n}\b.{{30}}", prose) for n in bare]


def test_score_of_a_dates_raw_export_gives_the_marts_rows_and_scores(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by an ML engineer's trial: `score --source sample` of a demo date's
    raw/<date>/surveys.csv never joined its interactions, so 46 of 1,228 root causes and
    p_policy_failure (by up to 0.358) differed from the marts', and ten rows the nightly
    quarantined ("matches no interaction") were scored. It reads the date as the nightly
    does now: the same rows kept, the same scores."""
    from servicelens.cli.main import main

    day = START + timedelta(days=DAYS - 1)
    out = tmp_path / "scored.parquet"
    export = settings.raw_day(day) / "surveys.csv"
    argv = ["--data-dir", str(settings.data_dir), "score", "--source", "sample"]
    assert main([*argv, "--input", str(export), "--output", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    scores = ["root_cause", "p_policy_failure", "needs_review", "top_reasons", "in_training_set"]
    columns = ["response_id", "queue", "sla_met", "fee_excess", *scores]
    mart = (
        scan_table(settings.marts_dir / "feedback_scored", [day])
        .collect()
        .select(columns)
        .sort("response_id")
    )
    scored = pl.read_parquet(out).select(columns).sort("response_id")
    assert mart.get_column("p_policy_failure").is_not_null().sum() > 100
    assert mart.get_column("queue").is_not_null().all()
    assert scored.equals(mart)
    quarantined = scan_table(settings.quarantine_dir, [day]).collect()
    assert summary["quarantined"] == quarantined.filter(pl.col("feed") == "surveys").height
    assert summary["contact_facts"] == "joined" and summary["contact_facts_note"] is None


def test_score_of_an_export_outside_the_raw_zone_says_its_contact_facts_are_missing(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same export copied elsewhere has no interactions to join: the scores will differ
    from the marts', and score says so and why (the trial's printed only a drift line)."""
    from servicelens.cli.main import main

    export = tmp_path / "surveys.csv"
    export.write_bytes((settings.raw_day(START) / "surveys.csv").read_bytes())
    out = tmp_path / "scored.parquet"
    argv = ["--data-dir", str(settings.data_dir), "score", "--source", "sample"]
    assert main([*argv, "--input", str(export), "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "contact-centre facts missing:" in printed
    assert "will differ from the marts'" in printed
    assert str(settings.root / "raw") in printed


def test_the_confusion_matrix_says_the_marts_rows_carry_out_of_fold_scores(
    settings: Settings,
) -> None:
    """Found by an ML engineer's trial: the matrix of the marts' audited rows was called "in
    sample: optimistic", but each label the champion trained on carries its out-of-fold
    score there (in_training_set), which is what the matrix counts."""
    errors = _section(settings, "errors")
    assert "in sample: optimistic" not in errors
    assert "out-of-fold probability the marts carry" in errors
