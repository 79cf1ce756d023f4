"""Charts over time: pipeline against target, seasonality by month, control charts."""

from __future__ import annotations

import altair as alt
import polars as pl

from pipeline_kit.charts._base import no_data, plain, reference_rule
from pipeline_kit.charts.theme import MUTED, PALETTE
from pipeline_kit.i18n import N_

__all__ = ["control_chart", "pipeline_vs_target_chart", "seasonality_chart"]


def pipeline_vs_target_chart(
    frame: pl.DataFrame, *, title: str = "Pipeline at each quarter's start against its target"
) -> alt.TopLevelMixin:
    """Coverage at each quarter's start (bar), the part due that quarter (tick), attainment (dot).

    ``frame``: :func:`pipeline_kit.pipeline_vs_target` for one group (or without groups). All
    three are multiples of the quarter's target, against the 1x line.
    """
    data = frame.filter(pl.col("target").is_not_null() & (pl.col("target") > 0))
    if data.height == 0:
        return no_data(title, N_("No quarter with a target"))
    data = plain(data)
    x = alt.X("period:O", title=None, sort=None, axis=alt.Axis(labelAngle=0))
    tooltip = [
        alt.Tooltip("period:N", title="Quarter"),
        alt.Tooltip("open_value:Q", title="Open at start", format=",.0f"),
        alt.Tooltip("due_value:Q", title="Of which due in the quarter", format=",.0f"),
        alt.Tooltip("target:Q", title="Target", format=",.0f"),
        alt.Tooltip("bookings:Q", title="Booked", format=",.0f"),
        alt.Tooltip("coverage:Q", title="Coverage", format=".2f"),
        alt.Tooltip("attainment:Q", title="Attainment", format=".0%"),
    ]
    base = alt.Chart(data).encode(x=x, tooltip=tooltip)
    bars = base.mark_bar(color=PALETTE[5], opacity=0.8).encode(
        y=alt.Y("coverage:Q", title="Multiple of the quarter's target")
    )
    due = base.mark_tick(color=PALETTE[0], thickness=3, size=24).encode(y=alt.Y("due_coverage:Q"))
    booked = base.mark_point(filled=True, size=70, color=PALETTE[3]).encode(y=alt.Y("attainment:Q"))
    return alt.layer(bars, due, booked, reference_rule(1.0, "1x target", axis="y")).properties(
        title=alt.Title(
            title,
            subtitle="Bar: open pipeline at the start · tick: the part due that quarter · "
            "dot: booked (attainment)",
        ),
        width=520,
        height=240,
    )


def seasonality_chart(
    frame: pl.DataFrame, *, what: str = "created", title: str = "Deals per calendar month"
) -> alt.TopLevelMixin:
    """Deals ``what`` (created or won) per calendar month: the monthly mean and its interval.

    ``frame``: :func:`pipeline_kit.seasonality` for one group (or without groups); the dashed
    line is the average month.
    """
    if what not in ("created", "won"):
        raise ValueError(f"what must be 'created' or 'won', not {what!r}")
    data = frame.filter(pl.col(f"{what}_per_month").is_not_null())
    if data.height == 0 or data[what].sum() == 0:
        empty = {
            "created": N_("No deals created in the window"),
            "won": N_("No deals won in the window"),
        }
        return no_data(title, empty[what])
    average = float(data[what].sum()) / float(data["months"].sum())
    data = plain(data)
    per_month = {"created": N_("Deals created per month"), "won": N_("Deals won per month")}[what]
    x = alt.X("month_name:O", title=None, sort=None, axis=alt.Axis(labelAngle=0))
    tooltip = [
        alt.Tooltip("month_name:N", title="Month"),
        alt.Tooltip(f"{what}_per_month:Q", title=per_month, format=",.1f"),
        alt.Tooltip(f"{what}_ci_low:Q", title="95% CI low", format=",.1f"),
        alt.Tooltip(f"{what}_ci_high:Q", title="95% CI high", format=",.1f"),
        alt.Tooltip("months:Q", title="Years seen"),
        alt.Tooltip(f"{what}_index:Q", title="Against an average month", format=".2f"),
    ]
    base = alt.Chart(data).encode(x=x, tooltip=tooltip)
    rule = base.mark_rule(strokeWidth=2, color=MUTED).encode(
        y=alt.Y(f"{what}_ci_low:Q", title=per_month),
        y2=alt.Y2(f"{what}_ci_high:Q"),
    )
    dot = base.mark_point(filled=True, size=70, color=PALETTE[0]).encode(
        y=alt.Y(f"{what}_per_month:Q")
    )
    window = data["window"][0]
    return alt.layer(rule, dot, reference_rule(average, "average month", axis="y")).properties(
        title=alt.Title(title, subtitle=f"Months {window} · bar: 95% interval"),
        width=520,
        height=220,
    )


def control_chart(
    frame: pl.DataFrame, *, title: str = "Stage conversion against its control limits"
) -> alt.TopLevelMixin:
    """Conversion per stage this quarter (dot) inside its p-chart limits (bar), centre tick.

    ``frame``: :func:`pipeline_kit.stage_conversion_control` for one group (or none). Dots
    outside the limits are coloured.
    """
    data = frame.filter(pl.col("lcl").is_not_null())
    if data.height == 0:
        return no_data(title, N_("No stage with a baseline from past quarters"))
    data = plain(data)
    y = alt.Y("stage:N", title=None, sort=alt.EncodingSortField("stage_order"))
    tooltip = [
        alt.Tooltip("stage:N", title="Stage"),
        alt.Tooltip("conversion:Q", title="This quarter", format=".1%"),
        alt.Tooltip("n:Q", title="Decided deals"),
        alt.Tooltip("centre:Q", title="Past quarters", format=".1%"),
        alt.Tooltip("between_sd:Q", title="Quarter-to-quarter swing (sd)", format=".1%"),
        alt.Tooltip("lcl:Q", title="Lower limit", format=".1%"),
        alt.Tooltip("ucl:Q", title="Upper limit", format=".1%"),
        alt.Tooltip("signal:N", title="Signal"),
    ]
    base = alt.Chart(data).encode(y=y, tooltip=tooltip)
    limits = base.mark_bar(color=MUTED, opacity=0.35, height=14).encode(
        x=alt.X("lcl:Q", title="Conversion", axis=alt.Axis(format="%")), x2=alt.X2("ucl:Q")
    )
    centre = base.mark_tick(color=MUTED, thickness=2, size=18).encode(x=alt.X("centre:Q"))
    colour = alt.Color(
        "signal:N",
        scale=alt.Scale(
            domain=["within", "above", "below"], range=[PALETTE[0], PALETTE[2], PALETTE[3]]
        ),
        legend=alt.Legend(title=None),
    )
    dot = base.mark_point(filled=True, size=80).encode(x=alt.X("conversion:Q"), color=colour)
    return alt.layer(limits, centre, dot).properties(
        title=alt.Title(
            title,
            subtitle="Grey bar: 3-sigma limits from the past quarters, read at the same age, "
            "their quarter-to-quarter swing included · tick: their pooled conversion",
        ),
        width=480,
    )
