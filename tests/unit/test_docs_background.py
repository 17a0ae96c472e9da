"""Data Docs pages written on a thread of their own while a date goes on."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from servicelens.validation import docs, expectations


def test_pages_are_written_on_their_thread_and_all_written_when_the_block_ends(
    tmp_path: Path,
) -> None:
    """Inside the block the validation returns its failures without waiting for the page;
    the page is written on the pages' thread, and it is there (with its summary) when the
    block is left."""
    ready = threading.Event()
    threads: list[str] = []
    real = docs.write_data_docs_page

    def slow_page(result: object, page: Path, docs_dir: Path | None = None) -> Path:
        threads.append(threading.current_thread().name)
        assert ready.wait(10), "the caller never went on while its page was pending"
        return real(result, page, docs_dir)

    page = tmp_path / "docs" / "2026-10-01" / "surveys_batch.html"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(expectations, "write_data_docs_page", slow_page)
        with docs.data_docs_in_background():
            failures = expectations.validate_survey_batch(["response_id"], 3, page)
            # The page is still being written (it waits for this): the caller goes on.
            assert not page.exists()
            ready.set()
    assert page.exists()
    assert page.with_name("surveys_batch" + docs.DOCS_SUMMARY_SUFFIX).exists()
    assert "Great Expectations" in page.read_text()
    assert threads and threads[0].startswith("data-docs")
    assert failures and "missing" in failures[0]


def test_outside_the_block_a_page_is_written_before_the_call_returns(tmp_path: Path) -> None:
    page = tmp_path / "docs" / "d" / "surveys_batch.html"
    expectations.validate_survey_batch(["response_id", "submitted_at"], 3, page)
    assert page.exists()


def test_a_page_that_fails_raises_when_the_block_ends(tmp_path: Path) -> None:
    """A page that cannot be written fails the date, as it did when written in place."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the docs folder should be")
    with pytest.raises(OSError), docs.data_docs_in_background():
        expectations.validate_survey_batch(["response_id"], 3, blocker / "d" / "batch.html")


def test_a_failing_block_keeps_its_own_error_and_its_pages_are_finished(tmp_path: Path) -> None:
    page = tmp_path / "docs" / "d" / "surveys_batch.html"
    with pytest.raises(KeyError, match="the block's own"), docs.data_docs_in_background():
        expectations.validate_survey_batch(["response_id"], 3, page)
        raise KeyError("the block's own")
    assert page.exists()


def test_pages_share_one_view_per_process(tmp_path: Path) -> None:
    """Every page renders with the same Jinja environment, so a template is compiled once
    per process, not once per page."""
    for name in ("a", "b"):
        expectations.validate_survey_batch(["response_id"], 3, tmp_path / "d" / f"{name}.html")
    assert docs._page_view() is docs._page_view()
    assert docs._page_view.cache_info().currsize == 1
    assert docs._page_view().env.cache  # compiled templates, kept for the next page
