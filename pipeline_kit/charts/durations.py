"""Duration charts: Kaplan-Meier curves and lead response times."""

from __future__ import annotations

import altair as alt
import polars as pl

from pipeline_kit.charts._base import interval_points, no_data, plain, reference_rule
from pipeline_kit.charts.theme import PALETTE
from pipeline_kit.i18n import N_

__all__ = ["km_curves", "lead_response_chart"]


def km_curves(
    frame: pl.DataFrame,
    group: str | None = None,
    *,
    title: str = "Share of deals still open",
) -> alt.TopLevelMixin:
    """Kaplan-Meier curves (steps) with their 95% bands; the median is where a curve crosses 50%.

    ``frame``: :func:`pipeline_kit.cycle_length_curve` (optionally by ``group``).
    """
    if frame.height == 0:
        return no_data(title, N_("No deal has closed yet in this cohort"))
    data = plain(frame)
    colour = {"color": alt.Color(f"{group}:N", legend=alt.Legend(title=None))} if group else {}
    x = alt.X("days:Q", title="Days since the deal was created")
    band = (
        alt.Chart(data)
        .mark_area(opacity=0.15, interpolate="step-after")
        .encode(
            x=x,
            y=alt.Y(
                "low:Q",
                title="Still open",
                axis=alt.Axis(format="%"),
                scale=alt.Scale(domain=[0, 1]),
            ),
            y2=alt.Y2("high:Q"),
            **colour,
        )
    )
    line = (
        alt.Chart(data)
        .mark_line(interpolate="step-after")
        .encode(
            x=x,
            y=alt.Y("still_open:Q"),
            **colour,
            tooltip=[
                *([alt.Tooltip(f"{group}:N")] if group else []),
                alt.Tooltip("days:Q"),
                alt.Tooltip("still_open:Q", format=".1%"),
                alt.Tooltip("at_risk:Q"),
            ],
        )
    )
    return alt.layer(band, line, reference_rule(0.5, "median", axis="y")).properties(
        title=alt.Title(title, subtitle="Kaplan-Meier, open deals censored; band: 95% interval"),
        width=520,
        height=280,
    )


def lead_response_chart(
    frame: pl.DataFrame,
    group: str,
    *,
    benchmark: float | None = None,
    title: str = "Lead response time (median hours)",
) -> alt.TopLevelMixin:
    """Median hours to first contact per group (never-contacted leads censored), with intervals.

    ``frame``: :func:`pipeline_kit.lead_response_time` by ``group``.
    """
    data = frame.filter(pl.col("median_hours").is_not_null())
    if data.height == 0:
        return no_data(title, N_("No median yet: fewer than half the leads were contacted"))
    data = plain(data).with_columns(pl.col("ci_high").fill_null(pl.col("median_hours") * 2))
    chart = interval_points(
        data,
        y=alt.Y(f"{group}:N", sort=alt.EncodingSortField("median_hours"), title=None),
        x="median_hours",
        low="ci_low",
        high="ci_high",
        x_title="Hours to first contact",
        color=PALETTE[0],
        tooltip=[
            f"{group}:N",
            alt.Tooltip("median_hours:Q", format=".1f"),
            "n:Q",
            "never_contacted:Q",
            alt.Tooltip("within:Q", title="Within 1 h", format=".0%"),
        ],
    )
    layers = [chart] + (
        [reference_rule(benchmark, f"benchmark {benchmark:g} h")] if benchmark else []
    )
    return alt.layer(*layers).properties(
        title=alt.Title(
            title, subtitle="Kaplan-Meier median; leads never contacted count as waiting"
        ),
        width=480,
    )
