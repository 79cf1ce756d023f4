"""Snapshot metrics: the open pipeline as of a date, reconstructed from stage history.

A deal is *open at* ``as_of`` when ``created_at <= as_of`` and it was not closed by then
(``closed_at`` empty or after ``as_of``). Its stage at ``as_of`` is the last stage it entered
on or before ``as_of`` according to ``stage_history`` (ties on one day: the later stage in
the pipeline order). A deal won or lost on or before ``as_of`` is never in the open pipeline,
whatever stage it sits in, so no deal can count as both open and won.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import By, check_by, group_columns, resolve_as_of
from pipeline_kit.periods import Period

__all__ = ["open_at", "open_pipeline", "stage_at"]


def open_at(as_of: dt.date) -> pl.Expr:
    """Expression over deals: open at the end of day ``as_of``."""
    return (pl.col("created_at") <= as_of) & (
        pl.col("closed_at").is_null() | (pl.col("closed_at") > as_of)
    )


def stage_at(ds: Dataset, as_of: dt.date) -> pl.LazyFrame:
    """(deal_id, stage_as_of): the last stage each deal entered on or before ``as_of``.

    A deal whose first recorded stage change is after ``as_of`` gets its first recorded stage.
    """
    order = ds.lazy("stages").select("stage", "order")
    entered = pl.col("entered_at") <= as_of
    return (
        ds.lazy("stage_history")
        .join(order, on="stage", how="left")
        .sort("deal_id", "entered_at", "order")
        .group_by("deal_id")
        .agg(
            pl.coalesce(pl.col("stage").filter(entered).last(), pl.col("stage").first()).alias(
                "stage_as_of"
            )
        )
    )


def open_pipeline(
    ds: Dataset,
    as_of: str | dt.date | None = None,
    by: By = None,
    *,
    period: str | Period | None = None,
) -> pl.DataFrame:
    """Open deals and their value per stage as of a date (default: the period's last day).

    ``open_deals = #{deals open at as_of in the stage}``, ``open_value = sum(amount)`` of those
    deals, ``weighted_value = sum(amount x stage probability)`` (0-1 scale; null when the
    stages table has no probabilities). One row per group and open stage, zero rows
    included, ordered by pipeline order; ``approximate`` is true when the stage history was
    derived rather than exported.
    """
    day = resolve_as_of(as_of, Period.parse(period) if period is not None else None)
    groups = group_columns(by)
    check_by(ds, "deals", groups)
    stages = ds.lazy("stages")
    open_stages = stages.filter(~pl.col("is_won") & ~pl.col("is_lost")).select("stage")
    deals = (
        ds.lazy("deals")
        .filter(open_at(day))
        .join(stage_at(ds, day), on="deal_id", how="left")
        # a deal without any stage history keeps its current stage
        .with_columns(pl.coalesce("stage_as_of", "stage").alias("stage"))
    )
    counts = deals.group_by([*groups, "stage"]).agg(
        pl.len().cast(pl.Int64).alias("open_deals"),
        pl.col("amount").sum().alias("open_value"),
    )
    frame_groups = deals.select(groups).unique() if groups else pl.LazyFrame({"_": [0]})
    grid = frame_groups.join(open_stages, how="cross")
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
        .with_columns(
            pl.col("open_deals").fill_null(0),
            pl.col("open_value").fill_null(0.0),
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
            "as_of",
            "approximate",
        )
    )
    return out.collect()
