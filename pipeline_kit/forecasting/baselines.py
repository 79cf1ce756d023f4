"""The single-number forecasts teams use today, computed from the same ``as_of`` snapshot.

Each is ``bookings so far + something`` or a past period's bookings; all use only what was
known at ``as_of``:

============================  =================================================================
``crm_weighted``              won so far + sum over deals open at as_of of amount x the CRM's
                              default probability of the deal's stage that day (every open deal,
                              whatever its close date: the exports keep no history of it)
``stage_rate``                won so far + sum of amount x the stage's historical win rate (won /
                              closed among deals closed by as_of that were ever in the stage)
``run_rate``                  bookings of the previous period of the same length
``same_period_last_year``     bookings of the same period a year earlier
``pacing_last_year``          won so far + what was won last year between the same day and the
                              end of the period
============================  =================================================================

A baseline that needs data from before the export's first day is null for that forecast.
:func:`pipeline_kit.backtest_forecast` turns each into a distribution from its own past errors.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.forecasting._state import (
    closed_deals_by_stage,
    group_sums,
    open_deals_on,
    period_months,
    shift_months,
    won_between,
)
from pipeline_kit.metrics._common import By, as_period, check_by, group_columns
from pipeline_kit.periods import Period, parse_date

__all__ = ["BASELINES", "baseline_forecasts"]

BASELINES = (
    "crm_weighted",
    "stage_rate",
    "run_rate",
    "same_period_last_year",
    "pacing_last_year",
)


def _shifted(period: Period, months: int) -> tuple[dt.date, dt.date] | None:
    """``period`` moved by ``months`` (None for a ragged date range not a whole month span)."""
    if period_months(period) is None:
        return None
    start = shift_months(period.start, months)
    end = shift_months(period.end + dt.timedelta(days=1), months) - dt.timedelta(days=1)
    return start, end


def _stage_win_rates(ds: Dataset, as_of: dt.date) -> pl.LazyFrame:
    """Won / closed among deals closed by ``as_of`` that were ever in each stage."""
    visited = closed_deals_by_stage(ds, as_of)
    return visited.group_by("stage").agg((pl.col("status") == "won").mean().alias("stage_win_rate"))


def baseline_forecasts(
    ds: Dataset,
    period: str | Period,
    as_of: str | dt.date,
    *,
    by: By = None,
    keys: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Point forecasts of every baseline, one row per group and baseline.

    Parameters
    ----------
    ds
        A loaded dataset.
    period, as_of
        The period forecast and the day the forecast is made (end of that day).
    by
        Group column(s); None for the whole organisation.
    keys
        The groups to report (default: every group with a deal created by ``as_of``).

    Returns
    -------
    polars.DataFrame
        The group columns, ``baseline`` and ``point`` (null where the data cannot give it:
        a past period not wholly in the export).

    Examples
    --------
    >>> import pipeline_kit as pk
    >>> ds = pk.load(pk.synthetic.sample_path())
    >>> baseline_forecasts(ds, "2025-Q4", "2025-10-31")["baseline"].to_list()[:2]
    ['crm_weighted', 'stage_rate']
    """
    period = as_period(period, ds)
    day = parse_date(as_of)
    assert day is not None
    groups = group_columns(by)
    check_by(ds, "deals", groups)
    if keys is None:
        keys = (
            ds.lazy("deals")
            .filter(pl.col("created_at") <= day)
            .select(groups)
            .unique()
            .sort(groups)
            .collect()
            if groups
            else pl.DataFrame({"_all": [0]})
        )
    return baseline_points(ds, period, day, groups, keys, open_deals_on(ds, [day], groups))


def baseline_points(
    ds: Dataset,
    period: Period,
    as_of: dt.date,
    groups: list[str],
    keys: pl.DataFrame,
    open_: pl.LazyFrame,
) -> pl.DataFrame:
    """:func:`baseline_forecasts` of a resolved period, with the deals open at ``as_of``.

    ``open_`` is ``open_deals_on(ds, [as_of], groups)`` (a backtest computes it once for the
    baselines and the model).
    """
    deals = ds.lazy("deals")
    first_day = ds.first_date or as_of

    def total(frame: pl.LazyFrame, value: pl.Expr, name: str) -> pl.DataFrame:
        rows = frame.select("deal_id", *groups, value.alias(name)).collect()
        sums = group_sums(rows, keys, groups, name)
        return (
            keys.select(groups).with_columns(pl.Series(name, sums))
            if groups
            else (pl.DataFrame({name: sums}))
        )

    won = total(deals.filter(won_between(period.start, as_of)), pl.col("amount"), "won")
    crm = ds.lazy("stages").select("stage", pl.col("probability").alias("p"))
    rates = _stage_win_rates(ds, as_of)
    weighted = total(
        open_.join(crm, on="stage", how="left"),
        pl.col("amount") * pl.col("p").fill_null(0.0),
        "crm",
    )
    empirical = total(
        open_.join(rates, on="stage", how="left"),
        pl.col("amount") * pl.col("stage_win_rate").fill_null(0.0),
        "empirical",
    )
    parts = {"won": won, "crm": weighted, "empirical": empirical}

    def past_bookings(months: int, name: str, until: int | None = None) -> None:
        span = _shifted(period, months)
        if span is None or span[0] < first_day or span[1] > as_of:
            parts[name] = pl.DataFrame()
            return
        start, end = span
        if until is not None:  # pacing: last year's bookings after the same day
            start = max(start, shift_months(as_of, until) + dt.timedelta(days=1))
        parts[name] = total(deals.filter(won_between(start, end)), pl.col("amount"), name)

    months = period_months(period) or 0
    past_bookings(-months, "run_rate")
    past_bookings(-12, "last_year")
    past_bookings(-12, "rest_last_year", until=-12)

    frame = keys
    for name, part in parts.items():
        if part.width == 0:  # the past period is not wholly in the data: no baseline
            frame = frame.with_columns(pl.lit(None, pl.Float64).alias(name))
            continue
        if groups:
            frame = frame.join(part, on=groups, how="left", maintain_order="left", nulls_equal=True)
        else:
            frame = frame.with_columns(pl.lit(part.item(), pl.Float64).alias(name))
        frame = frame.with_columns(pl.col(name).fill_null(0.0))  # a group with none: 0
    points = {
        "crm_weighted": pl.col("won") + pl.col("crm"),
        "stage_rate": pl.col("won") + pl.col("empirical"),
        "run_rate": pl.col("run_rate"),
        "same_period_last_year": pl.col("last_year"),
        "pacing_last_year": pl.col("won") + pl.col("rest_last_year"),
    }
    return pl.concat(
        frame.select(*groups, pl.lit(name).alias("baseline"), expr.alias("point"))
        for name, expr in points.items()
    )
