"""Activity metrics: calls, meetings and emails per rep, per won deal, and calls vs closes.

Each function is called ``metric(ds, period, *, by=None, as_of=None)`` and its output frame is
described by the dataframely schema declared beside it.
"""

from __future__ import annotations

import datetime as dt

import dataframely as dy
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.errors import DataError
from pipeline_kit.metrics._common import (
    By,
    amount_column,
    basis_column,
    by_group,
    check_by,
    closed_in,
    count_column,
    flag_column,
    flow_period,
    group_columns,
    time_basis,
)
from pipeline_kit.metrics._long import _long, _needs
from pipeline_kit.metrics.cards import CLOSED_IN, MetricCard, declare
from pipeline_kit.periods import Period
from pipeline_kit.stats import MIN_N, skewed_mean_interval, spearman_test

__all__ = ["activities_per_rep", "calls_per_deal_by_industry", "calls_vs_closes"]

UNKNOWN_INDUSTRY = "unknown"
"""The industry of a deal whose ``industry`` is empty."""

MIN_CALLS_DEALS = 8
"""The fewest closed deals whose calls per deal get an interval (see
:func:`calls_per_deal_by_industry`)."""


def _rep_teams(ds: Dataset) -> pl.LazyFrame:
    """Owner -> team, the team the rep has most deals with (activities carry no team)."""
    return (
        ds.lazy("deals")
        .group_by("owner", "team")
        .len()
        .sort(["owner", "len", "team"], descending=[False, True, False])
        .group_by("owner", maintain_order=True)
        .first()
        .select("owner", "team")
    )


class ActivitiesPerRepOutput(dy.Schema):
    """:func:`activities_per_rep`: the ``by`` columns (owner and/or team), then these."""

    calls = count_column()
    meetings = count_column()
    emails = count_column()
    other = count_column()
    activities = count_column()
    won_deals = count_column()
    activities_on_won = count_column()
    per_won_deal = amount_column(nullable=True)
    time_basis = basis_column("period")


