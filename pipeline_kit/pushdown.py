"""Prototype: the flow metrics defined once, run by the engine that holds the deals.

The per-group aggregations of :func:`flow_counts` are written with `narwhals
<https://narwhals-dev.github.io/narwhals/>`_ expressions, so the same definition runs on a
polars LazyFrame (in this process) and on a DuckDB relation (inside DuckDB: over a database
file, Parquet files or a table, without moving the deals into Python); any other lazy backend
narwhals supports (PySpark, Ibis, ...) should follow. Only the aggregated frame, one row per
group, comes back as polars; the statistics on it (the Wilson interval) stay local, as
:doc:`docs/scale.md <../docs/scale>` describes.

=================  ===============================================================  ========
column             definition (deals of the period ``[start, end]``)                 where
=================  ===============================================================  ========
``created``        ``#{created_at in period}``                                        engine
``won``            ``#{status = won and closed_at in period}``                        engine
``lost``           ``#{status = lost and closed_at in period}``                       engine
``won_amount``     ``sum(amount)`` of the won deals (bookings; ``won_deal_size``'s    engine
                   ``total``): a won deal without an amount adds nothing
``without_amount`` ``#{won deals of the period whose amount is empty}``               engine
``n``              ``won + lost``                                                     local
``win_rate``       ``won / n`` (null when n = 0)                                      local
``ci_low/high``    Wilson score interval of ``won / n``                               local
=================  ===============================================================  ========

The figures equal :func:`pipeline_kit.deal_flow`, :func:`pipeline_kit.win_rate` and the
``total`` of :func:`pipeline_kit.won_deal_size` on the same valid deals (the tests check it on
the sample). What this path does *not* do is validate: it reads the table as it is, so it is for
deals that are already typed and clean (a warehouse table kept valid upstream, or the valid
deals of a :class:`~pipeline_kit.Dataset`); the quarantine rules of :func:`pipeline_kit.load`
would have to be pushed as SQL predicates too. Needs ``narwhals`` (the ``[engines]`` extra)
and, for DuckDB, ``duckdb`` (the ``[db]`` extra).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from pipeline_kit.periods import Period
from pipeline_kit.stats import wilson_interval

__all__ = ["flow_counts", "flow_metrics"]

COUNTS = ("created", "won", "lost")


def _narwhals() -> Any:
    try:
        import narwhals.stable.v2 as nw
    except ImportError as exc:  # pragma: no cover - narwhals ships with altair
        from pipeline_kit.errors import DataError

        raise DataError(
            problem=f"the pushdown prototype needs narwhals ({exc})",
            fix="pip install 'pipeline_kit[engines]'",
        ) from None
    return nw


def flow_counts(deals: Any, start: dt.date, end: dt.date, by: list[str] | None = None) -> Any:
    """Deals created, won, lost and the won amount per group, as a lazy narwhals frame.

    Parameters
    ----------
    deals
        A lazy frame of typed deals (``created_at``/``closed_at`` dates, ``status`` text,
        ``amount`` numbers): a polars LazyFrame, a DuckDB relation, or a narwhals LazyFrame.
    start, end
        The period's first and last day (both included).
    by
        Group columns; without, one row for all deals.

    Returns
    -------
    narwhals.LazyFrame
        Columns: the ``by`` columns, ``created``, ``won``, ``lost`` (Int64), ``won_amount``
        (Float64) and ``without_amount`` (Int64: won deals whose amount is empty), one row
        per group that has a deal created or closed in the period (sorted), or one row
        without groups. Nothing is computed until it is collected.
    """
    nw = _narwhals()
    frame = nw.from_native(deals)
    groups = list(by or [])
    closed = nw.col("status").is_in(["won", "lost"]) & nw.col("closed_at").is_between(start, end)
    created = nw.col("created_at").is_between(start, end)
    won = closed & (nw.col("status") == "won")
    flags = frame.filter(created | closed).select(
        *[nw.col(g) for g in groups],
        created.cast(nw.Int64).alias("created"),
        won.cast(nw.Int64).alias("won"),
        (closed & (nw.col("status") == "lost")).cast(nw.Int64).alias("lost"),
        nw.when(won).then(nw.col("amount").cast(nw.Float64)).otherwise(0.0).alias("won_amount"),
        (won & nw.col("amount").is_null()).cast(nw.Int64).alias("without_amount"),
    )
    aggs = [
        *(nw.col(c).sum().cast(nw.Int64) for c in COUNTS),
        nw.col("won_amount").sum().cast(nw.Float64),
        nw.col("without_amount").sum().cast(nw.Int64),
    ]
    if groups:
        return flags.group_by(groups).agg(*aggs).sort(groups, nulls_last=True)
    return flags.select(*aggs)


def flow_metrics(
    deals: Any,
    period: str | Period,
    *,
    by: str | list[str] | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Deal flow and win rate (with its Wilson interval) computed where ``deals`` lives.

    ``win_rate = won / (won + lost)`` over deals closed in the period; the interval is the
    Wilson score interval (:func:`pipeline_kit.stats.wilson_interval`). The counts are
    aggregated by the engine (:func:`flow_counts`), the interval computed here on one row per
    group.

    Parameters
    ----------
    deals
        Typed, valid deals as a polars LazyFrame or DataFrame, a DuckDB relation
        (``con.table("deals")``, ``con.read_parquet(...)``) or a narwhals frame.
    period
        A period label (``"2025-Q4"``) or :class:`~pipeline_kit.Period`.
    by
        Group column(s).
    confidence
        Level of the Wilson interval.

    Returns
    -------
    polars.DataFrame
        The groups, ``created``, ``won``, ``lost``, ``won_amount``, ``without_amount``,
        ``n``, ``win_rate``, ``ci_low``, ``ci_high``.

    Examples
    --------
    >>> deals = pl.LazyFrame({
    ...     "status": ["won", "lost", "won", "open"], "amount": [100.0, 50.0, 300.0, 10.0],
    ...     "created_at": [dt.date(2025, 10, 2)] * 4,
    ...     "closed_at": [dt.date(2025, 11, 1)] * 3 + [None]})
    >>> flow_metrics(deals, "2025-Q4").select("created", "won", "n", "won_amount").row(0)
    (4, 2, 3, 400.0)
    """
    span = Period.parse(period)
    groups = [by] if isinstance(by, str) else list(by or [])
    if isinstance(deals, pl.DataFrame):
        deals = deals.lazy()
    counts = flow_counts(deals, span.start, span.end, groups).collect("polars").to_native()
    low, high = wilson_interval("won", "n", confidence)
    return counts.with_columns((pl.col("won") + pl.col("lost")).alias("n")).with_columns(
        pl.when(pl.col("n") > 0).then(pl.col("won") / pl.col("n")).alias("win_rate"),
        low.alias("ci_low"),
        high.alias("ci_high"),
    )
