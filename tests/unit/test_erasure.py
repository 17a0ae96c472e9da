"""The erasure list's matching: which rows are an erased subject's (servicelens.erasure)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from servicelens.erasure import Eraser, hashed_id
from servicelens.ingest.readers import RawRead, Reject

KEY = b"test key"


def test_an_id_is_kept_hashed_under_the_key_and_whitespace_is_not_part_of_it() -> None:
    assert hashed_id(KEY, " C1 ") == hashed_id(KEY, "C1")
    assert hashed_id(KEY, "C1") != hashed_id(b"other key", "C1")
    assert "C1" not in hashed_id(KEY, "C1")


def test_rows_match_by_any_id_column_and_by_a_whole_token_of_their_record() -> None:
    frame = pl.DataFrame(
        {
            "customer_id": ["C1", "C2", None, "C3", " C1"],
            "record_id": [None, None, "R9", None, None],
            "raw_record": [None, None, None, '{"customer_id":"C1x","note":"C1-2"}', None],
        }
    )
    eraser = Eraser(KEY).with_ids(["C1", "R9"])
    assert eraser.mask(frame).to_list() == [True, False, True, False, True]
    kept, erased = eraser.without_erased(frame)
    assert erased == 3 and kept.get_column("customer_id").to_list() == ["C2", "C3"]


def test_a_malformed_line_holding_the_id_as_a_token_matches() -> None:
    frame = pl.DataFrame({"raw_record": ['R1,I"broken,C7', "R2,I3,C77", None]})
    eraser = Eraser(KEY).with_ids(["C7"])
    assert eraser.mask(frame).to_list() == [True, False, False]


def test_a_read_leaves_out_erased_rows_and_rejects_and_says_how_many() -> None:
    read = RawRead(
        path="x.csv",
        encoding="utf-8",
        header=["response_id"],
        frame=pl.DataFrame({"response_id": ["R1", "R2"]}),
        rejects=[Reject(3, "R1,,oops", "ragged"), Reject(4, "R5,,oops", "ragged")],
    )
    kept, dropped = Eraser(KEY).with_ids(["R1"]).without_erased_read(read)
    assert dropped == 2
    assert kept.frame.get_column("response_id").to_list() == ["R2"]
    assert [r.line for r in kept.rejects] == [4]


def test_an_interaction_reader_counts_the_records_it_leaves_out_as_skipped() -> None:
    def read_file(path: str, sha256: str, keep: pl.Expr | None = None) -> RawRead:
        frame = pl.DataFrame({"interaction_id": ["I1", "I2"], "customer_id": ["C1", "C2"]})
        return RawRead(path, "utf-8", list(frame.columns), frame)

    read = Eraser(KEY).with_ids(["C2"]).reading(read_file)("i.jsonl", "sha")
    assert read.frame.get_column("interaction_id").to_list() == ["I1"]
    assert read.records_read == 2  # the file's records: one kept, one skipped


def test_an_empty_eraser_matches_nothing_and_returns_the_reader_itself() -> None:
    def read_file(path: str, sha256: str, keep: pl.Expr | None = None) -> RawRead:
        raise AssertionError("not called")

    frame = pl.DataFrame({"customer_id": ["C1"]})
    assert not Eraser()
    assert Eraser().without_erased(frame) == (frame, 0)
    assert Eraser().reading(read_file) is read_file


def test_a_partition_of_an_older_contract_is_written_back_with_the_new_columns_null(
    tmp_path: Path,
) -> None:
    """Erasing from a quarantine partition written before contract 3 (no reason kinds, no
    schema_version) failed: the rewrite held the rows to the current contract. The columns
    added since are written null, as readers read them in such partitions."""
    from datetime import date

    from servicelens.erasure import erase_day
    from servicelens.settings import Settings
    from servicelens.storage.partitions import read_partition, write_partition
    from transforms.schemas import CLEAN_RESPONSE_SCHEMA, QUARANTINE_ROW_SCHEMA

    settings = Settings(data_dir=str(tmp_path / "data"))
    day = date(2026, 3, 2)
    row = {c: None for c in QUARANTINE_ROW_SCHEMA} | {
        "record_id": "N7",
        "raw_record": '{"ID": "N7", "Customer": "C2", "At": "nine"}',
        "source_file": "export.csv",
        "source_line": 5,
        "feed": "surveys",
        "reasons": ["submitted_at: 'nine' is not a timestamp"],
    }
    older = pl.DataFrame([row, {**row, "record_id": "N8", "raw_record": '{"Customer": "C3"}'}])
    older = older.select(c for c in QUARANTINE_ROW_SCHEMA if c in older.columns)
    folder = settings.quarantine_dir / f"survey_date={day}"
    folder.mkdir(parents=True)  # type: ignore[union-attr]
    typed = {c: t for c, t in QUARANTINE_ROW_SCHEMA.items() if c in older.columns}
    older.cast(typed).write_parquet(folder / "part-0.parquet")  # type: ignore[operator]
    clean = pl.DataFrame(schema=CLEAN_RESPONSE_SCHEMA)  # erase_day rewrites the two together
    write_partition(clean, settings.clean_dir, day, CLEAN_RESPONSE_SCHEMA, {}, settings.staging_dir)
    erase_day(settings, day, Eraser(KEY).with_ids(["C2"]), "e-1")
    left = read_partition(settings.quarantine_dir, day)
    assert left.get_column("record_id").to_list() == ["N8"]
    assert left.get_column("reason_kinds").to_list() == [None]


def test_the_rewritten_manifests_count_only_the_rows_left(tmp_path: Path) -> None:
    """Erasing kept the manifest's failed_expectations, malformed_lines, superseded and
    redaction counts of the erased rows: the manifests disagreed with their partitions
    (every count of rows is checked against what the rows left say)."""
    from datetime import date

    from servicelens.erasure import erase_day
    from servicelens.settings import Settings
    from servicelens.stages import SUPERSEDED_BY_A_FAILED_COPY
    from servicelens.storage.partitions import read_manifest, write_partition
    from servicelens.validation.reasons import with_reason_kinds
    from transforms.schemas import CLEAN_RESPONSE_SCHEMA, QUARANTINE_ROW_SCHEMA, QUARANTINE_SCHEMA

    settings = Settings(data_dir=str(tmp_path / "data"))
    day = date(2026, 3, 2)
    clean = pl.DataFrame(
        {
            "response_id": ["R1", "R2"],
            "customer_id": ["C1", "C2"],
            "comment": ["fine", "mail me at [EMAIL]"],
            "is_negative": [False, True],
        }
    )
    clean = clean.with_columns(
        pl.lit(None, kind).alias(c) for c, kind in CLEAN_RESPONSE_SCHEMA.items() if c not in clean
    )
    base = {c: None for c in QUARANTINE_ROW_SCHEMA} | {"feed": "surveys", "superseded": False}
    rows = [  # C2's: a failed row, a malformed line, an earlier copy; C1's failed row
        base
        | {
            "record_id": "R3",
            "raw_record": '{"Customer": "C2", "c": "[EMAIL]"}',
            "reasons": [
                "csat: '9' is not a score from 1 to 5",
                "nps: '99' is not a score from 0 to 10",
            ],
        },
        base
        | {
            "raw_record": "R4,C2,broken",
            "reasons": ["malformed line: 3 fields where the header has 9"],
        },
        base
        | {
            "record_id": "R2",
            "raw_record": '{"Customer": "C2"}',
            "superseded": True,
            "reasons": ["duplicate delivery: superseded by line 3" + SUPERSEDED_BY_A_FAILED_COPY],
        },
        base
        | {
            "record_id": "R5",
            "raw_record": '{"Customer": "C1"}',
            "reasons": ["csat: '7' is not a score from 1 to 5"],
        },
    ]
    rows.append(  # C2's survey offered and never answered, set aside by the definition
        base | {"record_id": "R6", "raw_record": '{"Customer": "C2"}',
                "reasons": ["Status: 'offered' was never answered"]}
    )  # fmt: skip
    quarantine = with_reason_kinds(
        pl.DataFrame(rows, schema=QUARANTINE_ROW_SCHEMA), ["was never answered"]
    ).with_columns(pl.lit(3, pl.Int32).alias("schema_version"))
    no_pii = dict.fromkeys(["email", "phone"], 0)
    counts = {
        "surveys_read": 7,
        "kept": 2,
        "quarantined": 5,
        "set_aside": 1,
        "superseded_duplicates": 1,
        "withdrawn": 1,
        "malformed_lines": 1,
        "failed_expectations": {"csat": 2, "nps": 1},
        "negatives": 1,
        "rated": 2,
        "redacted": no_pii | {"email": 2},
        "erased": 0,
    }
    for table_dir, frame, schema in (
        (settings.clean_dir, clean, CLEAN_RESPONSE_SCHEMA),
        (settings.quarantine_dir, quarantine, QUARANTINE_SCHEMA),
    ):
        write_partition(frame, table_dir, day, schema, {"counts": counts}, settings.staging_dir)
    erase_day(settings, day, Eraser(KEY).with_ids(["C2", "R2", "R3", "R4"]), "e-1")
    after = read_manifest(settings.quarantine_dir, day)["counts"]  # type: ignore[index]
    assert after == {
        "surveys_read": 7,
        "kept": 1,
        "quarantined": 1,
        "set_aside": 0,
        "erased": 5,
        "superseded_duplicates": 0,
        "exact_duplicates": 0,
        "withdrawn": 0,
        "malformed_lines": 0,
        "failed_expectations": {"csat": 1},
        "negatives": 0,
        "rated": 1,
        "redacted": no_pii,
        "interactions_quarantined": 0,
        "interactions_erased": 0,
    }
    assert read_manifest(settings.clean_dir, day)["counts"] == after  # type: ignore[index]


def test_erased_audit_rows_locates_a_subjects_audits_as_the_reader_leaves_them_out(
    tmp_path: Path,
) -> None:
    """``erase`` names QA's rows of the subject by file and line (QA's file is not
    rewritten): the audits whose response id is erased, whitespace aside, and a malformed
    line holding it as a word; the same rows the audits' reader leaves out."""
    from servicelens.ingest.audits import erased_audit_rows, read_audit_files

    folder = tmp_path / "raw" / "2026-11-23"
    folder.mkdir(parents=True)
    audits = folder / "audits.csv"
    audits.write_text(
        "response_id,root_cause,audited_at,auditor\n"
        "R1,perceived,2026-11-24,a\n"
        " R9 ,policy_failure,2026-11-24,a\n"
        "R9,perceived,2026-11-24,a,x,y\n"
        "R2,perceived,2026-11-24,a\n"
    )
    eraser = Eraser(b"key").with_ids(["R9"])
    found = erased_audit_rows([audits], eraser)
    assert found == [{"file": str(audits), "sheet": None, "lines": [3, 4]}]
    assert erased_audit_rows([audits], Eraser(b"key").with_ids(["R7"])) == []
    read = read_audit_files([audits], "UTC", eraser=eraser)
    assert read.erased == 2
    assert "R9" not in read.set_aside.write_ndjson() + read.audits.write_ndjson()
    assert read.audits.get_column("response_id").to_list() == ["R1", "R2"]


def test_the_erase_summary_groups_the_html_reports_as_a_folder_and_a_count() -> None:
    """Found by a trial: the dry run and the summary listed each of ~60 HTML reports on its
    own line; the text gives their folder and count, the result (record, --json) each."""
    from servicelens.cli.erase import _not_rewritten_lines
    from servicelens.erasure import ErasureResult

    action = "may quote the subject's comments: deleted with --delete-reports"
    reports = [
        {"what": "HTML report", "path": f"/data/reports/report-{n:02d}.html", "action": action}
        for n in range(60)
    ]
    raw = {"what": "raw file", "path": "/data/raw/sources/q/a.csv", "action": "delete it"}
    result = ErasureResult(dry_run=True, not_rewritten=[raw, *reports])
    lines = _not_rewritten_lines(result)
    assert lines == [
        "Not rewritten (holding the subject's data):",
        "  raw file: /data/raw/sources/q/a.csv\n    delete it",
        "  HTML reports: 60 in /data/reports (each named in the erasure record and --json)\n"
        f"    {action}",
    ]
    assert len(result.as_dict()["not_rewritten"]) == 61
