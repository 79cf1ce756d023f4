"""pipeline_kit: sales-pipeline analysis for Jupyter.

>>> import pipeline_kit as pk
>>> ds = pk.load("data/sample")                             # doctest: +SKIP
>>> pk.win_rate(ds, "2025-Q4", by="team")                   # doctest: +SKIP
>>> pk.explain("win_rate")                                  # doctest: +SKIP

The public names are imported on first use (PEP 562), so ``import pipeline_kit`` is quick and
a process that only needs part of the kit (a report worker, the CLI) never imports the rest:
Altair and SciPy alone take over two seconds.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("pipeline_kit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

_SUBMODULES = ("charts", "exercises", "synthetic")
_OBJECTS = {
    "DataError": "pipeline_kit.errors",
    "Dataset": "pipeline_kit.dataset",
    "OrgReport": "pipeline_kit.org_report",
    "Period": "pipeline_kit.periods",
    "TeamReport": "pipeline_kit.team_report",
    "backtest_forecast": "pipeline_kit.forecasting",
    "catalogue_table": "pipeline_kit.catalogue",
    "compare": "pipeline_kit.comparisons",
    "explain": "pipeline_kit.catalogue",
    "forecast": "pipeline_kit.forecasting",
    "load": "pipeline_kit.loading",
    "mix_adjusted_win_rate": "pipeline_kit.comparisons",
    "probability_calibration": "pipeline_kit.forecasting",
    "rep_win_rates": "pipeline_kit.comparisons",
}
# ... and every name of pipeline_kit.metrics.__all__ (the metric functions and their cards)


def _metric_names() -> list[str]:
    return list(importlib.import_module("pipeline_kit.metrics").__all__)


def __getattr__(name: str) -> Any:
    if name == "__all__":
        own = sorted([*_OBJECTS, *_SUBMODULES, "__version__"])
        return own + [m for m in _metric_names() if m not in own]
    if name in _SUBMODULES:
        value = importlib.import_module(f"pipeline_kit.{name}")
    elif name in _OBJECTS:
        value = getattr(importlib.import_module(_OBJECTS[name]), name)
    elif not name.startswith("_") and name in _metric_names():
        value = getattr(importlib.import_module("pipeline_kit.metrics"), name)
    else:
        raise AttributeError(f"module 'pipeline_kit' has no attribute {name!r}")
    globals()[name] = value  # next time: a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__getattr__("__all__")))


if TYPE_CHECKING:  # what the names are, for type checkers and editors
    # ruff: noqa: F401
    from pipeline_kit import charts, exercises, synthetic
    from pipeline_kit.comparisons import compare, mix_adjusted_win_rate, rep_win_rates
    from pipeline_kit.dataset import Dataset
    from pipeline_kit.errors import DataError
    from pipeline_kit.forecasting import backtest_forecast, forecast, probability_calibration
    from pipeline_kit.loading import load
    from pipeline_kit.metrics import *  # noqa: F403

    # isort: split
    from pipeline_kit.catalogue import catalogue_table, explain  # after metrics: pk.explain
    from pipeline_kit.org_report import OrgReport
    from pipeline_kit.periods import Period
    from pipeline_kit.team_report import TeamReport
