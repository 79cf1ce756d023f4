"""Flow metrics over a period: deals created, won and lost; win rate; deal size; cycle length.

A deal *closes in* a period when its ``closed_at`` falls inside it (both ends included). Every
function takes ``by=`` (a column of ``deals`` or several) and returns one row per group,
sorted by the group columns, with the sample size ``n`` and, for rates and averages, a 95%
interval and ``enough_data`` (``n >= min_n``).
"""

from __future__ import annotations

import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import By, aggregate, check_by, group_columns, resolve_period
from pipeline_kit.periods import Period
from pipeline_kit.stats import MIN_N, mean_interval, wilson_interval

__all__ = ["cycle_length", "deal_flow", "win_rate", "won_deal_size"]


def _closed_in(period: Period) -> pl.Expr:
    return pl.col("status").is_in(["won", "lost"]) & period.contains("closed_at")


def deal_flow(ds: Dataset, period: str | Period, by: By = None) -> pl.DataFrame:
    """Deals created, won and lost in the period.

    ``created = #{created_at in period}``, ``won = #{status won, closed_at in period}``,
    ``lost`` likewise. Groups are those with at least one such deal.

    >>> deal_flow(ds, "2025-Q4", by="team")          # doctest: +SKIP
    """
    period = resolve_period(period)
    groups = group_columns(by)
    check_by(ds, "deals", groups)
    lf = ds.lazy("deals").filter(period.contains("created_at") | _closed_in(period))
    return aggregate(
        lf,
        groups,
        [
            period.contains("created_at").sum().cast(pl.Int64).alias("created"),
            (_closed_in(period) & pl.col("status").eq("won")).sum().cast(pl.Int64).alias("won"),
            (_closed_in(period) & pl.col("status").eq("lost")).sum().cast(pl.Int64).alias("lost"),
        ],
    ).collect()


def win_rate(
    ds: Dataset,
    period: str | Period,
    by: By = None,
    *,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Win rate of the deals closed in the period, with a Wilson interval.

    ``win_rate = won / (won + lost)`` over deals whose ``closed_at`` is in the period; open
    deals do not count. Columns: group columns, ``won``, ``lost``, ``n = won + lost``,
    ``win_rate``, ``ci_low``, ``ci_high``, ``enough_data``.

    Example: 3 won and 1 lost in 2025-Q4 gives 0.75 (n = 4, 95% CI 0.30-0.95, not enough data).
    """
    period = resolve_period(period)
    groups = group_columns(by)
    check_by(ds, "deals", groups)
    lf = ds.lazy("deals").filter(_closed_in(period))
    low, high = wilson_interval("won", "n", confidence)
    return (
        aggregate(
            lf,
            groups,
            [
                pl.col("status").eq("won").sum().cast(pl.Int64).alias("won"),
                pl.col("status").eq("lost").sum().cast(pl.Int64).alias("lost"),
            ],
        )
        .with_columns((pl.col("won") + pl.col("lost")).alias("n"))
        .with_columns(
            pl.when(pl.col("n") > 0).then(pl.col("won") / pl.col("n")).alias("win_rate"),
            low.alias("ci_low"),
            high.alias("ci_high"),
            (pl.col("n") >= min_n).alias("enough_data"),
        )
        .collect()
    )


def _mean_summary(
    lf: pl.LazyFrame, groups: list[str], value: pl.Expr, confidence: float, min_n: int
) -> pl.DataFrame:
    """n, mean, median, sd, total and a t-interval of ``value`` per group."""
    summary = aggregate(
        lf.with_columns(value.alias("_v")),
        groups,
        [
            pl.col("_v").count().cast(pl.Int64).alias("n"),
            pl.col("_v").mean().alias("mean"),
            pl.col("_v").median().alias("median"),
            pl.col("_v").std().alias("sd"),
            pl.col("_v").sum().alias("total"),
        ],
    ).collect()
    low, high = mean_interval("mean", "sd", "n", confidence)
    # amounts and durations cannot be negative: truncating the interval at 0 keeps its coverage
    return summary.with_columns(
        low.clip(lower_bound=0).alias("ci_low"),
        high.alias("ci_high"),
        (pl.col("n") >= min_n).alias("enough_data"),
    )


def won_deal_size(
    ds: Dataset,
    period: str | Period,
    by: By = None,
    *,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Average (and median) amount of the deals won in the period, with a t-interval.

    ``mean = sum(amount) / n`` over deals with status won and ``closed_at`` in the period;
    ``total`` is their sum (bookings). Columns: groups, n, mean, median, sd, total,
    ci_low, ci_high (Student-t, lower end truncated at 0), enough_data.
    """
    period = resolve_period(period)
    groups = group_columns(by)
    check_by(ds, "deals", groups)
    lf = ds.lazy("deals").filter(_closed_in(period) & pl.col("status").eq("won"))
    return _mean_summary(lf, groups, pl.col("amount"), confidence, min_n)


def cycle_length(
    ds: Dataset,
    period: str | Period,
    by: By = None,
    *,
    outcome: str = "closed",
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Naive sales-cycle length in days: ``closed_at - created_at`` of deals closed in the period.

    ``outcome`` chooses which closed deals count: ``"closed"`` (won and lost, the default),
    ``"won"`` or ``"lost"``. Open deals are ignored, which understates the cycle when many
    deals are still open (the censoring-aware Kaplan-Meier estimate comes with the metric
    catalogue). Columns: groups, n, mean, median, sd, ci_low, ci_high, enough_data.
    """
    if outcome not in ("closed", "won", "lost"):
        raise ValueError(f"outcome must be closed, won or lost, not {outcome!r}")
    period = resolve_period(period)
    groups = group_columns(by)
    check_by(ds, "deals", groups)
    keep = _closed_in(period)
    if outcome != "closed":
        keep = keep & pl.col("status").eq(outcome)
    days = (pl.col("closed_at") - pl.col("created_at")).dt.total_days().cast(pl.Float64)
    summary = _mean_summary(ds.lazy("deals").filter(keep), groups, days, confidence, min_n)
    return summary.drop("total")
