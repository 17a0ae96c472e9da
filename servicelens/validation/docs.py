"""Great Expectations Data Docs: every validation as a page people can read, offline.

Each validation result is rendered by GX's own page renderer and template (the ones its Data
Docs sites use) into ``<docs>/<survey date>/<suite>.html``; ``<docs>/index.html`` lists them
all. GX's template loads Bootstrap, jQuery, bootstrap-table and Font Awesome from CDNs, which
never load here: the same files, shipped in ``servicelens/validation/assets/`` (see its
README), are copied to ``<docs>/static/`` and the pages point at them. Anything else the
template fetches from the network is removed from the page.

Great Expectations is imported only to render a page, so the report (which writes the index)
starts without it.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import re
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from typing import Any

#: Summary written beside each Data Docs page; the index is built from these.
DOCS_SUMMARY_SUFFIX = ".summary.json"
#: The shipped assets, and where they go under a Data Docs folder.
ASSETS_DIR = Path(__file__).resolve().parent / "assets"
STATIC_DIR_NAME = "static"

#: Each CDN file of GX's page template -> the shipped file(s) that replace it.
CDN_TO_SHIPPED: dict[str, tuple[str, ...]] = {
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css": (
        "bootstrap/bootstrap.min.css",
    ),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": (
        "bootstrap/bootstrap.min.js",
    ),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery/jquery.min.js",),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js": (
        "popper.js/popper.min.js",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css": (
        "bootstrap-table/bootstrap-table.min.css",
    ),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js": (
        "bootstrap-table/bootstrap-table.min.js",
    ),
    # GX's renderers draw solid icons only (the status column's check and cross).
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css": (
        "fontawesome/css/fontawesome.min.css",
        "fontawesome/css/solid.min.css",
    ),
}

_ASSET_TAG = re.compile(
    r"<link\b[^>]*\bhref=\"(?P<href>[^\"]+)\"[^>]*>"
    r"|<script\b[^>]*\bsrc=\"(?P<src>[^\"]+)\"[^>]*>\s*</script>"
    r"|<img\b[^>]*\bsrc=\"(?P<img>[^\"]+)\"[^>]*>",
    re.IGNORECASE,
)
_REMOTE = re.compile(r"^(https?:)?//", re.IGNORECASE)
_REMOTE_CSS_URL = re.compile(r"url\(\s*['\"]?(https?:)?//[^)]*\)", re.IGNORECASE)
#: GX's own images (its logo, the favicon) ship in its package; the template loads them from
#: a web bucket or a folder of a Data Docs site that does not exist here.
_GX_IMAGES = ("logo-long.png", "favicon.ico")


def _write_text_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk's part-written page
        raise


def _copy_atomically(source: Path, target: Path) -> None:
    # Several dates (threads, Dask workers) may install the assets at once: each file is
    # written under a scratch name and renamed, so a page never sees half a file.
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        tmp.write_bytes(source.read_bytes())
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _gx_images_dir() -> Path | None:
    # Found, not imported: importing GX takes seconds, and the index does not need it.
    spec = importlib.util.find_spec("great_expectations")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(spec.submodule_search_locations[0]) / "render" / "view" / "static" / "images"
    return folder if folder.is_dir() else None


def install_assets(docs_dir: Path) -> Path:
    """Copy the shipped assets (and GX's logo and favicon) to ``docs_dir/static``, unless
    the same ones are there already; returns that folder."""
    static = docs_dir / STATIC_DIR_NAME
    files = sorted(p for p in ASSETS_DIR.rglob("*") if p.is_file() and p.name != "README.md")
    fingerprint = hashlib.sha256(
        "\n".join(f"{p.relative_to(ASSETS_DIR)}:{p.stat().st_size}" for p in files).encode()
    ).hexdigest()
    marker = static / ".assets"
    if marker.exists() and marker.read_text() == fingerprint:
        return static
    for source in files:
        _copy_atomically(source, static / source.relative_to(ASSETS_DIR))
    images = _gx_images_dir()
    for name in _GX_IMAGES:
        if images is not None and (images / name).exists():
            _copy_atomically(images / name, static / "images" / name)
    _write_text_atomically(marker, fingerprint)
    return static


def _local_tag(url: str) -> str:
    if url.endswith(".css"):
        return f'<link rel="stylesheet" href="{url}">'
    return f'<script src="{url}"></script>'


def point_at_shipped_assets(html: str, static_from_page: str) -> str:
    """Rewrite a GX page so it loads only files under ``static_from_page`` (the static
    folder, relative to the page): CDN files become the shipped copies, GX's images its
    packaged ones, and every other remote stylesheet, script or image is removed."""

    def replace(match: re.Match[str]) -> str:
        url = match.group("href") or match.group("src") or match.group("img")
        base = url.split("?", 1)[0]
        if base in CDN_TO_SHIPPED:
            return "".join(_local_tag(f"{static_from_page}/{f}") for f in CDN_TO_SHIPPED[base])
        name = base.rsplit("/", 1)[-1]
        if name in _GX_IMAGES and (_REMOTE.match(url) or "static/images/" in url):
            return match.group(0).replace(url, f"{static_from_page}/images/{name}")
        if _REMOTE.match(url):
            return ""
        return match.group(0)

    return _REMOTE_CSS_URL.sub("none", _ASSET_TAG.sub(replace, html))


#: GX's links to its own site's layout (validations/<suite>/<run>/<time>/<batch>.html):
#: the home page four folders up, and a suite's page, which this site does not publish.
_GX_HOME = re.compile(r'href="(?:\.\./)+index\.html"')
_GX_SUITE_LINK = re.compile(r'<a href="(?:\.\./)+expectations/[^"]*"\s*>([^<]*)</a>')
#: GX's footer: a link to its newsletter (a page that works offline links nowhere else).
_GX_FOOTER = re.compile(r"<footer>.*?</footer>", re.DOTALL)


def site_links(html: str, index_from_page: str) -> str:
    """A GX page's links made this site's: home is ``index_from_page`` (the index, relative
    to the page), a suite's name is text (no suite pages are published here), and GX's
    newsletter footer goes. Found by a trial: 112 home links and 56 suite links pointed
    four folders up, outside the docs."""
    html = _GX_HOME.sub(f'href="{index_from_page}"', html)
    html = _GX_SUITE_LINK.sub(r"\1", html)
    return _GX_FOOTER.sub("", html)


@functools.cache
def _page_view() -> Any:
    """GX's page view, made once per process: each view has its own Jinja environment, which
    compiles every template it renders the first time (0.04-0.1 s a page, paid again by each
    page of each date when a view was made per page). Jinja's environments may render on
    several threads at once."""
    from great_expectations.render.view import DefaultJinjaPageView

    return DefaultJinjaPageView()


def write_data_docs_page(result: Any, page: Path, docs_dir: Path | None = None) -> Path:
    """Render one validation result as a Great Expectations Data Docs page at ``page``.

    ``docs_dir`` is the Data Docs folder whose ``static/`` the page loads its styles and
    scripts from (default: the page's grandparent, ``<docs>/<survey date>/<page>``). A
    summary (suite, success, statistics) is written beside the page for the index.
    """
    from great_expectations.render.renderer import ValidationResultsPageRenderer

    docs_dir = docs_dir or page.parent.parent
    static = install_assets(docs_dir)
    validated_at = datetime.now(UTC)
    # What GX's page shows as run name, run time and data asset (it read "__none__" and
    # "None" on every page: found by a trial).
    result.meta["run_id"] = {"run_name": page.parent.name, "run_time": validated_at.isoformat()}
    batch_spec = result.meta.get("batch_spec")
    if isinstance(batch_spec, dict) and not batch_spec.get("data_asset_name"):
        result.meta["batch_spec"] = {**batch_spec, "data_asset_name": page.stem}
    document = ValidationResultsPageRenderer().render(result)
    html = site_links(
        point_at_shipped_assets(
            _page_view().render(document),
            Path(os.path.relpath(static, page.parent)).as_posix(),
        ),
        Path(os.path.relpath(docs_dir / "index.html", page.parent)).as_posix(),
    )
    page.parent.mkdir(parents=True, exist_ok=True)
    _write_text_atomically(page, html)
    summary = {
        "suite": result.suite_name,
        "success": bool(result.success),
        "statistics": dict(result.statistics),
        "validated_at": validated_at.isoformat(),
    }
    _write_text_atomically(
        page.with_name(page.stem + DOCS_SUMMARY_SUFFIX), json.dumps(summary, default=str)
    )
    return page


class _PagesInBackground:
    """The Data Docs pages being written on a thread for one block of work."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="data-docs")
        self.pages: list[Future[Path]] = []


_IN_BACKGROUND: ContextVar[_PagesInBackground | None] = ContextVar(
    "servicelens_data_docs_in_background", default=None
)


@contextmanager
def data_docs_in_background() -> Iterator[None]:
    """Inside this block, pages given to :func:`write_page_soon` are written on a thread of
    their own while the block goes on; leaving the block waits for every one of them.

    A page is for people, not for the rest of the date: nothing the date computes reads it.
    Written on the main thread, the batch page held a 100k date 0.3 s before it could read
    the interactions (GX's renderers and Jinja, in Python). Rendering still takes the GIL,
    so where the date is itself busy in Python the time only moves: a 100k date took as
    long either way (medians of ten alternating runs), while at 1M, where the pages overlap
    polars' reading and staging, the date took 0.4 s less (with the collector change of
    :mod:`servicelens.runtime`; medians of three).

    Raises: a page's own error (an unwritable folder, say), when leaving a block that
    raised nothing itself; a block that raised keeps its error, after its pages are done.
    """
    pages = _PagesInBackground()
    token = _IN_BACKGROUND.set(pages)
    failed = False
    try:
        yield
    except BaseException:
        failed = True
        raise
    finally:
        _IN_BACKGROUND.reset(token)
        pages.pool.shutdown(wait=True)
        if not failed:
            for written in pages.pages:
                written.result()


def write_page_soon(write: Callable[[], Path]) -> None:
    """Run ``write`` (which writes one Data Docs page) on the pages' thread inside a
    :func:`data_docs_in_background` block, or now outside one (its errors raised here)."""
    pages = _IN_BACKGROUND.get()
    if pages is None:
        write()
    else:
        pages.pages.append(pages.pool.submit(write))


def write_data_docs_index(docs_dir: Path) -> Path | None:
    """Write ``docs_dir/index.html`` listing every Data Docs page below it; None if none."""
    rows = []
    for summary_path in sorted(docs_dir.rglob(f"*{DOCS_SUMMARY_SUFFIX}")):
        summary = json.loads(summary_path.read_text())
        page = summary_path.with_name(summary_path.name.removesuffix(DOCS_SUMMARY_SUFFIX) + ".html")
        stats = summary.get("statistics", {})
        passed = bool(summary.get("success"))
        verdict = "passed" if passed else "failed"
        rows.append(
            f"<tr><td>{escape(summary_path.parent.name)}</td>"
            f'<td><a href="{escape(os.path.relpath(page, docs_dir))}">'
            f"{escape(str(summary.get('suite')))}</a></td>"
            f'<td class="{verdict}">{verdict}</td>'
            f"<td>{stats.get('successful_expectations', '?')} of "
            f"{stats.get('evaluated_expectations', '?')}</td>"
            f"<td>{escape(str(summary.get('validated_at')))}</td></tr>"
        )
    if not rows:
        return None
    static = install_assets(docs_dir)
    index = docs_dir / "index.html"
    _write_text_atomically(
        index,
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<title>Great Expectations Data Docs: servicelens validations</title>"
        f'<link rel="stylesheet" href="{static.name}/bootstrap/bootstrap.min.css">'
        "<style>.failed { color: #a00; font-weight: 600; } .passed { color: #006b3c; }</style>"
        "</head><body class='container-fluid p-4'><h1>Data Docs: every validation</h1>"
        "<p>One page per suite run, newest run of each date. A failed row suite means rows "
        "went to quarantine with their reasons (the pages list them by their line in the "
        "survey file, as the quarantine does); a failed batch suite stopped the date.</p>"
        "<table class='table table-sm table-bordered'><thead><tr><th>survey date</th>"
        "<th>suite</th><th>result</th><th>expectations met</th><th>validated at (UTC)</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></body></html>",
    )
    return index
