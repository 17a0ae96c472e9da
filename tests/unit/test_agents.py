"""Agent outcomes on a few contacts, counted by hand; pseudonyms are keyed hashes."""

from __future__ import annotations

import hashlib
import hmac
import stat
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from servicelens.settings import Settings
from transforms.agents import (
    FCR_CLAIMED,
    FCR_OBSERVED,
    NO_CUSTOMER_ID,
    NOT_SETTLED_YET,
    TOO_FEW_CONTACTS,
    agent_outcomes,
    pseudonymise,
)
from transforms.schemas import AGENT_OUTCOMES_SCHEMA

WEEK = date(2026, 10, 5)


def _contacts() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "interaction_id": ["i1", "i2", "i3", "i4", "i5", "i6"],
            "agent_id": ["A1", "A1", "A1", "A2", "A2", None],
            "handle_seconds": [100.0, 1000.0, 400.0, 1700.0, 1900.0, 60.0],
            "transfers": [0, 1, 2, 0, 0, 0],
            "came_back": [False, True, False, False, False, False],
            "settled": [True, True, False, True, True, True],
        }
    )


def _responses() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "agent_id": ["A1", "A1", "A2"],
            "csat": [1, 5, 2],
            "is_negative": [True, False, True],
            "root_cause": ["policy_failure", None, "perceived"],
        }
    )


def test_pseudonyms_are_keyed_hashes_and_stable() -> None:
    ids = pl.Series(["A1", "A2", None, "A1"])
    named = pseudonymise(ids, b"secret").to_list()
    expected = "agent-" + hmac.new(b"secret", b"A1", hashlib.sha256).hexdigest()[:12]
    assert named[0] == named[3] == expected
    assert named[1] != named[0] and named[2] is None
    assert pseudonymise(ids, b"another key").to_list()[0] != expected


def test_outcomes_per_agent_by_hand() -> None:
    rows = agent_outcomes(
        _contacts(), _responses(), WEEK, key=None, min_contacts=2, window_days=7, model_version="m1"
    )
    assert rows.schema == pl.Schema(AGENT_OUTCOMES_SCHEMA)
    by_agent = {row["agent"]: row for row in rows.iter_rows(named=True)}
    a1, a2, nobody = by_agent["A1"], by_agent["A2"], by_agent[None]
    assert a1["contacts"] == 3 and a1["median_handle_seconds"] == 400.0
    assert a1["transfers_per_contact"] == 1.0
    assert (a1["contacts_with_handle_time"], a1["contacts_with_transfers"]) == (3, 3)
    assert (a1["settled_contacts"], a1["came_back"]) == (2, 1)
    assert a1["first_contact_resolution"] == 0.5 and a1["fcr_provisional"]
    assert (a1["responses"], a1["mean_csat"], a1["csat_responses"], a1["negatives"]) == (
        2,
        3.0,
        2,
        1,
    )
    assert (a1["negatives_policy_failure"], a1["negatives_other"]) == (1, 0)
    # The slow agent resolves; the quick one is the failure.
    assert a2["median_handle_seconds"] == 1800.0 and a2["first_contact_resolution"] == 1.0
    assert not a2["fcr_provisional"]
    assert (a2["negatives_policy_failure"], a2["negatives_other"]) == (0, 1)
    assert a1["status"] == a2["status"] == "judged" and a1["agent_ids"] == "as recorded"
    assert nobody["status"] == "no agent recorded" and nobody["agent_ids"] == "none recorded"
    # Ordered by first-contact resolution among the judged, never by handle time.
    assert rows.get_column("agent").to_list() == ["A2", "A1", None]
    assert rows.get_column("week_end").unique().to_list() == [date(2026, 10, 11)]
    assert rows.get_column("return_window_days").unique().to_list() == [7]


