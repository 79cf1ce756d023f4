"""Shared pieces of the chart builders: the "no data" chart, plain data, interval layers."""

from __future__ import annotations

from typing import Any

import altair as alt
import polars as pl

from pipeline_kit.charts.theme import INK, MUTED, PALETTE

__all__ = [
    "KIND_SCALE",
    "PERCENT",
    "interval_points",
    "no_data",
    "plain",
    "reference_rule",
    "subtitle",
]

PERCENT = alt.Axis(format="%")
KIND_SCALE = alt.Scale(
    domain=["this team", "other", "not enough data"], range=[PALETTE[3], PALETTE[0], MUTED]
)


def plain(frame: pl.DataFrame) -> pl.DataFrame:
    """Dates as ISO strings and no helper columns, so the embedded data is plain JSON."""
    keep = [c for c in frame.columns if c != "time_basis"]
    return frame.select(keep).with_columns(pl.col(pl.Date, pl.Datetime).cast(pl.String))


def no_data(title: str, message: str = "No data for this selection") -> alt.Chart:
    """A small chart carrying a message, used when there is nothing to plot."""
    return (
        alt.Chart(alt.Data(values=[{"message": message}]))
        .mark_text(fontSize=14, color=MUTED)
        .encode(text=alt.Text("message:N"))
        .properties(title=title, width=480, height=80)
    )


def subtitle(title: str, text: str) -> alt.Title:
    return alt.Title(title, subtitle=text)


def interval_points(
    data: pl.DataFrame,
    *,
    y: alt.Y,
    x: str,
    low: str,
    high: str,
    x_title: str,
    x_format: str | None = None,
    color: alt.Color | str = PALETTE[0],
    tooltip: list | None = None,
    domain: list[float] | None = None,
    y_offset: alt.YOffset | None = None,
) -> alt.LayerChart | alt.FacetChart:
    """A dot per row with a horizontal rule for its interval (the kit's standard estimate).

    ``y_offset`` separates several series sharing a row (e.g. ``alt.YOffset("who:N")``), so
    their intervals sit one above the other instead of on top of each other.
    """
    axis = alt.Axis(format=x_format) if x_format else alt.Axis()
    scale = alt.Scale(domain=domain) if domain else alt.Scale(zero=False)
    # channel objects, not "field:Q" strings: Altair converts each string through a schema
    # index it rebuilds every time (a fifth of a report's chart time)
    tips = [alt.Tooltip(t) if isinstance(t, str) else t for t in tooltip or []]
    # keyword arguments spread into encode/mark_*: a channel each, of different types
    offset: dict[str, Any] = {"yOffset": y_offset} if y_offset is not None else {}
    base = alt.Chart(data).encode(y=y, tooltip=tips, **offset)
    colour: dict[str, Any] = {"color": color} if isinstance(color, alt.Color) else {}
    mark_colour: dict[str, Any] = {} if colour else {"color": color}
    rule = base.mark_rule(strokeWidth=2, **mark_colour).encode(
        x=alt.X(f"{low}:Q", title=x_title, axis=axis, scale=scale), x2=alt.X2(f"{high}:Q"), **colour
    )
    dot = base.mark_point(filled=True, size=70, **mark_colour).encode(x=alt.X(f"{x}:Q"), **colour)
    return alt.layer(rule, dot)


def reference_rule(value: float, label: str, *, axis: str = "x") -> alt.LayerChart | alt.FacetChart:
    """A dashed reference line (benchmark, target, organisation rate) with its label."""
    data = alt.Data(values=[{"value": value, "label": label}])
    enc: dict[str, Any] = {"x": alt.X("value:Q")} if axis == "x" else {"y": alt.Y("value:Q")}
    rule = (
        alt.Chart(data)
        .mark_rule(strokeDash=[4, 3], color=INK)
        .encode(**enc, tooltip=[alt.Tooltip("value:Q", format=",.3~f"), alt.Tooltip("label:N")])
    )
    text_pos: dict[str, Any] = (
        {"align": "left", "dx": 4, "y": -6} if axis == "x" else {"align": "left", "x": 4, "dy": -6}
    )
    text = (
        alt.Chart(data)
        .mark_text(color=INK, fontSize=11, **text_pos)
        .encode(**enc, text=alt.Text("label:N"))
    )
    return alt.layer(rule, text)
