"""Collateral: how often each piece of content is used, and the win rate of its deals.

The win rate of deals that used a piece of content is compared with deals that reached the
same stage without it.

Content used late in a deal (a pricing sheet in negotiation) is only ever seen by deals that
got far, which win more anyway. Comparing users with *all* closed deals makes such content
look magical; comparing them with the deals that reached the stage where it is typically
used does not. Both comparisons are returned, side by side. Called
``collateral_win_rates(ds, period, *, by=None, as_of=None)``; its output frame is described by
:class:`CollateralWinRatesOutput`.
"""

from __future__ import annotations

import datetime as dt

import dataframely as dy
import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import (
    By,
    basis_column,
    check_by,
    count_column,
    flag_column,
    flow_period,
    group_columns,
    resolve_as_of,
    share_column,
    time_basis,
)
from pipeline_kit.metrics._long import _long, _needs
from pipeline_kit.metrics.cards import CLOSED_IN, MetricCard, declare
from pipeline_kit.periods import Period
from pipeline_kit.stats import MIN_N, newcombe_difference, wilson_interval

__all__ = ["collateral_win_rates", "unused_content"]


class CollateralWinRatesOutput(dy.Schema):
    """:func:`collateral_win_rates`: the ``by`` columns, then these (one row per content).

    ``ci_low``/``ci_high`` is the interval of ``difference``.
    """

    content_id = dy.String(nullable=False)
    title = dy.String(nullable=True)
    uses = count_column()
    deals_using = count_column()
    stage_order = dy.Int64(nullable=False)
    users_n = count_column()
    users_won = count_column()
    peers_n = count_column()
    peers_won = count_column()
    users_win_rate = share_column()
    users_win_rate_ci_low = share_column()
    users_win_rate_ci_high = share_column()
    peers_win_rate = share_column()
    peers_win_rate_ci_low = share_column()
    peers_win_rate_ci_high = share_column()
    naive_win_rate_without = share_column()
    difference = dy.Float64(nullable=True, min=-1, max=1)
    ci_low = dy.Float64(nullable=True, min=-1, max=1)
    ci_high = dy.Float64(nullable=True, min=-1, max=1)
    enough_data = flag_column()
    time_basis = basis_column("period")


