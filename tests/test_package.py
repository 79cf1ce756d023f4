"""The package's public surface: names resolve on first use, imports stay light."""

from __future__ import annotations

import subprocess
import sys

import pipeline_kit as pk
from pipeline_kit import metrics


def _imported_after(code: str) -> set[str]:
    """Modules loaded in a fresh interpreter after running ``code``."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"{code}\nimport sys\nprint(' '.join(k for k, m in sys.modules.items() if m))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return set(out.split())


def test_every_public_name_resolves_to_what_it_says():
    assert callable(pk.compare) and pk.compare.__name__ == "compare"  # not the module
    assert pk.load.__module__ == "pipeline_kit.loading"
    assert pk.TeamReport.__name__ == "TeamReport"
    assert set(metrics.__all__) <= set(pk.__all__)
    for name in pk.__all__:
        assert getattr(pk, name) is not None, name
    assert set(pk.__all__) <= set(dir(pk))


def test_import_is_light_and_workers_skip_altair_and_scipy():
    bare = _imported_after("import pipeline_kit")
    assert not {"altair", "scipy", "polars"} & bare
    worker = _imported_after("import pipeline_kit._report_worker")
    assert "altair" not in worker and "scipy" not in worker
    assert "nbformat" in worker and "rfc3987_syntax" not in worker  # its 1.2 s grammar skipped
    star = _imported_after("from pipeline_kit import *\nassert callable(win_rate)")
    assert "altair" in star  # the full API is there when asked for


def test_comparisons_and_reports_reach_no_private_name_of_another_module():
    """The comparisons package, the report data and the report sections use public helpers
    of the metric layer (closed_in, cycle_cohort, wilson_interval, ...), never a private one."""
    import ast
    from pathlib import Path

    root = Path(pk.__file__).parent
    files = [*(root / "comparisons").glob("*.py")]
    files += [root / "report_data.py", root / "team_report.py", root / "org_report.py"]
    private = []
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                own = node.module.startswith("pipeline_kit.comparisons") and path.parent.name == (
                    "comparisons"
                )
                private += [
                    f"{path.name}: {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__") and not own
                ]
    assert private == []
