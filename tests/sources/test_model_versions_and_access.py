"""A data-protection officer's two missing tools, on a configured source run and trained for
real (``sources run --train``, then ``train --source``: two model versions).

Found by the DPO's trial: after ``erase`` and a retrain, the previous version's folder still
held the erased customers' response ids (``out_of_fold.parquet``, ``holdout.parquet``) and
nothing deleted it; ``rm -rf`` left the champion's alias naming it. And an access request
(Art. 15) had no answer but a script of their own over the Parquet.

``models delete`` refuses the champion, deletes another version (a dry run first), and a
rollback to a deleted version says so; ``erase`` names each version holding the subject's
ids with the command that deletes it; ``access`` writes the subject's rows of every layer,
the same rows erase finds, and nothing of another customer's."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.registry import champion_history, champion_version, list_versions
from servicelens.cli.main import main
from servicelens.ingest.configured import configured_source
from servicelens.settings import Settings
from tests.sources.configured_run import run_configured_source

NAME = "pulse-dpo"
DEFINITION = (
    f'name = "{NAME}"\nnegative = "nps"\npseudonymise_agents = false\n[columns]\n'
    'response_id = "ID"\nsubmitted_at = { column = "At", format = "%Y-%m-%d %H:%M" }\n'
    'channel = { value = "phone" }\nqueue = "Queue"\nnps = "NPS"\ncustomer_id = "Customer"\n'
    'comment = "Comment"\n[label]\ncolumn = "Verdict"\n[label.values]\n'
    '"fault" = "policy_failure"\n"as designed" = "perceived"\n'
)
FAILURES = ["the engineer never came", "charged a fee not in my contract", "line dead for days"]
PERCEIVED = ["the fee was in the contract I signed", "I wanted it faster than policy allows"]
#: The subject: customer C007 (responses S0007, S0087, S0167), a quarantined response of
#: theirs (S9001, its time unreadable) and a response by ``c007``, another id in another case.
SUBJECT = "C007"


def _export() -> pl.DataFrame:
    rng = np.random.default_rng(5)
    records = []
    for i in range(240):
        negative = rng.random() < 0.7
        failure = negative and rng.random() < 0.45
        comment = rng.choice(FAILURES if failure else PERCEIVED) if negative else "fine thanks"
        records.append(
            {
                "ID": f"S{i:04d}",
                "At": f"2026-03-{2 + i % 6:02d} {9 + i % 8:02d}:{i % 60:02d}",
                "Queue": str(rng.choice(["billing", "repairs"])),
                "NPS": str(rng.integers(0, 7) if negative else rng.integers(7, 11)),
                "Customer": f"C{i % 80:03d}",
                "Comment": str(comment),
                "Verdict": ("fault" if failure else "as designed") if negative else "",
            }
        )
    odd = [
        {"ID": "S9001", "At": "2026-03-03 nine", "Queue": "billing", "NPS": "2",
         "Customer": SUBJECT, "Comment": "still waiting", "Verdict": ""},
        {"ID": "S9002", "At": "2026-03-04 10:00", "Queue": "billing", "NPS": "9",
         "Customer": SUBJECT.lower(), "Comment": "fine thanks", "Verdict": ""},
    ]  # fmt: skip
    return pl.concat([pl.DataFrame(records), pl.DataFrame(odd)])


@pytest.fixture(scope="module")
def trained(prefect_api: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory whose source has two model versions, the second the champion."""
    tmp = tmp_path_factory.mktemp("dpo")
    data, _ = run_configured_source(tmp, NAME, DEFINITION, _export().write_csv(), "--train")
    assert main(["--data-dir", str(data), "train", "--source", NAME, "--folds", "2"]) == 0
    return data


@pytest.fixture
def data(trained: Path, tmp_path: Path) -> Path:
    """A copy of :func:`trained`'s data directory for one test to change."""
    copy = tmp_path / "data"
    shutil.copytree(trained, copy)
    return copy


def _registry(data: Path) -> Path:
    return data / "models" / "sources" / NAME


def _versions(data: Path) -> tuple[str, str]:
    """The earlier version and the champion (which replaced it)."""
    registry = _registry(data)
    champion = champion_version(registry)
    assert champion is not None
    [earlier] = [v["version"] for v in list_versions(registry) if v["version"] != champion]
    assert champion_history(registry) == [earlier]
    return earlier, champion


def _models(data: Path, *argv: str) -> int:
    return main(["--data-dir", str(data), "models", "--source", NAME, *argv])


