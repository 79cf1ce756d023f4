"""What was known on a given day: the deals open that evening, their stage and age in it.

Every forecast and every training example is built from these snapshots, so that nothing
after the snapshot day is read: a deal counts as open on day ``d`` when it was created on or
before ``d`` and not closed on or before ``d`` (a close after ``d``, or none, looks the same);
its stage is the last one it entered on or before ``d`` (``stage_history``); its age in stage
is ``d`` minus the day it entered that stage. Amounts are the deals' current amounts: exports
carry no amount history, which :mod:`pipeline_kit.forecasting` states in every forecast.
"""

from __future__ import annotations

import calendar
import datetime as dt

import numpy as np
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.periods import Period

__all__ = [
    "Snapshots",
    "closed_deals_by_stage",
    "group_sums",
    "key_index",
    "open_deals_on",
    "period_months",
    "shift_months",
    "won_between",
]


def shift_months(day: dt.date, months: int) -> dt.date:
    """``day`` moved by ``months`` calendar months; a month end stays a month end.

    >>> shift_months(dt.date(2025, 6, 30), -3), shift_months(dt.date(2025, 3, 31), -1)
    (datetime.date(2025, 3, 31), datetime.date(2025, 2, 28))
    """
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    month_end = day.day == calendar.monthrange(day.year, day.month)[1]
    return dt.date(year, month + 1, last if month_end else min(day.day, last))


def period_months(period: Period) -> int | None:
    """Whole calendar months in ``period`` (a quarter: 3), or None for a ragged date range."""
    if period.start.day != 1 or period.is_all:
        return None
    months = (period.end.year - period.start.year) * 12 + period.end.month - period.start.month + 1
    if shift_months(period.start, months) - dt.timedelta(days=1) != period.end:
        return None
    return months


def open_deals_on(ds: Dataset, days: list[dt.date], groups: list[str]) -> pl.LazyFrame:
    """One row per (snapshot day, deal open at the end of that day).

    Columns: ``snapshot``, ``deal_id``, the group columns, ``amount``, ``stage`` (the stage
    on that day), ``age_in_stage`` (days), ``created_at``, ``closed_at``, ``status``.
    A deal with no stage change recorded on or before the day keeps its first recorded stage
    (or its current one without any history) and its age counts from its creation.
    """
    snapshots = pl.LazyFrame({"snapshot": days}, schema={"snapshot": pl.Date})
    deals = ds.lazy("deals").select(
        "deal_id", "amount", "created_at", "closed_at", "status", "stage", *groups
    )
    if days:  # only deals open on some snapshot day can be in the cross product
        deals = deals.filter(
            (pl.col("created_at") <= max(days))
            & (pl.col("closed_at").is_null() | (pl.col("closed_at") > min(days)))
        )
    open_ = (
        deals.join(snapshots, how="cross")
        .filter(
            (pl.col("created_at") <= pl.col("snapshot"))
            & (pl.col("closed_at").is_null() | (pl.col("closed_at") > pl.col("snapshot")))
        )
        .sort("snapshot")
    )
    if not ds.has("stage_history"):
        return open_.with_columns(
            (pl.col("snapshot") - pl.col("created_at")).dt.total_days().alias("age_in_stage")
        )
    history = ds.lazy("stage_history").select("deal_id", "stage", "entered_at")
    first = (
        history.sort("entered_at")
        .group_by("deal_id")
        .agg(pl.col("stage").first().alias("first_stage"))
    )
    return (
        open_.join_asof(
            history.rename({"stage": "stage_entered"}).sort("entered_at"),
            left_on="snapshot",
            right_on="entered_at",
            by="deal_id",
            strategy="backward",
            check_sortedness=False,  # sorted above; polars cannot check within `by` groups
        )
        .join(first, on="deal_id", how="left")
        .with_columns(
            pl.coalesce("stage_entered", "first_stage", "stage").alias("stage"),
            (pl.col("snapshot") - pl.coalesce("entered_at", "created_at"))
            .dt.total_days()
            .alias("age_in_stage"),
        )
        .drop("stage_entered", "first_stage", "entered_at")
    )


