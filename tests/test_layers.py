"""The layering holds: transforms and models import without Prefect."""

from __future__ import annotations

import subprocess
import sys


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