@time_basis("period")
def activities_per_rep(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
) -> pl.DataFrame:
    """Activities in the period, by type, and per deal won in the period.

    Per rep with ``by="owner"``.

    ``per_won_deal = activities logged on the deals won in the period / those deals`` (all
    activities on those deals, whenever they happened). Groups: ``None`` (default: the
    whole organisation), ``owner``, ``team`` (a rep's team is the one of most of their deals)
    or both. Columns: groups, calls, meetings, emails, other, activities, won_deals,
    activities_on_won, per_won_deal (:class:`ActivitiesPerRepOutput`).
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    if not set(groups) <= {"owner", "team"}:
        raise ValueError("activities can be grouped by owner and/or team only")
    acts = ds.lazy("activities").join(_rep_teams(ds), on="owner", how="left")
    kind = pl.col("type").str.to_lowercase()
    in_period = acts.filter(period.contains(pl.col("occurred_at").dt.date()))
    aggs = [
        (kind == "call").sum().cast(pl.Int64).alias("calls"),
        (kind == "meeting").sum().cast(pl.Int64).alias("meetings"),
        (kind == "email").sum().cast(pl.Int64).alias("emails"),
        (~kind.is_in(["call", "meeting", "email"])).sum().cast(pl.Int64).alias("other"),
        pl.len().cast(pl.Int64).alias("activities"),
    ]
    won = ds.lazy("deals").filter(pl.col("status").eq("won") & period.contains("closed_at"))
    won_counts = won.select(*groups, "deal_id")
    on_won = ds.lazy("activities").join(won_counts, on="deal_id", how="inner")
    per = [
        (in_period.group_by(groups).agg(aggs) if groups else in_period.select(aggs)),
        (
            won.group_by(groups).agg(pl.len().cast(pl.Int64).alias("won_deals"))
            if groups
            else won.select(pl.len().cast(pl.Int64).alias("won_deals"))
        ),
        (
            on_won.group_by(groups).agg(pl.len().cast(pl.Int64).alias("activities_on_won"))
            if groups
            else on_won.select(pl.len().cast(pl.Int64).alias("activities_on_won"))
        ),
    ]
    out = per[0]
    for frame in per[1:]:
        out = (
            out.join(frame, on=groups, how="full", coalesce=True)
            if groups
            else out.join(frame, how="cross")
        )
    counts = [
        "calls",
        "meetings",
        "emails",
        "other",
        "activities",
        "won_deals",
        "activities_on_won",
    ]
    return (
        out.with_columns(pl.col(counts).fill_null(0))
        .with_columns(
            pl.when(pl.col("won_deals") > 0)
            .then(pl.col("activities_on_won") / pl.col("won_deals"))
            .alias("per_won_deal")
        )
        .sort(groups)
        .collect()
    )


class CallsVsClosesOutput(dy.Schema):
    """:func:`calls_vs_closes`: one row per rep.

    ``n``, ``rho`` and ``p_value`` are those of the rep's group (the organisation, or the
    rep's team with ``by="team"``).
    """

    owner = dy.String(nullable=False)
    team = dy.String(nullable=False)
    calls = count_column()
    won_deals = count_column()
    n = count_column()
    rho = dy.Float64(nullable=True, min=-1, max=1)
    p_value = dy.Float64(nullable=True, min=0, max=1)
    time_basis = basis_column("period")


@time_basis("period")
def calls_vs_closes(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
) -> pl.DataFrame:
    """Do reps who call more close more? Calls and won deals per rep, and their rank correlation.

    One row per rep: ``owner``, ``team``, ``calls``, ``won_deals``, then Spearman's ``rho``
    and its ``p_value`` (:func:`~pipeline_kit.stats.spearman_test`: exact by permutation up
    to 8 reps, scipy's t approximation above) over the ``n`` reps of the rep's group: the
    whole organisation (``by=None``) or the rep's team (``by="team"``, so a team's chart
    shows its own correlation, not the organisation's). ``rho`` and ``p_value`` are null
    below 3 reps, or when calls or wins do not vary. Columns: :class:`CallsVsClosesOutput`.
    A correlation across reps is not a causal effect: busy territories both call and close more.

    >>> calls_vs_closes(ds, "2025-Q4", by="team").filter(pl.col("team") == "EMEA")  # doctest: +SKIP
    """
    groups = group_columns(by)
    if groups not in ([], ["team"]):
        raise ValueError("calls vs closes correlates reps: use by=None or by='team'")
    reps = activities_per_rep(ds, period, by=["owner", "team"], as_of=as_of).select(
        "owner", "team", "calls", "won_deals"
    )
    rows = []
    for key, part in by_group(reps, groups):
        rho = p_value = None
        varies = part["calls"].n_unique() > 1 and part["won_deals"].n_unique() > 1
        if part.height >= 3 and varies:  # calls or wins all equal: nothing to rank
            rho, p_value = spearman_test(part["calls"].to_numpy(), part["won_deals"].to_numpy())
        key_values = dict(zip(groups, key, strict=True))
        rows.append({**key_values, "n": part.height, "rho": rho, "p_value": p_value})
    correlation = pl.DataFrame(
        rows,
        schema={
            **{g: reps.schema[g] for g in groups},
            "n": pl.Int64,
            "rho": pl.Float64,
            "p_value": pl.Float64,
        },
        orient="row",
    )
    if groups:
        return reps.join(correlation, on=groups, how="left")
    return reps.join(correlation, how="cross")


class CallsPerDealByIndustryOutput(dy.Schema):
    """:func:`calls_per_deal_by_industry`: the ``by`` columns, then these."""

    industry = dy.String(nullable=False)
    closed_deals = count_column()
    won_deals = count_column()
    lost_deals = count_column()
    calls = count_column()
    calls_on_won = count_column()
    calls_on_lost = count_column()
    n = count_column()
    calls_per_deal = amount_column(nullable=True)
    ci_low = amount_column(nullable=True)
    ci_high = amount_column(nullable=True)
    calls_per_won_deal = amount_column(nullable=True)
    calls_per_lost_deal = amount_column(nullable=True)
    enough_data = flag_column()
    time_basis = basis_column("period")


def has_industry(ds: Dataset) -> bool:
    """Whether the export's deals carry an industry (a column with at least one value)."""
    if "industry" not in ds.schema("deals"):
        return False
    # (one column read: a cached dataset's deals are scanned, not read whole)
    return bool(ds.lazy("deals").select(pl.col("industry").is_not_null().any()).collect().item())


@time_basis("period")
def calls_per_deal_by_industry(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Calls logged per deal closed in the period, by the deal's industry, won against lost.

    For the deals won or lost in the period, grouped by ``by`` and ``industry`` (an empty
    industry is ``"unknown"``): ``calls`` counts the activities of type call
    (case-insensitive) logged on those deals (joined by ``deal_id``, whenever they happened),
    ``calls_per_deal = calls / closed_deals``, the mean of the calls per deal;
    ``calls_per_won_deal = calls_on_won / won_deals`` and ``calls_per_lost_deal`` likewise
    (null without such deals). ``n`` is the closed deals; ``enough_data`` is ``n >= min_n``.
    Columns: groups, :class:`CallsPerDealByIndustryOutput`. Needs the activities table and an
    industry on the deals (a :class:`~pipeline_kit.errors.DataError` otherwise). Calls on won
    deals against lost ones is a description, not an effect of calling: deals that go far
    collect more calls.

    The interval (``ci_low``, ``ci_high``) is :func:`pipeline_kit.stats.skewed_mean_interval`
    of the per-deal counts (bootstrap-t, widened to the delta-log-normal interval where the
    counts look log-normal): calls per deal are skewed, a few deals getting most calls. It
    is null below ``MIN_CALLS_DEALS`` (8) closed deals, below 5 deals with a call, and when
    every deal has the same count (no call at all included). Simulated at 95% (negative
    binomial calls, shape 0.3-2 or Poisson, means 1-10, ``bench/coverage.py``): 0.94-0.99
    where given from 8 deals; at 5-7 deals it covered 0.69-0.92 with few calls (given only
    when 5 deals had one, the sample over-states the mean). The quasi-Poisson interval used
    before (a Wald interval on the log scale) covered 0.76-0.95 at 2-6 deals and 0.89-0.93
    up to 30 deals with heavily over-dispersed calls (shape 0.3).

    >>> calls_per_deal_by_industry(ds, "2025-Q4", by="team")  # doctest: +SKIP
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    check_by(ds, "deals", groups, CallsPerDealByIndustryOutput)
    if not has_industry(ds):
        raise DataError(
            problem="calls by industry need the deals' industry, which this export lacks",
            fix="add an industry column to deals.csv (the industry of the deal's account)",
            file=str(ds.path),
            column="industry",
        )
    calls = (
        ds.lazy("activities")
        .filter(
            pl.col("deal_id").is_not_null()
            & (pl.col("type").str.strip_chars().str.to_lowercase() == "call")
        )
        .group_by("deal_id")
        .agg(pl.len().cast(pl.Int64).alias("_calls"))
    )
    won = pl.col("status") == "won"
    per_group = (
        ds.lazy("deals")
        .filter(closed_in(period))
        .select(
            *groups,
            pl.col("industry").fill_null(UNKNOWN_INDUSTRY),
            "deal_id",
            "status",
        )
        .join(calls, on="deal_id", how="left")
        .with_columns(pl.col("_calls").fill_null(0))
        .group_by(*groups, "industry")
        .agg(
            pl.len().cast(pl.Int64).alias("closed_deals"),
            won.sum().cast(pl.Int64).alias("won_deals"),
            (~won).sum().cast(pl.Int64).alias("lost_deals"),
            pl.col("_calls").sum().cast(pl.Int64).alias("calls"),
            pl.col("_calls").filter(won).sum().cast(pl.Int64).alias("calls_on_won"),
            pl.col("_calls").filter(~won).sum().cast(pl.Int64).alias("calls_on_lost"),
            # (sorted: the bootstrap's seeded resamples then do not depend on the row order)
            pl.col("_calls").sort().alias("_per_deal"),
        )
        .collect()
    )
    # one interval per group (a few industries), each over its deals' counts
    bounds = [
        skewed_mean_interval(v.to_numpy().astype(float), confidence)
        if v.len() >= MIN_CALLS_DEALS
        else (None, None)
        for v in per_group["_per_deal"]
    ]
    return (
        per_group.drop("_per_deal")
        .with_columns(
            pl.col("closed_deals").alias("n"),
            (pl.col("calls") / pl.col("closed_deals")).alias("calls_per_deal"),
            pl.Series("ci_low", [b[0] for b in bounds], dtype=pl.Float64),
            pl.Series("ci_high", [b[1] for b in bounds], dtype=pl.Float64),
            pl.when(pl.col("won_deals") > 0)
            .then(pl.col("calls_on_won") / pl.col("won_deals"))
            .alias("calls_per_won_deal"),
            pl.when(pl.col("lost_deals") > 0)
            .then(pl.col("calls_on_lost") / pl.col("lost_deals"))
            .alias("calls_per_lost_deal"),
            (pl.col("closed_deals") >= min_n).alias("enough_data"),
        )
        .sort([*groups, "industry"])
        .select(*groups, *CallsPerDealByIndustryOutput.column_names()[:-1])
    )


# ----------------------------------------------------------------------------- catalogue


def _activity(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    if not _needs(ds, "activities") or not set(groups) <= {"owner", "team"}:
        return []
    f = activities_per_rep(ds, period, by=groups or None)
    out = [
        _long(f, groups, "activities_per_won_deal", "per_won_deal", "won_deals", False),
        _long(f, groups, "calls", "calls", None, False),
    ]
    if has_industry(ds):
        by_industry = calls_per_deal_by_industry(ds, period, by=groups or None)
        out.append(
            _long(
                by_industry,
                groups,
                "calls_per_closed_deal",
                "calls_per_deal",
                "n",
                True,
                detail="industry",
            )
        )
    return out


declare(
    MetricCard(
        "activities_per_won_deal",
        "Activities per won deal",
        "activities on deals won in the period / deals won",
        "period",
        "won " + CLOSED_IN + "; every activity logged on them",
        "none",
        "count",
        ("Reps log unevenly: compare within a team before comparing reps.",),
        "pipeline_kit.activities_per_rep",
        reading="Effort per win. A rising figure with a flat win rate means more "
        "work for the same result.",
    ),
    function=activities_per_rep,
    output=ActivitiesPerRepOutput,
    long=_activity,
)


declare(
    MetricCard(
        "calls",
        "Calls logged",
        "count of activities of type call in the period",
        "period",
        "activities whose occurred_at falls in the period",
        "none (a count)",
        "count",
        (),
        "pipeline_kit.activities_per_rep",
        reading="Call volume; an input, not an outcome. Read with the calls vs closes correlation "
        "before asking for more calls.",
    ),
    function=activities_per_rep,
    output=ActivitiesPerRepOutput,
    long=_activity,
)


declare(
    MetricCard(
        "calls_per_closed_deal",
        "Calls per closed deal, by industry",
        "calls logged on the deals closed in the period / those deals, per industry",
        "period",
        CLOSED_IN + "; every activity of type call logged on them (case-insensitive), "
        "whenever it happened; grouped by the deal's industry",
        "95%, for a mean of skewed counts: the studentized bootstrap of the calls per deal, "
        "widened to the delta-log-normal interval where they look log-normal; none below 8 "
        "closed deals or 5 deals with a call",
        "count",
        (
            "Calls on won deals against lost ones describes effort, not its effect: deals that "
            "go further collect more calls. Reps log calls unevenly.",
        ),
        "pipeline_kit.calls_per_deal_by_industry",
        reading="How much calling a closed deal takes in each industry, and won deals against "
        "lost ones. Industries with few closed deals have wide intervals.",
    ),
    function=calls_per_deal_by_industry,
    output=CallsPerDealByIndustryOutput,
    long=_activity,
)