class Snapshots:
    """:func:`open_deals_on` for many days, computed in one query and read a few days at a time.

    The rows of a day do not depend on the other days asked for, so ``on(days)`` is what
    ``open_deals_on(ds, days, groups)`` returns (in another row order: readers sort). A
    backtest asks for the same days many times (a checkpoint's day, and the past days of the
    forecasts of later periods): one query of their union replaces one query per forecast.
    """

    def __init__(self, ds: Dataset, days: list[dt.date], groups: list[str]) -> None:
        self.days = frozenset(days)
        self.groups = list(groups)
        self.frame = open_deals_on(ds, sorted(self.days), self.groups).collect()

    def on(self, days: list[dt.date]) -> pl.LazyFrame:
        """The deals open at the end of each of ``days`` (all among the days computed)."""
        missing = set(days) - self.days
        if missing:
            raise ValueError(f"days not computed: {sorted(missing)}")
        wanted = pl.Series(days, dtype=pl.Date).implode()
        return self.frame.lazy().filter(pl.col("snapshot").is_in(wanted))


def won_between(first: pl.Expr | dt.date, last: pl.Expr | dt.date) -> pl.Expr:
    """Expression over deals: won with ``closed_at`` in ``[first, last]``."""
    first_ = first if isinstance(first, pl.Expr) else pl.lit(first)
    last_ = last if isinstance(last, pl.Expr) else pl.lit(last)
    return (pl.col("status") == "won") & pl.col("closed_at").is_between(first_, last_)


def closed_deals_by_stage(ds: Dataset, as_of: dt.date) -> pl.LazyFrame:
    """(deal_id, stage, status): every stage each deal closed by ``as_of`` was ever in.

    The cohort behind a stage's eventual win rate. Without ``stage_history`` a deal counts
    in its current stage only.
    """
    closed = ds.lazy("deals").filter(
        pl.col("status").is_in(["won", "lost"]) & (pl.col("closed_at") <= as_of)
    )
    if not ds.has("stage_history"):
        return closed.select("deal_id", "stage", "status")
    return (
        ds.lazy("stage_history")
        .filter(pl.col("entered_at") <= as_of)
        .select("deal_id", "stage")
        .unique()
        .join(closed.select("deal_id", "status"), on="deal_id")
    )


def group_sums(
    frame: pl.DataFrame, keys: pl.DataFrame, groups: list[str], value: str
) -> np.ndarray:
    """Sum of ``value`` per row of ``keys`` (0 where a key has no row), in a fixed order.

    The rows are summed sequentially in ``deal_id`` order (``np.bincount``), so a figure is
    bit-for-bit the same on every run; a parallel group-by sum of amounts with cents can differ
    in the last bit, and the reports must be byte-identical on a re-run.
    """
    if "deal_id" in frame.columns:
        frame = frame.sort("deal_id")
    values = frame[value].cast(pl.Float64).fill_null(0.0).to_numpy()
    if not groups:
        return np.array([float(np.add.reduce(values))]) if values.size else np.zeros(1)
    index = key_index(frame, keys, groups)
    known = index.is_not_null().to_numpy()
    return np.bincount(
        index.fill_null(0).to_numpy()[known].astype(np.int64),
        values[known],
        minlength=keys.height,
    )


def key_index(frame: pl.DataFrame, keys: pl.DataFrame, groups: list[str]) -> pl.Series:
    """For each row of ``frame``, the position of its ``groups`` values among ``keys``' rows.

    Null where ``keys`` has no such row; a missing group value matches a missing key value.
    """
    return frame.select(groups).join(
        keys.select(groups).with_row_index("_k"),
        on=groups,
        how="left",
        maintain_order="left",
        nulls_equal=True,
    )["_k"]
