"""Flow metrics over a period: deals created, won and lost; win rate; deal size; cycle length.

A deal *closes in* a period when its ``closed_at`` falls inside it (both ends included). Every
function is called ``metric(ds, period, *, by=None, as_of=None)``: ``period`` a label, a
:class:`~pipeline_kit.periods.Period` or ``"latest"`` (the last complete quarter of the data);
``by`` a column of ``deals`` or several; ``as_of`` the day the figures are read (flows: only
the events of the period up to that day count; cohorts: when outcomes are read; ``"latest"``
is the last date in the data). Each returns one row per group, sorted by the group columns,
with the sample size ``n`` and, for rates and averages, a 95% interval (``ci_low``,
``ci_high``; a secondary value's interval is ``<value>_ci_low``, ``<value>_ci_high``) and
``enough_data`` (``n >= min_n``). Each output frame is described by the dataframely schema
declared beside its function (the ``by`` columns come first).
"""

from __future__ import annotations

import datetime as dt

import dataframely as dy
import numpy as np
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import (
    By,
    aggregate,
    amount_column,
    amount_sum,
    as_date,
    as_period,
    basis_column,
    check_by,
    closed_in,
    count_column,
    empty_output,
    flag_column,
    flow_period,
    group_columns,
    resolve_cohort_as_of,
    share_column,
    time_basis,
    without_amount,
    without_amount_column,
)
from pipeline_kit.metrics._long import _long
from pipeline_kit.metrics.cards import CLOSED_IN, COHORT, WILSON, MetricCard, declare
from pipeline_kit.periods import Period
from pipeline_kit.stats import (
    MIN_N,
    accounts_design_effect,
    clustered_wilson_interval,
    median_interval,
    product_interval,
    skewed_mean_interval,
    weighted_share_design_effect,
)

__all__ = [
    "close_rate",
    "cycle_length",
    "deal_flow",
    "deal_size_distribution",
    "win_rate",
    "win_rate_alternatives",
    "won_deal_size",
]


class DealFlowOutput(dy.Schema):
    """:func:`deal_flow`: the ``by`` columns, then these."""

    created = count_column()
    won = count_column()
    lost = count_column()
    time_basis = basis_column("period")