def test_delete_refuses_the_champion_and_says_to_promote_or_retrain_first(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, champion = _versions(data)
    capsys.readouterr()
    assert _models(data, "delete", champion, "--yes") == 2
    err = capsys.readouterr().err
    assert err.startswith("servicelens: error: ") and "Traceback" not in err
    assert f"{champion} is the champion" in err
    assert f"models --source {NAME} promote VERSION" in err
    assert f"train --source {NAME}`" in err
    assert (_registry(data) / champion / "model.skops").exists()


def test_delete_is_a_dry_run_without_yes_and_then_deletes_another_version(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier, champion = _versions(data)
    folder = _registry(data) / earlier
    files = sorted(str(f) for f in folder.iterdir())
    capsys.readouterr()
    assert _models(data, "delete", earlier) == 0
    out = capsys.readouterr().out
    assert "dry run, nothing deleted" in out and all(f in out for f in files)
    assert sorted(str(f) for f in folder.iterdir()) == files
    assert _models(data, "delete", earlier, "--yes") == 0
    assert f"deleted {earlier}: {len(files)} files" in capsys.readouterr().out
    assert not folder.exists()
    assert [v["version"] for v in list_versions(_registry(data))] == [champion]
    # No other name reaches outside the registry's versions.
    assert _models(data, "delete", "..", "--yes") == 2
    assert "no such model version" in capsys.readouterr().err
    assert _registry(data).exists()


def test_rollback_to_a_deleted_version_says_it_was_deleted(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier, champion = _versions(data)
    assert _models(data, "delete", earlier, "--yes") == 0
    alias = (_registry(data) / "champion.json").read_text()
    capsys.readouterr()
    assert _models(data, "rollback") == 2
    err = capsys.readouterr().err
    assert err.startswith("servicelens: error: ") and len(err.splitlines()) == 1, err
    assert f"previous version {earlier} was deleted" in err
    assert f"models --source {NAME} promote VERSION" in err
    assert (_registry(data) / "champion.json").read_text() == alias
    assert champion_version(_registry(data)) == champion


def test_erase_names_each_model_version_holding_the_ids_and_how_to_delete_it(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    earlier, champion = _versions(data)
    capsys.readouterr()
    erase = ["--data-dir", str(data), "--json", "erase", "--customer-id", SUBJECT]
    assert main([*erase, "--source", NAME, "--dry-run"]) == 0
    named = {
        Path(item["path"]).name: item["action"]
        for item in json.loads(capsys.readouterr().out)["not_rewritten"]
        if item["what"] == "model version"
    }
    assert set(named) == {earlier, champion}
    assert "out_of_fold.parquet" in named[earlier]
    assert f"models --source {NAME} delete {earlier} --yes" in named[earlier]
    assert "retrain" not in named[earlier]
    assert "retrain (`servicelens" in named[champion]
    assert f"train --source {NAME}`" in named[champion]
    assert f"models --source {NAME} delete {champion} --yes" in named[champion]
    # Erased, then the earlier version deleted: the champion alone still holds them, and
    # erase by response id names it though no partition holds their rows any more.
    responses = ["--response-id", "S0007", "--response-id", "S0087"]
    assert main([*erase, *responses, "--source", NAME, "--yes"]) == 0
    capsys.readouterr()
    assert _models(data, "delete", earlier, "--yes") == 0
    capsys.readouterr()
    argv = ["--data-dir", str(data), "erase", *responses, "--source", NAME, "--dry-run"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "no rows found" in out and f"{champion}" in out and earlier not in out


def _commands(items: list[dict[str, str]]) -> list[list[str]]:
    """The ``servicelens`` commands quoted in ``items``' advice, as argv without the program
    (the ``...`` of a command continuing the one before left out)."""
    quoted = re.findall(r"`servicelens ([^`]*)`", " ".join(i["action"] for i in items))
    return [command.split() for command in quoted]


def test_erase_in_a_directory_of_configured_sources_gives_only_advice_that_runs(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Found by a card issuer's trial: erase (every source) named ``models: <data>/models``,
    which holds only ``sources/``, and advised ``servicelens train``, which refuses in a data
    directory without sample dates; the source's own registry was named rightly."""
    capsys.readouterr()
    argv = ["--data-dir", str(data), "--json", "erase", "--customer-id", SUBJECT, "--dry-run"]
    assert main(argv) == 0
    items = json.loads(capsys.readouterr().out)["not_rewritten"]
    registries = [i["path"] for i in items if i["what"] == "models"]
    assert registries == [str(_registry(data))]
    commands = _commands(items)
    assert ["train", "--source", NAME] in [c[-3:] for c in commands], commands
    for command in commands:
        if "--data-dir" not in command:
            command = ["--data-dir", str(data), *command]
        if "delete" in command or "train" in command:
            # Not run here (they change the registry): asked for the way that runs.
            assert "--source" in command, command
            continue
        assert main(command) == 0, command
    capsys.readouterr()
    assert main(["--data-dir", str(data), "train"]) == 2  # why the sample's advice is wrong
    assert "holds no sample dates" in capsys.readouterr().err


def _snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` but the command logs, with its bytes."""
    files = sorted(f for f in root.glob("**/*") if f.is_file() and "logs" not in f.parts)
    return {str(f): f.read_bytes() for f in files}


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_access_writes_the_subjects_rows_of_every_layer_and_nothing_of_anothers(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = configured_source(Settings(data_dir=str(data)), NAME)
    source.audits_dir.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
    (source.audits_dir / "qa.csv").write_text(  # type: ignore[operator]
        "response_id,root_cause,audited_at,auditor\n"
        "S0087,policy_failure,2026-03-20,ann\nS0001,perceived,2026-03-20,ann\n"
    )
    before = _snapshot(data)
    capsys.readouterr()
    assert (
        main(["--data-dir", str(data), "--json", "erase", "--customer-id", SUBJECT, "--dry-run"])
        == 0
    )
    erase_rows = json.loads(capsys.readouterr().out)["rows_by_table"]
    out = tmp_path / "answer"
    argv = ["--data-dir", str(data), "access", "--customer-id", f" {SUBJECT}", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert _snapshot(data) == before  # nothing changed
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    subject_responses = {"S0007", "S0087", "S0167", "S9001"}
    assert set(summary["ids_found"]["response_id"]) == subject_responses
    # The rows erase finds, layer by layer: one locator.
    for table, rows in erase_rows.items():
        layer = table.split("/", 1)[1]
        assert summary["rows_by_layer"][layer] == rows, layer
        assert len(_csv_rows(out / summary["files"][layer])) == rows
        assert re.search(rf"^{layer}\s+{rows}\s+{layer}\.csv$", printed, re.M), printed
    assert {"landed", "clean", "contacts", "quarantine", "feedback_scored"} <= {
        t.split("/", 1)[1] for t in erase_rows
    }
    [quarantined] = _csv_rows(out / "quarantine.csv")
    assert quarantined["record_id"] == "S9001" and quarantined["from_source"] == NAME
    assert quarantined["from_file"].endswith("part-0.parquet") and quarantined["from_date"]
    [audit] = _csv_rows(out / "audits.csv")
    assert (audit["response_id"], audit["audit_status"]) == ("S0087", "in force")
    models = _csv_rows(out / "models.csv")
    assert {r["model_version"] for r in models} == set(_versions(data))
    assert {r["response_id"] for r in models} <= subject_responses
    # Nothing of another customer: every id in every file is the subject's.
    for file in out.glob("*.csv"):
        text = file.read_text(encoding="utf-8")
        assert set(re.findall(r"\b[Cc]\d{3}\b", text)) <= {SUBJECT}, file
        assert set(re.findall(r"\bS\d{4}\b", text)) <= subject_responses, file
    # c007 is another id: named, with the command that includes it, not included.
    assert "c007: not included" in printed
    assert f"--customer-id {SUBJECT} --customer-id c007" in printed
    # An answer is not mixed into another's folder.
    assert main(argv) == 2
    assert "holds files already" in capsys.readouterr().err


def test_delete_and_rollback_in_an_object_store_registry(
    trained: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry's delete goes through the store's own layer (a moto S3 server): the
    version's objects go, the champion's stay, and the rollback says what was deleted."""
    from models.registry import ModelFileError, delete_version, rollback_champion
    from servicelens.storage.fs import RemotePath, filesystem
    from tests.scale.test_object_store_commands import s3_server

    earlier, champion = _versions(trained)
    with s3_server(monkeypatch) as store:
        url = f"{store.url}/models/sources/{NAME}"
        for path in sorted(_registry(trained).rglob("*")):
            if path.is_file():
                key = f"{url}/{path.relative_to(_registry(trained))}"
                filesystem("s3").put_file(str(path), key)
        registry = RemotePath(url)
        with pytest.raises(ModelFileError, match=f"{champion} is the champion"):
            delete_version(registry, champion)
        deleted = delete_version(registry, earlier)
        assert {f.name for f in deleted} >= {"model.skops", "out_of_fold.parquet"}
        filesystem("s3").invalidate_cache()
        assert not (registry / earlier).exists()
        assert (registry / champion / "model.skops").exists()
        with pytest.raises(ModelFileError, match=f"previous version {earlier} was deleted"):
            rollback_champion(registry)
        assert champion_version(registry) == champion
