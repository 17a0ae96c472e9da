"""A Zendesk source as a support manager runs it (the zendesk preset, ``extends``): what the
report says of its ratings, its agents and the surveys it sets aside. Found by a new-user
trial (trial 99: satisfaction ratings pulled nightly): the report showed no satisfaction at
all, its Agents section could never fill in (the preset mapped no queue), and the offered
surveys the preset sets aside counted as rejected rows. Through the real ``sources run``
(real Prefect, real Parquet read back)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import polars as pl
import pytest

from servicelens.ingest.configured import configured_source
from servicelens.ingest.definitions import DefinitionError, load_definition, resolve_definition_path
from servicelens.reporting.report import _manifests
from servicelens.settings import Settings
from servicelens.storage.partitions import scan_table
from transforms.schemas import DAILY_SUMMARY_VERSION

#: (day, score, assignee, group, requester, reason) of each rating, in delivery order.
RATINGS = [
    ("2026-11-16", "good", 135, 44, 7001, "No reason provided"),
    ("2026-11-16", "good", 135, 44, 7002, None),
    ("2026-11-16", "bad", 136, 45, 7003, "Issue took too long to resolve"),
    ("2026-11-16", "offered", 136, 45, 7004, None),
    ("2026-11-16", "unoffered", 135, 44, 7005, None),
    ("2026-11-17", "good", 136, 45, 7006, None),
    # Requester 7001 back to group 44 the next day: the 16th's contact came back.
    ("2026-11-17", "bad", 135, 44, 7001, "Agent didn't respond"),
    ("2026-11-17", "offered", 135, 44, 7007, None),
    # One a day after (a contact history has no gap): it covers the 16th's and 17th's
    # return windows, so their contacts settle.
    *((f"2026-11-{day}", "good", 137, 46, 7100 + day, None) for day in range(18, 26)),
]


def _download() -> str:
    """:data:`RATINGS` as Zendesk's API export gives them (ids 101...; 18:00 UTC on)."""
    records = []
    for i, (day, score, agent, group, requester, reason) in enumerate(RATINGS):
        at = f"{day}T{18 + i % 5}:00:00Z"
        records.append(
            {"id": 101 + i, "ticket_id": 501 + i, "assignee_id": agent, "group_id": group,
             "requester_id": requester, "score": score,
             "comment": None if "offered" in score else f"ticket {501 + i}",
             "reason": reason, "created_at": at, "updated_at": at}
        )  # fmt: skip
    return json.dumps({"satisfaction_ratings": records, "next_page": None, "count": len(records)})


def _run(folder: Path, definition: str) -> tuple[Settings, str]:
    """The download run as source ``acme-zendesk`` (``definition``'s text) in
    ``folder/data``, two settled contacts enough to judge an agent; its settings and the
    report's text, tags and spacing collapsed."""
    from servicelens.cli.main import main

    data = str(folder / "data")
    (folder / "acme-zendesk.toml").write_text(definition)
    (folder / "ratings.json").write_text(_download())
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SERVICELENS_MIN_AGENT_CONTACTS", "2")
        assert main(["--data-dir", data, "sources", "add", str(folder / "acme-zendesk.toml")]) == 0
        run = ["--data-dir", data, "sources", "run", "acme-zendesk", str(folder / "ratings.json")]
        assert main(run) == 0
    html = (folder / "data" / "reports" / "latest-acme-zendesk.html").read_text()
    return configured_source(Settings(data_dir=data), "acme-zendesk"), html


def _text(html: str, section: str) -> str:
    """The report section ``section`` (its anchor) as text: tags dropped, spaces collapsed."""
    found = re.search(rf'<section id="{section}">(.*?)</section>', html, re.S)
    assert found is not None, section
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


@pytest.fixture(scope="module")
def acme(
    prefect_api: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Settings, str]]:
    """The trial's definition (``extends = "zendesk"``) run on :func:`_download`."""
    yield _run(tmp_path_factory.mktemp("acme"), 'extends = "zendesk"\nname = "acme-zendesk"\n')


