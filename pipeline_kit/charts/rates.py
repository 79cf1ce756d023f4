"""Rate charts: win rate by group, trend, rep funnel plot, win/loss, collateral, churn."""

from __future__ import annotations

from typing import cast

import altair as alt
import polars as pl

from pipeline_kit.charts._base import (
    KIND_SCALE,
    grouped,
    interval_points,
    kind_scale,
    no_data,
    plain,
    reference_rule,
)
from pipeline_kit.charts.theme import MUTED, PALETTE
from pipeline_kit.i18n import N_

__all__ = [
    "churn_chart",
    "collateral_chart",
    "competitor_chart",
    "lost_reasons_chart",
    "rep_funnel_plot",
    "trend_chart",
    "win_rate_by_group",
]


def win_rate_by_group(
    frame: pl.DataFrame,
    group: str,
    *,
    benchmark: float | None = None,
    benchmark_label: str = "benchmark",
    highlight: str | None = None,
    title: str = "Win rate with 95% interval",
) -> alt.TopLevelMixin:
    """Win rate per group as a dot with its Wilson interval, and a benchmark rule.

    ``frame``: :func:`pipeline_kit.win_rate` by ``group``. Groups without enough data are
    grey; ``highlight`` colours one group (and a legend then names it "this team"; without
    one there is no legend).
    """
    data = frame.filter(pl.col("n") > 0)
    if data.height == 0:
        return no_data(title, N_("No closed deals in this period"))
    data = plain(data).with_columns(
        pl.col(group).cast(pl.String),
        pl.when(~pl.col("enough_data"))
        .then(pl.lit("not enough data"))
        .when(pl.col(group).cast(pl.String) == (highlight or ""))
        .then(pl.lit("this team"))
        .otherwise(pl.lit("other"))
        .alias("kind"),
        pl.format("n = {}", grouped(pl.col("n"))).alias("n_label"),
    )
    y = alt.Y(f"{group}:N", title=None, sort=alt.EncodingSortField("win_rate", order="descending"))
    tooltip = [
        alt.Tooltip(f"{group}:N"),
        alt.Tooltip("win_rate:Q", title="Win rate", format=".1%"),
        alt.Tooltip("ci_low:Q", title="95% CI low", format=".1%"),
        alt.Tooltip("ci_high:Q", title="95% CI high", format=".1%"),
        alt.Tooltip("won:Q", title="Won"),
        alt.Tooltip("n:Q", title="Closed deals"),
    ]
    # a legend only to tell the highlighted group from the others (the subtitle says grey)
    legend = alt.Legend(title=None, offset=56) if highlight is not None else None
    colour = alt.Color("kind:N", scale=kind_scale(data["kind"]), legend=legend)
    layers = [
        interval_points(
            data,
            y=y,
            x="win_rate",
            low="ci_low",
            high="ci_high",
            x_title="Win rate",
            x_format="%",
            color=colour,
            tooltip=tooltip,
            domain=[0, 1],
        )
    ]
    layers.append(  # n in a column right of the axis: no reference line crosses it
        alt.Chart(data)
        .mark_text(align="left", baseline="middle", dx=8, fontSize=10, color=MUTED)
        .encode(y=y, x=alt.XDatum(1), text=alt.Text("n_label:N"))
    )
    if benchmark is not None:
        layers.append(reference_rule(benchmark, benchmark_label))
    return alt.layer(*layers).properties(
        title=alt.Title(
            title,
            subtitle="Closed deals in the period; grey = fewer than the minimum n for a verdict",
        ),
        width=480,
    )


def trend_chart(
    frame: pl.DataFrame,
    *,
    group: str | None = None,
    title: str = "Quarterly trend",
    value_format: str = "%",
) -> alt.TopLevelMixin:
    """A metric quarter by quarter: line with its 95% interval as a band.

    ``frame``: :func:`pipeline_kit.quarterly_trend` (optionally by ``group``).
    """
    data = frame.filter(pl.col("estimate").is_not_null())
    if data.height == 0:
        return no_data(title)
    data = plain(data)
    groups = data[group].n_unique() if group else 1
    panels = groups > 3  # more groups overlap into a tangle of bands: a small panel each
    legend = None if panels else alt.Legend(title=None)  # panels carry the group's name
    colour = {"color": alt.Color(f"{group}:N", legend=legend)} if group else {}
    x = alt.X("period:O", title=None, sort=None, axis=alt.Axis(labelAngle=-45 if panels else 0))
    band = (
        alt.Chart(data)
        .mark_area(opacity=0.18)
        .encode(
            x=x,
            y=alt.Y("ci_low:Q", title=None, axis=alt.Axis(format=value_format)),
            y2=alt.Y2("ci_high:Q"),
            **colour,
        )
    )
    line = (
        alt.Chart(data)
        .mark_line(point=True)
        .encode(
            x=x,
            y=alt.Y("estimate:Q"),
            **colour,
            tooltip=[
                alt.Tooltip("period:N"),
                *([alt.Tooltip(f"{group}:N")] if group else []),
                alt.Tooltip(
                    "estimate:Q",
                    format=".1%" if value_format == "%" else ",.1f",
                ),
                alt.Tooltip("n:Q"),
            ],
        )
    )
    layered = alt.layer(band, line)
    if not panels:
        return layered.properties(
            title=alt.Title(title, subtitle="Band: 95% interval"), width=520, height=240
        )
    return (  # one small panel per group, same scales
        layered.properties(width=180, height=130)
        .facet(facet=alt.Facet(f"{group}:N", title=None), columns=3)
        .properties(title=alt.Title(title, subtitle="Band: 95% interval"))
    )


