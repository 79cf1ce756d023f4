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
