"""The deals behind a count: won, lost, created, open, stalled or slipped, one row per deal.

A report shows "29 deals won" or "7 stalled deals"; :func:`deal_list` gives the deals
themselves, with the same definitions as the counts (:func:`~pipeline_kit.win_rate`,
:func:`~pipeline_kit.open_pipeline`, :func:`~pipeline_kit.stalled_deals`,
:func:`~pipeline_kit.slipped_deals`), so a list always adds up to its count.
"""

from __future__ import annotations

import datetime as dt

import dataframely as dy
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import (
    By,
    amount_column,
    as_date,
    as_period,
    check_by,
    closed_in,
    flow_period,
    group_columns,
)
from pipeline_kit.metrics.pipeline import open_at, slipped_deals, stalled_deals, with_stage_at
from pipeline_kit.periods import Period

__all__ = ["DEAL_LIST_KINDS", "DealListOutput", "deal_list"]

DEAL_LIST_KINDS = {
    "won": "won, closed in the period",
    "lost": "lost, closed in the period",
    "created": "created in the period",
    "open": "open at as_of (default: the period's last day), in the stage they were in then",
    "stalled": "open at as_of and in their stage longer than 90% of past visits to it",
    "slipped": "open at as_of with an expected close date already past",
}


class DealListOutput(dy.Schema):
    """:func:`deal_list`: these columns.

    The ``by`` columns other than owner and team come after ``team``.
    """

    deal_id = dy.String(nullable=False)
    owner = dy.String(nullable=False)
    team = dy.String(nullable=False)
    stage = dy.String(nullable=False)
    stage_order = dy.Int64(nullable=True)
    amount = amount_column(nullable=True)  # (empty when the CRM has none)
    created_at = dy.Date(nullable=True)
    closed_at = dy.Date(nullable=True)
    expected_close = dy.Date(nullable=True)
    detail = dy.String(nullable=True)
    kind = dy.String(nullable=False, regex=f"^({'|'.join(DEAL_LIST_KINDS)})$")


def deal_list(
    ds: Dataset,
    period: str | Period,
    *,
    kind: str,
    by: By = None,
    as_of: str | dt.date | None = None,
) -> pl.DataFrame:
    """The deals behind a count of the period, one row per deal.

    ``kind`` (:data:`DEAL_LIST_KINDS`): ``won`` / ``lost`` (closed in the period, up to
    ``as_of``; detail: the lost reason), ``created`` (created in the period), ``open`` (open
    at ``as_of``, default the period's last day, in the stage they were in then; detail: days
    open), ``stalled`` (detail: days in stage against the stage's usual maximum) or
    ``slipped`` (detail: days past the expected close). Sorted by the ``by`` columns, then
    stage order (open), the longest first (stalled, slipped) or the largest amount first.
    Columns: :class:`DealListOutput`.

    >>> deal_list(ds, "2025-Q4", kind="stalled", by="region")   # doctest: +SKIP
    """
    if kind not in DEAL_LIST_KINDS:
        raise ValueError(f"kind must be one of {', '.join(DEAL_LIST_KINDS)}, not {kind!r}")
    groups = [g for g in group_columns(by) if g not in ("owner", "team")]
    check_by(ds, "deals", groups)
    whole = as_period(period, ds)
    day = as_date(as_of, ds)
    snapshot = day if day is not None else whole.end
    deals = ds.lazy("deals")
    if kind in ("won", "lost"):
        span = flow_period(ds, whole, as_of)
        picked = deals.filter(closed_in(span) & pl.col("status").eq(kind))
        detail = pl.col("lost_reason") if kind == "lost" else pl.lit(None, pl.String)
    elif kind == "created":
        picked = deals.filter(flow_period(ds, whole, as_of).contains("created_at"))
        detail = pl.lit(None, pl.String)
    elif kind == "open":
        picked = with_stage_at(ds, deals.filter(open_at(snapshot)), snapshot)
        detail = pl.format(
            "open {} days", (pl.lit(snapshot) - pl.col("created_at")).dt.total_days()
        )
    else:
        listed = (
            stalled_deals(ds, snapshot).filter("stalled")
            if kind == "stalled"
            else slipped_deals(ds, snapshot)
        )
        picked = deals.drop("stage").join(
            listed.lazy().select("deal_id", "stage", *_extra(kind)), on="deal_id", how="inner"
        )
        detail = (
            pl.format(
                "{} days in stage (usual maximum {})",
                "days_in_stage",
                pl.col("threshold_days").round(0).cast(pl.Int64),
            )
            if kind == "stalled"
            else pl.format("{} days past the expected close", "days_overdue")
        )
    order = ds.lazy("stages").select("stage", pl.col("order").cast(pl.Int64).alias("stage_order"))
    frame = picked.join(order, on="stage", how="left").with_columns(
        detail.cast(pl.String).alias("detail"), pl.lit(kind).alias("kind")
    )
    if kind in ("stalled", "slipped"):
        key, descending = _extra(kind)[0], True
    elif kind == "open":
        key, descending = "stage_order", False
    else:
        key, descending = "amount", True
    return (
        frame.sort(
            [*groups, key, "amount", "deal_id"],
            descending=[False] * len(groups) + [descending, True, False],
            nulls_last=True,
        )
        .select(
            "deal_id",
            "owner",
            "team",
            *groups,
            *[c for c in DealListOutput.column_names() if c not in ("deal_id", "owner", "team")],
        )
        .collect()
    )


def _extra(kind: str) -> list[str]:
    return ["days_in_stage", "threshold_days"] if kind == "stalled" else ["days_overdue"]
