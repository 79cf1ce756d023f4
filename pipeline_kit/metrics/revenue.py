"""Revenue metrics: bookings against target, churn, customer retention, CAC, CLV and CLV:CAC.

Targets and marketing spend are recorded per team, so these metrics group by ``team`` or not
at all. Money is in the export's currency units; MRR is monthly. Each function is called
``metric(ds, period, *, by=None, as_of=None)`` and its output frame is described by the
dataframely schema declared beside it.
"""

from __future__ import annotations

import datetime as dt

import dataframely as dy
import numpy as np
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import (
    By,
    amount_column,
    amount_sum,
    as_period,
    basis_column,
    count_column,
    flag_column,
    flow_period,
    group_columns,
    km_by_group,
    resolve_cohort_as_of,
    share_column,
    time_basis,
    without_amount,
    without_amount_column,
)
from pipeline_kit.metrics._long import _long, _needs, _team_level
from pipeline_kit.metrics.cards import CLOSED_IN, WILSON, MetricCard, declare
from pipeline_kit.periods import Period
from pipeline_kit.stats import MIN_N, product_interval, skewed_mean_interval, wilson_interval

UNKNOWN_REASON = "unknown"
"""The churn reason of an account whose ``churn_reason`` is empty (or absent from the export)."""

__all__ = ["bookings_vs_target", "cac", "churn", "churn_reasons", "clv", "customer_retention"]

DEAL_TYPES = ("new", "expansion", "renewal")


def _team_only(groups: list[str], what: str) -> None:
    if groups not in ([], ["team"]):
        raise ValueError(f"{what} is recorded per team: use by=None or by='team'")


def _grouped(lf: pl.LazyFrame, groups: list[str], aggs: list[pl.Expr]) -> pl.LazyFrame:
    return lf.group_by(groups).agg(aggs) if groups else lf.select(aggs)


def _join(left: pl.LazyFrame, right: pl.LazyFrame, groups: list[str]) -> pl.LazyFrame:
    if groups:
        return left.join(right, on=groups, how="full", coalesce=True)
    return left.join(right, how="cross")


class BookingsVsTargetOutput(dy.Schema):
    """:func:`bookings_vs_target`: the ``by`` columns (team and/or owner), then these."""

    bookings = amount_column(nullable=True)  # (null: no deal valued)
    bookings_new = amount_column(nullable=True)  # (null: no deal valued)
    bookings_expansion = amount_column(nullable=True)  # (null: no deal valued)
    bookings_renewal = amount_column(nullable=True)  # (null: no deal valued)
    bookings_other = amount_column(nullable=True)  # (null: no deal valued)
    won_deals = count_column()
    without_amount = without_amount_column()
    target = amount_column(nullable=True)
    attainment = amount_column(nullable=True)
    time_basis = basis_column("period")