def test_too_few_contacts_not_settled_yet_and_no_model_are_said_so() -> None:
    rows = agent_outcomes(
        _contacts(), _responses(), WEEK, key=b"k", min_contacts=3, window_days=7, model_version=None
    )
    judged = rows.filter(pl.col("agent").is_not_null())
    # A1's 3 contacts reach the minimum once its third settles; A2 has 2 in all.
    assert judged.get_column("status").to_list() == [NOT_SETTLED_YET, TOO_FEW_CONTACTS]
    assert judged.get_column("agent_ids").unique().to_list() == ["pseudonymous"]
    assert all(a.startswith("agent-") for a in judged.get_column("agent").to_list())
    # Before any model, the split of negatives is unknown, not zero.
    assert rows.get_column("negatives_policy_failure").null_count() == rows.height
    assert rows.get_column("negatives_other").null_count() == rows.height
    assert judged.get_column("negatives").sum() == 2


@pytest.mark.parametrize("reveal", [True, False])
def test_a_source_without_agents_makes_one_row_that_says_so(reveal: bool) -> None:
    contacts = _contacts().with_columns(pl.lit(None, pl.String).alias("agent_id"))
    responses = _responses().with_columns(pl.lit(None, pl.String).alias("agent_id"))
    rows = agent_outcomes(
        contacts,
        responses,
        WEEK,
        key=None if reveal else b"k",
        min_contacts=1,
        window_days=7,
        model_version="m1",
    )
    assert rows.height == 1
    row = rows.row(0, named=True)
    assert row["status"] == "no agent recorded" and row["agent"] is None
    assert (row["contacts"], row["responses"]) == (6, 3)


def test_the_pseudonym_key_lives_outside_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SERVICELENS_AGENT_KEY")
    key_file = tmp_path / "secrets" / "agent.key"
    settings = Settings(data_dir=str(tmp_path / "data"), agent_key_file=str(key_file))
    key = settings.agent_key()
    assert len(key) == 64 and key_file.read_bytes().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert settings.agent_key() == key  # created once, then read
    inside = Settings(data_dir=str(tmp_path), agent_key_file=str(tmp_path / "agent.key"))
    with pytest.raises(ValueError, match="inside the data directory"):
        inside.agent_key()
    monkeypatch.setenv("SERVICELENS_AGENT_KEY", "from the environment")
    assert inside.agent_key() == b"from the environment"


def test_the_default_key_is_the_projects_whichever_folder_a_command_runs_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Relative to the working directory, a nightly job started from another folder than an
    analyst's backfill made a second key, and one agent got two pseudonyms."""
    import servicelens.settings as settings_module

    checkout = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(tmp_path)
    assert settings_module.project_dir() == checkout  # not the working directory
    monkeypatch.setattr(settings_module, "project_dir", lambda: tmp_path / "project")
    monkeypatch.delenv("SERVICELENS_AGENT_KEY")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    key = Settings(data_dir=str(tmp_path / "data")).agent_key()
    assert (tmp_path / "project" / ".servicelens" / "agent.key").read_bytes().strip() == key
    assert not (elsewhere / ".servicelens").exists()
    # The command line's settings (from the environment) too, unless a key file is named.
    monkeypatch.delenv("SERVICELENS_AGENT_KEY_FILE", raising=False)
    assert Settings.from_env(str(tmp_path / "data")).agent_key() == key
    monkeypatch.setenv("SERVICELENS_AGENT_KEY_FILE", "mine.key")
    named = Settings.from_env(str(tmp_path / "data"))
    assert named.agent_key_file == str(elsewhere / "mine.key")


def test_the_readme_says_the_default_key_is_the_projects() -> None:
    """A new user's trial: the README put the default key "in the working directory" where
    it describes agent outcomes, and in the project's where it describes the cache."""
    readme = " ".join((Path(__file__).resolve().parents[2] / "README.md").read_text().split())
    assert "`.servicelens/agent.key` in the working directory" not in readme
    assert "(default `.servicelens/agent.key` in the project folder, the checkout" in readme


