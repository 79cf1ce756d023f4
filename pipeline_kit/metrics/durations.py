"""Censoring-aware durations: sales-cycle length by Kaplan-Meier, beside the naive figures.

Averaging the cycle of closed deals only is biased: the deals still open are the slow ones,
and they are left out. Kaplan-Meier keeps them as *censored* observations ("open for at least
this long"), so the median it gives reflects the whole cohort.
"""

from __future__ import annotations

import datetime as dt

import dataframely as dy
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import (
    By,
    amount_column,
    as_period,
    basis_column,
    by_group,
    check_by,
    count_column,
    cycle_cohort,
    empty_output,
    flag_column,
    group_columns,
    km_by_group,
    resolve_cohort_as_of,
    share_column,
    stage_groups,
    time_basis,
)
from pipeline_kit.metrics._long import _long
from pipeline_kit.metrics.cards import PER_PIPELINE, MetricCard, declare
from pipeline_kit.periods import Period
from pipeline_kit.stats import MIN_N, km_curve

__all__ = ["cycle_length_curve", "cycle_length_km", "time_in_stage_km"]


class CycleLengthKmOutput(dy.Schema):
    """:func:`cycle_length_km`: the ``by`` columns, then these (days)."""

    n = count_column()
    closed = count_column()
    open = count_column()
    median_days = amount_column(nullable=True)
    ci_low = amount_column(nullable=True)
    ci_high = amount_column(nullable=True)
    naive_mean_closed = amount_column(nullable=True)
    naive_median_closed = amount_column(nullable=True)
    enough_data = flag_column()
    time_basis = basis_column("cohort")