@time_basis("period")
def bookings_vs_target(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
) -> pl.DataFrame:
    """Bookings (won amount closed in the period), split by deal type, against target.

    ``attainment = bookings / target``, where target sums the targets whose dates lie inside
    the period: team-level rows (no owner) by team or overall, rep quotas (rows with an
    owner) when grouping by ``owner``. Groups: none, ``team``, ``owner`` or both.
    Columns: groups, bookings, bookings_new, bookings_expansion, bookings_renewal,
    bookings_other (no or other type), won_deals, without_amount, target, attainment (null
    without a target) (:class:`BookingsVsTargetOutput`). A won deal without an amount counts
    in ``won_deals`` and in no sum; ``without_amount`` counts them: when it is above 0 the
    bookings and the attainment are those of the won deals with an amount, lower bounds, not
    the whole. ``as_of`` before the period's end counts the bookings
    up to that day against the whole period's target (attainment to date).
    """
    period = as_period(period, ds)
    booked_in = flow_period(ds, period, as_of)
    groups = group_columns(by)
    if not set(groups) <= {"team", "owner"}:
        raise ValueError("targets are per team or per rep: use by=None, 'team' or 'owner'")
    won = ds.lazy("deals").filter(pl.col("status").eq("won") & booked_in.contains("closed_at"))
    kind = pl.col("deal_type").str.to_lowercase()
    aggs = [
        amount_sum().alias("bookings"),
        *[amount_sum(kind == t).alias(f"bookings_{t}") for t in DEAL_TYPES],
        amount_sum(~kind.is_in(DEAL_TYPES) | kind.is_null()).alias("bookings_other"),
        pl.len().cast(pl.Int64).alias("won_deals"),
        without_amount(),
    ]
    booked = _grouped(won, groups, aggs)
    if ds.has("targets"):
        per_rep = "owner" in groups
        targets = ds.lazy("targets").filter(
            (pl.col("owner").is_not_null() if per_rep else pl.col("owner").is_null())
            & (pl.col("period_start") >= period.start)
            & (pl.col("period_end") <= period.end)
        )
        target = _grouped(targets, groups, [pl.col("target").sum()])
        out = _join(booked, target, groups)
    else:
        out = booked.with_columns(pl.lit(None, pl.Float64).alias("target"))
    money = ["bookings", *[f"bookings_{t}" for t in DEAL_TYPES], "bookings_other"]
    return (
        out.with_columns(
            pl.col(money).fill_null(0.0), pl.col("won_deals", "without_amount").fill_null(0)
        )
        .with_columns(
            pl.when(pl.col("target") > 0)
            .then(pl.col("bookings") / pl.col("target"))
            .alias("attainment")
        )
        .sort(groups)
        .collect()
    )


class ChurnOutput(dy.Schema):
    """:func:`churn`: the ``by`` columns (none or team), then these."""

    active_at_start = count_column()
    churned = count_column()
    mrr_at_start = amount_column()
    mrr_churned = amount_column()
    n = count_column()
    churn_rate = share_column()
    ci_low = share_column()
    ci_high = share_column()
    mrr_churn_rate = share_column()
    monthly_churn_rate = share_column()
    enough_data = flag_column()
    time_basis = basis_column("period")


