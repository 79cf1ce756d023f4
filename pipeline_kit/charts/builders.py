"""Chart builders. Each takes the tidy output of a metric (already aggregated, a few rows) and
returns an Altair chart; empty input gives a chart that says "No data" instead of failing."""

from __future__ import annotations

import altair as alt
import polars as pl

from pipeline_kit.charts.theme import INK, MUTED, PALETTE

__all__ = ["no_data", "pipeline_by_stage", "win_rate_by_group"]


def _plain(frame: pl.DataFrame) -> pl.DataFrame:
    """Dates as ISO strings so the spec is plain JSON."""
    return frame.with_columns(pl.col(pl.Date, pl.Datetime).cast(pl.String))


def no_data(title: str, message: str = "No data for this selection") -> alt.Chart:
    """A small chart carrying a message, used when there is nothing to plot."""
    return (
        alt.Chart(alt.Data(values=[{"message": message}]))
        .mark_text(fontSize=14, color=MUTED)
        .encode(text="message:N")
        .properties(title=title, width=480, height=80)
    )


def pipeline_by_stage(
    frame: pl.DataFrame,
    *,
    value: str = "open_value",
    title: str = "Open pipeline by stage",
    currency: str = "$",
) -> alt.Chart | alt.LayerChart:
    """Horizontal bars of open value per stage (pipeline order), labelled with the deal count.

    ``frame`` is :func:`pipeline_kit.open_pipeline` for one group (sum over groups first for
    several). Columns used: stage, stage_order, open_deals, ``value``.
    """
    if frame.height == 0 or frame["open_deals"].sum() == 0:
        return no_data(title, "No open deals at this date")
    data = _plain(
        frame.group_by("stage", "stage_order")
        .agg(pl.col("open_deals").sum(), pl.col(value).sum())
        .sort("stage_order")
    ).with_columns(
        pl.format("{} deals", pl.col("open_deals")).alias("label"),
    )
    as_of = frame["as_of"][0] if "as_of" in frame.columns else None
    approx = bool(frame["approximate"].any()) if "approximate" in frame.columns else False
    subtitle = f"as of {as_of}" + (" · stage history approximate" if approx else "")
    base = alt.Chart(data).encode(
        y=alt.Y("stage:N", sort=alt.EncodingSortField("stage_order"), title=None),
        x=alt.X(f"{value}:Q", title="Open value", axis=alt.Axis(format=f"{currency},.3~s")),
        tooltip=[
            alt.Tooltip("stage:N", title="Stage"),
            alt.Tooltip("open_deals:Q", title="Open deals"),
            alt.Tooltip(f"{value}:Q", title="Value", format=f"{currency},.0f"),
        ],
    )
    bars = base.mark_bar(color=PALETTE[0], cornerRadiusEnd=2)
    labels = base.mark_text(align="left", dx=4).encode(text="label:N")
    return (bars + labels).properties(title=alt.Title(title, subtitle=subtitle), width=480)


def win_rate_by_group(
    frame: pl.DataFrame,
    group: str,
    *,
    benchmark: float | None = None,
    benchmark_label: str = "benchmark",
    highlight: str | None = None,
    title: str = "Win rate with 95% interval",
) -> alt.LayerChart | alt.Chart:
    """Win rate per group as a point with its Wilson interval, and a benchmark rule.

    ``frame`` is :func:`pipeline_kit.win_rate` grouped by ``group``. Groups without enough
    data are drawn in grey and labelled so. ``highlight`` colours one group.
    """
    data = frame.filter(pl.col("n") > 0)
    if data.height == 0:
        return no_data(title, "No closed deals in this period")
    data = _plain(data).with_columns(
        pl.col(group).cast(pl.String),
        pl.when(~pl.col("enough_data"))
        .then(pl.lit("not enough data"))
        .when(pl.col(group).cast(pl.String) == (highlight or ""))
        .then(pl.lit("this team"))
        .otherwise(pl.lit("other"))
        .alias("kind"),
        pl.format("n = {}", pl.col("n")).alias("n_label"),
    )
    colour = alt.Color(
        "kind:N",
        scale=alt.Scale(
            domain=["this team", "other", "not enough data"], range=[PALETTE[3], PALETTE[0], MUTED]
        ),
        legend=alt.Legend(title=None),
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
    base = alt.Chart(data).encode(y=y, tooltip=tooltip)
    bars = base.mark_rule(strokeWidth=2).encode(
        x=alt.X(
            "ci_low:Q", title="Win rate", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])
        ),
        x2="ci_high:Q",
        color=colour,
    )
    points = base.mark_point(filled=True, size=80).encode(x="win_rate:Q", color=colour)
    labels = base.mark_text(align="left", dx=6, dy=-9, fontSize=10, color=MUTED).encode(
        x="win_rate:Q", text="n_label:N"
    )
    layers = [bars, points, labels]
    if benchmark is not None:
        rule_data = alt.Data(values=[{"benchmark": benchmark, "label": benchmark_label}])
        rule = (
            alt.Chart(rule_data)
            .mark_rule(strokeDash=[4, 3], color=INK)
            .encode(x="benchmark:Q", tooltip=[alt.Tooltip("benchmark:Q", format=".1%"), "label:N"])
        )
        text = (
            alt.Chart(rule_data)
            .mark_text(align="left", dx=4, y=-6, color=INK, fontSize=11)
            .encode(x="benchmark:Q", text="label:N")
        )
        layers += [rule, text]
    return alt.layer(*layers).properties(
        title=alt.Title(
            title,
            subtitle="Closed deals in the period; grey = fewer than the minimum n for a verdict",
        ),
        width=480,
    )