@time_basis("period")
def deal_flow(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
) -> pl.DataFrame:
    """Deals created, won and lost in the period.

    ``created = #{created_at in period}``, ``won = #{status won, closed_at in period}``,
    ``lost`` likewise. Groups are those with at least one such deal. Columns:
    :class:`DealFlowOutput`.

    >>> deal_flow(ds, "2025-Q4", by="team")          # doctest: +SKIP
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    check_by(ds, "deals", groups, DealFlowOutput)
    lf = ds.lazy("deals").filter(period.contains("created_at") | closed_in(period))
    return aggregate(
        lf,
        groups,
        [
            period.contains("created_at").sum().cast(pl.Int64).alias("created"),
            (closed_in(period) & pl.col("status").eq("won")).sum().cast(pl.Int64).alias("won"),
            (closed_in(period) & pl.col("status").eq("lost")).sum().cast(pl.Int64).alias("lost"),
        ],
    ).collect()


class WinRateOutput(dy.Schema):
    """:func:`win_rate`: the ``by`` columns, then these."""

    won = count_column()
    lost = count_column()
    n = count_column()
    win_rate = share_column()
    ci_low = share_column()
    ci_high = share_column()
    design_effect = dy.Float64(nullable=True, min=1)
    enough_data = flag_column()
    time_basis = basis_column("period")


@time_basis("period")
def win_rate(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Win rate of the deals closed in the period, with a Wilson interval.

    ``win_rate = won / (won + lost)`` over deals whose ``closed_at`` is in the period; open
    deals do not count. Columns: group columns, ``won``, ``lost``, ``n = won + lost``,
    ``win_rate``, ``ci_low``, ``ci_high``, ``design_effect``, ``enough_data``.

    The interval is the kit's modified Wilson. When the deals carry ``account_id``, deals of
    one account tend to be won or lost together, so n deals hold less information than n
    independent ones (with accounts of about 2.5 deals and an intraclass correlation of 0.3
    the plain interval held the true rate 85-87% of the time): ``design_effect`` =
    :func:`pipeline_kit.stats.design_effect` of the group's deals in their accounts (a deal
    without an account is its own), and the interval is the Wilson interval of
    ``won / design_effect`` of ``n / design_effect`` deals, never narrower than the plain
    one (0.94-0.96 in simulation, ``bench/coverage.py``). ``design_effect`` is 1 when the
    accounts show no such clustering and null when none of the group's deals has an
    ``account_id`` (the plain interval).

    Example: 3 won and 1 lost in 2025-Q4 gives 0.75 (n = 4, 95% CI 0.30-0.95, not enough data).
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    check_by(ds, "deals", groups, WinRateOutput)
    lf = ds.lazy("deals").filter(closed_in(period))
    low, high = clustered_wilson_interval("won", "n", "design_effect", confidence)
    return (
        _with_design_effect(
            ds,
            aggregate(
                lf,
                groups,
                [
                    pl.col("status").eq("won").sum().cast(pl.Int64).alias("won"),
                    pl.col("status").eq("lost").sum().cast(pl.Int64).alias("lost"),
                ],
            ),
            lf,
            groups,
            pl.col("status").eq("won"),
        )
        .with_columns((pl.col("won") + pl.col("lost")).alias("n"))
        .with_columns(
            pl.when(pl.col("n") > 0).then(pl.col("won") / pl.col("n")).alias("win_rate"),
            low.alias("ci_low"),
            high.alias("ci_high"),
            (pl.col("n") >= min_n).alias("enough_data"),
        )
        .select(*groups, *[c for c in WinRateOutput.column_names() if c != "time_basis"])
        .collect()
    )


def _with_design_effect(
    ds: Dataset, counts: pl.LazyFrame, lf: pl.LazyFrame, groups: list[str], success: pl.Expr
) -> pl.LazyFrame:
    """``counts`` with a ``design_effect`` column (null where no deal has an ``account_id``).

    The design effect of ``lf``'s deals in their accounts per group
    (:func:`pipeline_kit.stats.accounts_design_effect`; a deal without an account is its own).
    """
    if "account_id" not in ds.schema("deals"):
        return counts.with_columns(pl.lit(None, pl.Float64).alias("design_effect"))
    effect = accounts_design_effect(lf, groups, success)
    if not groups:
        return counts.join(effect, how="cross")
    return counts.join(effect, on=groups, how="left", nulls_equal=True, maintain_order="left")


def _mean_summary(
    lf: pl.LazyFrame,
    groups: list[str],
    value: pl.Expr,
    confidence: float,
    min_n: int,
    extra: tuple[pl.Expr, ...] = (),
) -> pl.DataFrame:
    """n, mean, median, sd, total and an interval for the mean of ``value`` per group.

    ``n`` counts the non-null values; ``extra`` aggregations come after ``total``. The
    interval is :func:`pipeline_kit.stats.skewed_mean_interval`'s: amounts and durations are
    skewed.
    """
    per_group = aggregate(
        lf.with_columns(value.alias("_v")),
        groups,
        [
            pl.col("_v").count().cast(pl.Int64).alias("n"),
            pl.col("_v").mean().alias("mean"),
            pl.col("_v").median().alias("median"),
            pl.col("_v").std().alias("sd"),
            amount_sum(amount=pl.col("_v")).alias("total"),  # (null: no value known)
            *extra,
            # every group's values as a list (without groups, one list of all values)
            (pl.col("_v").drop_nulls() if groups else pl.col("_v").drop_nulls().implode()).alias(
                "_values"
            ),
        ],
    ).collect()
    # one interval per group (a few groups), each over that group's values
    bounds = [
        skewed_mean_interval(v.to_numpy(), confidence) if v is not None else (None, None)
        for v in per_group["_values"]
    ]
    middle = [
        median_interval(v.to_numpy(), confidence) if v is not None else (None, None)
        for v in per_group["_values"]
    ]
    return per_group.drop("_values").with_columns(
        pl.Series("ci_low", [b[0] for b in bounds], dtype=pl.Float64),
        pl.Series("ci_high", [b[1] for b in bounds], dtype=pl.Float64),
        pl.Series("median_ci_low", [m[0] for m in middle], dtype=pl.Float64),
        pl.Series("median_ci_high", [m[1] for m in middle], dtype=pl.Float64),
        (pl.col("n") >= min_n).alias("enough_data"),
    )


class WonDealSizeOutput(dy.Schema):
    """:func:`won_deal_size`: the ``by`` columns, then these (the amounts of won deals)."""

    n = count_column()
    mean = amount_column(nullable=True)
    median = amount_column(nullable=True)
    sd = amount_column(nullable=True)
    total = amount_column(nullable=True)  # (null: no deal valued)
    without_amount = without_amount_column()
    ci_low = amount_column(nullable=True)
    ci_high = amount_column(nullable=True)
    median_ci_low = amount_column(nullable=True)
    median_ci_high = amount_column(nullable=True)
    enough_data = flag_column()
    time_basis = basis_column("period")


@time_basis("period")
def won_deal_size(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Average (and median) amount of the deals won in the period, with an interval.

    ``mean = sum(amount) / n`` over deals with status won and ``closed_at`` in the period
    and an amount; ``total`` is their sum (bookings). A won deal with a blank amount is left
    out of every figure here (``n`` counts the won deals with an amount) and counted in
    ``without_amount``: when it is above 0, ``total`` is the bookings of the deals with an
    amount, a lower bound of the period's bookings, not the whole. Columns: groups, n, mean,
    median, sd, total, without_amount, ci_low, ci_high (for the mean: a studentized
    bootstrap, widened to the log-normal generalized interval when the amounts look
    log-normal; none below 5 deals: :func:`pipeline_kit.stats.skewed_mean_interval`),
    median_ci_low, median_ci_high (for the median: order statistics, none below 6 deals,
    :func:`pipeline_kit.stats.median_interval`), enough_data (:class:`WonDealSizeOutput`).
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    check_by(ds, "deals", groups, WonDealSizeOutput)
    lf = ds.lazy("deals").filter(closed_in(period) & pl.col("status").eq("won"))
    return _mean_summary(lf, groups, pl.col("amount"), confidence, min_n, (without_amount(),))


class CycleLengthOutput(dy.Schema):
    """:func:`cycle_length`: the ``by`` columns, then these (days)."""

    n = count_column()
    mean = amount_column(nullable=True)
    median = amount_column(nullable=True)
    sd = amount_column(nullable=True)
    ci_low = amount_column(nullable=True)
    ci_high = amount_column(nullable=True)
    median_ci_low = amount_column(nullable=True)
    median_ci_high = amount_column(nullable=True)
    enough_data = flag_column()
    time_basis = basis_column("period")


@time_basis("period")
def cycle_length(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    outcome: str = "closed",
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Naive sales-cycle length in days: ``closed_at - created_at`` of deals closed in the period.

    ``days_to_close`` where the export gives a duration instead of dates.

    ``outcome`` chooses which closed deals count: ``"closed"`` (won and lost, the default),
    ``"won"`` or ``"lost"``. Open deals are ignored, which understates the cycle when many
    deals are still open (the censoring-aware Kaplan-Meier estimate comes with the metric
    catalogue). Columns: groups, n, mean, median, sd, ci_low, ci_high (the mean's interval),
    median_ci_low, median_ci_high, enough_data (:class:`CycleLengthOutput`).
    """
    if outcome not in ("closed", "won", "lost"):
        raise ValueError(f"outcome must be closed, won or lost, not {outcome!r}")
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    check_by(ds, "deals", groups, CycleLengthOutput)
    keep = closed_in(period)
    if outcome != "closed":
        keep = keep & pl.col("status").eq(outcome)
    days = pl.coalesce(
        (pl.col("closed_at") - pl.col("created_at")).dt.total_days().cast(pl.Float64),
        pl.col("days_to_close"),  # an export that gives a duration instead of dates
    )
    summary = _mean_summary(ds.lazy("deals").filter(keep), groups, days, confidence, min_n)
    return summary.drop("total")


