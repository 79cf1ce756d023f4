"""Figures over time: a metric quarter by quarter, a period against earlier ones.

:func:`quarterly_trend` stacks one call per quarter for trend charts; :func:`period_over_period`
sets the period's headline figures beside the previous period's and the year-earlier period's,
with the change and its interval.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable

import dataframely as dy
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.i18n import N_
from pipeline_kit.metrics._common import (
    By,
    amount_column,
    amount_sum,
    as_date,
    as_period,
    basis_column,
    check_by,
    count_column,
    flag_column,
    flow_period,
    group_columns,
    time_basis,
    without_amount,
    without_amount_column,
)
from pipeline_kit.metrics._long import _long
from pipeline_kit.metrics.cards import CLOSED_IN, MetricCard, declare
from pipeline_kit.metrics.deals import (
    close_rate,
    cycle_length,
    deal_flow,
    win_rate,
    won_deal_size,
)
from pipeline_kit.metrics.leads import lead_response_time
from pipeline_kit.metrics.pipeline import open_at
from pipeline_kit.metrics.revenue import churn
from pipeline_kit.periods import Period
from pipeline_kit.stats import (
    MIN_DISPERSION_DF,
    MIN_N,
    dispersed_poisson_interval,
    newcombe_difference,
    poisson_interval,
    product_interval,
)

__all__ = [
    "PERIOD_OVER_PERIOD_FIGURES",
    "TREND_METRICS",
    "period_over_period",
    "pipeline_vs_target",
    "previous_period",
    "quarterly_trend",
    "seasonality",
    "year_before",
]


# ----------------------------------------------------------------------------- quarterly trend


def _with_poisson(frame: pl.DataFrame, column: str, confidence: float = 0.95) -> pl.DataFrame:
    low, high = poisson_interval(frame[column].to_numpy(), confidence)
    return frame.with_columns(
        pl.col(column).alias("n"),
        pl.Series("ci_low", low, dtype=pl.Float64),
        pl.Series("ci_high", high, dtype=pl.Float64),
    )


def _deals_created(ds: Dataset, period: Period, *, by: By = None) -> pl.DataFrame:
    return _with_poisson(deal_flow(ds, period, by=by), "created")


def _deals_won(ds: Dataset, period: Period, *, by: By = None) -> pl.DataFrame:
    return _with_poisson(deal_flow(ds, period, by=by), "won")


def _bookings(ds: Dataset, period: Period, *, by: By = None) -> pl.DataFrame:
    """Bookings (sum of won amounts) with an interval for the underlying bookings rate.

    ``bookings = n · mean`` (won deals times the average won amount). Read the quarter's won
    deals as a Poisson count and their amounts as a sample, the interval combines the exact
    Poisson (Garwood) interval of ``n`` with the skew-aware interval of the mean
    (:func:`pipeline_kit.stats.skewed_mean_interval`) by MOVER on the log scale
    (:func:`pipeline_kit.stats.product_interval`). Null below 5 won deals (a few amounts bound
    nothing). The normal approximation ``total ± 1.96 √(sum amount²)`` it replaces covered the
    true rate 64-90% of the time on log-normal amounts at 5-30 won deals (``bench/coverage.py``).
    ``n`` and the sum are over the won deals with an amount; ``without_amount`` counts the won
    deals left out (blank amount): above 0, the bookings are a lower bound.
    """
    groups = group_columns(by)
    size = won_deal_size(ds, period, by=groups)
    low_n, high_n = poisson_interval(size["n"].to_numpy())
    low, high = product_interval("n", "_n_low", "_n_high", "mean", "ci_low", "ci_high")
    return size.with_columns(
        pl.Series("_n_low", low_n, dtype=pl.Float64),
        pl.Series("_n_high", high_n, dtype=pl.Float64),
    ).select(
        *groups,
        "n",
        # (no won deal: 0; won deals, none with an amount: unknown)
        pl.when(pl.col("n").eq(0) & pl.col("without_amount").gt(0))
        .then(None)
        .otherwise(pl.col("total").fill_null(0.0))
        .cast(pl.Float64)
        .alias("bookings"),
        low.alias("ci_low"),
        high.alias("ci_high"),
        "without_amount",
    )


TREND_METRICS: dict[str, tuple[Callable[..., pl.DataFrame], str]] = {
    # metric -> (function, column holding the estimate); every one has ci_low / ci_high
    "win_rate": (win_rate, "win_rate"),
    "close_rate": (close_rate, "close_rate"),
    "avg_won_deal_size": (won_deal_size, "mean"),
    "cycle_length_days": (cycle_length, "mean"),
    "deals_created": (_deals_created, "created"),
    "deals_won": (_deals_won, "won"),
    "bookings": (_bookings, "bookings"),
    "lead_response_hours": (lead_response_time, "median_hours"),
    "churn_rate": (churn, "churn_rate"),
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

    For a period that is not a quarter, ``end`` is the quarter holding its last day;
    ``"latest"``: the last complete quarter of the data.

    Every metric carries a 95% interval: Wilson for the rates (``win_rate``, ``close_rate``),
    bootstrap-t / log-normal for the means (``avg_won_deal_size``, ``cycle_length_days``), the exact
    Poisson (Garwood) interval for the counts (``deals_created``, ``deals_won``: the quarter's
    count read as one draw of an underlying rate) and for ``bookings`` (``n · mean``) the
    Garwood interval of the count combined with the mean's interval (MOVER on the log scale,
    null below 5 won deals); ``lead_response_hours`` is the
    Kaplan-Meier median response time of the quarter's leads (never-contacted leads censored)
    with its interval; ``churn_rate`` is the quarter's customer churn (:func:`churn`: churned
    / active at the quarter's start, Wilson interval; needs the customers table, groups none
    or ``team``).

    Columns: ``period``, ``period_start``, the metric's own columns (groups, n, ci_low,
    ci_high) and ``estimate`` (a copy of the metric's value column, so charts need not know
    its name).
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
                pl.col(column).cast(pl.Float64).alias("estimate"),
            )
        )
    return pl.concat(frames, how="vertical_relaxed")


def _is_quarter(period: Period) -> bool:
    try:
        period.shift(0)
    except ValueError:
        return False
    return True


# ----------------------------------------------------------------------------- period over period

_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
_HALF = re.compile(r"^(\d{4})-H([12])$")
_YEAR = re.compile(r"^(\d{4})$")


def _minus_year(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def previous_period(period: Period) -> Period:
    """The period right before ``period``, of the same kind.

    The previous quarter, month, half or year; for a date range, as many days just before.

    >>> str(previous_period(Period.parse("2025-Q1"))), str(previous_period(Period.parse("2025-01")))
    ('2024-Q4', '2024-12')
    >>> str(previous_period(Period.parse("2025-10-15..2025-10-28")))
    '2025-10-01..2025-10-14'
    """
    label = period.label
    if _is_quarter(period):
        return period.shift(-1)
    if m := _MONTH.match(label):
        year, month = int(m[1]), int(m[2])
        return Period.parse(f"{year - (month == 1)}-{(month - 2) % 12 + 1:02d}")
    if m := _HALF.match(label):
        year, half = int(m[1]), int(m[2])
        return Period.parse(f"{year - (half == 1)}-H{2 if half == 1 else 1}")
    if m := _YEAR.match(label):
        return Period.parse(str(int(m[1]) - 1))
    end = period.start - dt.timedelta(days=1)
    return Period.parse(f"{end - dt.timedelta(days=period.days - 1)}..{end}")


def year_before(period: Period) -> Period:
    """The same period one year earlier (a date range: its days shifted back a year).

    >>> str(year_before(Period.parse("2025-Q4"))), str(year_before(Period.parse("2025-H2")))
    ('2024-Q4', '2024-H2')
    """
    label = period.label
    if _is_quarter(period):
        return period.shift(-4)
    if m := _MONTH.match(label):
        return Period.parse(f"{int(m[1]) - 1}-{m[2]}")
    if m := _HALF.match(label):
        return Period.parse(f"{int(m[1]) - 1}-H{m[2]}")
    if m := _YEAR.match(label):
        return Period.parse(str(int(m[1]) - 1))
    return Period.parse(f"{_minus_year(period.start)}..{_minus_year(period.end)}")


def _cut_like(period: Period, whole: Period, cut: Period) -> Period:
    """``period`` cut at the same number of days into it as ``cut`` is into ``whole``."""
    if cut.end >= whole.end:
        return period
    end = min(period.start + (cut.end - whole.start), period.end)
    return Period(period.start, end, f"{period.start}..{end}")


PERIOD_OVER_PERIOD_FIGURES: dict[str, str] = {  # figure -> unit
    "win_rate": "share",
    "deals_won": "count",
    "bookings": "currency",
    "avg_won_deal_size": "currency",
    "cycle_length_days": "days",
    "open_pipeline_value": "currency",
}

_SIDES = ("", "previous_", "year_ago_")


class PeriodOverPeriodOutput(dy.Schema):
    """:func:`period_over_period`: the ``by`` columns, then these (one row per figure)."""

    figure = dy.String(nullable=False, regex=f"^({'|'.join(PERIOD_OVER_PERIOD_FIGURES)})$")
    unit = dy.String(nullable=False)
    period = dy.String(nullable=False)
    value = amount_column(nullable=True)
    n = count_column()
    ci_low = amount_column(nullable=True)
    ci_high = amount_column(nullable=True)
    without_amount = without_amount_column()
    previous_period = dy.String(nullable=False)
    previous_value = amount_column(nullable=True)
    previous_n = count_column()
    previous_ci_low = amount_column(nullable=True)
    previous_ci_high = amount_column(nullable=True)
    previous_without_amount = without_amount_column()
    year_ago_period = dy.String(nullable=False)
    year_ago_value = amount_column(nullable=True)
    year_ago_n = count_column()
    year_ago_ci_low = amount_column(nullable=True)
    year_ago_ci_high = amount_column(nullable=True)
    year_ago_without_amount = without_amount_column()
    change_vs_previous = amount_column(nullable=True, signed=True)
    change_vs_previous_ci_low = amount_column(nullable=True, signed=True)
    change_vs_previous_ci_high = amount_column(nullable=True, signed=True)
    relative_change_vs_previous = amount_column(nullable=True, signed=True)
    change_vs_year_ago = amount_column(nullable=True, signed=True)
    change_vs_year_ago_ci_low = amount_column(nullable=True, signed=True)
    change_vs_year_ago_ci_high = amount_column(nullable=True, signed=True)
    relative_change_vs_year_ago = amount_column(nullable=True, signed=True)
    enough_data = flag_column()
    time_basis = basis_column("period")


def _figures(ds: Dataset, period: Period, groups: list[str]) -> pl.DataFrame:
    """The headline figures of one (possibly cut) period: groups, figure, value, n, ci."""

    def part(
        frame: pl.DataFrame, figure: str, value: str, n: str, ci: bool, amounts: bool = False
    ) -> pl.DataFrame:
        return frame.select(
            *groups,
            pl.lit(figure).alias("figure"),
            pl.col(value).cast(pl.Float64).alias("value"),
            pl.col(n).cast(pl.Int64).alias("n"),
            (pl.col("ci_low") if ci else pl.lit(None)).cast(pl.Float64).alias("ci_low"),
            (pl.col("ci_high") if ci else pl.lit(None)).cast(pl.Float64).alias("ci_high"),
            (pl.col("without_amount") if amounts else pl.lit(0))
            .cast(pl.Int64)
            .alias("without_amount"),
        )

    wr = win_rate(ds, period, by=groups)
    size = won_deal_size(ds, period, by=groups)
    cycle = cycle_length(ds, period, by=groups)
    aggs = [
        pl.len().cast(pl.Int64).alias("open_deals"),
        amount_sum().alias("open_value"),
        without_amount(),
    ]
    open_deals = ds.lazy("deals").filter(open_at(period.end))
    pipe = (open_deals.group_by(groups).agg(aggs) if groups else open_deals.select(aggs)).collect()
    return pl.concat(
        [
            part(wr, "win_rate", "win_rate", "n", True),
            # (every won deal: won_deal_size's n counts those with an amount)
            part(wr, "deals_won", "won", "won", False),
            part(size, "bookings", "total", "n", False, amounts=True),
            part(size, "avg_won_deal_size", "mean", "n", True, amounts=True),
            part(cycle, "cycle_length_days", "mean", "n", True),
            part(pipe, "open_pipeline_value", "open_value", "open_deals", False, amounts=True),
        ],
        how="vertical_relaxed",
    )


def _change(side: str, name: str) -> list[pl.Expr]:
    """The change from ``side`` to this period, its interval and the relative change."""
    low, high = newcombe_difference(
        "value", "ci_low", "ci_high", f"{side}value", f"{side}ci_low", f"{side}ci_high"
    )
    return [
        (pl.col("value") - pl.col(f"{side}value")).alias(name),
        low.alias(f"{name}_ci_low"),
        high.alias(f"{name}_ci_high"),
        pl.when((pl.col("figure") != "win_rate") & (pl.col(f"{side}value") > 0))
        .then(pl.col("value") / pl.col(f"{side}value") - 1)
        .alias(f"relative_{name}"),
    ]


@time_basis("period")
def period_over_period(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """The period's headline figures beside the previous period and a year earlier, with changes.

    For a quarter: QoQ and YoY, each change with its interval.

    Figures (:data:`PERIOD_OVER_PERIOD_FIGURES`): ``win_rate`` (won / (won + lost) of deals
    closed in the period, Wilson interval), ``deals_won``, ``bookings`` (sum of won amounts),
    ``avg_won_deal_size`` and ``cycle_length_days`` (mean, with their skew-aware intervals),
    ``open_pipeline_value`` (deals open at the period's last day). ``n`` is what each rests
    on: closed deals, won deals, won deals with an amount (bookings, average won deal) or open
    deals. ``without_amount`` (and ``previous_``, ``year_ago_``) counts the deals an amount
    figure left out because their amount is blank (0 for the other figures): above 0, the
    bookings and the open pipeline value are lower bounds, and a change between two periods
    that left out different shares of deals is read with care.

    ``change_vs_previous = value - previous_value`` (for the win rate a difference in
    percentage points). Its interval combines the two periods' intervals: for the win rate
    Newcombe's hybrid score interval (Newcombe 1998, method 10) from the Wilson intervals;
    for the means the same construction (MOVER, Zou & Donner 2008) from their intervals;
    none for the counts and totals. ``relative_change_vs_previous = value / previous_value - 1``
    (not for the win rate). Likewise ``..._vs_year_ago``.

    With ``as_of`` inside the period, every period is cut at the same day into it
    (quarter-to-date against quarter-to-date). Columns: :class:`PeriodOverPeriodOutput`.
    """
    whole = as_period(period, ds)
    if whole.is_all:
        raise ValueError("period over period needs a dated period, such as 2025-Q4, not 'all'")
    this = flow_period(ds, whole, as_of)
    periods = {
        "": this,
        "previous_": _cut_like(previous_period(whole), whole, this),
        "year_ago_": _cut_like(year_before(whole), whole, this),
    }
    groups = group_columns(by)
    check_by(ds, "deals", groups, PeriodOverPeriodOutput)
    keys = [*groups, "figure"]
    joined: pl.DataFrame | None = None
    for side, p in periods.items():
        f = _figures(ds, p, groups).rename(
            {c: f"{side}{c}" for c in ("value", "n", "ci_low", "ci_high", "without_amount")}
        )
        joined = f if joined is None else joined.join(f, on=keys, how="full", coalesce=True)
    assert joined is not None
    order = list(PERIOD_OVER_PERIOD_FIGURES)
    zero_when_missing = pl.col("figure").is_in(["deals_won", "bookings", "open_pipeline_value"])
    return (
        joined.with_columns(
            *[pl.col(f"{s}n", f"{s}without_amount").fill_null(0) for s in _SIDES],
            *[
                # (a group without deals that period: 0; deals, none with an amount: unknown)
                pl.when(zero_when_missing & pl.col(f"{s}without_amount").fill_null(0).eq(0))
                .then(pl.col(f"{s}value").fill_null(0.0))
                .otherwise(pl.col(f"{s}value"))
                .alias(f"{s}value")
                for s in _SIDES
            ],
            pl.col("figure").replace_strict(PERIOD_OVER_PERIOD_FIGURES).alias("unit"),
            *[pl.lit(p.label).alias(f"{s}period") for s, p in periods.items()],
        )
        .with_columns(
            *_change("previous_", "change_vs_previous"),
            *_change("year_ago_", "change_vs_year_ago"),
            (pl.col("n") >= min_n).alias("enough_data"),
            pl.col("figure").replace_strict({f: i for i, f in enumerate(order)}).alias("_order"),
        )
        .sort([*groups, "_order"])
        .select(*groups, *[c for c in PeriodOverPeriodOutput.column_names() if c != "time_basis"])
    )


# ----------------------------------------------------------------------------- pipeline vs target


class PipelineVsTargetOutput(dy.Schema):
    """:func:`pipeline_vs_target`: the ``by`` columns (none or team), then these.

    One row per quarter.
    """

    period = dy.String(nullable=False)
    period_start = dy.Date(nullable=False)
    as_of = dy.Date(nullable=False)
    open_deals = count_column()
    open_value = amount_column(nullable=True)  # (null: no deal valued)
    due_deals = count_column()
    due_value = amount_column(nullable=True)  # (null: no deal valued)
    target = amount_column(nullable=True)
    coverage = amount_column(nullable=True)
    due_coverage = amount_column(nullable=True)
    bookings = amount_column(nullable=True)  # (null: no deal valued)
    without_amount = without_amount_column()
    attainment = amount_column(nullable=True)
    pipeline_per_booking = amount_column(nullable=True)
    time_basis = basis_column("snapshot")


def _quarters_ending(ds: Dataset, period: str | Period, quarters: int) -> list[Period]:
    last = as_period(period, ds)
    if last.is_all:
        raise ValueError("figures by quarter need a dated period, such as 2025-Q4, not 'all'")
    if not _is_quarter(last):
        last = Period.quarter_of(last.end)
    return [last.shift(-back) for back in range(quarters - 1, -1, -1)]


@time_basis("snapshot")
def pipeline_vs_target(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    quarters: int = 8,
) -> pl.DataFrame:
    """Open pipeline at each quarter's start against that quarter's target (ideal pipeline size).

    For each of the ``quarters`` quarters ending with ``period`` (the quarter holding its last
    day): ``open_value`` = amount of the deals open at the end of the day before the quarter
    starts (``as_of`` column; the waterfall's ``start``), ``due_value`` = those of them
    expected to close in the quarter, ``target`` = the team targets (owner empty) overlapping
    the quarter, ``coverage = open_value / target``, ``due_coverage = due_value / target``,
    ``bookings`` = won amount closed in the quarter (up to ``as_of`` when it falls inside the
    last quarter), ``attainment = bookings / target`` and ``pipeline_per_booking =
    open_value / bookings``: how much pipeline at the start each unit booked took, which
    (over past quarters) says what coverage a target needs. Targets are per team, so ``by``
    is ``None`` or ``"team"``. Deals without an amount count in ``open_deals`` and
    ``due_deals`` and in no value; ``without_amount`` counts those of the quarter's row (open
    at its start or won in it): above 0, the values, coverages and attainment are those of the
    deals with an amount, lower bounds. Columns: :class:`PipelineVsTargetOutput`.
    """
    groups = group_columns(by)
    if groups not in ([], ["team"]):
        raise ValueError("pipeline against target compares with team targets: by=None or 'team'")
    spans = _quarters_ending(ds, period, quarters)
    day = as_date(as_of, ds)
    cut = [flow_period(ds, q, day) if day is not None and q.start <= day else q for q in spans]
    grid = pl.LazyFrame(
        {
            "period": [q.label for q in spans],
            "period_start": [q.start for q in spans],
            "period_end": [q.end for q in spans],
            "as_of": [q.start - dt.timedelta(days=1) for q in spans],
            "_booked_to": [c.end for c in cut],
        }
    )
    open_then = (pl.col("created_at") <= pl.col("as_of")) & (
        pl.col("closed_at").is_null() | (pl.col("closed_at") > pl.col("as_of"))
    )
    due = open_then & pl.col("expected_close").is_between("period_start", "period_end")
    won = pl.col("status").eq("won") & pl.col("closed_at").is_between("period_start", "_booked_to")
    keys = [*groups, "period"]
    frame = (
        ds.lazy("deals")
        .join(grid, how="cross")
        .filter(open_then | won)
        .group_by(keys)
        .agg(
            open_then.sum().cast(pl.Int64).alias("open_deals"),
            amount_sum(open_then).alias("open_value"),
            due.sum().cast(pl.Int64).alias("due_deals"),
            amount_sum(due).alias("due_value"),
            amount_sum(won).alias("bookings"),
            without_amount(),  # (of the deals open at the start or won: the rows kept)
        )
    )
    if ds.has("targets"):
        targets = (
            ds.lazy("targets")
            .filter(pl.col("owner").is_null())
            .select(
                *groups,
                pl.col("period_start").alias("_t_start"),
                pl.col("period_end").alias("_t_end"),
                "target",
            )
            .join(grid, how="cross")
            .filter(
                (pl.col("_t_start") <= pl.col("period_end"))
                & (pl.col("_t_end") >= pl.col("period_start"))
            )
            .group_by(keys)
            .agg(pl.col("target").sum().cast(pl.Float64))
        )
        frame = frame.join(targets, on=keys, how="full", coalesce=True, nulls_equal=True)
    else:
        frame = frame.with_columns(pl.lit(None, pl.Float64).alias("target"))
    quarters_grid = grid.select("period", "period_start", "as_of")
    if groups:
        frame = frame.join(quarters_grid, on="period")
    else:  # one row per quarter, also without deals
        frame = quarters_grid.join(frame, on="period", how="left")
    return (
        frame.with_columns(
            *[pl.col(c).fill_null(0) for c in ("open_deals", "due_deals", "without_amount")],
            *[pl.col(c).fill_null(0.0) for c in ("open_value", "due_value", "bookings")],
        )
        .with_columns(
            _ratio("open_value", "target").alias("coverage"),
            _ratio("due_value", "target").alias("due_coverage"),
            _ratio("bookings", "target").alias("attainment"),
            _ratio("open_value", "bookings").alias("pipeline_per_booking"),
        )
        .sort([*groups, "period_start"])
        .select(
            *groups,
            *[c for c in PipelineVsTargetOutput.column_names() if c != "time_basis"],
        )
        .collect()
    )


def _ratio(numerator: str, denominator: str) -> pl.Expr:
    return pl.when(pl.col(denominator) > 0).then(pl.col(numerator) / pl.col(denominator))


# ----------------------------------------------------------------------------- seasonality

MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class SeasonalityOutput(dy.Schema):
    """:func:`seasonality`: the ``by`` columns, then these (one row per calendar month)."""

    month = dy.Int64(nullable=False, min=1, max=12)
    month_name = dy.String(nullable=False)
    months = count_column()
    created = count_column()
    won = count_column()
    created_per_month = amount_column(nullable=True)
    created_ci_low = amount_column(nullable=True)
    created_ci_high = amount_column(nullable=True)
    created_index = amount_column(nullable=True)
    won_per_month = amount_column(nullable=True)
    won_ci_low = amount_column(nullable=True)
    won_ci_high = amount_column(nullable=True)
    won_index = amount_column(nullable=True)
    created_dispersion = amount_column(nullable=True)
    won_dispersion = amount_column(nullable=True)
    window = dy.String(nullable=False)
    note = dy.String(nullable=False)
    time_basis = basis_column("period")


def _month_window(ds: Dataset, period: Period, years: int) -> tuple[dt.date, dt.date]:
    """The whole months of the ``years`` years ending with ``period``'s last month.

    Starting no earlier than the first whole month of the data.
    """
    end = period.end
    last = dt.date(end.year, end.month, 1)
    if end != (last + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1):
        # a period ending mid-month: the month before is the last whole one
        last = (last - dt.timedelta(days=1)).replace(day=1)
    first = dt.date(last.year - years, last.month, 1)
    first = (first + dt.timedelta(days=32)).replace(day=1)
    data_start = ds.first_date
    if data_start is not None and data_start > first:
        whole = data_start.replace(day=1)
        first = whole if data_start.day == 1 else (whole + dt.timedelta(days=32)).replace(day=1)
    month_end = (last + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    return first, month_end


@time_basis("period")
def seasonality(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    years: int = 3,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Deals created and won per calendar month, averaged over the years before ``period``.

    The window is the whole months of the ``years`` years ending with the period's last whole
    month (cut at ``as_of``; never before the data's first whole month). Per calendar month:
    ``months`` = how many times that month is in the window, ``created`` and ``won`` (by
    ``closed_at``) summed over them, ``created_per_month = created / months`` with its
    interval, and ``created_index = created_per_month / (all created / all months)`` (1 = an
    average month; likewise for ``won``). Columns: :class:`SeasonalityOutput`.

    The interval allows for months that vary more than Poisson counts (a campaign, a bad
    quarter, deals created in batches): ``created_dispersion`` is the Pearson dispersion of
    the group's months around their calendar month's mean,
    ``phi = sum over months (y - mean_m)^2 / mean_m / (N - M)`` (``N`` months in the window,
    ``M`` calendar months with a deal; months without a deal count as 0), and the interval is
    :func:`pipeline_kit.stats.dispersed_poisson_interval` of the month's total with
    ``max(phi, 1)`` on ``N - M`` degrees of freedom, divided by ``months`` (the exact Poisson
    interval when ``phi <= 1``). Below :data:`~pipeline_kit.stats.MIN_DISPERSION_DF` degrees
    of freedom (under about two years of months) no dispersion can be estimated: the
    dispersion is null and the interval is the exact Poisson one, which assumes Poisson
    months; ``note`` says so when the window itself is that short (sum of ``months - 1`` below
    it). The figure estimated is the month's expected count averaged over
    the window's years; a trend across the years widens ``phi`` (conservative).
    Simulated in ``bench/coverage.py --fc10-only`` (1,000 teams a row, 2 or 3 years): at 20
    deals a month, negative-binomial months, a bad quarter and a quarter effect cover
    0.947-0.961 where the Poisson interval covered 0.64-0.89; at 3 a month 0.97-0.98 (Poisson
    0.91-0.97); Poisson months 0.97-0.98 (Garwood's own conservatism); a trend of +20% a year
    0.98-0.99.
    """
    whole = flow_period(ds, period, as_of)
    if whole.is_all:
        raise ValueError("seasonality needs a dated period, such as 2025-Q4, not 'all'")
    groups = group_columns(by)
    check_by(ds, "deals", groups, SeasonalityOutput)
    first, last = _month_window(ds, whole, years)
    window = f"{first:%Y-%m}..{last:%Y-%m}" if first <= last else "no whole month"
    months_in = pl.DataFrame(
        {"month": range(1, 13), "months": [_count_month(first, last, m) for m in range(1, 13)]},
        schema={"month": pl.Int64, "months": pl.Int64},
    )
    inside = pl.col("_day").is_between(pl.lit(first), pl.lit(last))
    events = pl.concat(
        [
            ds.lazy("deals").select(
                *groups, pl.col("created_at").alias("_day"), pl.lit("created").alias("_what")
            ),
            ds.lazy("deals")
            .filter(pl.col("status").eq("won"))
            .select(*groups, pl.col("closed_at").alias("_day"), pl.lit("won").alias("_what")),
        ]
    ).filter(inside)
    counts = (
        events.group_by(
            *groups,
            pl.col("_day").dt.month().cast(pl.Int64).alias("month"),
            pl.col("_day").dt.year().alias("_year"),
        )
        .agg(
            pl.col("_what").eq("created").sum().cast(pl.Int64).alias("created"),
            pl.col("_what").eq("won").sum().cast(pl.Int64).alias("won"),
        )
        .group_by(*groups, "month")
        .agg(
            pl.col("created", "won").sum(),
            (pl.col("created").cast(pl.Float64) ** 2).sum().alias("_created_sq"),
            (pl.col("won").cast(pl.Float64) ** 2).sum().alias("_won_sq"),
        )
        .collect()
    )
    grid = counts.select(groups).unique().join(months_in, how="cross") if groups else months_in
    frame = grid.join(counts, on=[*groups, "month"], how="left", nulls_equal=True).with_columns(
        pl.col("created", "won").fill_null(0), pl.col("_created_sq", "_won_sq").fill_null(0.0)
    )
    frame = frame.with_columns(
        expr for what in ("created", "won") for expr in _dispersion(what, groups)
    )
    columns = []
    for what in ("created", "won"):
        low, high = dispersed_poisson_interval(
            frame[what].to_numpy(),
            frame[f"{what}_dispersion"].fill_null(1.0).to_numpy(),
            frame[f"_{what}_df"].to_numpy(),
            confidence,
        )
        columns += [
            pl.Series(f"_{what}_low", low, dtype=pl.Float64),
            pl.Series(f"_{what}_high", high, dtype=pl.Float64),
        ]
    frame = frame.with_columns(columns)
    per_month = []
    for what in ("created", "won"):
        rate = pl.when(pl.col("months") > 0)
        overall = pl.col(what).sum().over(groups) if groups else pl.col(what).sum()
        all_months = pl.col("months").sum().over(groups) if groups else pl.col("months").sum()
        per_month += [
            rate.then(pl.col(what) / pl.col("months")).alias(f"{what}_per_month"),
            rate.then(pl.col(f"_{what}_low") / pl.col("months")).alias(f"{what}_ci_low"),
            rate.then(pl.col(f"_{what}_high") / pl.col("months")).alias(f"{what}_ci_high"),
            pl.when((pl.col("months") > 0) & (overall > 0))
            .then((pl.col(what) / pl.col("months")) / (overall / all_months))
            .alias(f"{what}_index"),
        ]
    return (
        frame.with_columns(
            *per_month,
            pl.col("month")
            .replace_strict(dict(enumerate(MONTH_NAMES, start=1)), return_dtype=pl.String)
            .alias("month_name"),
            pl.lit(window).alias("window"),
            pl.when((pl.col("months") - 1).clip(0).sum() < MIN_DISPERSION_DF)
            .then(pl.lit(SEASONALITY_NOTE))
            .otherwise(pl.lit(""))
            .alias("note"),
        )
        .sort([*groups, "month"])
        .select(*groups, *[c for c in SeasonalityOutput.column_names() if c != "time_basis"])
    )


SEASONALITY_NOTE = N_(
    "under two years of months: the interval assumes Poisson months (how much more they vary "
    "cannot be estimated)"
)


def _dispersion(what: str, groups: list[str]) -> list[pl.Expr]:
    """``{what}_dispersion`` (Pearson, per group) and ``_{what}_df`` (its degrees of freedom).

    Per calendar month with a positive total ``S`` over ``n`` months: the sum of squared
    deviations ``sum y^2 - S^2 / n`` over its mean ``S / n``; summed over the group's calendar
    months and divided by ``sum (n - 1)`` over them. Null below
    :data:`~pipeline_kit.stats.MIN_DISPERSION_DF` degrees of freedom.
    """
    total = pl.col(what).cast(pl.Float64)
    n = pl.col("months").cast(pl.Float64)
    seen = (total > 0) & (n > 0)
    part = pl.when(seen).then((pl.col(f"_{what}_sq") - total**2 / n) / (total / n)).otherwise(0.0)
    free = pl.when(seen).then(n - 1).otherwise(0.0)
    df = free.sum().over(groups) if groups else free.sum()
    ratio = (part.sum().over(groups) if groups else part.sum()) / df
    return [
        pl.when(df >= MIN_DISPERSION_DF).then(ratio).alias(f"{what}_dispersion"),
        df.alias(f"_{what}_df"),
    ]


def _count_month(first: dt.date, last: dt.date, month: int) -> int:
    """How many times calendar ``month`` occurs in the whole months from ``first`` to ``last``."""
    if first > last:
        return 0
    span = (last.year - first.year) * 12 + last.month - first.month + 1
    return sum((first.month - 1 + i) % 12 + 1 == month for i in range(span))


# ----------------------------------------------------------------------------- catalogue


def _period_over_period(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    if period.is_all:
        return []
    day = as_date(as_of, ds)
    f = period_over_period(ds, period, by=groups, as_of=day).filter(pl.col("figure") == "win_rate")
    return [
        _long(
            f.rename(
                {
                    "ci_low": "_l",
                    "ci_high": "_h",
                    f"{name}_ci_low": "ci_low",
                    f"{name}_ci_high": "ci_high",
                }
            ),
            groups,
            metric,
            name,
            "n",
            True,
        )
        for metric, name in (
            ("win_rate_change_vs_previous", "change_vs_previous"),
            ("win_rate_change_vs_year_ago", "change_vs_year_ago"),
        )
    ]


for _metric, _than, _other in (
    ("win_rate_change_vs_previous", "the previous period (QoQ for a quarter)", "previous period"),
    (
        "win_rate_change_vs_year_ago",
        "the same period a year earlier (YoY)",
        "period a year earlier",
    ),
):
    declare(
        MetricCard(
            _metric,
            f"Win rate change on {_than}",
            f"win_rate(period) - win_rate({_other}), win_rate = won / (won + lost)",
            "period",
            "won and lost " + CLOSED_IN + ", in each of the two periods (cut at the same day "
            "into each when as_of falls inside the period); n = closed deals of the period",
            "Newcombe hybrid score 95% (from the two Wilson intervals)",
            "difference",
            (
                "Two small periods give a wide interval: a change of ten points on 30 deals "
                "per quarter is usually within chance.",
                "A quarter-on-quarter change mixes trend and seasonality; read the year-on-year "
                "change beside it.",
            ),
            "pipeline_kit.period_over_period",
            reading="Percentage points gained or lost against the other period. Only an "
            "interval that excludes 0 says the win rate moved; the other figures (deals won, "
            "bookings, average won deal, cycle length, open pipeline) are in the same frame.",
        ),
        function=period_over_period,
        output=PeriodOverPeriodOutput,
        long=_period_over_period,
    )


def _pipeline_vs_target(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    if period.is_all or groups not in ([], ["team"]) or not ds.has("targets"):
        return []
    f = pipeline_vs_target(ds, period, by=groups, as_of=as_of, quarters=1)
    day = f["as_of"][0] if f.height else None
    return [
        _long(
            f,
            groups,
            "start_pipeline_coverage",
            "coverage",
            "open_deals",
            False,
            as_of=day,
            without_amount=True,
        )
    ]


declare(
    MetricCard(
        "start_pipeline_coverage",
        "Pipeline at the quarter's start against its target",
        "sum(amount of deals open at the end of the day before the quarter) / sum(team "
        "targets overlapping the quarter)",
        "snapshot at the end of the day before the quarter starts (the waterfall's start); "
        "pk.pipeline_vs_target gives every quarter of the last eight with bookings, attainment "
        "and pipeline per unit booked",
        "every deal open then, whatever its expected close (due_coverage: only those expected "
        "to close in the quarter)",
        "none (a census of the open deals, not a sample)",
        "ratio",
        (
            "Amounts and expected close dates are the deals' current ones, not as they were at "
            "the quarter's start.",
            "A fixed rule such as 3x ignores the team's own conversion: compare with "
            "pipeline_per_booking of past quarters.",
        ),
        "pipeline_kit.pipeline_vs_target",
        reading="How many times the quarter's target the team had in open pipeline when the "
        "quarter began. Enough is what past quarters needed: pipeline_per_booking says how much "
        "start pipeline each unit booked took.",
    ),
    function=pipeline_vs_target,
    output=PipelineVsTargetOutput,
    long=_pipeline_vs_target,
)


def _seasonality(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    if period.is_all:
        return []
    f = seasonality(ds, period, by=groups, as_of=as_of)
    return [
        _long(
            f.rename({"created_ci_low": "ci_low", "created_ci_high": "ci_high"}),
            groups,
            "deals_created_per_calendar_month",
            "created_per_month",
            "created",
            True,
            detail="month_name",
        ),
        _long(
            f.rename({"won_ci_low": "ci_low", "won_ci_high": "ci_high"}),
            groups,
            "deals_won_per_calendar_month",
            "won_per_month",
            "won",
            True,
            detail="month_name",
        ),
    ]


for _metric, _what, _date in (
    ("deals_created_per_calendar_month", "created", "created_at"),
    ("deals_won_per_calendar_month", "won", "closed_at of won deals"),
):
    declare(
        MetricCard(
            _metric,
            f"Deals {_what} per calendar month (seasonality)",
            f"deals {_what} in that calendar month over the window / times the month occurs in "
            "the window",
            "period: the whole months of the three years ending with the period's last whole "
            "month, never before the data's first whole month (the window column)",
            f"every deal by {_date}; detail = the month; the frame's {_what}_index divides by "
            "the average month (1 = average)",
            "95% quasi-Poisson: Garwood's exact interval of the month's total scaled by the "
            "months' dispersion (Pearson, floor 1, t-adjusted level), divided by the months; "
            "plain Poisson under two years of months (the note says so)",
            "count",
            (
                "With two or three years each month rests on two or three observations: one "
                "unusual month (a campaign, a re-organisation) moves it a lot.",
                "The interval widens by the square root of the dispersion when months vary "
                "more than Poisson counts; a trend across the years also widens it "
                "(conservative).",
            ),
            "pipeline_kit.seasonality",
            reading="Which months bring more or fewer deals than an average month. Compare a "
            "quarter with the same quarter a year earlier before blaming the team for a "
            "seasonal dip.",
        ),
        function=seasonality,
        output=SeasonalityOutput,
        long=_seasonality,
    )