@time_basis("period")
def churn(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Customers lost in the period among those active at its start.

    ``churn_rate = churned / active_at_start`` (Wilson interval), where active at start means
    ``start_date`` before the period and no ``end_date`` before it, and churned means
    ``end_date`` in the period. ``mrr_churn_rate`` is the same ratio in MRR. Columns: groups,
    active_at_start, churned, n, churn_rate, ci_low, ci_high, mrr_at_start, mrr_churned,
    mrr_churn_rate, monthly_churn_rate (``1 - (1 - churn_rate)^(1/months)``), enough_data
    (:class:`ChurnOutput`).
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    _team_only(groups, "customer churn")
    active = _active_at_start(ds, period)
    churned = period.contains("end_date")
    low, high = wilson_interval("churned", "n", confidence)
    months = period.days / (365.25 / 12)
    return (
        _grouped(
            active,
            groups,
            [
                pl.len().cast(pl.Int64).alias("active_at_start"),
                churned.sum().cast(pl.Int64).alias("churned"),
                pl.col("mrr").sum().alias("mrr_at_start"),
                pl.col("mrr").filter(churned).sum().alias("mrr_churned"),
            ],
        )
        .with_columns(pl.col("active_at_start").alias("n"))
        .with_columns(
            pl.when(pl.col("n") > 0).then(pl.col("churned") / pl.col("n")).alias("churn_rate"),
            low.alias("ci_low"),
            high.alias("ci_high"),
            pl.when(pl.col("mrr_at_start") > 0)
            .then(pl.col("mrr_churned") / pl.col("mrr_at_start"))
            .alias("mrr_churn_rate"),
        )
        .with_columns(
            (1 - (1 - pl.col("churn_rate")).pow(1 / months)).alias("monthly_churn_rate"),
            (pl.col("n") >= min_n).alias("enough_data"),
        )
        .sort(groups)
        .collect()
    )


def _active_at_start(ds: Dataset, period: Period) -> pl.LazyFrame:
    """Customers active at the period start: started before it, not ended before it."""
    return ds.lazy("customers").filter(
        (pl.col("start_date") < period.start)
        & (pl.col("end_date").is_null() | (pl.col("end_date") >= period.start))
    )


class ChurnReasonsOutput(dy.Schema):
    """:func:`churn_reasons`: the ``by`` columns (none or team), then these."""

    churn_reason = dy.String(nullable=False)
    churned = count_column()
    n = count_column()
    share = share_column()
    ci_low = share_column()
    ci_high = share_column()
    mrr_lost = amount_column()
    enough_data = flag_column()
    time_basis = basis_column("period")


@time_basis("period")
def churn_reasons(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Why customers churned in the period: accounts and MRR lost, by ``churn_reason``.

    The churned accounts are those :func:`churn` counts (active at the period start,
    ``end_date`` in the period), so the counts of a group add up to its ``churned`` there.
    ``share = churned with the reason / n`` (Wilson interval), where ``n`` is every account
    of the group that churned in the period; ``mrr_lost`` sums their MRR. An empty reason
    (or an export without the ``churn_reason`` column) is counted as ``"unknown"``, its own
    row, never dropped. Rows: largest first within each group. Columns: groups,
    churn_reason, churned, n, share, ci_low, ci_high, mrr_lost, enough_data
    (``n >= min_n``) (:class:`ChurnReasonsOutput`).

    >>> churn_reasons(ds, "2025-Q4", by="team")  # doctest: +SKIP
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    _team_only(groups, "customer churn")
    customers = ds.lazy("customers")
    if "churn_reason" not in ds.schema("customers"):
        customers = customers.with_columns(pl.lit(None, pl.String).alias("churn_reason"))
    reason = pl.col("churn_reason").str.strip_chars()
    unknown = reason.is_null() | (reason == "") | (reason.str.to_lowercase() == UNKNOWN_REASON)
    churned = customers.filter(
        (pl.col("start_date") < period.start) & period.contains("end_date")
    ).with_columns(
        pl.when(unknown).then(pl.lit(UNKNOWN_REASON)).otherwise(reason).alias("churn_reason")
    )
    low, high = wilson_interval("churned", "n", confidence)
    n = pl.col("churned").sum().over(groups) if groups else pl.col("churned").sum()
    return (
        churned.group_by(*groups, "churn_reason")
        .agg(
            pl.len().cast(pl.Int64).alias("churned"),
            pl.col("mrr").sum().cast(pl.Float64).alias("mrr_lost"),
        )
        .with_columns(n.cast(pl.Int64).alias("n"))
        .with_columns(
            (pl.col("churned") / pl.col("n")).alias("share"),
            low.alias("ci_low"),
            high.alias("ci_high"),
            (pl.col("n") >= min_n).alias("enough_data"),
        )
        .sort(
            [*groups, "churned", "churn_reason"],
            descending=[*[False] * len(groups), True, False],
        )
        .select(*groups, *ChurnReasonsOutput.column_names()[:-1])
        .collect()
    )


class CustomerRetentionOutput(dy.Schema):
    """:func:`customer_retention`: the ``by`` columns (none or team), then these (days)."""

    n = count_column()
    churned = count_column()
    active = count_column()
    median_days = amount_column(nullable=True)
    ci_low = amount_column(nullable=True)
    ci_high = amount_column(nullable=True)
    time_basis = basis_column("cohort")


@time_basis("cohort")
def customer_retention(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Median customer lifetime (days) by Kaplan-Meier for customers who *started* in the period.

    Customers still active at ``as_of`` (default: the last date in the data) are censored.
    Columns: groups, n, churned, active, median_days, ci_low, ci_high (null until half the
    cohort has churned, which is common: read it as "more than the observed time")
    (:class:`CustomerRetentionOutput`).
    """
    period = as_period(period, ds)
    day = resolve_cohort_as_of(ds, as_of, period)
    groups = group_columns(by)
    _team_only(groups, "customer retention")
    ended = pl.col("end_date").is_not_null() & (pl.col("end_date") <= day)
    frame = (
        ds.lazy("customers")
        .filter(period.contains("start_date") & (pl.col("start_date") <= day))
        .select(
            *groups,
            (pl.when(ended).then(pl.col("end_date")).otherwise(pl.lit(day)) - pl.col("start_date"))
            .dt.total_days()
            .cast(pl.Float64)
            .alias("days"),
            ended.alias("event"),
        )
        .collect()
    )
    km = km_by_group(frame, groups, "days", confidence).rename(
        {
            "events": "churned",
            "censored": "active",
            "median": "median_days",
        }
    )
    return km.drop("naive_mean", "naive_median")


class CacOutput(dy.Schema):
    """:func:`cac`: the ``by`` columns (none or team), then these."""

    spend = amount_column()
    new_customers = count_column()
    cac = amount_column(nullable=True)
    ci_low = amount_column(nullable=True)
    ci_high = amount_column(nullable=True)
    time_basis = basis_column("period")


@time_basis("period")
def cac(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
) -> pl.DataFrame:
    """Customer acquisition cost: marketing spend in the period / new customers won in it.

    Spend: lines with ``period_start`` in the period. New customers: ``customers`` whose
    ``start_date`` is in the period (when the export has no customers table, won deals of
    type ``new`` closed in the period). Columns: groups, spend, new_customers, cac (null
    without new customers), ci_low, ci_high (the spend over the exact Poisson interval of the
    count of new customers: the spend is known, the count is the random part)
    (:class:`CacOutput`).
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    _team_only(groups, "marketing spend")
    spend = _grouped(
        ds.lazy("marketing_spend").filter(period.contains("period_start")),
        groups,
        [pl.col("amount").sum().alias("spend")],
    )
    if ds.has("customers"):
        new = ds.lazy("customers").filter(period.contains("start_date"))
    else:
        new = ds.lazy("deals").filter(
            pl.col("status").eq("won")
            & period.contains("closed_at")
            & pl.col("deal_type").str.to_lowercase().eq("new")
        )
    won = _grouped(new, groups, [pl.len().cast(pl.Int64).alias("new_customers")])
    return (
        _join(spend, won, groups)
        .with_columns(pl.col("spend").fill_null(0.0), pl.col("new_customers").fill_null(0))
        .with_columns(
            pl.when(pl.col("new_customers") > 0)
            .then(pl.col("spend") / pl.col("new_customers"))
            .alias("cac")
        )
        .sort(groups)
        .collect()
        .pipe(_cac_interval)
    )


def _monthly(rate: pl.Expr, months: float) -> pl.Expr:
    """A churn rate over ``months`` months as a monthly rate."""
    return 1 - (1 - rate).pow(1 / months)


def _cac_interval(frame: pl.DataFrame, confidence: float = 0.95) -> pl.DataFrame:
    """CAC's interval: the spend is known; the count of new customers is random (Poisson).

    So ``spend / count`` runs between ``spend / upper`` and ``spend / lower`` of the count's
    exact (Garwood) interval; no upper end with a single new customer's lower count of 0.
    """
    from scipy import stats as sps

    k = frame["new_customers"].to_numpy().astype(float)
    alpha = 1 - confidence
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = np.where(k > 0, sps.chi2.ppf(alpha / 2, 2 * k) / 2, np.nan)
        upper = sps.chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2
        spend = frame["spend"].to_numpy().astype(float)
        low = np.where(k > 0, spend / upper, np.nan)
        high = np.where((k > 0) & (lower > 0), spend / lower, np.nan)
    return frame.with_columns(
        pl.Series("ci_low", low, dtype=pl.Float64).fill_nan(None),
        pl.Series("ci_high", high, dtype=pl.Float64).fill_nan(None),
    )


class ClvOutput(dy.Schema):
    """:func:`clv`: the ``by`` columns (none or team), then these."""

    arpa_mrr = amount_column(nullable=True)
    arpa_ci_low = amount_column(nullable=True)
    arpa_ci_high = amount_column(nullable=True)
    monthly_churn_rate = share_column()
    clv = amount_column(nullable=True)
    ci_low = amount_column(nullable=True)
    ci_high = amount_column(nullable=True)
    cac = amount_column(nullable=True)
    clv_cac = amount_column(nullable=True)
    churn_n = count_column()
    time_basis = basis_column("period")


@time_basis("period")
def clv(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Customer lifetime value and CLV:CAC.

    ``clv = average MRR of customers active at the period start / monthly churn rate`` (the
    expected MRR over an expected lifetime of ``1 / monthly churn`` months; no margin is
    applied, as exports carry none), ``clv_cac = clv / cac``. Null when nobody churned in the
    period (lifetime not estimable). Columns: groups, arpa_mrr with arpa_ci_low /
    arpa_ci_high, monthly_churn_rate, clv, ci_low, ci_high, cac, clv_cac, churn_n (customers
    the churn rests on) (:class:`ClvOutput`).

    The interval reads both factors as estimates of what a customer like these brings: the
    average MRR (ARPA) from the accounts active at the start
    (:func:`pipeline_kit.stats.skewed_mean_interval` of their MRR, an empty MRR read as 0, as
    in ``arpa_mrr``; a few large accounts make it wide) and the expected lifetime
    ``1 / monthly churn`` from the churn rate's Wilson interval through the same formula,
    combined by MOVER for a product (:func:`pipeline_kit.stats.product_interval`, Zou & Donner
    2008), which takes the two as independent. No upper end when the churn interval reaches 0;
    no interval below 5 accounts with MRR (no ARPA interval; ``arpa_ci_low`` null); with
    every account at the same MRR the ARPA is taken as known. Before the tenth session the
    ARPA was taken as known: by team of 10-200 accounts with log-normal MRR (sigma 1.5) and a
    30% quarterly churn that covered 72-78%, now 96-98%; over log-normal (sigma 1, 1.5) and
    Pareto (2.5) MRR, churn 10% and 30% a quarter, 0.93-0.99 (before 0.72-0.96;
    ``bench/coverage.py --fc10-only``, 1,000 teams a row). A Pareto tail covers least (0.93
    at 10 and at 200 accounts), as the mean's interval does (``skewed_mean_interval``).
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    months = period.days / (365.25 / 12)
    rates = churn(ds, period, by=groups or None, confidence=confidence)
    acquisition = cac(ds, period, by=groups or None)
    merged = (
        rates.join(acquisition.select(*groups, "cac"), on=groups, how="left")
        if groups
        else rates.with_columns(pl.lit(acquisition["cac"][0], pl.Float64).alias("cac"))
    )
    arpa = merged.with_columns(
        pl.when(pl.col("active_at_start") > 0)
        .then(pl.col("mrr_at_start") / pl.col("active_at_start"))
        .alias("arpa_mrr"),
    )
    ends = _arpa_intervals(ds, period, groups, confidence)
    arpa = (
        arpa.join(ends, on=groups, how="left")
        if groups
        else pl.concat([arpa, ends], how="horizontal")
    )
    life = 1 / pl.col("monthly_churn_rate")
    # the churn rate's Wilson ends through the same (decreasing) formula
    life_low = 1 / _monthly(pl.col("ci_high"), months)
    life_high = 1 / _monthly(pl.col("ci_low"), months)
    low, high = product_interval(
        "arpa_mrr", "arpa_ci_low", "arpa_ci_high", life, life_low, life_high
    )
    return (
        arpa.with_columns(
            pl.when(pl.col("monthly_churn_rate") > 0)
            .then(pl.col("arpa_mrr") / pl.col("monthly_churn_rate"))
            .alias("clv"),
            pl.when(pl.col("monthly_churn_rate") > 0).then(low).alias("_clv_low"),
            pl.when((pl.col("monthly_churn_rate") > 0) & (_monthly(pl.col("ci_low"), months) > 0))
            .then(high)
            .alias("_clv_high"),
        )
        .with_columns(
            pl.when(pl.col("cac") > 0).then(pl.col("clv") / pl.col("cac")).alias("clv_cac"),
        )
        .select(
            *groups,
            "arpa_mrr",
            "arpa_ci_low",
            "arpa_ci_high",
            "monthly_churn_rate",
            "clv",
            pl.col("_clv_low").alias("ci_low"),
            pl.col("_clv_high").alias("ci_high"),
            "cac",
            "clv_cac",
            pl.col("n").alias("churn_n"),
        )
    )


def _arpa_intervals(
    ds: Dataset, period: Period, groups: list[str], confidence: float
) -> pl.DataFrame:
    """Per group, the interval of the average MRR of the accounts active at the start.

    :func:`pipeline_kit.stats.skewed_mean_interval` of their MRR (empty read as 0), seeded
    per group's position so a report repeats; ``(arpa, arpa)`` when every account has the same
    MRR (nothing varies); null below 5 accounts (where that function gives none). One call per
    group (CLV is by team at most).
    """
    mrr = (
        _active_at_start(ds, period)
        .select(*groups, pl.col("mrr").cast(pl.Float64).fill_null(0.0))
        .collect()
    )
    parts = mrr.partition_by(groups, as_dict=True, maintain_order=True) if groups else {(): mrr}
    rows = []
    for key, part in parts.items():
        values = part["mrr"].to_numpy()
        low: float | None
        high: float | None
        if values.size and np.all(values == values[0]):
            low, high = float(values[0]), float(values[0])
        else:
            low, high = skewed_mean_interval(values, confidence)
        rows.append((*key, low, high))
    schema: dict[str, pl.DataType] = {g: mrr.schema[g] for g in groups}
    schema |= {"arpa_ci_low": pl.Float64(), "arpa_ci_high": pl.Float64()}
    return pl.DataFrame(rows, schema=schema, orient="row")


# ----------------------------------------------------------------------------- catalogue


def _revenue(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    if not set(groups) <= {"team", "owner"}:
        return []
    out = [
        _long(
            bookings_vs_target(ds, period, by=groups),
            groups,
            "bookings_vs_target",
            "attainment",
            "won_deals",
            False,
            without_amount=True,
        )
    ]
    if not _team_level(groups):
        return out  # churn, spend and customers are recorded per team
    if _needs(ds, "customers"):
        rates = churn(ds, period, by=groups)
        out.append(_long(rates, groups, "churn_rate", "churn_rate", "n", True))
        reasons = churn_reasons(ds, period, by=groups)
        out.append(
            _long(reasons, groups, "churn_reason_share", "share", "n", True, detail="churn_reason")
        )
        as_of_c = resolve_cohort_as_of(ds, as_of, period)
        out.append(
            _long(
                customer_retention(ds, period, by=groups, as_of=as_of_c),
                groups,
                "customer_lifetime_km_days",
                "median_days",
                "n",
                True,
                as_of=as_of_c,
            )
        )
    if _needs(ds, "marketing_spend"):
        acq = cac(ds, period, by=groups)
        out.append(_long(acq, groups, "cac", "cac", "new_customers", True))
        if _needs(ds, "customers"):
            value = clv(ds, period, by=groups)
            out.append(_long(value, groups, "clv", "clv", "churn_n", True))
            out.append(_long(value, groups, "clv_cac", "clv_cac", "churn_n", False))
    return out


declare(
    MetricCard(
        "bookings_vs_target",
        "Bookings against target (attainment)",
        "bookings / target",
        "period",
        "won " + CLOSED_IN + "; team targets (no owner) lying inside the period",
        "none (a ratio)",
        "ratio",
        ("Split by deal type in pipeline_kit.bookings_vs_target.",),
        "pipeline_kit.bookings_vs_target",
        reading="Attainment: bookings over target. Below 1 with a wide gap early in "
        "a quarter is normal; compare with the same point of previous quarters.",
    ),
    function=bookings_vs_target,
    output=BookingsVsTargetOutput,
    long=_revenue,
)


declare(
    MetricCard(
        "churn_rate",
        "Customer churn rate",
        "churned in the period / active at its start",
        "period",
        "customers active at the period start (started before it, not ended before "
        "it); churned = end_date in the period",
        WILSON,
        "share",
        (),
        "pipeline_kit.churn",
        reading="Share of the customers active at the start of the period who left during it. "
        "Small customer counts make it jumpy: read the interval.",
    ),
    function=churn,
    output=ChurnOutput,
    long=_revenue,
)


declare(
    MetricCard(
        "churn_reason_share",
        "Churn reasons (share of churned accounts)",
        "accounts churned in the period with the reason / accounts churned in the period",
        "period",
        "customers active at the period start whose end_date falls in the period (the "
        "churned of churn_rate), by churn_reason; an empty reason counts as 'unknown'",
        WILSON,
        "share",
        (
            "Reasons are typed by whoever closes the account: read 'unknown' as a gap in the "
            "records, not as a reason. MRR lost per reason is in pipeline_kit.churn_reasons.",
        ),
        "pipeline_kit.churn_reasons",
        reading="Which reasons account for the period's churn. With few churned accounts the "
        "shares swing widely: read the interval before ranking reasons.",
    ),
    function=churn_reasons,
    output=ChurnReasonsOutput,
    long=_revenue,
)


declare(
    MetricCard(
        "customer_lifetime_km_days",
        "Customer lifetime (Kaplan-Meier median)",
        "median days from start_date to end_date, active customers censored",
        "cohort: customers who started in the period, read at as_of (default: last date in "
        "the data)",
        "customers who started in the period",
        "log-log band of the Kaplan-Meier curve, 95%",
        "days",
        ("Usually not reached for recent cohorts: most customers are still active.",),
        "pipeline_kit.customer_retention",
        reading="Half of the customers stayed at least this long, still-active "
        "customers counted properly.",
    ),
    function=customer_retention,
    output=CustomerRetentionOutput,
    long=_revenue,
)


declare(
    MetricCard(
        "cac",
        "Customer acquisition cost",
        "marketing spend / new customers",
        "period",
        "spend lines starting in the period; customers starting in the period (or won new "
        "deals when there is no customers table)",
        "95%: the spend over the exact (Garwood) Poisson interval of the number of new "
        "customers (the spend is known, the count is the random part)",
        "currency",
        (
            "Spend and the customers it brings are often in different periods; compare over "
            "several quarters.",
        ),
        "pipeline_kit.cac",
        reading="What one new customer costs in marketing spend. Compare with CLV, not in "
        "isolation.",
    ),
    function=cac,
    output=CacOutput,
    long=_revenue,
)


declare(
    MetricCard(
        "clv",
        "Customer lifetime value",
        "average MRR of active customers / monthly churn rate",
        "period",
        "customers active at the period start",
        "95% MOVER for ARPA x lifetime: ARPA's skew-aware interval (bootstrap-t / log-normal) "
        "and the churn rate's Wilson interval through 1 / monthly churn, taken as "
        "independent; no upper end when the churn interval reaches 0; none below 5 accounts",
        "currency",
        (
            "No gross margin is applied; with little churn the estimate is unstable or null.",
            "A few large accounts make ARPA, and so CLV, uncertain: the interval allows for "
            "it (arpa_ci_low / arpa_ci_high in pipeline_kit.clv).",
        ),
        "pipeline_kit.clv",
        reading="Value of a customer over its expected lifetime (MRR / churn). Very sensitive to "
        "churn: a small churn with a wide interval makes CLV very uncertain.",
    ),
    function=clv,
    output=ClvOutput,
    long=_revenue,
)


declare(
    MetricCard(
        "clv_cac",
        "CLV:CAC",
        "clv / cac",
        "period",
        "as for clv and cac",
        "none: a ratio of two estimates whose errors are not independent (both depend on the "
        "new customers); read the CLV and CAC intervals",
        "ratio",
        (),
        "pipeline_kit.clv",
        reading="Lifetime value per unit of acquisition cost; above 3 is the usual healthy mark, "
        "below 1 means each customer loses money.",
    ),
    function=clv,
    output=ClvOutput,
    long=_revenue,
)