def test_a_key_left_in_the_working_directory_is_not_silently_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Earlier versions kept the default key in the working directory: a second key would
    change every published pseudonym, so the user is asked which to keep."""
    import servicelens.settings as settings_module

    monkeypatch.setattr(settings_module, "project_dir", lambda: tmp_path / "project")
    monkeypatch.delenv("SERVICELENS_AGENT_KEY")
    old = tmp_path / "cron" / ".servicelens" / "agent.key"
    old.parent.mkdir(parents=True)
    old.write_text("the key the published pseudonyms were made with")
    monkeypatch.chdir(tmp_path / "cron")
    with pytest.raises(ValueError, match=r"an agent key is at .*cron/\.servicelens/agent\.key"):
        Settings(data_dir=str(tmp_path / "data")).agent_key()
    moved = tmp_path / "project" / ".servicelens" / "agent.key"
    moved.parent.mkdir(parents=True)
    moved.write_text(old.read_text())  # the same key in both places is fine
    assert Settings(data_dir=str(tmp_path / "data")).agent_key() == old.read_bytes()


def test_returns_inside_open_windows_are_not_counted_as_settled() -> None:
    """Found by a trial: a week whose contact history was never complete had every agent
    "judged" with first-contact resolution 0.000, each settled contact one that came back.
    Only contacts whose window is over count, and came_back counts among them."""
    contacts = pl.DataFrame(
        {
            "interaction_id": [f"i{n}" for n in range(30)],
            "agent_id": ["A1"] * 30,
            "handle_seconds": [100.0] * 30,
            "transfers": [0] * 30,
            "came_back": [True] * 25 + [False] * 5,
            "settled": [False] * 30,
        }
    )
    [row] = agent_outcomes(
        contacts, _responses().head(0), WEEK, key=None, min_contacts=20, window_days=7,
        model_version=None,
    ).iter_rows(named=True)  # fmt: skip
    assert (row["settled_contacts"], row["came_back"]) == (0, 0)
    assert row["first_contact_resolution"] is None and row["status"] == NOT_SETTLED_YET
    assert row["fcr_provisional"]
    # Half the window over: counted over those, came back or not.
    settled = contacts.with_columns((pl.int_range(pl.len()) % 2 == 0).alias("settled"))
    [row] = agent_outcomes(
        settled, _responses().head(0), WEEK, key=None, min_contacts=10, window_days=7,
        model_version=None,
    ).iter_rows(named=True)  # fmt: skip
    assert (row["settled_contacts"], row["came_back"]) == (15, 13)
    assert row["first_contact_resolution"] == pytest.approx(2 / 15)


def test_contacts_without_a_customer_id_are_said_to_be_unmeasurable_not_too_few() -> None:
    """Found by a QA lead's trial: a call log whose definition maps no customer id had every
    agent-week 'too few contacts' at 45-71 contacts and no settled one, and the report said
    later dates would settle them. Without the customer no return can be recognised, so no
    contact ever settles: first-contact resolution cannot be measured."""
    contacts = pl.DataFrame(
        {
            "interaction_id": [f"i{n}" for n in range(50)],
            "customer_id": [None] * 45 + ["C1"] * 5,
            "agent_id": ["A1"] * 45 + ["A2"] * 5,
            "handle_seconds": [300.0] * 50,
            "transfers": [0] * 50,
            # Contacts that cannot be followed (no customer) have no look-forward at all.
            "came_back": [None] * 45 + [False] * 5,
            "settled": [None] * 45 + [True] * 5,
        },
        schema_overrides={"customer_id": pl.String, "came_back": pl.Boolean, "settled": pl.Boolean},
    )
    rows = agent_outcomes(
        contacts, _responses().head(0), WEEK, key=None, min_contacts=20, window_days=7,
        model_version=None,
    )  # fmt: skip
    by_agent = {row["agent"]: row for row in rows.iter_rows(named=True)}
    assert by_agent["A1"]["status"] == NO_CUSTOMER_ID == "no customer id"
    assert (by_agent["A1"]["contacts"], by_agent["A1"]["settled_contacts"]) == (45, 0)
    assert by_agent["A1"]["first_contact_resolution"] is None
    # Some contacts with a customer: they settle, so too few of them is too few.
    assert by_agent["A2"]["status"] == "too few contacts"


def _flagged_contacts(customers: list[str | None], came_back: list[bool | None]) -> pl.DataFrame:
    """Five contacts of agent A1, the source's own resolved flag on four (yes, yes, no, yes;
    one empty), with ``customers`` and their look-forward ``came_back`` (settled where the
    customer is known)."""
    return pl.DataFrame(
        {
            "interaction_id": [f"i{n}" for n in range(5)],
            "customer_id": customers,
            "agent_id": ["A1"] * 5,
            "handle_seconds": [120.0] * 5,
            "transfers": [0] * 5,
            "came_back": came_back,
            "settled": [None if c is None else True for c in customers],
            "resolved_first_contact": [True, True, False, None, True],
        },
        schema_overrides={"customer_id": pl.String, "came_back": pl.Boolean, "settled": pl.Boolean},
    )


def test_without_customer_ids_first_contact_resolution_is_the_resolved_flags_share() -> None:
    """Found by a new-user trial (an outsourced call centre): the call log has no customer
    id, so no return can be seen, and first-contact resolution was null however the log's
    own Resolved Y/N read. Where no contact carries a customer id, it is the share of the
    flagged contacts the flag records resolved: final at once, judged on flagged contacts."""
    contacts = _flagged_contacts([None] * 5, [None] * 5)
    [row] = agent_outcomes(
        contacts, _responses().head(0), WEEK, key=None, min_contacts=4, window_days=7,
        model_version=None,
    ).iter_rows(named=True)  # fmt: skip
    assert row["fcr_measure"] == FCR_CLAIMED == "resolved flag"
    assert (row["flagged_contacts"], row["flagged_resolved"]) == (4, 3)
    assert row["first_contact_resolution"] == pytest.approx(3 / 4)
    assert (row["settled_contacts"], row["came_back"]) == (0, 0)
    assert row["status"] == "judged" and not row["fcr_provisional"]
    [row] = agent_outcomes(
        contacts, _responses().head(0), WEEK, key=None, min_contacts=5, window_days=7,
        model_version=None,
    ).iter_rows(named=True)  # fmt: skip
    assert row["status"] == "too few contacts"  # 4 flagged: not 'no customer id'
    # No flag and no customer: nothing to measure, as before.
    [row] = agent_outcomes(
        contacts.drop("resolved_first_contact"), _responses().head(0), WEEK, key=None,
        min_contacts=4, window_days=7, model_version=None,
    ).iter_rows(named=True)  # fmt: skip
    assert row["status"] == NO_CUSTOMER_ID and row["first_contact_resolution"] is None
    assert row["fcr_measure"] is None and row["flagged_contacts"] == 0


def test_with_customer_ids_and_the_flag_the_observed_returns_win_the_flag_beside_them() -> None:
    """Both measures: the field's FCR is a resolved contact with no repeat contact within a
    window; a customer coming back is observed, the flag is the measured agent's claim. The
    mart's share is the observed one; the claim stays countable beside it."""
    contacts = _flagged_contacts(["C1", "C2", "C3", "C4", "C5"], [True, True, False, False, False])
    [row] = agent_outcomes(
        contacts, _responses().head(0), WEEK, key=None, min_contacts=5, window_days=7,
        model_version=None,
    ).iter_rows(named=True)  # fmt: skip
    assert row["fcr_measure"] == FCR_OBSERVED == "no repeat contact"
    assert row["first_contact_resolution"] == pytest.approx(1 - 2 / 5)
    assert (row["flagged_contacts"], row["flagged_resolved"]) == (4, 3)  # claimed: 0.75
    assert row["status"] == "judged"


