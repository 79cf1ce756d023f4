"""Shaping one metric's frame into rows of the long format (``pipeline-kit metrics``).

Its columns: ``metric, <by columns>, value, n, ci_low, ci_high, without_amount, detail, unit,
time_basis, as_of``.
"""

from __future__ import annotations

import datetime as dt

import dataframely as dy
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics.cards import REGISTRY

__all__ = ["LONG_COLUMNS", "LongOutput"]


class LongOutput(dy.Schema):
    """A frame of :func:`pipeline_kit.metrics_long`.

    ``metric``, then the ``by`` columns (as text), then these.
    """

    metric = dy.String(nullable=False)
    value = dy.Float64(nullable=True)
    n = dy.Int64(nullable=True)
    ci_low = dy.Float64(nullable=True)
    ci_high = dy.Float64(nullable=True)
    without_amount = dy.Int64(nullable=True)
    detail = dy.String(nullable=True)
    unit = dy.String(nullable=False)
    time_basis = dy.String(nullable=False, regex="^(period|cohort|snapshot)$")
    period = dy.String(nullable=False)
    as_of = dy.String(nullable=True)


LONG_COLUMNS = LongOutput.column_names()[1:]


def _long(
    frame: pl.DataFrame,
    groups: list[str],
    metric: str,
    value: str,
    n: str | None,
    ci: bool,
    detail: str | None = None,
    as_of: dt.date | None = None,
    *,
    without_amount: bool = False,
) -> pl.DataFrame:
    """One metric's tidy frame in the long format.

    ``detail`` names the column that sub-divides a group (a stage, a lost reason, a
    definition); ``as_of`` is the day a snapshot or cohort is read (empty for flow metrics).
    ``without_amount`` says the value is computed from amounts: the frame's
    ``without_amount`` column (the deals of the row left out of the value for want of an
    amount) is kept; for other figures the long column is empty.
    """
    card = REGISTRY[metric].card
    if detail and "pipeline" in frame.columns and "pipeline" not in groups:
        # a stage-ordered metric grouped by pipeline on its own (see stage_groups): the
        # pipeline goes in the detail, "Renewals · Proposal"
        frame = frame.with_columns(
            pl.format(
                "{} · {}", pl.col("pipeline").fill_null("(no pipeline)"), pl.col(detail)
            ).alias(detail)
        )
    return frame.select(
        pl.lit(metric).alias("metric"),
        *groups,
        pl.col(value).cast(pl.Float64).alias("value"),
        (pl.col(n) if n else pl.col(value)).cast(pl.Int64).alias("n"),
        (pl.col("ci_low") if ci else pl.lit(None, pl.Float64)).alias("ci_low"),
        (pl.col("ci_high") if ci else pl.lit(None, pl.Float64)).alias("ci_high"),
        (pl.col("without_amount") if without_amount else pl.lit(None))
        .cast(pl.Int64)
        .alias("without_amount"),
        (pl.col(detail).cast(pl.String) if detail else pl.lit(None, pl.String)).alias("detail"),
        pl.lit(card.unit).alias("unit"),
        pl.lit(card.basis).alias("time_basis"),
        pl.lit(str(as_of) if as_of else None, pl.String).alias("as_of"),
    )


def _needs(ds: Dataset, *tables: str) -> bool:
    return all(ds.has(t) for t in tables)


def _lead_groups(ds: Dataset, groups: list[str]) -> bool:
    return set(groups) <= set(ds.schema("leads").names())


def _team_level(groups: list[str]) -> bool:
    return groups in ([], ["team"])
