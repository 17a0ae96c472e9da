"""The layering holds: transforms and models import without Prefect, and models/ does its
frame work in polars only where it is listed below."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

MODELS = Path(__file__).resolve().parents[1] / "models"

#: Frame libraries ``models/`` should not need: frames are built and taken apart in
#: ``transforms/`` or the caller, and models take numpy arrays, sequences and dicts.
FRAME_LIBRARIES = ("polars", "pyarrow")

#: Where models/ still uses polars, by module and top-level name ("*": the whole module).
#: ``native_text`` is the tokeniser engine inside the fitted TF-IDF estimators, so it stays.
#: The rest take or return frames at calls in ``flows/`` and ``servicelens/cli/models.py``
#: (``train_root_cause_model`` with the ``TrainingResult`` it returns and ``_rows``, where it
#: turns frames into feature frames and arrays; ``score_negatives``;
#: ``tfidf_baseline_report``); the steps of training within take pandas feature frames and
#: numpy arrays. They leave models/ when those callers do the frame work.
#: ``pipeline.feature_frame`` builds the pandas frame the Pipeline reads from a
#: ``models.spec.FeatureSpec``, which transforms/ may not import. The registry's Parquet
#: readers are imported by ``servicelens/reporting/report.py`` too, so they move with it.
#: Shrink this list as pieces move; the test fails on a name that no longer uses polars.
POLARS_STILL_IN_MODELS: dict[str, frozenset[str]] = {
    "native_text": frozenset({"*"}),
    "pipeline": frozenset({"feature_frame"}),
    "registry": frozenset(
        {
            "save_model",
            "read_out_of_fold",
            "read_trained_facts_only",
            "read_holdout",
            "_write_parquet",
            "_read_parquet",
        }
    ),
    "train": frozenset(
        {
            "TrainingResult",
            "_rows",
            "score_negatives",
            "tfidf_baseline_report",
            "train_root_cause_model",
        }
    ),
}


def test_transforms_and_models_do_not_import_prefect() -> None:
    code = (
        "import sys, transforms.clean, transforms.marts, transforms.schemas, "
        "transforms.repeat_contacts, transforms.fix_list, transforms.agents, "
        "transforms.early_warning, "
        "models.pipeline, models.train, models.evaluate, models.registry; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('prefect', 'great_expectations')]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _frame_names(tree: ast.Module) -> set[str]:
    """The names a module binds to a frame library (``pl``, ``pa``, ``DataFrame``...)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in FRAME_LIBRARIES:
                    names.add((alias.asname or alias.name).split(".")[0])
        elif (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] in FRAME_LIBRARIES
        ):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _polars_users(path: Path) -> set[str]:
    """The top-level names of ``path`` whose code or annotations use a frame library, with
    "*" for a module-level statement other than the import itself."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    frame = _frame_names(tree)
    users: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if any(isinstance(n, ast.Name) and n.id in frame for n in ast.walk(node)):
            named = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            users.add(node.name if named else "*")
    if frame and not users:
        users.add("*")  # imported and unused is still an import
    return users


def test_models_use_polars_only_where_listed() -> None:
    found = {path.stem: _polars_users(path) for path in sorted(MODELS.glob("*.py"))}
    unlisted = {
        module: sorted(names - POLARS_STILL_IN_MODELS.get(module, frozenset()))
        for module, names in found.items()
        if names - POLARS_STILL_IN_MODELS.get(module, frozenset())
        and "*" not in POLARS_STILL_IN_MODELS.get(module, frozenset())
    }
    assert not unlisted, (
        f"models/ uses polars or pyarrow in {unlisted}: build and take frames apart in "
        "transforms/ or the caller, and pass models numpy arrays, sequences or dicts"
    )
    stale = {
        module: sorted(names - found.get(module, set()))
        for module, names in POLARS_STILL_IN_MODELS.items()
        if names - found.get(module, set())
    }
    assert not stale, f"no longer use polars (drop them from POLARS_STILL_IN_MODELS): {stale}"


#: polars methods that run a Python function inside polars' thread pool.
PYTHON_CALLBACKS = frozenset({"map_elements", "map_batches", "map_rows", "map_groups"})


def test_no_python_callback_runs_in_polars_pool() -> None:
    """No pipeline code hands polars a Python function to call: the callback waits for the
    GIL in polars' thread pool, and a thread that holds the GIL while it waits on that pool
    (scoring's ``to_pandas``) waits for good. A fresh clone's ``make demo`` hung so, reading
    audits on one thread while scoring on another (py-spy dump of the hung process); the
    code-page answers of validation's reasons were the last such call. Python work on values
    is done on the distinct values and mapped back with ``replace_strict``."""
    root = MODELS.parent
    found = [
        f"{path.relative_to(root)}:{node.lineno} .{node.func.attr}"
        for package in ("servicelens", "transforms", "models", "flows")
        for path in sorted((root / package).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in PYTHON_CALLBACKS
    ]
    assert not found, found