def _billing_week(settled: bool) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A week like trial 121's billing queue: pshah takes the price-rise calls (every negative
    perceived, about BILL-PRICE), bwong has a few perceived ones of two policies, and
    dfletcher (installations) the failures; 30 contacts each, ``settled`` or none yet."""
    agents = ["pshah", "bwong", "dfletcher"]
    contacts = pl.DataFrame(
        {
            "interaction_id": [f"{a}-{i}" for a in agents for i in range(30)],
            "customer_id": [f"c-{a}-{i}" for a in agents for i in range(30)],
            "agent_id": [a for a in agents for _ in range(30)],
            "handle_seconds": [400.0] * 90,
            "transfers": [0] * 90,
            "came_back": [False] * 90,
            "settled": [settled] * 90,
        }
    )
    # (agent, policy, root cause, how many negatives); then two satisfied responses each.
    negatives = [
        ("pshah", "BILL-PRICE", "perceived", 12),
        ("bwong", "BILL-PRICE", "perceived", 1),
        ("bwong", "BILL-DD-DATE", "perceived", 2),
        ("dfletcher", "INSTALL-WINDOW", "policy_failure", 8),
        ("dfletcher", "INSTALL-WINDOW", "perceived", 3),
        ("dfletcher", None, "perceived", 1),
    ]
    rows = [(a, p, c, 1, True) for a, p, c, n in negatives for _ in range(n)]
    rows += [(a, "BILL-PRICE", None, 5, False) for a in agents for _ in range(2)]
    responses = pl.DataFrame(
        rows,
        schema=["agent_id", "policy_code", "root_cause", "csat", "is_negative"],
        orient="row",
    )
    return contacts, responses


def test_an_agents_perceived_negatives_name_their_policy() -> None:
    """Trial 121: pshah (billing) had 74 and 88 negatives a week, none a failure, all about
    the explained price rise (BILL-PRICE), read as "the rest" and so as the worst agent;
    nothing in the marts showed they were one policy's. Each agent-week names the policy
    most of its perceived negatives are about and its share; dfletcher's failures still
    stand out."""
    contacts, responses = _billing_week(settled=True)
    rows = agent_outcomes(
        contacts, responses, WEEK, key=None, min_contacts=20, window_days=7, model_version="m1"
    )
    by_agent = {row["agent"]: row for row in rows.iter_rows(named=True)}
    pshah, bwong, dfletcher = by_agent["pshah"], by_agent["bwong"], by_agent["dfletcher"]
    assert (pshah["negatives"], pshah["negatives_policy_failure"], pshah["negatives_other"]) == (
        12,
        0,
        12,
    )
    assert (pshah["top_perceived_policy"], pshah["top_perceived_policy_share"]) == (
        "BILL-PRICE",
        1.0,
    )
    assert bwong["top_perceived_policy"] == "BILL-DD-DATE"
    assert bwong["top_perceived_policy_share"] == pytest.approx(2 / 3)
    # A negative without a policy code counts in the share's denominator, names no policy.
    assert dfletcher["top_perceived_policy"] == "INSTALL-WINDOW"
    assert dfletcher["top_perceived_policy_share"] == pytest.approx(3 / 4)
    shares = {
        agent: row["negatives_policy_failure"] / row["negatives"] for agent, row in by_agent.items()
    }
    assert max(shares, key=lambda agent: shares[agent]) == "dfletcher"
    assert shares["dfletcher"] == pytest.approx(8 / 12) and shares["pshah"] == 0.0
    # Before a model, nothing is perceived yet: no policy named.
    unscored = agent_outcomes(
        contacts,
        responses.with_columns(pl.lit(None, pl.String).alias("root_cause")),
        WEEK,
        key=None,
        min_contacts=20,
        window_days=7,
        model_version=None,
    )
    assert unscored.get_column("top_perceived_policy").null_count() == unscored.height
    assert unscored.get_column("top_perceived_policy_share").null_count() == unscored.height


def test_a_week_with_enough_contacts_none_settled_is_not_settled_yet() -> None:
    """Trial 121's newest week read 'too few contacts' for every agent at 296-499 contacts,
    0 settled: there were enough, their return windows had not passed. An agent with fewer
    contacts than the minimum in all stays 'too few contacts'."""
    contacts, responses = _billing_week(settled=False)
    few = pl.DataFrame(
        {
            "interaction_id": ["x1", "x2"],
            "customer_id": ["cx1", "cx2"],
            "agent_id": ["newstarter", "newstarter"],
            "handle_seconds": [300.0, 200.0],
            "transfers": [0, 0],
            "came_back": [False, False],
            "settled": [False, True],
        }
    )
    rows = agent_outcomes(
        pl.concat([contacts, few]),
        responses,
        WEEK,
        key=None,
        min_contacts=20,
        window_days=7,
        model_version="m1",
    )
    status = dict(zip(rows.get_column("agent"), rows.get_column("status"), strict=True))
    assert status == {
        "pshah": NOT_SETTLED_YET,
        "bwong": NOT_SETTLED_YET,
        "dfletcher": NOT_SETTLED_YET,
        "newstarter": TOO_FEW_CONTACTS,
    }
    assert rows.filter(pl.col("agent") == "dfletcher")["negatives_policy_failure"].item() == 8


def test_an_agent_is_not_charged_for_calls_abandoned_before_anyone_answered() -> None:
    """First-contact resolution is over handled contacts (SQM Group's and ICMI's definition):
    a contact the source flags abandoned is in neither measure. Observed: i2 (flag no, the
    customer came back) and i4 (came back) are abandoned, so 2 settled and none came back,
    not 4 and 2. Reported, without customer ids: i2 and i4 are abandoned, so 2 flagged, both
    resolved, not 4 and 3. An abandoned call is still one of the agent's contacts."""
    abandoned = pl.Series("abandoned", [False, None, True, False, True])
    observed = _flagged_contacts(["c0", "c1", "c2", "c3", "c4"], [False, False, True, None, True])
    [row] = agent_outcomes(
        observed.with_columns(abandoned).filter(pl.col("interaction_id") != "i3"),
        _responses().head(0), WEEK, key=None, min_contacts=1, window_days=7,
        model_version=None,
    ).iter_rows(named=True)  # fmt: skip
    assert (row["contacts"], row["settled_contacts"], row["came_back"]) == (4, 2, 0)
    assert row["first_contact_resolution"] == 1.0
    [row] = agent_outcomes(
        _flagged_contacts([None] * 5, [None] * 5).with_columns(abandoned),
        _responses().head(0), WEEK, key=None, min_contacts=1, window_days=7,
        model_version=None,
    ).iter_rows(named=True)  # fmt: skip
    assert (row["contacts"], row["flagged_contacts"], row["flagged_resolved"]) == (5, 2, 2)
    assert row["first_contact_resolution"] == 1.0


def test_a_week_of_abandoned_calls_is_not_told_to_wait_for_them_to_settle() -> None:
    """fixEZ's 'not settled yet' (enough contacts, too few settled) met fixEX's abandoned
    calls (never counted): a week of 5 contacts, 3 of them abandoned and still in their
    return window, 2 handled and settled, read 'not settled yet' at a minimum of 4, though
    no later date would ever count the abandoned ones. It has too few contacts, and is not
    provisional."""
    contacts = _flagged_contacts(["c0", "c1", "c2", "c3", "c4"], [False] * 5).with_columns(
        pl.Series("abandoned", [False, True, True, False, True]),
        pl.Series("settled", [True, False, False, True, False]),
    )
    [row] = agent_outcomes(
        contacts, _responses().head(0), WEEK, key=None, min_contacts=4, window_days=7,
        model_version=None,
    ).iter_rows(named=True)  # fmt: skip
    assert (row["contacts"], row["settled_contacts"]) == (5, 2)
    assert row["status"] == TOO_FEW_CONTACTS
    assert row["fcr_provisional"] is False