def test_the_preset_maps_the_group_as_queue_so_agents_are_judged(
    acme: tuple[Settings, str],
) -> None:
    """A Zendesk group is the queue a ticket was handled in: mapped so, a requester coming
    back to it settles contacts, and both agents are judged on first-contact resolution."""
    settings, html = acme
    clean = scan_table(settings.clean_dir).collect().sort("response_id")
    assert clean.get_column("queue").head(5).to_list() == ["44", "44", "45", "45", "44"]
    assert json.loads(clean.get_column("attributes")[0])["group_id"] == "44"
    agents = (
        scan_table(settings.marts_dir / "agent_outcomes")
        .collect()
        .filter(pl.col("week_start").cast(pl.String) == "2026-11-16")
        .sort("contacts")
    )
    assert agents.select("contacts", "settled_contacts", "came_back", "status").rows() == [
        (2, 2, 0, "judged"),
        (3, 3, 1, "judged"),
        (5, 1, 0, "not settled yet"),
    ]
    said = _text(html, "agents")
    assert "later dates settle them" not in said
    assert "Each dot is one of 2 agents judged that week" in said


def test_a_source_mapping_no_queue_says_contacts_cannot_be_followed_and_what_to_map(
    prefect_api: None, tmp_path: Path
) -> None:
    """A definition of the same ratings mapping no queue: no contact can come back to the
    same queue, so none settles; the report says that and what to map, not "later dates
    settle them"."""
    preset = resolve_definition_path("zendesk").read_text()
    own = preset.replace('queue = "group_id"\n', "").replace(
        'name = "zendesk"', 'name = "acme-zendesk"'
    )
    assert "queue =" not in own
    settings, html = _run(tmp_path, own)
    agents = scan_table(settings.marts_dir / "agent_outcomes").collect()
    assert agents.get_column("settled_contacts").sum() == 0
    said = _text(html, "agents")
    assert "later dates settle them" not in said
    assert (
        "Not available: no agent can be judged: the source definition of acme-zendesk maps "
        "no queue, so a customer coming back to the same queue cannot be followed and no "
        "contact ever settles (later dates will not settle any). Map the column naming the "
        "team or queue that handled each contact as queue in the definition's [columns] "
        "(Zendesk's group_id, as the zendesk preset does; docs/sources.md)" in said
    )


def test_surveys_only_offered_are_set_aside_not_rejected_and_give_the_response_rate(
    acme: tuple[Settings, str],
) -> None:
    """The preset sets aside 2 surveys only offered and 1 never offered: kept in quarantine
    with their reasons, counted apart from the rejects (none here), and the response rate
    is answered / offered: 13 rated of 15 offered (the unoffered one was never sent)."""
    settings, html = acme
    counts = {
        str(m["survey_date"]): (m["set_aside"], m["unanswered"])
        for m in _manifests(settings.clean_dir).iter_rows(named=True)
        if m["set_aside"]
    }
    assert counts == {"2026-11-16": (2, 1), "2026-11-17": (1, 1)}
    quarantine = scan_table(settings.quarantine_dir).collect()
    assert quarantine.height == 3  # nothing lost
    said = _text(html, "quality")
    assert "rejected in their own right" in said  # the rejects, and only they
    assert (
        "survey_date read kept quarantined superseded set_aside rejected rejected_share "
        "response_rate undated malformed reconciled last_run "
        "2026-11-16 5 3 2 0 2 0 0.000 0.750 0 0 true completed "
        "2026-11-17 3 2 1 0 1 0 0.000 0.667 0 0 true completed "
        "2026-11-18 1 1 0 0 0 0 0.000 1.000" in said
    )
    assert "; over these dates 13 answered of 15 offered, 0.867." in said
    assert (
        "set aside acme-zendesk surveys no rating was given (the survey was offered, never "
        "answered): "
        "set aside by the zendesk definition score 2 "
        "set aside acme-zendesk surveys no rating was given (the survey was never sent for "
        "this ticket): set aside by the zendesk definition score 1" in said
    )
    assert "rejected acme-zendesk" not in said
    volumes = _text(html, "volumes")
    assert (
        "Of the 3 quarantined: 0 superseded by a later line or delivery, 3 set aside by the "
        "source definition, 0 rejected." in volumes
    )