_FUNNEL_COLOURS = {"within limits": PALETTE[0], "above": PALETTE[2], "below": PALETTE[3]}


def rep_funnel_plot(
    reps: pl.DataFrame,
    limits: pl.DataFrame | None = None,
    *,
    title: str = "Reps: win rate against deals closed",
) -> alt.TopLevelMixin:
    """Funnel plot: each rep's win rate against their closed deals.

    With the control limits a rep winning at the organisation's rate would stay within.

    ``reps``: :func:`pipeline_kit.rep_win_rates`; ``limits``:
    :func:`pipeline_kit.comparisons.funnel_limits_curve` (computed from ``reps`` when omitted).
    """
    if reps.height == 0:
        return no_data(title, N_("No rep closed a deal in this period"))
    if limits is None:
        from pipeline_kit.comparisons import funnel_limits_curve

        limits = funnel_limits_curve(reps["org_rate"][0], cast(int, reps["n"].max()))
    data = plain(reps).with_columns(
        pl.when(pl.col("flag") == "")
        .then(pl.lit("within limits"))
        .otherwise(pl.col("flag"))
        .alias("status")
    )
    lim = limits.unpivot(index="n", variable_name="limit", value_name="rate").with_columns(
        pl.col("limit").str.contains("998").alias("outer")
    )
    lines = (
        alt.Chart(lim)
        .mark_line(interpolate="step-after", strokeDash=[3, 3])
        .encode(
            x=alt.X("n:Q", title="Closed deals", scale=alt.Scale(type="log")),
            y=alt.Y(
                "rate:Q",
                title="Win rate",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            detail=alt.Detail("limit:N"),
            color=alt.Color(
                "outer:N",
                scale=alt.Scale(domain=[False, True], range=[MUTED, "#52606D"]),
                legend=None,
            ),
        )
    )
    org = reps["org_rate"][0]
    points = (
        alt.Chart(data)
        .mark_point(filled=True, size=60)
        .encode(
            x=alt.X("n:Q"),
            y=alt.Y("rate:Q"),
            color=alt.Color(
                "status:N",
                scale=alt.Scale(  # (the legend lists only what the chart draws)
                    domain=[s for s in _FUNNEL_COLOURS if s in set(data["status"])],
                    range=[c for s, c in _FUNNEL_COLOURS.items() if s in set(data["status"])],
                ),
                legend=alt.Legend(title=None),
            ),
            tooltip=[
                alt.Tooltip(f"{reps.columns[0]}:N", title="Rep"),
                alt.Tooltip("n:Q"),
                alt.Tooltip("rate:Q", format=".1%"),
                alt.Tooltip("ci_low:Q", title="95% CI low", format=".1%"),
                alt.Tooltip("ci_high:Q", title="95% CI high", format=".1%"),
                alt.Tooltip("shrunk:Q", title="Shrunk rate", format=".1%"),
                alt.Tooltip("q_value:Q", format=".3f"),
            ],
        )
    )
    return (
        alt.layer(lines, points, reference_rule(org, "organisation", axis="y"))
        .resolve_scale(color="independent")
        .properties(
            title=alt.Title(
                title,
                subtitle="Dashed: 95% and 99.8% limits at the organisation's "
                "rate; reps inside them are not distinguishable from it",
            ),
            width=480,
            height=300,
        )
    )


def lost_reasons_chart(
    frame: pl.DataFrame, *, title: str = "Why deals were lost"
) -> alt.TopLevelMixin:
    """Share of lost deals per reason with its interval.

    ``frame``: :func:`pipeline_kit.lost_reasons`.
    """
    if frame.height == 0:
        return no_data(title, N_("No lost deals in this period"))
    data = plain(frame)
    return interval_points(
        data,
        y=alt.Y(
            "lost_reason:N", sort=alt.EncodingSortField("share", order="descending"), title=None
        ),
        x="share",
        low="ci_low",
        high="ci_high",
        x_title="Share of lost deals",
        x_format="%",
        color=PALETTE[3],
        tooltip=[
            "lost_reason:N",
            "lost:Q",
            alt.Tooltip("share:Q", format=".1%"),
            alt.Tooltip("lost_value:Q", format=",.0f"),
        ],
    ).properties(
        title=alt.Title(title, subtitle="Lost deals of the period, 95% intervals"), width=480
    )


def competitor_chart(
    frame: pl.DataFrame, *, title: str = "Win rate by competitor"
) -> alt.TopLevelMixin:
    """Win rate when each competitor was in the deal.

    ``frame``: :func:`pipeline_kit.competitor_win_rates`.
    """
    if frame.height == 0:
        return no_data(title, N_("No closed deals in this period"))
    data = plain(frame).with_columns(
        pl.when(pl.col("enough_data"))
        .then(pl.lit("other"))
        .otherwise(pl.lit("not enough data"))
        .alias("kind")
    )
    return interval_points(
        data,
        y=alt.Y("competitor:N", title=None),
        x="win_rate",
        low="ci_low",
        high="ci_high",
        x_title="Win rate",
        x_format="%",
        domain=[0, 1],
        color=alt.Color("kind:N", scale=KIND_SCALE, legend=None),
        tooltip=["competitor:N", "won:Q", "lost:Q", alt.Tooltip("win_rate:Q", format=".1%")],
    ).properties(
        title=alt.Title(title, subtitle="Closed deals of the period, 95% intervals"), width=480
    )


def collateral_chart(
    frame: pl.DataFrame, *, title: str = "Collateral: users vs same-stage peers"
) -> alt.TopLevelMixin:
    """Win rate of deals that used each content vs deals that did not.

    Against the deals that reached the same stage without it, and (hollow) against all other
    deals. ``frame``: :func:`pipeline_kit.collateral_win_rates`.
    """
    if frame.height == 0 or frame["users_n"].sum() == 0:
        return no_data(title, N_("No content used in deals closed in this period"))
    data = plain(frame).with_columns(pl.coalesce("title", "content_id").alias("content"))
    long = pl.concat(
        [
            data.select(
                "content",
                pl.lit("used it").alias("who"),
                pl.col("users_win_rate").alias("rate"),
                pl.col("users_win_rate_ci_low").alias("low"),
                pl.col("users_win_rate_ci_high").alias("high"),
                pl.col("users_n").alias("n"),
            ),
            data.select(
                "content",
                pl.lit("same-stage peers").alias("who"),
                pl.col("peers_win_rate").alias("rate"),
                pl.col("peers_win_rate_ci_low").alias("low"),
                pl.col("peers_win_rate_ci_high").alias("high"),
                pl.col("peers_n").alias("n"),
            ),
        ]
    )
    colour = alt.Color(
        "who:N",
        scale=alt.Scale(domain=["used it", "same-stage peers"], range=[PALETTE[0], PALETTE[1]]),
        legend=alt.Legend(title=None),
    )
    y = alt.Y("content:N", title=None)
    main = interval_points(
        long,
        y=y,
        x="rate",
        low="low",
        high="high",
        x_title="Win rate",
        x_format="%",
        color=colour,
        domain=[0, 1],
        tooltip=["content:N", "who:N", alt.Tooltip("rate:Q", format=".1%"), "n:Q"],
        y_offset=alt.YOffset("who:N", sort=["used it", "same-stage peers"]),
    )
    naive = (
        alt.Chart(data)
        .mark_point(shape="diamond", size=60, color=MUTED, filled=False)
        .encode(
            y=y,
            x=alt.X("naive_win_rate_without:Q"),
            tooltip=[
                alt.Tooltip("naive_win_rate_without:Q", title="All other deals", format=".1%")
            ],
        )
    )
    return alt.layer(main, naive).properties(
        title=alt.Title(
            title,
            subtitle="Grey diamond: win rate of all other deals, the naive (misleading) comparison",
        ),
        width=480,
    )


def churn_chart(
    frame: pl.DataFrame, group: str = "team", *, title: str = "Customer churn in the period"
) -> alt.TopLevelMixin:
    """Churn rate per group with its Wilson interval.

    ``frame``: :func:`pipeline_kit.churn` by ``group``.
    """
    data = frame.filter(pl.col("n") > 0)
    if data.height == 0:
        return no_data(title, N_("No active customers at the period start"))
    data = plain(data)
    return interval_points(
        data,
        y=alt.Y(f"{group}:N", title=None),
        x="churn_rate",
        low="ci_low",
        high="ci_high",
        x_title="Customers lost / active at start",
        x_format="%",
        color=PALETTE[3],
        tooltip=[
            f"{group}:N",
            "active_at_start:Q",
            "churned:Q",
            alt.Tooltip("churn_rate:Q", format=".1%"),
            alt.Tooltip("mrr_churn_rate:Q", title="MRR churn", format=".1%"),
        ],
    ).properties(title=alt.Title(title, subtitle="95% intervals"), width=480)