@time_basis("cohort")
def cycle_length_km(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Median days from creation to close (won or lost) for the deals *created* in the period.

    Cohort: deals with ``created_at`` in the period. A deal closed on or before ``as_of``
    (default: the last date in the data) contributes ``closed_at - created_at`` as an event; a
    deal still open contributes ``as_of - created_at`` as censored. Columns: groups, ``n``,
    ``closed``, ``open``, ``median_days`` with ``ci_low``/``ci_high`` (Kaplan-Meier, log-log
    band; null when not reached), ``naive_mean_closed`` and ``naive_median_closed`` (closed
    deals only, for comparison), ``enough_data`` (closed >= min_n) (:class:`CycleLengthKmOutput`).

    Example: 4 deals closed after 10, 20, 30, 40 days and 4 still open after 50 days: the KM
    median is 40 days where the naive median of the closed deals says 25.
    """
    groups = group_columns(by)
    frame = cycle_cohort(ds, period, groups, as_of)
    km = km_by_group(frame, groups, "days", confidence).rename(
        {
            "events": "closed",
            "censored": "open",
            "median": "median_days",
            "naive_mean": "naive_mean_closed",
            "naive_median": "naive_median_closed",
        }
    )
    return km.with_columns((pl.col("closed") >= min_n).alias("enough_data"))


class TimeInStageKmOutput(dy.Schema):
    """:func:`time_in_stage_km`: the ``by`` columns, then these (one row per open stage)."""

    stage = dy.String(nullable=False)
    stage_order = dy.Int64(nullable=False)
    n = count_column()
    ended = count_column()
    ongoing = count_column()
    median_days = amount_column(nullable=True)
    ci_low = amount_column(nullable=True)
    ci_high = amount_column(nullable=True)
    naive_mean_ended = amount_column(nullable=True)
    enough_data = flag_column()
    approximate = flag_column()
    time_basis = basis_column("cohort")


@time_basis("cohort")
def time_in_stage_km(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Median days deals spend in each open stage (Kaplan-Meier), per stage visit.

    Cohort: stage visits that *started* in the period. A visit ends when the deal enters any
    other stage (forward, backward, won or lost) on or before ``as_of`` (default: the last
    date in the data); a deal still in the stage at ``as_of`` is censored there. Columns:
    groups, stage, stage_order, n (visits), ended, ongoing, median_days, ci_low, ci_high,
    naive_mean_ended (ended visits only), enough_data (ended >= min_n), approximate
    (:class:`TimeInStageKmOutput`).
    With deals in several pipelines the rows are also per ``pipeline`` (first column), even
    when ``by`` does not name it (:func:`~pipeline_kit.metrics._common.stage_groups`).
    """
    period = as_period(period, ds)
    day = resolve_cohort_as_of(ds, as_of, period)
    groups = group_columns(by)
    check_by(ds, "deals", groups, TimeInStageKmOutput)
    groups = stage_groups(ds, groups)
    stages = ds.lazy("stages").select("stage", "order", "is_won", "is_lost")
    visits = (
        ds.lazy("stage_history")
        .filter(pl.col("entered_at") <= day)
        .join(stages, on="stage", how="inner")
        .sort("deal_id", "entered_at", "order")
        .with_columns(pl.col("entered_at").shift(-1).over("deal_id").alias("left_at"))
        .filter(~pl.col("is_won") & ~pl.col("is_lost") & period.contains("entered_at"))
        .join(ds.lazy("deals").select("deal_id", *groups), on="deal_id", how="inner")
        .select(
            *groups,
            "stage",
            "order",
            (pl.coalesce("left_at", pl.lit(day)) - pl.col("entered_at"))
            .dt.total_days()
            .cast(pl.Float64)
            .alias("days"),
            pl.col("left_at").is_not_null().alias("event"),
        )
        .collect()
    )
    km = km_by_group(visits, [*groups, "stage", "order"], "days", confidence).rename(
        {
            "events": "ended",
            "censored": "ongoing",
            "median": "median_days",
            "naive_mean": "naive_mean_ended",
        }
    )
    return (
        km.drop("naive_median")
        .with_columns((pl.col("ended") >= min_n).alias("enough_data"))
        .sort(*groups, "order")
        .rename({"order": "stage_order"})
        .with_columns(pl.lit(ds.stage_history_approximate).alias("approximate"))
    )


class CycleLengthCurveOutput(dy.Schema):
    """:func:`cycle_length_curve`: the ``by`` columns, then these (one row per event time)."""

    days = amount_column()
    still_open = share_column(nullable=False)
    low = share_column()
    high = share_column()
    at_risk = count_column()
    time_basis = basis_column("cohort")


@time_basis("cohort")
def cycle_length_curve(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Kaplan-Meier curve of the share of deals still open, days after creation, per group.

    Same cohort and censoring as :func:`cycle_length_km`. One row per group and event time
    (plus day 0): ``days``, ``still_open`` (S(t)), ``low``/``high`` (log-log band), ``at_risk``.
    A few hundred rows per group at most: small enough to chart (:class:`CycleLengthCurveOutput`).
    """
    groups = group_columns(by)
    frame = cycle_cohort(ds, period, groups, as_of)
    parts = by_group(frame, groups)
    pieces = []
    for key, part in parts:
        curve = km_curve(part["days"].to_numpy(), part["event"].to_numpy(), confidence)
        pieces.append(
            curve.with_columns(
                pl.lit(v).cast(frame.schema[g]).alias(g) for g, v in zip(groups, key, strict=True)
            ).select(*groups, pl.all().exclude(groups))
        )
    if not pieces:
        return empty_output(CycleLengthCurveOutput, ds, "deals", groups)
    return pl.concat(pieces)


# ----------------------------------------------------------------------------- catalogue


def _cycle_km(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    day = resolve_cohort_as_of(ds, as_of, period)
    f = cycle_length_km(ds, period, by=groups, as_of=day)
    return [_long(f, groups, "cycle_length_km_days", "median_days", "n", True, as_of=day)]


def _stage_km(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    day = resolve_cohort_as_of(ds, as_of, period)
    f = time_in_stage_km(ds, period, by=groups, as_of=day)
    return [
        _long(
            f,
            groups,
            "time_in_stage_km_days",
            "median_days",
            "n",
            True,
            detail="stage",
            as_of=day,
        )
    ]


declare(
    MetricCard(
        "cycle_length_km_days",
        "Sales cycle length (Kaplan-Meier median)",
        "median of days from created_at to closed_at, open deals censored at as_of",
        "cohort: deals created in the period, outcomes read at as_of (default: last date in "
        "the data)",
        "every deal created in the period: closed ones (won or lost) as events, open ones as "
        "censored observations",
        "log-log band of the Kaplan-Meier curve, 95%",
        "days",
        ("Null when fewer than half the cohort has closed: the median is not known yet.",),
        "pipeline_kit.cycle_length_km",
        reading="Half of the cohort's deals had closed by this many days, counting "
        "open deals properly. 'Upper end not reached' means the data cannot yet bound it.",
    ),
    function=cycle_length_km,
    output=CycleLengthKmOutput,
    long=_cycle_km,
)


declare(
    MetricCard(
        "time_in_stage_km_days",
        "Time in stage (Kaplan-Meier median)",
        "median days from entering a stage to entering any other, visits still in the stage "
        "censored at as_of",
        "cohort: stage visits that started in the period, read at as_of (default: last date in "
        "the data)",
        "every visit of an open stage (a deal moving back and returning makes two visits); "
        "detail = the stage",
        "log-log band of the Kaplan-Meier curve, 95%",
        "days",
        ("Averaging only finished visits understates time in the stages where deals get stuck.",),
        "pipeline_kit.time_in_stage_km",
        reading="Half of the visits to this stage ended within this many days. The "
        "stage with the longest time is the bottleneck; compare with its conversion.",
        pipelines=PER_PIPELINE,
    ),
    function=time_in_stage_km,
    output=TimeInStageKmOutput,
    long=_stage_km,
)
