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
``design_effect``  Kish's design effect of the closed deals in their accounts         both
                   (:func:`pipeline_kit.stats.design_effect`): the engine sums ``m``,
                   ``m²``, ``k``, ``k²/m`` over per-account counts (:func:`account_sums`),
                   the formula runs here; null without ``account_id``
``ci_low/high``    Wilson score interval of ``won / n`` on ``n / design_effect``      local
                   deals, never narrower than the plain one (as ``win_rate``'s)
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
from pipeline_kit.stats import clustered_wilson_interval, design_effect_of_sums

__all__ = ["account_sums", "flow_counts", "flow_metrics"]

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


def account_sums(deals: Any, start: dt.date, end: dt.date, by: list[str] | None = None) -> Any:
    """The sums behind the win rate's design effect per group, as a lazy narwhals frame.

    Over the deals closed (won or lost) in the period, counted per group and account (``m``
    deals, ``k`` won; a deal without an ``account_id`` is its own account of 1), the engine
    sums per group ``_accounts`` (K), ``_m2`` (Σ m²), ``_k2m`` (Σ k² / m) and ``_known`` (the
    deals with an account id); with ``won`` and ``n`` from :func:`flow_counts` they give
    :func:`pipeline_kit.stats.design_effect_of_sums`. Both aggregations run in the engine:
    only one row per group comes back. ``deals`` must have an ``account_id`` column.
    """
    nw = _narwhals()
    frame = nw.from_native(deals)
    groups = list(by or [])
    closed = nw.col("status").is_in(["won", "lost"]) & nw.col("closed_at").is_between(start, end)
    per_account = (
        frame.filter(closed)
        .select(
            *[nw.col(g) for g in groups],
            nw.col("account_id"),
            (nw.col("status") == "won").cast(nw.Int64).alias("_k"),
            nw.lit(1).cast(nw.Int64).alias("_m"),
        )
        .group_by([*groups, "account_id"])
        .agg(nw.col("_m").sum().cast(nw.Float64), nw.col("_k").sum().cast(nw.Float64))
    )
    # the deals without an account (one row of them per group) are that many accounts of 1
    alone = nw.col("account_id").is_null()
    m, k = nw.col("_m"), nw.col("_k")
    parts = per_account.select(
        *[nw.col(g) for g in groups],
        nw.when(alone).then(m).otherwise(1.0).alias("_accounts"),
        nw.when(alone).then(m).otherwise(m * m).alias("_m2"),
        nw.when(alone).then(k).otherwise(k * k / m).alias("_k2m"),
        nw.when(alone).then(0.0).otherwise(m).alias("_known"),
    )
    aggs = [nw.col(c).sum().cast(nw.Float64) for c in ("_accounts", "_m2", "_k2m", "_known")]
    if groups:
        return parts.group_by(groups).agg(*aggs).sort(groups, nulls_last=True)
    return parts.select(*aggs)


def flow_metrics(
    deals: Any,
    period: str | Period,
    *,
    by: str | list[str] | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Deal flow and win rate (with its Wilson interval) computed where ``deals`` lives.

    ``win_rate = won / (won + lost)`` over deals closed in the period; the interval is
    :func:`pipeline_kit.win_rate`'s: the Wilson score interval on ``n / design_effect``
    deals, never narrower than the plain one
    (:func:`pipeline_kit.stats.clustered_wilson_interval`), with the design effect of the
    closed deals in their accounts (null, and the plain interval, where the deals have no
    ``account_id`` column or none of a group's closed deals has one). The counts and the
    design effect's sums are aggregated by the engine (:func:`flow_counts`,
    :func:`account_sums`), the formulas computed here on one row per group.

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
        ``n``, ``win_rate``, ``ci_low``, ``ci_high``, ``design_effect``.

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
    counts = counts.with_columns((pl.col("won") + pl.col("lost")).alias("n"))
    if "account_id" in _narwhals().from_native(deals).collect_schema().names():
        sums = account_sums(deals, span.start, span.end, groups).collect("polars").to_native()
        counts = (
            counts.join(sums, on=groups, how="left", nulls_equal=True, maintain_order="left")
            if groups
            else counts.join(sums, how="cross")
        )
        n = pl.col("n").cast(pl.Float64)
        effect = design_effect_of_sums(
            n, pl.col("_accounts"), pl.col("_m2"), pl.col("won").cast(pl.Float64), pl.col("_k2m")
        )
        counts = counts.with_columns(
            pl.when(pl.col("_known") > 0).then(effect).alias("design_effect")
        ).drop("_accounts", "_m2", "_k2m", "_known")
    else:
        counts = counts.with_columns(pl.lit(None, pl.Float64).alias("design_effect"))
    low, high = clustered_wilson_interval("won", "n", "design_effect", confidence)
    return counts.with_columns(
        pl.when(pl.col("n") > 0).then(pl.col("won") / pl.col("n")).alias("win_rate"),
        low.alias("ci_low"),
        high.alias("ci_high"),
    ).select(
        *[c for c in counts.columns if c != "design_effect"],
        "win_rate",
        "ci_low",
        "ci_high",
        "design_effect",
    )