def test_an_unanswered_flag_that_is_not_true_or_false_is_refused(tmp_path: Path) -> None:
    """``unanswered`` marks an [[exclude]] rule's rows as surveys offered and never answered;
    a value other than true or false names the rule and says what to write."""
    definition = tmp_path / "z.toml"
    definition.write_text(
        'extends = "zendesk"\nname = "z"\n[[exclude]]\ncolumn = "score"\nin = ["x"]\n'
        'reason = "r"\nunanswered = "yes"\n'
    )
    with pytest.raises(DefinitionError) as refused:
        load_definition(definition)
    assert str(refused.value).endswith(
        "[[exclude]] #1: unanswered = 'yes': write true (the rows are surveys offered and "
        "never answered) or false"
    )


def test_a_two_level_rating_gives_the_satisfied_share_with_counts_and_intervals(
    acme: tuple[Settings, str],
) -> None:
    """Zendesk's satisfaction score is good / (good + bad): 11 good of 13 rated over the
    dates (the offered surveys are not ratings). daily_summary and agent_outcomes count it
    (version 9), and the report gives it in its headline, day by day and per agent, with
    95% Wilson intervals, and the bad ratings by the customer's reason."""
    settings, html = acme
    summary = scan_table(settings.marts_dir / "daily_summary").collect()
    # 9 added the counts; a later version keeps them (contracts only grow).
    assert summary.get_column("schema_version").unique().to_list() == [DAILY_SUMMARY_VERSION]
    days = (
        summary.group_by(pl.col("survey_date").cast(pl.String))
        .agg(pl.col("satisfied").sum(), pl.col("ratings").sum())
        .sort("survey_date")
    )
    assert days.head(3).rows() == [
        ("2026-11-16", 2, 3),
        ("2026-11-17", 1, 2),
        ("2026-11-18", 1, 1),
    ]
    agents = (
        scan_table(settings.marts_dir / "agent_outcomes")
        .collect()
        .filter(pl.col("week_start").cast(pl.String) == "2026-11-16")
        .sort("contacts")
    )
    assert agents.select("ratings", "satisfied", "satisfied_share").rows() == [
        (2, 1, 0.5),
        (3, 2, 2 / 3),
        (5, 5, 1.0),
    ]
    head = " ".join(re.sub(r"<[^>]+>", " ", html.split("<nav>")[0]).split())
    assert (
        "13 valid responses; satisfied share (good / rated) 0.846: 11 good of 13 rated "
        "(95% interval 0.578-0.957); no champion model yet" in head
    )
    said = _text(html, "satisfaction")
    assert (
        "survey_date rated good bad satisfied_share 95% low 95% high "
        "2026-11-16 3 2 1 0.667 0.208 0.939 "
        "2026-11-17 2 1 1 0.500 0.095 0.905 "
        "2026-11-18 1 1 0 1.000 0.207 1.000" in said
    )
    assert (
        "reason bad ratings share of bad Agent didn't respond 1 0.500 "
        "Issue took too long to resolve 1 0.500" in said
    )
    assert "Agents, week of 2026-11-23: satisfied share (good / rated)" in said
    assert re.search(
        r"agent rated good satisfied_share 95% low 95% high agent-[0-9a-f]{12} 3 3 1\.000 "
        r"0\.439 1\.000",
        said,
    )


def test_a_csat_source_has_no_satisfied_share_section(
    acme: tuple[Settings, str],
) -> None:
    """Only a source whose negative is a two-level rating: the sample's report (csat) has
    no such section nor headline words."""
    settings, _ = acme
    from servicelens.reporting.report import rates_satisfaction

    assert rates_satisfaction(settings)
    assert not rates_satisfaction(Settings(data_dir=str(settings.root)))
