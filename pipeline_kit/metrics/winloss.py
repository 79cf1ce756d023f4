"""Win/loss analysis: why deals are lost and against whom.

Each function is called ``metric(ds, period, *, by=None, as_of=None)`` and its output frame is
described by the dataframely schema declared beside it.
"""

from __future__ import annotations

import datetime as dt

import dataframely as dy
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import (
    By,
    amount_column,
    amount_sum,
    basis_column,
    check_by,
    closed_in,
    count_column,
    flag_column,
    flow_period,
    group_columns,
    share_column,
    stage_groups,
    time_basis,
    without_amount,
    without_amount_column,
)
from pipeline_kit.metrics._long import _long
from pipeline_kit.metrics.cards import CLOSED_IN, PER_PIPELINE, WILSON, MetricCard, declare
from pipeline_kit.periods import Period
from pipeline_kit.stats import MIN_N, wilson_interval

__all__ = ["competitor_win_rates", "lost_reasons", "lost_reasons_by_stage"]

# the label of a lost deal without a reason, and of a closed deal naming no competitor
NO_REASON = "(not given)"
NO_COMPETITOR = "(none recorded)"


class LostReasonsOutput(dy.Schema):
    """:func:`lost_reasons`: the ``by`` columns, then these (one row per reason)."""

    lost_reason = dy.String(nullable=False)
    lost = count_column()
    lost_value = amount_column(nullable=True)  # (null: no deal valued)
    without_amount = without_amount_column()
    n = count_column()
    share = share_column(nullable=False)
    ci_low = share_column()
    ci_high = share_column()
    time_basis = basis_column("period")