@time_basis("period")
def collateral_win_rates(
    ds: Dataset,
    period: str | Period,
    *,
    by: By = None,
    as_of: str | dt.date | None = None,
    confidence: float = 0.95,
    min_n: int = MIN_N,
    content_stage: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per content: usage, and win rates of users vs comparable non-users (deals closed in period).

    A content's *stage* is the median pipeline order of the stage deals were in when they used
    it. Comparable deals: won or lost in the period and having entered that stage (or a later
    one) at some point. Columns: content_id, title, uses, deals_using, stage_order, users_n,
    users_won, users_win_rate (+ _ci_low/_ci_high), peers_n, peers_won, peers_win_rate (+
    _ci_low/_ci_high), naive_win_rate_without (all other closed deals), difference (users -
    peers) with ci_low/ci_high (Newcombe's hybrid score interval), enough_data (both groups
    >= min_n).

    ``content_stage``: :func:`content_stages` of ``ds`` when the caller has it (it reads every
    deal's uses, whichever deals are counted: the team reports of a dataset share it).
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    check_by(ds, "deals", groups, CollateralWinRatesOutput)
    order = ds.lazy("stages").select("stage", "order", "is_won", "is_lost")
    history = ds.lazy("stage_history").join(order, on="stage", how="inner")
    usage = ds.lazy("collateral_usage")
    stages = content_stages(ds) if content_stage is None else content_stage.lazy()
    closed = (
        ds.lazy("deals")
        .filter(pl.col("status").is_in(["won", "lost"]) & period.contains("closed_at"))
        .select("deal_id", *groups, pl.col("status").eq("won").alias("won"))
    )
    reached = (
        history.filter(~pl.col("is_won") & ~pl.col("is_lost"))
        .group_by("deal_id")
        .agg(pl.col("order").max().alias("max_order"))
    )
    closed = closed.join(reached, on="deal_id", how="left")
    users = usage.select("content_id", "deal_id").unique()
    titles = usage.group_by("content_id").agg(
        pl.col("title").drop_nulls().first(),
        pl.len().cast(pl.Int64).alias("uses"),
        pl.col("deal_id").n_unique().cast(pl.Int64).alias("deals_using"),
    )
    pairs = (
        stages.join(closed, how="cross")
        .join(
            users.with_columns(pl.lit(True).alias("used")), on=["content_id", "deal_id"], how="left"
        )
        .with_columns(pl.col("used").fill_null(False))
    )
    peer = ~pl.col("used") & (pl.col("max_order") >= pl.col("stage_order"))
    stats_ = pairs.group_by(*groups, "content_id", "stage_order").agg(
        pl.col("used").sum().cast(pl.Int64).alias("users_n"),
        (pl.col("used") & pl.col("won")).sum().cast(pl.Int64).alias("users_won"),
        peer.sum().cast(pl.Int64).alias("peers_n"),
        (peer & pl.col("won")).sum().cast(pl.Int64).alias("peers_won"),
        (~pl.col("used")).sum().cast(pl.Int64).alias("_others_n"),
        (~pl.col("used") & pl.col("won")).sum().cast(pl.Int64).alias("_others_won"),
    )
    columns = []
    for group in ("users", "peers"):
        low, high = wilson_interval(f"{group}_won", f"{group}_n", confidence)
        columns += [
            pl.when(pl.col(f"{group}_n") > 0)
            .then(pl.col(f"{group}_won") / pl.col(f"{group}_n"))
            .alias(f"{group}_win_rate"),
            low.alias(f"{group}_win_rate_ci_low"),
            high.alias(f"{group}_win_rate_ci_high"),
        ]
    return (
        stats_.join(titles, on="content_id", how="left")
        .with_columns(*columns)
        .with_columns(
            pl.when(pl.col("_others_n") > 0)
            .then(pl.col("_others_won") / pl.col("_others_n"))
            .alias("naive_win_rate_without"),
            (pl.col("users_win_rate") - pl.col("peers_win_rate")).alias("difference"),
            *[
                bound.alias(name)
                for bound, name in zip(
                    newcombe_difference(
                        "users_win_rate",
                        "users_win_rate_ci_low",
                        "users_win_rate_ci_high",
                        "peers_win_rate",
                        "peers_win_rate_ci_low",
                        "peers_win_rate_ci_high",
                    ),
                    ("ci_low", "ci_high"),
                    strict=True,
                )
            ],
            ((pl.col("users_n") >= min_n) & (pl.col("peers_n") >= min_n)).alias("enough_data"),
        )
        .drop("_others_n", "_others_won")
        .select(
            *groups,
            "content_id",
            "title",
            "uses",
            "deals_using",
            pl.exclude(*groups, "content_id", "title", "uses", "deals_using"),
        )
        .sort(*groups, "content_id")
        .collect()
    )


def content_stages(ds: Dataset) -> pl.LazyFrame:
    """Per content: ``stage_order``, the median pipeline order of the stage of its uses.

    A use's stage is the last open stage its deal entered on or before the day of use; every
    deal's uses count, whichever deals :func:`collateral_win_rates` compares.
    """
    order = ds.lazy("stages").select("stage", "order", "is_won", "is_lost")
    history = ds.lazy("stage_history").join(order, on="stage", how="inner")
    used_in = (
        ds.lazy("collateral_usage")
        .join(history.filter(~pl.col("is_won") & ~pl.col("is_lost")), on="deal_id")
        .filter(pl.col("entered_at") <= pl.col("used_at"))
        .sort("entered_at", "order")
        .group_by("content_id", "deal_id", "used_at")
        .agg(pl.col("order").last())
    )
    return used_in.group_by("content_id").agg(
        pl.col("order").median().round(0).cast(pl.Int64).alias("stage_order")
    )


# ----------------------------------------------------------------------------- catalogue


def _collateral(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    if not _needs(ds, "collateral_usage"):
        return []
    f = collateral_win_rates(ds, period, by=groups or None)
    return [
        _long(
            f,
            groups,
            "collateral_win_rate_lift",
            "difference",
            "users_n",
            True,
            detail="content_id",
        )
    ]


declare(
    MetricCard(
        "collateral_win_rate_lift",
        "Collateral: win rate of users minus same-stage peers",
        "win rate of closed deals that used the content - win rate of closed deals that "
        "reached the content's usual stage without it",
        "period",
        "won and lost " + CLOSED_IN + "; detail = the content id",
        "Newcombe's hybrid score interval for the difference of the two win rates, 95%",
        "difference",
        (
            "Comparing users with all deals credits late-stage content with the wins that "
            "reaching a late stage brings anyway.",
        ),
        "pipeline_kit.collateral_win_rates",
        reading="How much more often deals that used the content were won than "
        "peers that reached the same stage. An association, not proof the content caused it.",
    ),
    function=collateral_win_rates,
    output=CollateralWinRatesOutput,
    long=_collateral,
)


# ----------------------------------------------------------------------------- unused content


class UnusedContentOutput(dy.Schema):
    """:func:`unused_content`: the ``by`` columns, then these (one row per piece of content)."""

    content_id = dy.String(nullable=False)
    title = dy.String(nullable=True)
    uses = count_column()
    deals_using = count_column()
    last_used = dy.Date(nullable=False)
    days_since_used = count_column()
    unused = flag_column()
    as_of = dy.Date(nullable=False)
    time_basis = basis_column("snapshot")


def _months_before(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    for last in (day.day, 30, 29, 28):  # the same day of the month, or the month's last
        try:
            return dt.date(year, month + 1, last)
        except ValueError:
            continue
    raise AssertionError("unreachable")


@time_basis("snapshot")
def unused_content(
    ds: Dataset,
    as_of: str | dt.date | None = None,
    *,
    by: By = None,
    months: int = 6,
) -> pl.DataFrame:
    """Content not used in any deal for ``months`` months before ``as_of``.

    Per piece of content used by ``as_of`` (``collateral_usage``; with ``by``, uses in the
    group's deals): ``uses``, ``deals_using``, ``last_used``, ``days_since_used = as_of -
    last_used`` and ``unused`` = last used on or before the same day ``months`` calendar
    months earlier. Content never used at all is not in the usage table and cannot be listed.
    Sorted by the ``by`` columns, then the unused first, the longest unused first. Columns:
    :class:`UnusedContentOutput`.
    """
    day = resolve_as_of(ds, as_of, None)
    groups = group_columns(by)
    check_by(ds, "deals", groups, UnusedContentOutput)
    cutoff = _months_before(day, months)
    usage = ds.lazy("collateral_usage").filter(pl.col("used_at") <= day)
    if groups:
        usage = usage.join(ds.lazy("deals").select("deal_id", *groups), on="deal_id", how="inner")
    return (
        usage.group_by(*groups, "content_id")
        .agg(
            pl.col("title").drop_nulls().first(),
            pl.len().cast(pl.Int64).alias("uses"),
            pl.col("deal_id").n_unique().cast(pl.Int64).alias("deals_using"),
            pl.col("used_at").max().alias("last_used"),
        )
        .with_columns(
            (pl.lit(day) - pl.col("last_used"))
            .dt.total_days()
            .cast(pl.Int64)
            .alias("days_since_used"),
            (pl.col("last_used") <= cutoff).alias("unused"),
            pl.lit(day).alias("as_of"),
        )
        .sort(
            [*groups, "unused", "days_since_used", "content_id"],
            descending=[False] * len(groups) + [True, True, False],
        )
        .select(*groups, *[c for c in UnusedContentOutput.column_names() if c != "time_basis"])
        .collect()
    )


def _unused(
    ds: Dataset, period: Period, as_of: str | dt.date | None, groups: list[str]
) -> list[pl.DataFrame]:
    if not _needs(ds, "collateral_usage") or period.is_all:
        return []
    day = resolve_as_of(ds, as_of, period)
    f = unused_content(ds, day, by=groups)
    aggs = [
        pl.col("unused").sum().cast(pl.Int64).alias("unused"),
        pl.len().cast(pl.Int64).alias("pieces"),
    ]
    counts = f.group_by(groups).agg(aggs).sort(groups) if groups else f.select(aggs)
    return [_long(counts, groups, "content_unused", "unused", "pieces", False, as_of=day)]


declare(
    MetricCard(
        "content_unused",
        "Content unused for six months",
        "count of content pieces whose last use in a deal is on or before as_of minus 6 months",
        "snapshot at as_of (default: the period's last day); n = pieces used at least once by then",
        "every use in collateral_usage on or before as_of (with by: uses in the group's deals)",
        "none (a count)",
        "count",
        (
            "Content that was never used is not in the usage table, so it cannot be counted "
            "here: compare with the content library.",
        ),
        "pipeline_kit.unused_content",
        reading="Pieces nobody reaches for any more: retire or refresh them. A piece unused "
        "in one team but used elsewhere may be missing from that team's onboarding.",
    ),
    function=unused_content,
    output=UnusedContentOutput,
    long=_unused,
)
