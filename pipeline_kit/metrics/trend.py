"""A metric quarter by quarter, for trend charts: one call per quarter, stacked."""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import By, as_period
from pipeline_kit.metrics.deals import close_rate, cycle_length, win_rate, won_deal_size
from pipeline_kit.periods import Period

__all__ = ["TREND_METRICS", "quarterly_trend"]

TREND_METRICS: dict[str, tuple[Callable[..., pl.DataFrame], str]] = {
    # metric -> (function, column holding the estimate)
    "win_rate": (win_rate, "win_rate"),
    "close_rate": (close_rate, "close_rate"),
    "avg_won_deal_size": (won_deal_size, "mean"),
    "cycle_length_days": (cycle_length, "mean"),
}


def quarterly_trend(
    ds: Dataset,
    metric: str = "win_rate",
    *,
    end: str | Period,
    quarters: int = 8,
    by: By = None,
) -> pl.DataFrame:
    """``metric`` for each of the ``quarters`` quarters ending with ``end``.

    For a period that is not a quarter, the quarter holding its last day; ``"latest"``: the
    last complete quarter of the data.

    Columns: ``period``, ``period_start``, the metric's own columns (groups, n, interval) and
    ``estimate`` (a copy of the metric's value column, so charts need not know its name).
    """
    if metric not in TREND_METRICS:
        raise KeyError(f"no trend for {metric!r}; available: {', '.join(TREND_METRICS)}")
    fn, column = TREND_METRICS[metric]
    last = as_period(end, ds)
    if not _is_quarter(last):  # a month, half or year: the quarters up to its last day
        last = Period.quarter_of(last.end)
    frames = []
    for back in range(quarters - 1, -1, -1):
        quarter = last.shift(-back)
        frames.append(
            fn(ds, quarter, by=by).with_columns(
                pl.lit(quarter.label).alias("period"),
                pl.lit(quarter.start).alias("period_start"),
                pl.col(column).alias("estimate"),
            )
        )
    return pl.concat(frames, how="vertical_relaxed")


def _is_quarter(period: Period) -> bool:
    try:
        period.shift(0)
    except ValueError:
        return False
    return True