@time_basis("period")
def lost_reasons(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Lost deals of the period by ``lost_reason``: count, value and share of the group's losses.

    ``share = lost with this reason / all lost`` (Wilson interval); deals without a reason
    appear as ``(not given)`` so the shares add up to 1. A lost deal without an amount counts
    in ``lost``, ``n`` and the share and not in ``lost_value``; ``without_amount`` counts them
    (above 0, ``lost_value`` is a lower bound). Columns: groups, lost_reason, lost,
    lost_value, without_amount, n (all lost in the group), share, ci_low, ci_high
    (:class:`LostReasonsOutput`).
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    check_by(ds, "deals", groups, LostReasonsOutput)
    lost = (
        ds.lazy("deals")
        .filter(closed_in(period) & pl.col("status").eq("lost"))
        .with_columns(pl.col("lost_reason").fill_null(NO_REASON))
    )
    low, high = wilson_interval("lost", "n", confidence)
    counts = lost.group_by(*groups, "lost_reason").agg(
        pl.len().cast(pl.Int64).alias("lost"),
        amount_sum().alias("lost_value"),
        without_amount(),
    )
    totals = (
        lost.group_by(groups).agg(pl.len().cast(pl.Int64).alias("n"))
        if groups
        else lost.select(pl.len().cast(pl.Int64).alias("n"))
    )
    joined = counts.join(totals, on=groups) if groups else counts.join(totals, how="cross")
    return (
        joined.with_columns(
            (pl.col("lost") / pl.col("n")).alias("share"),
            low.alias("ci_low"),
            high.alias("ci_high"),
        )
        .sort([*groups, "lost", "lost_reason"], descending=[False] * len(groups) + [True, False])
        .collect()
    )


class CompetitorWinRatesOutput(dy.Schema):
    """:func:`competitor_win_rates`: the ``by`` columns, then these (one row per competitor)."""

    competitor = dy.String(nullable=False)
    won = count_column()
    lost = count_column()
    n = count_column()
    win_rate = share_column(nullable=False)
    ci_low = share_column()
    ci_high = share_column()
    enough_data = flag_column()
    time_basis = basis_column("period")


@time_basis("period")
def competitor_win_rates(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    confidence: float = 0.95,
    min_n: int = MIN_N,
) -> pl.DataFrame:
    """Win rate of the deals closed in the period, per competitor met in the deal.

    ``win_rate = won / (won + lost)`` among closed deals whose ``competitor`` is that
    competitor; ``(none recorded)`` collects deals without one. Columns: groups, competitor,
    won, lost, n, win_rate, ci_low, ci_high, enough_data (:class:`CompetitorWinRatesOutput`).
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    check_by(ds, "deals", groups, CompetitorWinRatesOutput)
    low, high = wilson_interval("won", "n", confidence)
    return (
        ds.lazy("deals")
        .filter(closed_in(period))
        .with_columns(pl.col("competitor").fill_null(NO_COMPETITOR))
        .group_by(*groups, "competitor")
        .agg(
            pl.col("status").eq("won").sum().cast(pl.Int64).alias("won"),
            pl.col("status").eq("lost").sum().cast(pl.Int64).alias("lost"),
        )
        .with_columns((pl.col("won") + pl.col("lost")).alias("n"))
        .with_columns(
            (pl.col("won") / pl.col("n")).alias("win_rate"),
            low.alias("ci_low"),
            high.alias("ci_high"),
            (pl.col("n") >= min_n).alias("enough_data"),
        )
        .sort(*groups, "competitor")
        .collect()
    )


# ----------------------------------------------------------------------------- catalogue


def _winloss(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    return [
        _long(
            lost_reasons(ds, period, by=groups),
            groups,
            "lost_reason_share",
            "share",
            "n",
            True,
            detail="lost_reason",
        ),
        _long(
            competitor_win_rates(ds, period, by=groups),
            groups,
            "win_rate_vs_competitor",
            "win_rate",
            "n",
            True,
            detail="competitor",
        ),
    ]


declare(
    MetricCard(
        "lost_reason_share",
        "Share of losses by reason",
        "lost with reason / all lost",
        "period",
        "lost " + CLOSED_IN + "; deals without a reason shown as '(not given)'; "
        "detail = the reason",
        WILSON,
        "share",
        (),
        "pipeline_kit.lost_reasons",
        reading="Why deals are lost, as shares of all losses. Reasons are entered by "
        "reps: a large 'Other' or empty share says more about data entry than about the market.",
    ),
    function=lost_reasons,
    output=LostReasonsOutput,
    long=_winloss,
)


declare(
    MetricCard(
        "win_rate_vs_competitor",
        "Win rate against a competitor",
        "won / (won + lost) among deals with that competitor",
        "period",
        "won and lost " + CLOSED_IN + " grouped by competitor; detail = the competitor",
        WILSON,
        "share",
        (
            "Competitors are recorded more often on lost deals in many CRMs, which drags these "
            "rates down.",
        ),
        "pipeline_kit.competitor_win_rates",
        reading="Win rate in deals where the competitor was present. Small n per "
        "competitor is the rule: read the interval before the point.",
    ),
    function=competitor_win_rates,
    output=CompetitorWinRatesOutput,
    long=_winloss,
)


# ----------------------------------------------------------------------------- lost from stage


class LostReasonsByStageOutput(dy.Schema):
    """:func:`lost_reasons_by_stage`: the ``by`` columns, then these.

    One row per stage a deal was lost from and reason.
    """

    lost_from_stage = dy.String(nullable=False)
    stage_order = dy.Int64(nullable=True)
    lost_reason = dy.String(nullable=False)
    lost = count_column()
    lost_value = amount_column(nullable=True)  # (null: no deal valued)
    without_amount = without_amount_column()
    n = count_column()
    share = share_column(nullable=False)
    ci_low = share_column()
    ci_high = share_column()
    approximate = flag_column()
    time_basis = basis_column("period")


@time_basis("period")
def lost_reasons_by_stage(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Lost deals of the period by the stage they were lost from, and why.

    The stage a deal was lost from is the last open stage (neither won nor lost) it entered on
    or before its ``closed_at``, from ``stage_history`` (ties on one day: the later stage in
    the pipeline order); ``(unknown)`` when the history has none. ``share = lost from the
    stage with this reason / all lost from the stage`` (Wilson interval); deals without a
    reason count as ``(not given)``, so the shares of a stage add up to 1. ``approximate`` is
    true when the stage history was derived from the deals (then every stage is unknown).
    ``lost_value`` sums the amounts of the lost deals that have one; ``without_amount`` counts
    the others (counted in ``lost`` and the shares). Columns: groups, lost_from_stage,
    stage_order, lost_reason, lost, lost_value, without_amount, n, share, ci_low, ci_high,
    approximate (:class:`LostReasonsByStageOutput`).
    With deals in several pipelines the rows are also per ``pipeline`` (first column), even
    when ``by`` does not name it (:func:`~pipeline_kit.metrics._common.stage_groups`).
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    check_by(ds, "deals", groups, LostReasonsByStageOutput)
    groups = stage_groups(ds, groups)
    lost = (
        ds.lazy("deals")
        .filter(closed_in(period) & pl.col("status").eq("lost"))
        .select(
            "deal_id",
            *groups,
            "amount",
            "closed_at",
            pl.col("lost_reason").fill_null(NO_REASON),
        )
    )
    open_stages = (
        ds.lazy("stages").filter(~pl.col("is_won") & ~pl.col("is_lost")).select("stage", "order")
    )
    last_open = (
        ds.lazy("stage_history")
        .join(lost.select("deal_id", "closed_at"), on="deal_id", how="inner")
        .filter(pl.col("entered_at") <= pl.col("closed_at"))
        .join(open_stages, on="stage", how="inner")
        .sort("deal_id", "entered_at", "order")
        .group_by("deal_id")
        .agg(
            pl.col("stage").last().alias("lost_from_stage"),
            pl.col("order").last().cast(pl.Int64).alias("stage_order"),
        )
    )
    per_deal = lost.join(last_open, on="deal_id", how="left").with_columns(
        pl.col("lost_from_stage").fill_null("(unknown)")
    )
    keys = [*groups, "lost_from_stage", "stage_order"]
    counts = per_deal.group_by(*keys, "lost_reason").agg(
        pl.len().cast(pl.Int64).alias("lost"),
        amount_sum().alias("lost_value"),
        without_amount(),
    )
    totals = per_deal.group_by(keys).agg(pl.len().cast(pl.Int64).alias("n"))
    low, high = wilson_interval("lost", "n", confidence)
    return (
        counts.join(totals, on=keys, nulls_equal=True)
        .with_columns(
            (pl.col("lost") / pl.col("n")).alias("share"),
            low.alias("ci_low"),
            high.alias("ci_high"),
            pl.lit(ds.stage_history_approximate).alias("approximate"),
        )
        .sort(
            [*groups, "stage_order", "lost", "lost_reason"],
            descending=[False] * (len(groups) + 1) + [True, False],
            nulls_last=True,
        )
        .select(*groups, *[c for c in LostReasonsByStageOutput.column_names() if c != "time_basis"])
        .collect()
    )


def _lost_by_stage(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    f = lost_reasons_by_stage(ds, period, by=groups).with_columns(
        pl.format("{} · {}", "lost_from_stage", "lost_reason").alias("stage_reason")
    )
    return [
        _long(f, groups, "lost_reason_share_by_stage", "share", "n", True, detail="stage_reason")
    ]


declare(
    MetricCard(
        "lost_reason_share_by_stage",
        "Share of losses by reason, per stage lost from",
        "lost from the stage with the reason / all lost from the stage",
        "period",
        "lost " + CLOSED_IN + "; the stage lost from = the last open stage entered on or "
        "before closed_at (stage_history); detail = 'stage · reason'",
        WILSON,
        "share",
        (
            "Without an exported stage history every stage is '(unknown)': the history derived "
            "from the deals only knows the current (lost) stage.",
        ),
        "pipeline_kit.lost_reasons_by_stage",
        reading="Where in the funnel each reason bites: price objections at proposal call "
        "for a different fix than 'no budget' at qualification. Compare a reason's share "
        "across stages with the intervals.",
        pipelines=PER_PIPELINE,
    ),
    function=lost_reasons_by_stage,
    output=LostReasonsByStageOutput,
    long=_lost_by_stage,
)
