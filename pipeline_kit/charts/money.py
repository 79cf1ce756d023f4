"""Money charts: deal-size distribution, revenue against target."""

from __future__ import annotations

import altair as alt
import polars as pl

from pipeline_kit.charts._base import no_data, plain, with_currency
from pipeline_kit.charts.theme import INK, PALETTE
from pipeline_kit.i18n import N_

__all__ = ["deal_size_chart", "revenue_vs_target"]


def deal_size_chart(
    frame: pl.DataFrame,
    group: str | None = None,
    *,
    title: str = "Won deal sizes",
    currency: str = "USD",
) -> alt.TopLevelMixin:
    """Distribution of won amounts in log-spaced bins (share of each group's won deals).

    ``frame``: :func:`pipeline_kit.deal_size_distribution` (optionally by ``group``).
    """
    if frame.height == 0:
        return no_data(title, N_("No won deals in this period"))
    data = plain(frame).with_columns(
        pl.format(
            "{}–{}",
            ((pl.col("bin_low") / 100).round(0) * 100).cast(pl.Int64),
            ((pl.col("bin_high") / 100).round(0) * 100).cast(pl.Int64),
        ).alias("range")
    )
    data = data.with_columns((pl.col("bin_low") * pl.col("bin_high")).sqrt().alias("mid"))
    x_axis = alt.Axis(format="$,.2~s")
    y = alt.Y("share:Q", title="Share of won deals", axis=alt.Axis(format="%"), stack=None)
    tooltip = [
        *([alt.Tooltip(f"{group}:N")] if group else []),
        alt.Tooltip("range:N"),
        alt.Tooltip("won_deals:Q"),
        alt.Tooltip("share:Q", format=".1%"),
    ]
    if group:  # one line per group: overlapping bars would hide each other
        chart = (
            alt.Chart(data)
            .mark_line(point=True, interpolate="monotone")
            .encode(
                x=alt.X(
                    "mid:Q",
                    title="Deal amount (log scale)",
                    scale=alt.Scale(type="log"),
                    axis=x_axis,
                ),
                y=y,
                color=alt.Color(f"{group}:N", legend=alt.Legend(title=None)),
                tooltip=tooltip,
            )
        )
    else:
        chart = (
            alt.Chart(data)
            .mark_bar(color=PALETTE[0])
            .encode(
                x=alt.X(
                    "bin_low:Q",
                    title="Deal amount (log scale)",
                    scale=alt.Scale(type="log"),
                    axis=x_axis,
                ),
                x2=alt.X2("bin_high:Q"),
                y=y,
                y2=alt.datum(0),
                tooltip=tooltip,
            )
        )
    chart = chart.properties(
        title=alt.Title(title, subtitle="Bins grow geometrically: the spread of amounts is wide"),
        width=520,
        height=240,
    )
    return with_currency(chart, currency)


def revenue_vs_target(
    frame: pl.DataFrame,
    group: str = "team",
    *,
    title: str = "Bookings against target",
    currency: str = "USD",
) -> alt.TopLevelMixin:
    """Bookings per group (stacked by deal type) with the target as a tick.

    ``frame``: :func:`pipeline_kit.bookings_vs_target` by ``group``.
    """
    if frame.height == 0:
        return no_data(title, N_("No bookings in this period"))
    parts = ["bookings_new", "bookings_expansion", "bookings_renewal", "bookings_other"]
    data = plain(frame)
    long = data.unpivot(
        on=parts, index=[group], variable_name="type", value_name="amount"
    ).with_columns(
        pl.col("type").str.strip_prefix("bookings_"),
        pl.col("type").replace_strict(parts, range(len(parts))).alias("stack_order"),
    )
    bars = (
        alt.Chart(long)
        .mark_bar()
        .encode(
            y=alt.Y(f"{group}:N", title=None),
            x=alt.X("amount:Q", title="Bookings", axis=alt.Axis(format="$,.3~s")),
            color=alt.Color(
                "type:N",
                scale=alt.Scale(
                    domain=["new", "expansion", "renewal", "other"],
                    range=[PALETTE[0], PALETTE[5], PALETTE[2], "#9AA0A6"],
                ),
                legend=alt.Legend(title=None),
            ),
            order=alt.Order("stack_order:Q"),  # new, expansion, renewal, other: as the legend
            tooltip=[
                alt.Tooltip(f"{group}:N"),
                alt.Tooltip("type:N"),
                alt.Tooltip("amount:Q", format="$,.0f"),
            ],
        )
    )
    ticks = (
        alt.Chart(data.filter(pl.col("target").is_not_null()))
        .mark_tick(color=INK, thickness=3, size=22)
        .encode(
            y=alt.Y(f"{group}:N"),
            x=alt.X("target:Q"),
            tooltip=[
                alt.Tooltip(f"{group}:N"),
                alt.Tooltip("target:Q", format="$,.0f"),
                alt.Tooltip("attainment:Q", format=".0%"),
            ],
        )
    )
    chart = alt.layer(bars, ticks).properties(
        title=alt.Title(title, subtitle="Black tick: target"), width=480
    )
    return with_currency(chart, currency)
