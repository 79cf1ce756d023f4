"""Activity metrics: calls, meetings and emails per rep, per won deal, and calls vs closes."""

from __future__ import annotations

import polars as pl
from scipy import stats

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import By, as_period, group_columns, time_basis
from pipeline_kit.metrics._long import _long, _needs
from pipeline_kit.metrics.cards import CLOSED_IN, MetricCard, declare
from pipeline_kit.periods import Period

__all__ = ["activities_per_rep", "calls_vs_closes"]


def _rep_teams(ds: Dataset) -> pl.LazyFrame:
    """owner -> team, the team the rep has most deals with (activities carry no team)."""
    return (
        ds.lazy("deals")
        .group_by("owner", "team")
        .len()
        .sort(["owner", "len", "team"], descending=[False, True, False])
        .group_by("owner", maintain_order=True)
        .first()
        .select("owner", "team")
    )


@time_basis("period")
def activities_per_rep(ds: Dataset, period: str | Period, by: By = "owner") -> pl.DataFrame:
    """Activities in the period per rep (or team), by type, and per deal won in the period.

    ``per_won_deal = activities logged on the deals won in the period / those deals`` (all
    activities on those deals, whenever they happened). Groups: ``owner`` (default), ``team``
    (a rep's team is the one of most of their deals) or ``None``. Columns: groups, calls,
    meetings, emails, other, activities, won_deals, activities_on_won, per_won_deal.
    """
    period = as_period(period, ds)
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


def calls_vs_closes(
    ds: Dataset, period: str | Period, *, team: str | None = None
) -> tuple[pl.DataFrame, dict[str, float]]:
    """Do reps who call more close more? Calls and won deals per rep, and their rank correlation.

    Returns the per-rep frame (owner, team, calls, won_deals) and a dict with Spearman's
    ``rho``, its ``p_value`` (scipy.stats.spearmanr) and ``n`` reps, over the reps of ``team``
    when one is given (so a team's chart shows its own correlation, not the organisation's).
    A correlation across reps is not a causal effect: busy territories both call and close more.
    """
    reps = activities_per_rep(ds, period, by=["owner", "team"]).select(
        "owner", "team", "calls", "won_deals"
    )
    if team is not None:
        reps = reps.filter(pl.col("team") == team)
    if reps.height < 3:
        return reps, {"rho": float("nan"), "p_value": float("nan"), "n": reps.height}
    result = stats.spearmanr(reps["calls"].to_numpy(), reps["won_deals"].to_numpy())
    return reps, {"rho": float(result.statistic), "p_value": float(result.pvalue), "n": reps.height}


# ----------------------------------------------------------------------------- catalogue


def _activity(ds, period, as_of, groups):
    if not _needs(ds, "activities") or not set(groups) <= {"owner", "team"}:
        return []
    f = activities_per_rep(ds, period, groups or None)
    return [
        _long(f, groups, "activities_per_won_deal", "per_won_deal", "won_deals", False),
        _long(f, groups, "calls", "calls", None, False),
    ]


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
    long=_activity,
)
