"""The long format of ``pipeline-kit metrics``: every metric in one tidy frame.

Each declared metric (:mod:`pipeline_kit.metrics.cards`) says how its rows are made; this
module runs them and stacks the rows: ``metric, <by columns>, value, n, ci_low, ci_high,
without_amount, detail, unit, time_basis, period, as_of``. Metrics that do not apply to the
data (no leads table, team-level targets grouped by owner) are left out rather than computed
on the wrong basis.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics import (  # noqa: F401  (each module declares its metrics)
    activity,
    collateral,
    conversion,
    deals,
    durations,
    leads,
    needed,
    pipeline,
    revenue,
    trend,
    winloss,
)
from pipeline_kit.metrics._common import By, as_period, group_columns
from pipeline_kit.metrics._long import LONG_COLUMNS, LongOutput
from pipeline_kit.metrics.cards import CATALOGUE, REGISTRY, metric_names
from pipeline_kit.periods import Period

__all__ = ["LONG_COLUMNS", "WHOLE_EXPORT_METRICS", "metrics_long"]

# an export of leads only (Dataset.leads_only): the figures that need no deal
LEADS_ONLY_METRICS = (
    "leads_created",
    "qualified_leads",
    "lead_conversion_rate",
    "lead_response_hours",
)
WHOLE_EXPORT_METRICS = (
    "deals_won",
    "deals_lost",
    "win_rate",
    "win_rate_by_amount",
    "avg_won_deal_size",
    "median_won_deal_size",
    "bookings",
    "cycle_length_days",
    "lost_reason_share",
    "win_rate_vs_competitor",
)


def metrics_long(
    ds: Dataset,
    period: str | Period,
    *,
    as_of: str | dt.date | None = None,
    by: By = None,
    metrics: list[str] | None = None,
) -> pl.DataFrame:
    """Every requested metric (default: all) in one long frame.

    Columns: ``metric``, the ``by`` columns, ``value``, ``n``, ``ci_low``, ``ci_high`` (null
    where not applicable), ``without_amount`` (figures computed from amounts: the deals of the
    row left out of the value for want of an amount; null for the others), then ``detail``
    (the stage, reason or definition a row is about, for metrics that sub-divide a group; see
    each card), ``unit``,
    ``time_basis``, ``period`` and ``as_of`` (the day a snapshot or cohort is read: the given
    ``as_of``, else the period's last day for snapshots and the last date in the data for
    cohorts; empty for flow metrics).
    """
    period = as_period(period, ds)
    groups = group_columns(by)
    names = metrics or metric_names()
    unknown = [m for m in names if m not in CATALOGUE]
    if unknown:
        raise KeyError(f"unknown metric(s) {', '.join(unknown)}; known: {', '.join(CATALOGUE)}")
    if period.is_all:  # the whole export: flow figures only (a snapshot needs a day)
        dated = [m for m in names if m not in WHOLE_EXPORT_METRICS]
        if metrics and dated:
            raise ValueError(
                f"{', '.join(dated)} need(s) a dated period (a snapshot day or a cohort): "
                "use a period such as 2025-Q4; with period 'all' only "
                f"{', '.join(WHOLE_EXPORT_METRICS)} are computed"
            )
        names = [m for m in names if m in WHOLE_EXPORT_METRICS]
    if ds.leads_only:  # no deals: the lead figures that need none
        needs_deals = [m for m in names if m not in LEADS_ONLY_METRICS]
        if metrics and needs_deals:
            raise ValueError(
                f"{', '.join(needs_deals)} need(s) deals, and the export has leads only: "
                f"{', '.join(LEADS_ONLY_METRICS)} are computed from leads alone"
            )
        names = [m for m in names if m in LEADS_ONLY_METRICS]
    computed: dict[Callable[..., list[pl.DataFrame]], list[pl.DataFrame]] = {}
    frames = []
    for name in names:
        fn = REGISTRY[name].long
        if fn not in computed:
            computed[fn] = fn(ds, period, as_of, groups)
        frames += [f for f in computed[fn] if f.height and f["metric"][0] == name]
    if not frames:
        empty = LongOutput.create_empty()
        by_columns = [pl.lit(None, pl.String).alias(g) for g in groups]
        return empty.select("metric", *by_columns, *LONG_COLUMNS)
    long = pl.concat(frames, how="vertical_relaxed").with_columns(
        pl.lit(period.label).alias("period")
    )
    return long.select(pl.exclude("as_of"), "as_of")