class CloseRateOutput(dy.Schema):
    """:func:`close_rate`: the ``by`` columns, then these."""

    created = count_column()
    won = count_column()
    lost = count_column()
    open = count_column()
    n = count_column()
    close_rate = share_column()
    ci_low = share_column()
    ci_high = share_column()
    design_effect = dy.Float64(nullable=True, min=1)
    open_share = share_column()
    incomplete = flag_column()
    enough_data = flag_column()
    time_basis = basis_column("cohort")


@time_basis("cohort")
def close_rate(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    max_open: float = 0.1,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Share of the deals *created* in the period that were won by ``as_of`` (cohort).

    ``close_rate = won / created`` among deals with ``created_at`` in the period; outcomes are
    read at ``as_of`` (default: the last date in the data). Deals still open count in the
    denominator, so a young cohort looks worse than it will: ``incomplete`` is true when more
    than ``max_open`` of the cohort is still open. Columns: groups, created, won, lost, open,
    n (= created), close_rate, ci_low, ci_high (Wilson), design_effect, open_share,
    incomplete, enough_data (:class:`CloseRateOutput`). When the deals carry ``account_id``
    the interval allows for deals of one account being won or lost together, as
    :func:`win_rate`'s does: the Wilson interval on ``n / design_effect`` deals, never
    narrower than the plain one (``design_effect`` null where no deal has an account id).
    """
    period = as_period(period, ds)
    day = resolve_cohort_as_of(ds, as_of, period)
    groups = group_columns(by)
    check_by(ds, "deals", groups, CloseRateOutput)
    closed_by = pl.col("closed_at").is_not_null() & (pl.col("closed_at") <= day)
    lf = ds.lazy("deals").filter(period.contains("created_at") & (pl.col("created_at") <= day))
    low, high = clustered_wilson_interval("won", "n", "design_effect", confidence)
    return (
        _with_design_effect(
            ds,
            aggregate(
                lf,
                groups,
                [
                    pl.len().cast(pl.Int64).alias("created"),
                    (closed_by & pl.col("status").eq("won")).sum().cast(pl.Int64).alias("won"),
                    (closed_by & pl.col("status").eq("lost")).sum().cast(pl.Int64).alias("lost"),
                ],
            ),
            lf,
            groups,
            closed_by & pl.col("status").eq("won"),
        )
        .with_columns(
            (pl.col("created") - pl.col("won") - pl.col("lost")).alias("open"),
            pl.col("created").alias("n"),
        )
        .with_columns(
            pl.when(pl.col("n") > 0).then(pl.col("won") / pl.col("n")).alias("close_rate"),
            low.alias("ci_low"),
            high.alias("ci_high"),
            pl.when(pl.col("n") > 0).then(pl.col("open") / pl.col("n")).alias("open_share"),
        )
        .with_columns(
            (pl.col("open_share") > max_open).fill_null(False).alias("incomplete"),
            (pl.col("n") >= min_n).alias("enough_data"),
        )
        .select(*groups, *[c for c in CloseRateOutput.column_names() if c != "time_basis"])
        .collect()
    )


CLUSTERED = (
    "; when deals carry account_id, on n / design_effect deals (design_effect = 1 + (mean "
    "account size - 1) x the accounts' intraclass correlation), never narrower"
)

WIN_RATE_DEFINITIONS = {
    "count_closed": "won / (won + lost), deals closed in the period (the kit's default)",
    "amount_closed": "won amount / (won + lost) amount, deals closed in the period",
    "created_cohort": "won / created, deals created in the period (open ones count as not won)",
    "stale_as_lost": "won / (won + lost + stale), closed in the period, plus deals open at the "
    "period end for longer than stale_days counted as lost",
}


class WinRateAlternativesOutput(dy.Schema):
    """:func:`win_rate_alternatives`: the ``by`` columns, then these (one row per definition)."""

    definition = dy.String(nullable=False, regex=f"^({'|'.join(WIN_RATE_DEFINITIONS)})$")
    numerator = amount_column()
    denominator = amount_column()
    deals = count_column()
    without_amount = without_amount_column()
    value = share_column()
    ci_low = share_column()
    ci_high = share_column()
    design_effect = dy.Float64(nullable=True, min=1)
    description = dy.String(nullable=False)
    caveat = dy.String(nullable=True)
    time_basis = basis_column("period", "cohort")


@time_basis("period")
def win_rate_alternatives(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    stale_days: int = 180,
) -> pl.DataFrame:
    """The common win-rate definitions side by side, to reconcile with a CRM's figure.

    One row per group and definition (see :data:`WIN_RATE_DEFINITIONS`): ``numerator``,
    ``denominator``, ``deals`` (the deals behind the figure: for the win rate by amount the
    denominator is money and ``deals`` counts the closed deals with an amount),
    ``without_amount`` (the closed deals the win rate by amount left out because their amount
    is blank; 0 for the count definitions, which keep them), ``value``, ``time_basis``
    (cohort for the created cohort, else period) and ``caveat`` (why a value is missing: the
    win rate by amount cannot be read when every lost deal has amount 0). ``created_cohort``
    reads outcomes at ``as_of`` (default: the last date in the data); the others count the
    deals closed in the period up to ``as_of`` (default: the whole period). Only
    ``count_closed`` is the kit's default; the others are shown to explain differences, not
    to pick the flattering one. Columns: :class:`WinRateAlternativesOutput`.

    The count definitions' intervals allow for deals of one account being won or lost
    together as :func:`win_rate`'s does (``design_effect`` of the definition's own deals in
    their accounts, the stale open deals counted as lost included; null where no deal has an
    account id), so the ``count_closed`` row is :func:`win_rate`'s figure and interval and
    ``created_cohort`` :func:`close_rate`'s. The win rate by amount is a share weighted by
    amounts: its interval is the modified Wilson interval on ``deals / design_effect`` deals,
    ``design_effect`` being the amounts'
    (:func:`~pipeline_kit.stats.weighted_share_design_effect`: the larger of Kish's
    ``n Σa² / (Σa)²`` and the ratio's linearised one; 1.3-1.9 on the sample's teams), so that
    a few large deals count as the few deals they are. The percentile bootstrap used before
    the ninth session covered 21-42% at a true share of 0.05 with 5-10 deals (every resample
    without a won deal reads 0%) and 68-94% with 200; this interval 87-100%
    (``bench/coverage.py --audit9-only``).
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    check_by(ds, "deals", groups, WinRateAlternativesOutput)
    deals = ds.lazy("deals")
    closed = deals.filter(closed_in(period))
    is_won = pl.col("status").eq("won")
    stale = pl.col("created_at") < pl.lit(period.end - dt.timedelta(days=stale_days))
    open_end = deals.filter(open_at_end(period) & stale)
    kept = [*groups, "deal_id", "account_id"]
    stale_as_lost = pl.concat(
        [
            closed.select(*kept, pl.col("status").cast(pl.String)),
            # with_columns, not select: a bare literal would make one row of nothing
            open_end.with_columns(pl.lit("lost").alias("status")).select(*kept, "status"),
        ]
    )

    def won_of(frame: pl.LazyFrame) -> pl.LazyFrame:
        """Won of the deals of ``frame``, with their design effect in their accounts."""
        counts = [
            is_won.sum().cast(pl.Float64).alias("numerator"),
            pl.len().cast(pl.Float64).alias("denominator"),
            pl.len().cast(pl.Int64).alias("deals"),
        ]
        return _with_design_effect(ds, aggregate(frame, groups, counts), frame, groups, is_won)

    parts = {
        "count_closed": won_of(closed),
        "amount_closed": aggregate(
            closed,
            groups,
            [
                # over the closed deals with an amount; those without one are counted apart
                pl.col("amount").filter(is_won).sum().alias("numerator"),
                pl.col("amount").sum().alias("denominator"),
                pl.col("amount").count().cast(pl.Int64).alias("deals"),
                without_amount(),
                # lost deals whose amount the CRM cleared (0) make this read 100%
                (
                    pl.col("status").eq("lost").any()
                    & pl.col("amount").filter(pl.col("status").eq("lost")).max().eq(0)
                ).alias("unreadable"),
                # the amounts' weight: the share is worth n / design_effect deals
                weighted_share_design_effect(pl.col("amount"), is_won).alias("design_effect"),
            ],
        ),
        "stale_as_lost": won_of(stale_as_lost),
    }
    cohort = (
        close_rate(ds, period, by=groups or None, as_of=as_of)
        .lazy()
        .select(
            *groups,
            pl.col("won").cast(pl.Float64).alias("numerator"),
            pl.col("created").cast(pl.Float64).alias("denominator"),
            pl.col("created").cast(pl.Int64).alias("deals"),
            "design_effect",
        )
    )
    parts["created_cohort"] = cohort
    by_amount_low, by_amount_high = clustered_wilson_interval(
        pl.col("value") * pl.col("deals"), "deals"
    )
    frames = [
        lf.with_columns(pl.lit(name).alias("definition"))
        if "unreadable" in lf.collect_schema()
        else lf.with_columns(
            pl.lit(name).alias("definition"),
            pl.lit(False).alias("unreadable"),
            pl.lit(0, pl.Int64).alias("without_amount"),  # (counts need no amount)
        )
        for name, lf in parts.items()
    ]
    return (
        pl.concat(frames, how="diagonal_relaxed")
        .with_columns(
            pl.when((pl.col("denominator") > 0) & ~pl.col("unreadable").fill_null(False))
            .then(pl.col("numerator") / pl.col("denominator"))
            .alias("value"),
            pl.col("definition").replace_strict(WIN_RATE_DEFINITIONS).alias("description"),
            pl.when(pl.col("unreadable").fill_null(False))
            .then(
                pl.lit(
                    "every lost deal has amount 0 (the CRM clears it on loss): a win rate by "
                    "amount would read 100%, so it is not given"
                )
            )
            .alias("caveat"),
        )
        .with_columns(
            # counts: Wilson on n / design_effect deals, as win_rate's (count_closed equals
            # it); the share of amounts: Wilson on its deals / the amounts' design effect
            pl.when(pl.col("definition") != "amount_closed")
            .then(clustered_wilson_interval("numerator", "denominator")[0])
            .when(pl.col("value").is_not_null())
            .then(by_amount_low)
            .alias("ci_low"),
            pl.when(pl.col("definition") != "amount_closed")
            .then(clustered_wilson_interval("numerator", "denominator")[1])
            .when(pl.col("value").is_not_null())
            .then(by_amount_high)
            .alias("ci_high"),
            # the created cohort is read at as_of; the others count deals closed in the period
            pl.when(pl.col("definition") == "created_cohort")
            .then(pl.lit("cohort"))
            .otherwise(pl.lit("period"))
            .alias("time_basis"),
        )
        .select(
            *groups,
            "definition",
            "numerator",
            "denominator",
            "deals",
            "without_amount",
            "value",
            "ci_low",
            "ci_high",
            "design_effect",
            "description",
            "caveat",
            "time_basis",
        )
        .sort(*groups, "definition")
        .collect()
    )


