"""Snapshot metrics: the open pipeline as of a date, reconstructed from stage history.

A deal is *open at* ``as_of`` when ``created_at <= as_of`` and it was not closed by then
(``closed_at`` empty or after ``as_of``). Its stage at ``as_of`` is the last stage it entered
on or before ``as_of`` according to ``stage_history`` (ties on one day: the later stage in
the pipeline order). A deal won or lost on or before ``as_of`` is never in the open pipeline,
whatever stage it sits in, so no deal can count as both open and won.

Snapshot functions are called ``metric(ds, as_of, *, by=None)`` (``as_of`` a date, an ISO
string or ``"latest"``, the last date in the data); the waterfall, a flow, and the coverage,
read against the next period's target, take ``(ds, period, *, by=None, as_of=None)``. Each
output frame is described by the dataframely schema declared beside its function.
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
    as_date,
    as_period,
    basis_column,
    check_by,
    count_column,
    flag_column,
    flow_period,
    group_columns,
    resolve_as_of,
    stage_groups,
    time_basis,
    without_amount,
    without_amount_column,
)
from pipeline_kit.metrics._long import _long
from pipeline_kit.metrics.cards import PER_PIPELINE, SNAPSHOT, MetricCard, declare
from pipeline_kit.periods import Period

__all__ = [
    "next_period",
    "open_at",
    "open_pipeline",
    "pipeline_coverage",
    "pipeline_waterfall",
    "slipped_deals",
    "stage_at",
    "stage_durations",
    "stalled_deals",
    "with_stage_at",
]


def open_at(as_of: dt.date) -> pl.Expr:
    """Expression over deals: open at the end of day ``as_of``."""
    return (pl.col("created_at") <= as_of) & (
        pl.col("closed_at").is_null() | (pl.col("closed_at") > as_of)
    )


def stage_at(ds: Dataset, as_of: dt.date, deals: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """(deal_id, stage_as_of): the last stage each deal entered on or before ``as_of``.

    A deal whose first recorded stage change is after ``as_of`` gets its first recorded stage.
    ``deals`` (a frame with ``deal_id``) restricts the work to those deals: a snapshot needs
    the history of the deals open at ``as_of`` only, often a small share of the whole.
    """
    order = ds.lazy("stages").select("stage", "order")
    entered = pl.col("entered_at") <= as_of
    history = ds.lazy("stage_history")
    if deals is not None:
        history = history.join(deals.select("deal_id"), on="deal_id", how="semi")
    return (
        history.join(order, on="stage", how="left")
        .sort("deal_id", "entered_at", "order")
        .group_by("deal_id")
        .agg(
            pl.coalesce(pl.col("stage").filter(entered).last(), pl.col("stage").first()).alias(
                "stage_as_of"
            )
        )
    )


def with_stage_at(ds: Dataset, deals: pl.LazyFrame, as_of: dt.date) -> pl.LazyFrame:
    """``deals`` with ``stage`` replaced by each deal's stage at ``as_of`` (see :func:`stage_at`).

    Only the history of these deals is read. A deal without any stage history keeps its
    current stage.
    """
    return (
        deals.join(stage_at(ds, as_of, deals), on="deal_id", how="left")
        .with_columns(pl.coalesce("stage_as_of", "stage").alias("stage"))
        .drop("stage_as_of")
    )


class OpenPipelineOutput(dy.Schema):
    """:func:`open_pipeline`: the ``by`` columns, then these (one row per open stage)."""

    stage = dy.String(nullable=False)
    stage_order = dy.Int64(nullable=False)
    open_deals = count_column()
    open_value = amount_column(nullable=True)  # (null: no deal valued)
    weighted_value = amount_column(nullable=True)
    without_amount = without_amount_column()
    as_of = dy.Date(nullable=False)
    approximate = flag_column()
    time_basis = basis_column("snapshot")


@time_basis("snapshot")
def open_pipeline(
    ds: Dataset,
    as_of: str | dt.date | None = None,
    *,
    by: By = None,
    period: str | Period | None = None,
) -> pl.DataFrame:
    """Open deals and their value per stage as of a date (default: the period's last day).

    ``open_deals = #{deals open at as_of in the stage}``, ``open_value = sum(amount)`` of those
    deals, ``weighted_value = sum(amount x stage probability)`` (0-1 scale; null when the
    stages table has no probabilities). An open deal without an amount counts in
    ``open_deals`` and is left out of both values; ``without_amount`` counts those deals:
    when it is above 0 the values are the value of the deals with an amount, a lower bound of
    the stage's value, not the whole. One row per group and open stage, zero rows
    included, ordered by pipeline order; ``approximate`` is true when the stage history was
    derived rather than exported. Columns: :class:`OpenPipelineOutput`.
    With deals in several pipelines the rows are also per ``pipeline`` (first column), even
    when ``by`` does not name it (:func:`~pipeline_kit.metrics._common.stage_groups`).
    A pipeline's zero rows are its own open stages and those shared by several pipelines.
    """
    day = resolve_as_of(ds, as_of, as_period(period, ds) if period is not None else None)
    groups = group_columns(by)
    check_by(ds, "deals", groups, OpenPipelineOutput)
    groups = stage_groups(ds, groups)
    stages = ds.lazy("stages")
    open_stages = stages.filter(~pl.col("is_won") & ~pl.col("is_lost")).select(
        "stage", pl.col("pipeline").alias("_stage_pipeline")
    )
    deals = with_stage_at(ds, ds.lazy("deals").filter(open_at(day)), day)
    counts = deals.group_by([*groups, "stage"]).agg(
        pl.len().cast(pl.Int64).alias("open_deals"),
        amount_sum().alias("open_value"),
        without_amount(),
    )
    frame_groups = deals.select(groups).unique() if groups else pl.LazyFrame({"_": [0]})
    grid = frame_groups.join(open_stages, how="cross")
    if "pipeline" in groups:  # a pipeline's rows: its own stages and the shared ones
        grid = grid.filter(
            pl.col("_stage_pipeline").is_null()
            | (pl.col("_stage_pipeline") == pl.col("pipeline")).fill_null(False)
        )
    grid = grid.drop("_stage_pipeline")
    if not groups:
        grid = grid.drop("_")
    out = (
        # full join: an open deal whose recorded stage is not an open stage is still shown
        grid.join(counts, on=[*groups, "stage"], how="full", coalesce=True)
        .join(
            stages.select("stage", pl.col("order").alias("stage_order"), "probability"),
            on="stage",
            how="left",
        )
        .with_columns(  # (a stage without open deals: 0; with deals none of them valued: null)
            pl.when(pl.col("open_deals").is_null())
            .then(0.0)
            .otherwise("open_value")
            .alias("open_value"),
            pl.col("open_deals", "without_amount").fill_null(0),
        )
        .with_columns(
            (pl.col("open_value") * pl.col("probability")).alias("weighted_value"),
            pl.lit(day).alias("as_of"),
            pl.lit(ds.stage_history_approximate).alias("approximate"),
        )
        .sort([*groups, "stage_order"])
        .select(
            *groups,
            "stage",
            "stage_order",
            "open_deals",
            "open_value",
            "weighted_value",
            "without_amount",
            "as_of",
            "approximate",
        )
    )
    return out.collect()


def stage_durations(ds: Dataset, as_of: dt.date) -> pl.LazyFrame:
    """Completed stage visits by ``as_of``: (deal_id, stage, entered_at, left_at, days)."""
    return (
        ds.lazy("stage_history")
        .filter(pl.col("entered_at") <= as_of)
        .join(ds.lazy("stages").select("stage", "order"), on="stage", how="left")
        .sort("deal_id", "entered_at", "order")
        .with_columns(pl.col("entered_at").shift(-1).over("deal_id").alias("left_at"))
        .filter(pl.col("left_at").is_not_null())
        .with_columns((pl.col("left_at") - pl.col("entered_at")).dt.total_days().alias("days"))
        .select("deal_id", "stage", "entered_at", "left_at", "days")
    )


class StalledDealsOutput(dy.Schema):
    """:func:`stalled_deals`: one row per open deal.

    The ``by`` columns other than owner and team come after ``team``.
    """

    deal_id = dy.String(nullable=False)
    owner = dy.String(nullable=False)
    team = dy.String(nullable=False)
    stage = dy.String(nullable=False)
    amount = amount_column(nullable=True)  # (empty when the CRM has none)
    entered_stage_at = dy.Date(nullable=False)
    days_in_stage = count_column()
    threshold_days = amount_column(nullable=True)
    reference_n = count_column(nullable=True)
    stalled = flag_column()
    time_basis = basis_column("snapshot")


# stalled_deals' defaults: a stage's reference is the 90th percentile of at least 20 visits
STALLED_PERCENTILE, STALLED_MIN_REFERENCE = 0.9, 20


@time_basis("snapshot")
def stalled_deals(
    ds: Dataset,
    as_of: str | dt.date | None = None,
    *,
    by: By = None,
    period: str | Period | None = None,
    percentile: float = STALLED_PERCENTILE,
    min_reference: int = STALLED_MIN_REFERENCE,
) -> pl.DataFrame:
    """Open deals that have sat in their stage longer than usual *for that stage*.

    For each stage, the reference is the ``percentile`` (default 90th) of the days deals
    spent in it, over visits completed by ``as_of`` in the whole stage history: a dataset
    filtered to one team (:meth:`Dataset.filter_deals`) keeps the organisation's reference,
    so its deals are judged against the same norm as everyone's. An open deal is stalled when
    its days in the current stage exceed that threshold. Stages with fewer than ``min_reference``
    completed visits get no threshold (``threshold_days`` null, never stalled). Returns one row
    per open deal at ``as_of``: deal_id, owner, team, the ``by`` columns (any deal column, e.g.
    ``by="region"``), stage, amount, entered_stage_at, days_in_stage, threshold_days,
    reference_n, stalled (:class:`StalledDealsOutput`); sorted by the ``by`` columns, then
    with the stalled, longest first. With deals in several pipelines ``pipeline`` is one of
    the ``by`` columns even when not asked for (:func:`~pipeline_kit.metrics._common.stage_groups`).
    """
    day = resolve_as_of(ds, as_of, as_period(period, ds) if period is not None else None)
    groups = [g for g in group_columns(by) if g not in ("owner", "team")]
    check_by(ds, "deals", groups, StalledDealsOutput)
    groups = stage_groups(ds, groups)
    # once per dataset and arguments: a report lists them and counts them in its appendix
    key = _stalled_key(day, groups, percentile, min_reference)
    return ds.memoised(
        key, lambda: _stalled_deals(ds, day, groups, percentile, min_reference)
    ).clone()


def _stalled_key(day: dt.date, groups: list[str], percentile: float, min_reference: int) -> tuple:
    """The key :func:`stalled_deals` keeps its result under (:meth:`Dataset.memoised`)."""
    return ("stalled_deals", day, tuple(groups), percentile, min_reference)


def share_stalled_deals(whole: Dataset, part: Dataset, rows: pl.Expr, as_of: dt.date) -> None:
    """Give ``part`` its :func:`stalled_deals` on ``as_of`` as ``whole``'s ``rows``.

    For ``part = whole.filter_deals(rows)`` (one team): a deal's reference is the stage
    history of the whole export either way, so ``part``'s table is ``whole``'s rows of its
    deals (``tests/test_catalogue_batch.py``). ``whole``'s table is computed once, stored
    beside the cached dataset (``persist``), and the rows kept for ``part``, when both group
    their stages alike (deals in one pipeline; default arguments); else nothing is done and
    ``part`` computes its own.
    """
    groups = stage_groups(whole, [])
    if groups or stage_groups(part, []):
        return
    table = whole.memoised(
        ("stalled_deals", "whole", as_of),
        lambda: stalled_deals(whole, as_of).drop("time_basis"),
        persist=True,
    )
    key = _stalled_key(as_of, groups, STALLED_PERCENTILE, STALLED_MIN_REFERENCE)
    part.memoised(key, lambda: table.filter(rows))


def _stalled_deals(
    ds: Dataset, day: dt.date, groups: list[str], percentile: float, min_reference: int
) -> pl.DataFrame:
    """:func:`stalled_deals` on the resolved snapshot day and groups."""
    visits = stage_durations(ds, day)
    reference = (
        visits.group_by("stage")
        .agg(
            pl.col("days").quantile(percentile, interpolation="linear").alias("threshold_days"),
            pl.len().cast(pl.Int64).alias("reference_n"),
        )
        .with_columns(
            pl.when(pl.col("reference_n") >= min_reference).then(pl.col("threshold_days"))
        )
    )
    open_deals = ds.lazy("deals").filter(open_at(day))
    entered = (  # the current stage of the open deals only: a small share of the history
        ds.lazy("stage_history")
        .filter(pl.col("entered_at") <= day)
        .join(open_deals.select("deal_id"), on="deal_id", how="semi")
        .join(ds.lazy("stages").select("stage", "order"), on="stage", how="left")
        .sort("deal_id", "entered_at", "order")
        .group_by("deal_id")
        .agg(pl.col("stage").last().alias("stage_as_of"), pl.col("entered_at").last())
    )
    deals = (
        open_deals.join(entered, on="deal_id", how="left")
        .with_columns(
            pl.coalesce("stage_as_of", "stage").alias("stage"),
            pl.coalesce("entered_at", "created_at").alias("entered_stage_at"),
        )
        .with_columns(
            (pl.lit(day) - pl.col("entered_stage_at")).dt.total_days().alias("days_in_stage")
        )
        .join(reference, on="stage", how="left")
        .with_columns(
            (pl.col("days_in_stage") > pl.col("threshold_days")).fill_null(False).alias("stalled")
        )
    )
    return (
        deals.select(
            "deal_id",
            "owner",
            "team",
            *groups,
            "stage",
            "amount",
            "entered_stage_at",
            "days_in_stage",
            "threshold_days",
            "reference_n",
            "stalled",
        )
        .sort(
            [*groups, "stalled", "days_in_stage", "deal_id"],
            descending=[False] * len(groups) + [True, True, False],
        )
        .collect()
    )


class SlippedDealsOutput(dy.Schema):
    """:func:`slipped_deals`: one row per overdue open deal.

    The ``by`` columns other than owner and team come after ``team``.
    """

    deal_id = dy.String(nullable=False)
    owner = dy.String(nullable=False)
    team = dy.String(nullable=False)
    stage = dy.String(nullable=False)
    amount = amount_column(nullable=True)  # (empty when the CRM has none)
    expected_close = dy.Date(nullable=False)
    days_overdue = dy.Int64(nullable=False, min=1)
    time_basis = basis_column("snapshot")


@time_basis("snapshot")
def slipped_deals(
    ds: Dataset,
    as_of: str | dt.date | None = None,
    *,
    by: By = None,
    period: str | Period | None = None,
) -> pl.DataFrame:
    """Open deals whose forecast close date (``expected_close``) is already past at ``as_of``.

    Only the current ``expected_close`` is known (not its history), so this counts deals
    overdue now, not how many times each was pushed. Columns: deal_id, owner, team, the
    ``by`` columns, stage, amount, expected_close, days_overdue; sorted by the ``by`` columns,
    then longest overdue first (:class:`SlippedDealsOutput`). Empty when the export has no
    expected_close.
    """
    day = resolve_as_of(ds, as_of, as_period(period, ds) if period is not None else None)
    groups = [g for g in group_columns(by) if g not in ("owner", "team")]
    check_by(ds, "deals", groups, SlippedDealsOutput)
    overdue = ds.lazy("deals").filter(open_at(day) & (pl.col("expected_close") < day))
    return (
        with_stage_at(ds, overdue, day)
        .select(
            "deal_id",
            "owner",
            "team",
            *groups,
            "stage",
            "amount",
            "expected_close",
            (pl.lit(day) - pl.col("expected_close")).dt.total_days().alias("days_overdue"),
        )
        .sort(
            [*groups, "days_overdue", "deal_id"],
            descending=[False] * len(groups) + [True, False],
        )
        .collect()
    )


class PipelineWaterfallOutput(dy.Schema):
    """:func:`pipeline_waterfall`: the ``by`` columns, then these (value, then deal counts)."""

    # (null: the bucket's deals have no amount)
    start = amount_column(nullable=True)
    created = amount_column(nullable=True)
    won = amount_column(nullable=True)
    lost = amount_column(nullable=True)
    moved = amount_column(nullable=True, signed=True)
    end = amount_column(nullable=True)
    start_deals = count_column()
    created_deals = count_column()
    won_deals = count_column()
    lost_deals = count_column()
    moved_deals = dy.Int64(nullable=False)
    end_deals = count_column()
    without_amount = without_amount_column()
    time_basis = basis_column("period")


@time_basis("period")
def pipeline_waterfall(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
) -> pl.DataFrame:
    """Open pipeline value from the start to the end of the period, bucket by bucket.

    ``start`` (open at the end of the day before the period) ``+ created`` (created in the
    period) ``- won - lost`` (closed in the period) ``= end`` (open at the period's last day).
    Amounts are the deals' current amounts, so the identity holds exactly; the function checks
    it per group and raises if a bucket is missing (``moved`` must be 0: deals whose team or
    owner changed are not tracked by the export). Columns: groups, start, created, won, lost,
    moved, end, and the same buckets as deal counts (``*_deals``), without_amount
    (:class:`PipelineWaterfallOutput`). A deal without an amount counts in its buckets' deal
    counts and in none of the values (the identity holds for both); ``without_amount``
    counts the deals of the waterfall (in any bucket) left out of the values.
    ``as_of`` before the period's end stops the waterfall on that day (``end`` = open then).
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    check_by(ds, "deals", groups, PipelineWaterfallOutput)
    before = period.start - dt.timedelta(days=1)
    closed_in = period.contains("closed_at")
    buckets = {
        "start": open_at(before),
        "created": period.contains("created_at"),
        "won": closed_in & pl.col("status").eq("won"),
        "lost": closed_in & pl.col("status").eq("lost"),
        "end": open_at(period.end),
    }
    aggs = []
    for name, cond in buckets.items():
        aggs.append(amount_sum(cond).alias(name))
        aggs.append(cond.sum().cast(pl.Int64).alias(f"{name}_deals"))
    aggs.append(without_amount())  # (of the deals in any bucket: the frame below holds those)
    lf = ds.lazy("deals").filter(pl.any_horizontal(list(buckets.values())))
    out = (
        (lf.group_by(groups).agg(aggs).sort(groups) if groups else lf.select(aggs))
        .with_columns(
            (
                pl.col("end")
                - (pl.col("start") + pl.col("created") - pl.col("won") - pl.col("lost"))
            ).alias("moved"),
            (
                pl.col("end_deals")
                - (
                    pl.col("start_deals")
                    + pl.col("created_deals")
                    - pl.col("won_deals")
                    - pl.col("lost_deals")
                )
            ).alias("moved_deals"),
        )
        .collect()
    )
    broken = out.filter(
        # relative to the terms summed: float sums of 1e15-sized amounts are exact to ~1e-16
        (
            pl.col("moved").abs()
            > 1e-9
            * (
                1
                + pl.col("start").abs()
                + pl.col("created").abs()
                + pl.col("won").abs()
                + pl.col("lost").abs()
                + pl.col("end").abs()
            )
        )
        | (pl.col("moved_deals") != 0)
    )
    if broken.height:
        raise ArithmeticError(f"pipeline waterfall does not add up: {broken.to_dicts()[:3]}")
    return out.select(
        *groups,
        "start",
        "created",
        "won",
        "lost",
        "moved",
        "end",
        "start_deals",
        "created_deals",
        "won_deals",
        "lost_deals",
        "moved_deals",
        "end_deals",
        "without_amount",
    )


def next_period(period: Period) -> Period:
    """The period right after ``period``, of the same kind (see :meth:`Period.following`)."""
    return period.following()


class PipelineCoverageOutput(dy.Schema):
    """:func:`pipeline_coverage`: the ``by`` columns (none or team), then these."""

    due_deals = count_column()
    due_value = amount_column(nullable=True)  # (null: no deal valued)
    weighted_due = amount_column(nullable=True)
    without_amount = without_amount_column()
    target = amount_column(nullable=True)
    coverage = amount_column(nullable=True)
    weighted_coverage = amount_column(nullable=True)
    next_period = dy.String(nullable=False)
    time_basis = basis_column("snapshot")


@time_basis("snapshot")
def pipeline_coverage(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
) -> pl.DataFrame:
    """Open pipeline due next period, as a multiple of next period's target.

    ``coverage = sum(amount of deals open at as_of with expected_close in the next period) /
    sum(team targets overlapping the next period)``; ``as_of`` defaults to the period's last
    day. ``weighted_coverage`` uses amount x stage probability. Targets are per team, so
    ``by`` is ``None`` or ``"team"``. A due deal without an amount counts in ``due_deals``
    and in neither value; ``without_amount`` counts them: when it is above 0 the values and
    both coverages are those of the due deals with an amount, lower bounds, not the whole.
    Columns: groups, due_deals, due_value, weighted_due, without_amount, target, coverage,
    weighted_coverage, next_period (:class:`PipelineCoverageOutput`).
    """
    period = as_period(period, ds)
    day = resolve_as_of(ds, as_of, period)
    groups = group_columns(by)
    if groups not in ([], ["team"]):
        raise ValueError("pipeline coverage compares with team targets: use by=None or by='team'")
    following = next_period(period)
    # the stage's default probability (deals may carry their own, rep-entered one)
    probability = ds.lazy("stages").select(
        "stage", pl.col("probability").alias("stage_probability")
    )
    due_deals = ds.lazy("deals").filter(open_at(day) & following.contains("expected_close"))
    due = with_stage_at(ds, due_deals, day).join(probability, on="stage", how="left")
    due_aggs = [
        pl.len().cast(pl.Int64).alias("due_deals"),
        amount_sum().alias("due_value"),
        pl.when(pl.col("stage_probability").is_not_null().any())
        .then(amount_sum(amount=pl.col("amount") * pl.col("stage_probability")))
        .alias("weighted_due"),
        without_amount(),
    ]
    targets = ds.lazy("targets").filter(
        pl.col("owner").is_null()
        & (pl.col("period_start") <= following.end)
        & (pl.col("period_end") >= following.start)
    )
    if groups:
        due_g = due.group_by(groups).agg(due_aggs)
        target_g = targets.group_by(groups).agg(pl.col("target").sum())
        joined = target_g.join(due_g, on=groups, how="full", coalesce=True)
    else:
        joined = due.select(due_aggs).join(targets.select(pl.col("target").sum()), how="cross")
    return (
        joined.with_columns(
            pl.col("due_deals", "without_amount").fill_null(0),
            pl.col("due_value").fill_null(0.0),
        )
        .with_columns(
            pl.when(pl.col("target") > 0)
            .then(pl.col("due_value") / pl.col("target"))
            .alias("coverage"),
            pl.when(pl.col("target") > 0)
            .then(pl.col("weighted_due") / pl.col("target"))
            .alias("weighted_coverage"),
            pl.lit(following.label).alias("next_period"),
        )
        .select(
            *groups,
            "due_deals",
            "due_value",
            "weighted_due",
            "without_amount",
            "target",
            "coverage",
            "weighted_coverage",
            "next_period",
        )
        .sort(groups)
        .collect()
    )


# ----------------------------------------------------------------------------- catalogue


def _pipeline(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    day = as_date(as_of, ds) or period.end
    f = open_pipeline(ds, day, by=groups, period=period)
    # unknown (not 0) when open deals have no amount, or the stages carry no probabilities
    valued = pl.col("open_deals").sum().eq(0) | pl.col("open_deals").sum().gt(
        pl.col("without_amount").sum()
    )
    sums = [
        pl.col("open_deals").sum(),
        pl.col("without_amount").sum(),
        pl.when(valued).then(pl.col("open_value").sum()).alias("open_value"),
        pl.when(valued & pl.col("weighted_value").is_not_null().any())
        .then(pl.col("weighted_value").sum())
        .alias("weighted_value"),
    ]
    totals = f.group_by(groups).agg(sums).sort(groups) if groups else f.select(sums)
    out = []
    for metric, col in (
        ("open_deals", "open_deals"),
        ("open_value", "open_value"),
        ("weighted_pipeline", "weighted_value"),
    ):
        of_amounts = metric != "open_deals"  # the two values leave out deals without an amount
        out.append(
            _long(
                totals,
                groups,
                metric,
                col,
                "open_deals",
                False,
                as_of=day,
                without_amount=of_amounts,
            )
        )
        out.append(
            _long(
                f,
                groups,
                f"{metric}_by_stage",
                col,
                "open_deals",
                False,
                detail="stage",
                as_of=day,
                without_amount=of_amounts,
            )
        )
    return out


def _deal_lists(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    day = as_date(as_of, ds) or period.end
    stalled = stalled_deals(ds, day)
    slipped = slipped_deals(ds, day).with_columns(pl.lit(True).alias("slipped"))
    deals = ds.tables["deals"].select("deal_id", *[g for g in groups if g not in ("owner", "team")])
    frame = stalled.join(deals, on="deal_id", how="left").join(
        slipped.select("deal_id", "slipped"), on="deal_id", how="left"
    )
    aggs = [
        pl.col("stalled").sum().cast(pl.Int64).alias("stalled"),
        pl.col("slipped").fill_null(False).sum().cast(pl.Int64).alias("slipped"),
        pl.len().cast(pl.Int64).alias("open"),
    ]
    counts = frame.group_by(groups).agg(aggs).sort(groups) if groups else frame.select(aggs)
    return [
        _long(counts, groups, "stalled_deals", "stalled", "open", False, as_of=day),
        _long(counts, groups, "slipped_deals", "slipped", "open", False, as_of=day),
    ]


def _waterfall(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    f = pipeline_waterfall(ds, period, by=groups)
    buckets = ["start", "created", "won", "lost", "moved", "end"]
    long = f.unpivot(on=buckets, index=groups, variable_name="bucket", value_name="value").join(
        f.unpivot(
            on=[f"{b}_deals" for b in buckets],
            index=groups,
            variable_name="bucket",
            value_name="deals",
        ).with_columns(pl.col("bucket").str.strip_suffix("_deals")),
        on=[*groups, "bucket"],
    )
    # without_amount counts the deals of any bucket left out of every value (one count a group)
    long = (
        long.join(f.select(*groups, "without_amount"), on=groups, how="left", nulls_equal=True)
        if groups
        else long.with_columns(without_amount=pl.lit(f["without_amount"].item()))
    )
    return [
        _long(
            long,
            groups,
            "pipeline_waterfall",
            "value",
            "deals",
            False,
            detail="bucket",
            without_amount=True,
        )
    ]


def _coverage(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    if groups not in ([], ["team"]):
        return []  # targets exist per team only
    if "targets" not in ds.tables:
        return []
    day = as_date(as_of, ds) or period.end
    f = pipeline_coverage(ds, period, by=groups, as_of=day)
    return [
        _long(
            f,
            groups,
            "pipeline_coverage",
            "coverage",
            "due_deals",
            False,
            as_of=day,
            without_amount=True,
        )
    ]


declare(
    MetricCard(
        "open_deals",
        "Open deals",
        "count of deals open at as_of",
        SNAPSHOT,
        "deals created on or before as_of and not won or lost by then; per stage when the "
        "stage column is filled",
        "none (a count)",
        "count",
        (
            "A CRM's 'open pipeline' filter that keys on stage names can include won or lost "
            "deals; here status and closed_at decide.",
        ),
        "pipeline_kit.open_pipeline",
        reading="How many deals are in play at the snapshot date, per stage. A pile-up in one "
        "stage is a bottleneck to investigate with time_in_stage and stalled_deals.",
    ),
    function=open_pipeline,
    output=OpenPipelineOutput,
    long=_pipeline,
)


declare(
    MetricCard(
        "open_value",
        "Open pipeline value",
        "sum(amount) of deals open at as_of",
        SNAPSHOT,
        "as for open_deals",
        "none (a total)",
        "currency",
        (),
        "pipeline_kit.open_pipeline",
        reading="Unweighted value of the open pipeline. Useful for trend, optimistic as a "
        "forecast: most of it will not close.",
    ),
    function=open_pipeline,
    output=OpenPipelineOutput,
    long=_pipeline,
)


declare(
    MetricCard(
        "weighted_pipeline",
        "Weighted pipeline",
        "sum(amount x stage probability) of deals open at as_of (probability on a 0-1 scale)",
        SNAPSHOT,
        "as for open_deals",
        "none (a total)",
        "currency",
        ("Probabilities given as 0-100 are detected and divided by 100 (noted on load).",),
        "pipeline_kit.open_pipeline",
        reading="Open value discounted by stage probability: a rough expected value. "
        "Only as good as the stage probabilities; check them against observed stage conversion.",
    ),
    function=open_pipeline,
    output=OpenPipelineOutput,
    long=_pipeline,
)


declare(
    MetricCard(
        "stalled_deals",
        "Stalled deals",
        "count of open deals whose days in the current stage exceed the 90th percentile of "
        "completed visits of that stage (every visit in the stage history: a team's deals are "
        "judged against the organisation's norm)",
        SNAPSHOT,
        "deals open at as_of; stages with fewer than 20 completed visits are never judged",
        "none (a count; n = open deals)",
        "count",
        (
            "A fixed 'more than 30 days' rule flags every deal in a slow stage and none in a fast "
            "one; the per-stage percentile does not.",
        ),
        "pipeline_kit.stalled_deals",
        reading="Open deals sitting in their stage far longer than usual (beyond the 90th "
        "percentile of finished visits). The action list: each one needs a next step or closing.",
        pipelines="with more than one pipeline the deals are listed by pipeline first (a "
        "pipeline column even when `by` does not name it); the norm is per stage, and stage "
        "names are per pipeline except a name listed under several pipelines, kept once on "
        "load, whose norm pools the visits of those pipelines",
    ),
    function=stalled_deals,
    output=StalledDealsOutput,
    long=_deal_lists,
)


declare(
    MetricCard(
        "slipped_deals",
        "Slipped deals",
        "count of open deals with expected_close before as_of",
        SNAPSHOT,
        "deals open at as_of with an expected_close already past",
        "none (a count; n = open deals)",
        "count",
        ("Only the current forecast date is exported, so repeated pushes are not visible.",),
        "pipeline_kit.slipped_deals",
        reading="Open deals past their expected close date. Many slipped deals mean the "
        "forecast is stale; ask for new dates or close them lost.",
    ),
    function=slipped_deals,
    output=SlippedDealsOutput,
    long=_deal_lists,
)


declare(
    MetricCard(
        "pipeline_waterfall",
        "Pipeline waterfall",
        "start + created - won - lost (+ moved) = end, in value; detail = the bucket",
        "period: open at the day before the period, flows during it, open at its last day",
        "all deals open at either end or created or closed in the period",
        "none (identity checked: moved must be 0)",
        "currency",
        (),
        "pipeline_kit.pipeline_waterfall",
        reading="How the open pipeline moved from the start to the end of the "
        "period: created in, won and lost out. The identity must balance; the largest bar is the "
        "story.",
    ),
    function=pipeline_waterfall,
    output=PipelineWaterfallOutput,
    long=_waterfall,
)


declare(
    MetricCard(
        "pipeline_coverage",
        "Pipeline coverage",
        "value of deals open at as_of with expected_close in the next period / next period's "
        "target",
        SNAPSHOT + "; targets of the following period",
        "open deals due in the next period; team-level targets (no owner)",
        "none: both terms are totals (the pipeline due and the target), not samples from a "
        "larger population",
        "ratio",
        ("Coverage counts forecast dates the reps typed: slipped deals inflate it.",),
        "pipeline_kit.pipeline_coverage",
        reading="Open value due next period divided by its target; 3x is a common rule "
        "of thumb, meaningful only next to the team's own win rate.",
    ),
    function=pipeline_coverage,
    output=PipelineCoverageOutput,
    long=_coverage,
)


# the same figures per stage, under their own names: the rows of one metric sum to its
# total, so summing a metric's rows in the long CSV never double-counts
for _name, _title, _formula, _interval, _unit, _reading in (
    (
        "open_deals",
        "Open deals",
        "count of deals open at as_of",
        "none (a count)",
        "count",
        "Where the open deals sit: a pile-up in one stage is the bottleneck to look at first.",
    ),
    (
        "open_value",
        "Open pipeline value",
        "sum(amount) of deals open at as_of",
        "none (a total)",
        "currency",
        "Where the open value sits: value stuck early will not close this quarter.",
    ),
    (
        "weighted_pipeline",
        "Weighted pipeline",
        "sum(amount x stage probability) of deals open at as_of",
        "none (a total)",
        "currency",
        "The probability-weighted value per stage: how much each stage is expected to bring, "
        "if its default probability holds.",
    ),
):
    declare(
        MetricCard(
            f"{_name}_by_stage",
            f"{_title} by stage",
            f"{_formula}, per stage (detail = the stage the deal was in at as_of); the stages "
            f"sum to {_name}",
            SNAPSHOT,
            "as for open_deals",
            _interval,
            _unit,
            (),
            "pipeline_kit.open_pipeline",
            reading=_reading,
            pipelines=PER_PIPELINE,
        ),
        function=open_pipeline,
        output=OpenPipelineOutput,
        long=_pipeline,
    )
