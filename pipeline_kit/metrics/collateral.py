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
    share_column,
    time_basis,
)
from pipeline_kit.metrics._long import _long, _needs
from pipeline_kit.metrics.cards import CLOSED_IN, MetricCard, declare
from pipeline_kit.periods import Period
from pipeline_kit.stats import MIN_N, newcombe_difference, wilson_interval

__all__ = ["collateral_win_rates"]


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
) -> pl.DataFrame:
    """Per content: usage, and win rates of users vs comparable non-users (deals closed in period).

    A content's *stage* is the median pipeline order of the stage deals were in when they used
    it. Comparable deals: won or lost in the period and having entered that stage (or a later
    one) at some point. Columns: content_id, title, uses, deals_using, stage_order, users_n,
    users_won, users_win_rate (+ _ci_low/_ci_high), peers_n, peers_won, peers_win_rate (+
    _ci_low/_ci_high), naive_win_rate_without (all other closed deals), difference (users -
    peers) with ci_low/ci_high (Newcombe's hybrid score interval), enough_data (both groups
    >= min_n).
    """
    period = flow_period(ds, period, as_of)
    groups = group_columns(by)
    check_by(ds, "deals", groups)
    order = ds.lazy("stages").select("stage", "order", "is_won", "is_lost")
    history = ds.lazy("stage_history").join(order, on="stage", how="inner")
    usage = ds.lazy("collateral_usage")
    # stage each use happened in: the last stage entered on or before the day of use
    used_in = (
        usage.join(history.filter(~pl.col("is_won") & ~pl.col("is_lost")), on="deal_id")
        .filter(pl.col("entered_at") <= pl.col("used_at"))
        .sort("entered_at", "order")
        .group_by("content_id", "deal_id", "used_at")
        .agg(pl.col("order").last())
    )
    content_stage = used_in.group_by("content_id").agg(
        pl.col("order").median().round(0).cast(pl.Int64).alias("stage_order")
    )
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
        content_stage.join(closed, how="cross")
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