def open_at_end(period: Period) -> pl.Expr:
    """Expression over deals: open at the end of the period's last day."""
    return (pl.col("created_at") <= period.end) & (
        pl.col("closed_at").is_null() | (pl.col("closed_at") > period.end)
    )


class VelocityOutput(dy.Schema):
    """:func:`velocity`: the ``by`` columns, then these."""

    open_qualified = count_column()
    win_rate = share_column()
    avg_won_deal_size = amount_column(nullable=True)
    avg_cycle_days_won = amount_column(nullable=True)
    n = count_column()
    won = count_column()
    without_amount = without_amount_column()
    velocity_per_day = amount_column(nullable=True)
    ci_low = amount_column(nullable=True)  # velocity_per_day's 95% interval (MOVER)
    ci_high = amount_column(nullable=True)
    velocity_per_period = amount_column(nullable=True)
    enough_data = flag_column()
    time_basis = basis_column("snapshot")


@time_basis("snapshot")
def velocity(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    qualified_from: str | None = None,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Pipeline velocity: value the pipeline is expected to produce per day.

    ``velocity = open qualified deals x win rate x average won deal size / average cycle
    length (days)``, where open qualified deals are those open at the period's last day in
    ``qualified_from`` (default: the second open stage, of each pipeline when the stages name
    several) or a later open stage, and the other
    three factors come from the deals closed in the period (win rate as in ``win_rate``, mean
    won amount, mean days created -> closed of won deals). ``as_of`` moves the snapshot of
    open deals to that day (``"latest"``: the last date in the data); one before the period's
    end also cuts the closed deals at it. A composite of estimates, with the interval below;
    ``enough_data`` requires ``min_n`` closed deals and ``min_n`` of them won (the
    mean amount and cycle rest on the won ones). Deals without an amount count in the open
    qualified deals, the win rate and the cycle; the average won deal size is over the won
    deals with an amount, and ``without_amount`` counts the won deals it left out.

    ``ci_low``/``ci_high``: a 95% interval of ``velocity_per_day`` by MOVER for a product of
    estimates (Zou & Donner 2008, :func:`~pipeline_kit.stats.product_interval`, applied
    twice): the win rate's modified Wilson interval (as :func:`win_rate`, widened by the
    design effect of deals in accounts), the average won
    deal's skew-aware interval (as :func:`won_deal_size`) and the inverse of the average won
    cycle's (as :func:`cycle_length` with ``outcome="won"``); the open qualified deals are a
    count read on the day, exact. The amount and the cycle of won deals rise together (big
    deals take longer), which MOVER's independence ignores: the ratio varies less than it
    assumes, so the interval errs wide. Null where a factor is 0 or has no interval (fewer
    than 5 won deals). Columns: groups, open_qualified, win_rate, avg_won_deal_size,
    avg_cycle_days_won, n (closed), won, without_amount, velocity_per_day, ci_low, ci_high,
    velocity_per_period (x days in the period), enough_data (:class:`VelocityOutput`).
    """
    from pipeline_kit.metrics.pipeline import open_at, with_stage_at

    whole = as_period(period, ds)
    day = as_date(as_of, ds) or whole.end
    period = flow_period(ds, whole, as_of)
    groups = group_columns(by)
    check_by(ds, "deals", groups, VelocityOutput)
    stages = ds.tables["stages"].filter(~pl.col("is_won") & ~pl.col("is_lost")).sort("order")
    if stages.height == 0:
        raise ValueError("velocity needs at least one open stage in the stages table")
    first = qualified_from or stages["stage"][min(1, stages.height - 1)]
    if first not in stages["stage"].to_list():
        raise ValueError(f"unknown stage {first!r}; open stages: {', '.join(stages['stage'])}")
    if qualified_from is None:  # each pipeline from its own second open stage
        second = pl.col("order").get(pl.min_horizontal(1, pl.len() - 1)).over("pipeline")
        qualified = stages.filter(pl.col("order") >= second)["stage"].to_list()
    else:
        min_order = stages.filter(pl.col("stage") == first)["order"][0]
        qualified = stages.filter(pl.col("order") >= min_order)["stage"].to_list()
    open_end = ds.lazy("deals").filter(open_at(day))
    open_q = with_stage_at(ds, open_end, day).filter(pl.col("stage").is_in(qualified))
    open_counts = aggregate(open_q, groups, [pl.len().cast(pl.Int64).alias("open_qualified")])
    closed = ds.lazy("deals").filter(closed_in(period))
    won = pl.col("status").eq("won")
    days = (pl.col("closed_at") - pl.col("created_at")).dt.total_days()
    factors = _with_design_effect(  # (the win rate's interval is win_rate's)
        ds,
        aggregate(
            closed,
            groups,
            [
                pl.len().cast(pl.Int64).alias("n"),
                won.sum().cast(pl.Int64).alias("won"),
                pl.when(pl.len() > 0).then(won.sum() / pl.len()).alias("win_rate"),
                pl.col("amount").filter(won).mean().alias("avg_won_deal_size"),
                without_amount(won),
                days.filter(won).mean().alias("avg_cycle_days_won"),
            ],
        ),
        closed,
        groups,
        won,
    )
    joined = (
        factors.join(open_counts, on=groups, how="full", coalesce=True)
        if groups
        else factors.join(open_counts, how="cross")
    )
    per_day = (
        pl.col("open_qualified")
        * pl.col("win_rate")
        * pl.col("avg_won_deal_size")
        / pl.col("avg_cycle_days_won")
    )
    # the factors' intervals, each the one its own metric gives (a name, one figure)
    size = won_deal_size(ds, whole, by=groups or None, as_of=as_of).select(
        *groups, pl.col("ci_low").alias("_a_low"), pl.col("ci_high").alias("_a_high")
    )
    cycle = cycle_length(ds, whole, by=groups or None, as_of=as_of, outcome="won").select(
        *groups, pl.col("ci_low").alias("_c_low"), pl.col("ci_high").alias("_c_high")
    )
    p_low, p_high = clustered_wilson_interval("won", "n", "design_effect")
    pa_low, pa_high = product_interval(
        "win_rate", p_low, p_high, "avg_won_deal_size", "_a_low", "_a_high"
    )
    inverse = 1.0 / pl.col("avg_cycle_days_won")
    v_low, v_high = product_interval(
        pl.col("win_rate") * pl.col("avg_won_deal_size"),
        "_pa_low",
        "_pa_high",
        inverse,
        1.0 / pl.col("_c_high"),
        pl.when(pl.col("_c_low") > 0).then(1.0 / pl.col("_c_low")),
    )
    factors_ci = (
        joined.join(size.lazy(), on=groups, how="left", nulls_equal=True).join(
            cycle.lazy(), on=groups, how="left", nulls_equal=True
        )
        if groups
        else joined.join(size.lazy(), how="cross").join(cycle.lazy(), how="cross")
    )
    return (
        factors_ci.with_columns(pl.col("open_qualified", "n", "won", "without_amount").fill_null(0))
        .with_columns(pa_low.alias("_pa_low"), pa_high.alias("_pa_high"))
        .with_columns(
            pl.when(pl.col("avg_cycle_days_won") > 0).then(per_day).alias("velocity_per_day"),
            (pl.col("open_qualified") * v_low).alias("ci_low"),
            (pl.col("open_qualified") * v_high).alias("ci_high"),
        )
        .with_columns(
            (pl.col("velocity_per_day") * whole.days).alias("velocity_per_period"),
            # (the won-deal factors rest on the won deals: 22 closed with 5 won is not enough)
            ((pl.col("n") >= min_n) & (pl.col("won") >= min_n)).alias("enough_data"),
        )
        .select(
            *groups,
            "open_qualified",
            "win_rate",
            "avg_won_deal_size",
            "avg_cycle_days_won",
            "n",
            "won",
            "without_amount",
            "velocity_per_day",
            "ci_low",
            "ci_high",
            "velocity_per_period",
            "enough_data",
        )
        .sort(groups)
        .collect()
    )


class DealSizeDistributionOutput(dy.Schema):
    """:func:`deal_size_distribution`: the ``by`` columns, then these (one row per bin)."""

    bin = count_column()
    bin_low = amount_column()
    bin_high = amount_column()
    won_deals = count_column()
    share = share_column(nullable=False)
    time_basis = basis_column("period")


@time_basis("period")
def deal_size_distribution(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    bins: int = 12,
) -> pl.DataFrame:
    """How the amounts of the deals won in the period are spread, in ``bins`` log-spaced bins.

    The bin edges are shared by all groups (geometric steps from the smallest to the largest
    won amount of the period), so groups compare bin by bin. Only won deals with a positive
    amount are binned (a log scale has no place for 0; a deal without an amount has no bin:
    :func:`won_deal_size`'s ``without_amount`` counts those). Columns: groups, bin, bin_low,
    bin_high, won_deals, share (of the group's won deals) (:class:`DealSizeDistributionOutput`).
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    check_by(ds, "deals", groups)
    won = ds.lazy("deals").filter(
        closed_in(period) & pl.col("status").eq("won") & (pl.col("amount") > 0)
    )
    low, high = (
        won.select(pl.col("amount").min().alias("low"), pl.col("amount").max().alias("high"))
        .collect()
        .row(0)
    )
    if low is None:
        return empty_output(DealSizeDistributionOutput, ds, "deals", groups)
    edges = np.geomspace(low, high if high > low else low * 1.01, bins + 1)
    index = (
        (
            (pl.col("amount").log() - np.log(edges[0]))
            / (np.log(edges[-1]) - np.log(edges[0]))
            * bins
        )
        .floor()
        .cast(pl.Int64)
        .clip(0, bins - 1)
    )
    counts = (
        won.with_columns(index.alias("bin"))
        .group_by(*groups, "bin")
        .agg(pl.len().cast(pl.Int64).alias("won_deals"))
    )
    total = pl.col("won_deals").sum().over(groups) if groups else pl.col("won_deals").sum()
    return (
        counts.with_columns(
            pl.col("bin")
            .map_elements(lambda i: float(edges[i]), return_dtype=pl.Float64)
            .alias("bin_low"),
            pl.col("bin")
            .map_elements(lambda i: float(edges[i + 1]), return_dtype=pl.Float64)
            .alias("bin_high"),
            (pl.col("won_deals") / total).alias("share"),
        )
        .select(*groups, "bin", "bin_low", "bin_high", "won_deals", "share")
        .sort(*groups, "bin")
        .collect()
    )


# ----------------------------------------------------------------------------- catalogue


def _flow(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    f = deal_flow(ds, period, by=groups)
    return [
        _long(f, groups, m, c, None, False)
        for m, c in (("deals_created", "created"), ("deals_won", "won"), ("deals_lost", "lost"))
    ]


def _win_rate(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    return [_long(win_rate(ds, period, by=groups), groups, "win_rate", "win_rate", "n", True)]


def _deal_size(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    f = won_deal_size(ds, period, by=groups)
    return [
        _long(f, groups, "avg_won_deal_size", "mean", "n", True, without_amount=True),
        _long(
            f.with_columns(
                pl.col("median_ci_low").alias("ci_low"), pl.col("median_ci_high").alias("ci_high")
            ),
            groups,
            "median_won_deal_size",
            "median",
            "n",
            True,
            without_amount=True,
        ),
        _long(f, groups, "bookings", "total", "n", False, without_amount=True),
    ]


def _cycle(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    f = cycle_length(ds, period, by=groups)
    return [_long(f, groups, "cycle_length_days", "mean", "n", True)]


def _close_rate(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    day = resolve_cohort_as_of(ds, as_of, period)
    f = close_rate(ds, period, by=groups, as_of=day)
    return [_long(f, groups, "close_rate", "close_rate", "n", True, as_of=day)]


_ALTERNATIVES = {
    "amount_closed": "win_rate_by_amount",
    "created_cohort": "win_rate_created_cohort",
    "stale_as_lost": "win_rate_stale_as_lost",
}


def _alternatives(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    f = win_rate_alternatives(ds, period, by=groups, as_of=as_of)
    out = []
    for definition, metric in _ALTERNATIVES.items():
        part = f.filter(pl.col("definition") == definition)
        cohort = resolve_cohort_as_of(ds, as_of, period) if definition == "created_cohort" else None
        by_amount = definition == "amount_closed"  # the only definition that weighs amounts
        out.append(
            _long(
                part, groups, metric, "value", "deals", True, as_of=cohort, without_amount=by_amount
            )
        )
    return out


def _velocity(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    if ds.tables["stages"].filter(~pl.col("is_won") & ~pl.col("is_lost")).height == 0:
        return []  # no open stage, so no qualified pipeline to speak of
    f = velocity(ds, period, by=groups)
    return [
        _long(
            f,
            groups,
            "velocity_per_day",
            "velocity_per_day",
            "n",
            True,
            as_of=period.end,
            without_amount=True,
        )
    ]


declare(
    MetricCard(
        "deals_created",
        "Deals created",
        "count of deals with created_at in the period",
        "period",
        "every valid deal created in the period, whatever happened to it later",
        "none (a count)",
        "count",
        (),
        "pipeline_kit.deal_flow",
        reading="The top of the funnel for the period. Compare with the same quarter a "
        "year earlier (seasonality) before the previous one; a drop shows up in bookings one cycle "
        "length later.",
    ),
    function=deal_flow,
    output=DealFlowOutput,
    long=_flow,
)


declare(
    MetricCard(
        "deals_won",
        "Deals won",
        "count of deals with status won and closed_at in the period",
        "period",
        "won " + CLOSED_IN,
        "none (a count)",
        "count",
        (),
        "pipeline_kit.deal_flow",
        reading="Volume of wins; read it with deals_lost and win_rate, never alone: more wins "
        "can simply mean more deals closed, good and bad.",
    ),
    function=deal_flow,
    output=DealFlowOutput,
    long=_flow,
)


declare(
    MetricCard(
        "deals_lost",
        "Deals lost",
        "count of deals with status lost and closed_at in the period",
        "period",
        "lost " + CLOSED_IN,
        "none (a count)",
        "count",
        (),
        "pipeline_kit.deal_flow",
        reading="Volume of losses. A jump at quarter end often means a pipeline clean-up "
        "(stale deals closed lost), not a worse quarter: check lost_reason_share.",
    ),
    function=deal_flow,
    output=DealFlowOutput,
    long=_flow,
)


declare(
    MetricCard(
        "win_rate",
        "Win rate",
        "won / (won + lost)",
        "period",
        "won and lost " + CLOSED_IN + "; open deals are excluded",
        WILSON + CLUSTERED,
        "share",
        (
            "CRMs also report won / all created, win rate by amount, or count stale open deals "
            "as lost; these give different numbers and are not comparable.",
            "Below 20 closed deals the interval is too wide for a verdict.",
            "The Wilson interval's coverage dips to about 91% for true rates near 5% with 10 "
            "to 20 closed deals (bench/coverage.py); elsewhere it stays within 93-98%.",
            "Deals of one account tend to be won or lost together; without account_id the "
            "interval assumes independent deals and is too short when they are not (85-92% "
            "coverage with accounts of about 2.5 deals in simulation).",
        ),
        "pipeline_kit.win_rate",
        reading="Of the deals decided this period, the share won. Look at the interval first: "
        "two teams whose intervals overlap widely are not shown to differ. Compare like with like "
        "(same deal mix: see pk.mix_adjusted_win_rate).",
    ),
    function=win_rate,
    output=WinRateOutput,
    long=_win_rate,
)


declare(
    MetricCard(
        "avg_won_deal_size",
        "Average won deal size",
        "sum(amount of won deals) / won",
        "period",
        "won " + CLOSED_IN,
        "95% for the mean: a studentized bootstrap (seeded), widened to the generalized "
        "interval for a log-normal mean when the values look log-normal; none below 5 values "
        "(5 above 0)",
        "currency",
        ("Amounts are skewed: a few large deals move the mean; read the median beside it.",),
        "pipeline_kit.won_deal_size",
        reading="What a typical win is worth on average; pulled up by a few large "
        "deals, so read it beside the median. A rise with a falling count can mean fewer, bigger "
        "deals rather than growth.",
    ),
    function=won_deal_size,
    output=WonDealSizeOutput,
    long=_deal_size,
)


declare(
    MetricCard(
        "median_won_deal_size",
        "Median won deal size",
        "median(amount of won deals)",
        "period",
        "won " + CLOSED_IN,
        "95% distribution-free (order statistics of the won amounts: at least 95% whatever "
        "their shape)",
        "currency",
        (),
        "pipeline_kit.won_deal_size",
        reading="The middle won deal: robust to a single whale. A gap between mean "
        "and median says the sizes are skewed.",
    ),
    function=won_deal_size,
    output=WonDealSizeOutput,
    long=_deal_size,
)


declare(
    MetricCard(
        "bookings",
        "Bookings",
        "sum(amount of won deals)",
        "period",
        "won " + CLOSED_IN,
        "none (a total)",
        "currency",
        (),
        "pipeline_kit.won_deal_size",
        reading="Revenue booked this period (won amount). The number leadership watches; "
        "decompose it as wins x average size to see which moved.",
    ),
    function=won_deal_size,
    output=WonDealSizeOutput,
    long=_deal_size,
)


declare(
    MetricCard(
        "cycle_length_days",
        "Sales cycle length (naive)",
        "mean(closed_at - created_at) in days",
        "period",
        "won and lost " + CLOSED_IN,
        "95% for the mean: a studentized bootstrap (seeded), widened to the generalized "
        "interval for a log-normal mean when the values look log-normal; none below 5 values "
        "(5 above 0)",
        "days",
        (
            "Naive: deals still open are ignored, so with many young open deals the typical "
            "cycle is understated; a censoring-aware (Kaplan-Meier) estimate is the remedy.",
            "Averaging over won deals only (as many CRMs do) gives a different figure.",
        ),
        "pipeline_kit.cycle_length",
        reading="How long the deals that closed this period took. Only finished deals "
        "count, so it is biased short when many deals are still open: prefer the Kaplan-Meier "
        "median.",
    ),
    function=cycle_length,
    output=CycleLengthOutput,
    long=_cycle,
)


declare(
    MetricCard(
        "close_rate",
        "Close rate (cohort)",
        "won / created",
        COHORT,
        "every deal created in the period; still-open deals count as not (yet) won",
        WILSON + CLUSTERED,
        "share",
        (
            "Young cohorts look worse than they will end up: flagged incomplete when over 10% of "
            "the cohort is still open.",
            "Deals of one account tend to be won or lost together; without account_id the "
            "interval assumes independent deals and is too short when they are not (85-92% "
            "coverage with accounts of about 2.5 deals in simulation).",
        ),
        "pipeline_kit.close_rate",
        reading="Of the deals created in the cohort, the share won so far. Young cohorts look "
        "worse than they are (their deals have not had time to close): the flag says so.",
    ),
    function=close_rate,
    output=CloseRateOutput,
    long=_close_rate,
)


declare(
    MetricCard(
        "win_rate_by_amount",
        "Win rate by amount",
        "won amount / (won + lost) amount",
        "period",
        "won and lost " + CLOSED_IN,
        "modified Wilson on n / design_effect closed deals, design_effect = the amounts' "
        "(the larger of n Σa² / (Σa)² and the ratio's linearised one), 95%",
        "share",
        (
            "Dominated by a few large deals; differs from the count-based win rate whenever "
            "large deals win more or less often than small ones.",
        ),
        "pipeline_kit.win_rate_alternatives",
        reading="Win rate weighted by value. When it is below the count-based win "
        "rate, large deals are lost more often than small ones.",
    ),
    function=win_rate_alternatives,
    output=WinRateAlternativesOutput,
    long=_alternatives,
)


declare(
    MetricCard(
        "win_rate_created_cohort",
        "Win rate over created deals",
        "won / created",
        COHORT,
        "every deal created in the period, open ones as not won",
        WILSON + ", as close_rate",
        "share",
        ("What many CRMs call win rate; low for recent periods by construction.",),
        "pipeline_kit.win_rate_alternatives",
        reading="Wins over all deals created, open ones included: always at or "
        "below the win rate, and it keeps rising while the cohort's deals close.",
    ),
    function=win_rate_alternatives,
    output=WinRateAlternativesOutput,
    long=_alternatives,
)


declare(
    MetricCard(
        "win_rate_stale_as_lost",
        "Win rate with stale deals as lost",
        "won / (won + lost + stale)",
        "period",
        "won and lost " + CLOSED_IN + ", plus deals open at the period end that were created "
        "more than 180 days before it, counted as lost",
        WILSON,
        "share",
        ("Penalises teams that keep dead deals open; the threshold is a convention.",),
        "pipeline_kit.win_rate_alternatives",
        reading="Win rate if the stale open deals were lost: a pessimistic bound. "
        "A big gap to the win rate means a lot of pipeline is stuck.",
    ),
    function=win_rate_alternatives,
    output=WinRateAlternativesOutput,
    long=_alternatives,
)


declare(
    MetricCard(
        "velocity_per_day",
        "Pipeline velocity",
        "open qualified deals x win rate x average won deal size / average won cycle (days)",
        "snapshot of qualified open deals at the period end; the three rates from deals closed "
        "in the period",
        "open deals in the second open stage or later at the period end; won and lost deals "
        "closed in the period for the rates",
        "95%, MOVER for a product (Zou & Donner 2008) of the win rate's Wilson interval, the "
        "average won deal's and the inverse average won cycle's; the open count is exact",
        "currency",
        (
            "Multiplying four noisy estimates compounds their noise; compare velocities only "
            "between groups with enough closed deals and enough won deals.",
        ),
        "pipeline_kit.velocity",
        reading="Expected revenue per day the qualified pipeline produces. Move any of "
        "its four levers (more qualified deals, higher win rate, bigger deals, shorter cycles) to "
        "raise it; see which one differs from the benchmark.",
        pipelines="the open deals count from the second open stage of each deal's own "
        "pipeline (a stage order is compared within its pipeline only); `qualified_from`, when "
        "given, uses the order of the whole stages table. The rates stay organisation-wide "
        "unless `by` names the pipeline.",
    ),
    function=velocity,
    output=VelocityOutput,
    long=_velocity,
)
