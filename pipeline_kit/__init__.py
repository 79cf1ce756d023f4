"""pipeline_kit: sales-pipeline analysis for Jupyter.

>>> import pipeline_kit as pk
>>> ds = pk.load("data/sample")                             # doctest: +SKIP
>>> pk.win_rate(ds, "2025-Q4", by="team")                   # doctest: +SKIP
>>> pk.explain("win_rate")                                  # doctest: +SKIP
"""

from importlib.metadata import PackageNotFoundError, version

from pipeline_kit import charts, datasets, exercises
from pipeline_kit.compare import compare, mix_adjusted_win_rate, rep_win_rates
from pipeline_kit.dataset import Dataset
from pipeline_kit.errors import DataError
from pipeline_kit.loading import load
from pipeline_kit.metrics import *  # noqa: F403  (the metric functions, see metrics.__all__)
from pipeline_kit.metrics import __all__ as _metric_names
from pipeline_kit.org_report import OrgReport
from pipeline_kit.periods import Period
from pipeline_kit.team_report import TeamReport

try:
    __version__ = version("pipeline_kit")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "DataError",
    "Dataset",
    "OrgReport",
    "Period",
    "TeamReport",
    "__version__",
    "charts",
    "compare",
    "mix_adjusted_win_rate",
    "rep_win_rates",
    "datasets",
    "exercises",
    "load",
    *_metric_names,
]
