"""Pipeline charts: open pipeline by stage, funnel, stage conversion, waterfall, coverage."""

from __future__ import annotations

import altair as alt
import polars as pl

from pipeline_kit.charts._base import (
    grouped,
    interval_points,
    no_data,
    plain,
    reference_rule,
    with_currency,
)
from pipeline_kit.charts.theme import INK, MUTED, PALETTE
from pipeline_kit.i18n import N_

__all__ = [
    "funnel",
    "pipeline_by_stage",
    "pipeline_coverage_chart",
    "stage_conversion_chart",
    "waterfall",
]


def pipeline_by_stage(
    frame: pl.DataFrame,
    *,
    title: str = "Open pipeline by stage",
    weighted: bool = True,
    currency: str = "USD",
) -> alt.TopLevelMixin:
    """Open value per stage (pipeline order), weighted value inside it, labelled with the count.

    ``frame``: :func:`pipeline_kit.open_pipeline` (several groups are summed).
    """
    if frame.height == 0 or frame["open_deals"].sum() == 0:
        return no_data(title, N_("No open deals at this date"))
    data = plain(
        frame.group_by("stage", "stage_order")
        .agg(pl.col("open_deals").sum(), pl.col("open_value").sum(), pl.col("weighted_value").sum())
        .sort("stage_order")
    ).with_columns(
        pl.when(pl.col("open_deals") == 1)
        .then(pl.lit("1 deal"))
        .otherwise(pl.format("{} deals", grouped(pl.col("open_deals"))))
        .alias("label")
    )
    as_of = frame["as_of"][0] if "as_of" in frame.columns else None
    approx = bool(frame["approximate"].any()) if "approximate" in frame.columns else False
    sub = f"as of {as_of}" + (" · stage history approximate" if approx else "")
    has_weight = weighted and frame["weighted_value"].is_not_null().any()
    if has_weight:
        sub += " · dark: weighted by stage probability"
    money = "$,.3~s"
    base = alt.Chart(data).encode(
        y=alt.Y("stage:N", sort=data["stage"].to_list(), title=None),  # stage order
        tooltip=[
            alt.Tooltip("stage:N", title="Stage"),
            alt.Tooltip("open_deals:Q", title="Open deals"),
            alt.Tooltip("open_value:Q", title="Value", format="$,.0f"),
            alt.Tooltip("weighted_value:Q", title="Weighted", format="$,.0f"),
        ],
    )
    layers = [
        base.mark_bar(color=PALETTE[5] if has_weight else PALETTE[0]).encode(
            x=alt.X("open_value:Q", title="Open value", axis=alt.Axis(format=money))
        )
    ]
    if has_weight:
        layers.append(
            base.mark_bar(color=PALETTE[0], height=10).encode(x=alt.X("weighted_value:Q"))
        )
    layers.append(
        base.mark_text(align="left", dx=4).encode(x=alt.X("open_value:Q"), text=alt.Text("label:N"))
    )
    chart = alt.layer(*layers).properties(title=alt.Title(title, subtitle=sub), width=480)
    return with_currency(chart, currency)


def funnel(
    frame: pl.DataFrame, *, title: str = "Funnel: deals entering each stage"
) -> alt.TopLevelMixin:
    """Deals entering each stage (bars) with the conversion to the next (labels).

    ``frame``: :func:`pipeline_kit.stage_conversion` (several groups are summed).
    """
    if frame.height == 0 or frame["entered"].sum() == 0:
        return no_data(title, N_("No deal entered a stage in this period"))
    data = plain(
        frame.group_by("stage", "stage_order")
        .agg(pl.col("entered", "advanced", "dropped", "pending").sum())
        .sort("stage_order")
        .with_columns(
            pl.when(pl.col("advanced") + pl.col("dropped") > 0)
            .then(pl.col("advanced") / (pl.col("advanced") + pl.col("dropped")))
            .alias("conversion")
        )
        .with_columns(
            pl.format(
                "{} · {} advance",
                pl.col("entered"),
                (pl.col("conversion") * 100).round(0).cast(pl.Int64).cast(pl.String) + "%",
            ).alias("label")
        )
    )
    base = alt.Chart(data).encode(
        y=alt.Y("stage:N", sort=data["stage"].to_list(), title=None),  # stage order
        tooltip=[
            alt.Tooltip("stage:N"),
            alt.Tooltip("entered:Q"),
            alt.Tooltip("advanced:Q"),
            alt.Tooltip("dropped:Q"),
            alt.Tooltip("pending:Q"),
            alt.Tooltip("conversion:Q", format=".1%"),
        ],
    )
    bars = base.mark_bar(color=PALETTE[0]).encode(  # (whole deals: no 0.2 ticks)
        x=alt.X("entered:Q", title="Deals entering", axis=alt.Axis(tickMinStep=1, format="d"))
    )
    text = base.mark_text(align="left", dx=4).encode(x=alt.X("entered:Q"), text=alt.Text("label:N"))
    return alt.layer(bars, text).properties(
        title=alt.Title(
            title,
            subtitle="Cohort of deals that first entered each stage in the "
            "period; % of decided deals that advanced",
        ),
        width=480,
    )


def stage_conversion_chart(
    frame: pl.DataFrame, *, title: str = "Stage conversion with 95% interval"
) -> alt.TopLevelMixin:
    """Conversion per stage (dot, Wilson interval); incomplete cohorts in grey.

    ``frame``: :func:`pipeline_kit.stage_conversion` for one group (or none).
    """
    data = frame.filter(pl.col("n") > 0).sort("stage_order")
    if data.height == 0:
        return no_data(title, N_("No decided deals in these cohorts"))
    data = plain(data).with_columns(
        pl.when(pl.col("incomplete"))
        .then(pl.lit("incomplete cohort"))
        .otherwise(pl.lit("complete"))
        .alias("cohort"),
        (1 - pl.col("conversion")).alias("drop_off_value"),
    )
    colour = alt.Color(
        "cohort:N",
        scale=alt.Scale(domain=["complete", "incomplete cohort"], range=[PALETTE[0], MUTED]),
        legend=alt.Legend(title=None),
    )
    chart = interval_points(
        data,
        y=alt.Y("stage:N", sort=data["stage"].to_list(), title=None),  # stage order
        x="conversion",
        low="ci_low",
        high="ci_high",
        x_title="Advanced to a later stage",
        x_format="%",
        color=colour,
        domain=[0, 1],
        tooltip=[
            "stage:N",
            alt.Tooltip("conversion:Q", format=".1%"),
            alt.Tooltip("drop_off:Q", title="Drop-off", format=".1%"),
            "advanced:Q",
            "dropped:Q",
            "pending:Q",
        ],
    )
    return chart.properties(
        title=alt.Title(
            title,
            subtitle="Pending deals counted like decided deals as long in the stage; grey: "
            "cohort still too young",
        ),
        width=480,
    )


def waterfall(
    frame: pl.DataFrame, *, title: str = "Pipeline waterfall", currency: str = "USD"
) -> alt.TopLevelMixin:
    """Start + created - won - lost = end, as floating bars.

    ``frame``: :func:`pipeline_kit.pipeline_waterfall` for one group (or none).
    """
    if (
        frame.height == 0
        or frame.select(pl.sum_horizontal("start_deals", "created_deals", "end_deals")).item(0, 0)
        == 0
    ):
        return no_data(title, N_("No open, created or closed deals in this period"))
    row = frame.row(0, named=True)
    if any(row[b] is None for b in ("start", "created", "won", "lost", "end")):
        # (a step whose deals all lack an amount has no value: the bars cannot add up)
        return no_data(title, N_("A step holds only deals without an amount: no waterfall"))
    steps = [
        ("Start", 0.0, row["start"], "level"),
        ("+ Created", row["start"], row["start"] + row["created"], "created"),
        ("- Won", row["start"] + row["created"] - row["won"], row["start"] + row["created"], "won"),
        ("- Lost", row["end"], row["end"] + row["lost"], "lost"),
        ("End", 0.0, row["end"], "level"),
    ]
    data = pl.DataFrame(
        [
            {"step": s, "low": lo, "high": hi, "kind": k, "order": i, "value": hi - lo}
            for i, (s, lo, hi, k) in enumerate(steps)
        ]
    )
    colour = alt.Color(
        "kind:N",
        # one colour per concept across the report: open pipeline ink, created blue, won
        # green, lost vermillion
        scale=alt.Scale(
            domain=["level", "created", "won", "lost"],
            range=[INK, PALETTE[0], PALETTE[2], PALETTE[3]],
        ),
        legend=None,
    )
    bars = (
        alt.Chart(data)
        .mark_bar(size=34)
        .encode(
            x=alt.X(
                "step:N",
                sort=alt.EncodingSortField("order"),
                title=None,
                axis=alt.Axis(labelAngle=0),
            ),
            y=alt.Y("low:Q", title="Open pipeline value", axis=alt.Axis(format="$,.3~s")),
            y2=alt.Y2("high:Q"),
            color=colour,
            tooltip=[alt.Tooltip("step:N"), alt.Tooltip("value:Q", format="$,.0f")],
        )
    )
    values = (
        alt.Chart(data)
        .mark_text(dy=-7, fontSize=11, color=INK)
        .encode(
            x=alt.X("step:N", sort=alt.EncodingSortField("order")),
            y=alt.Y("high:Q"),
            text=alt.Text("value:Q", format="$,.3~s"),
        )
    )
    chart = alt.layer(bars, values).properties(
        title=alt.Title(
            title, subtitle="Start and end are open pipeline; the steps add up exactly"
        ),
        width=420,
        height=260,
    )
    return with_currency(chart, currency)


def pipeline_coverage_chart(
    frame: pl.DataFrame,
    group: str = "team",
    *,
    title: str = "Pipeline coverage of next period's target",
) -> alt.TopLevelMixin:
    """Coverage per group (bar) with the 1x line; weighted coverage as a tick.

    ``frame``: :func:`pipeline_kit.pipeline_coverage` by ``group``.
    """
    data = frame.filter(pl.col("coverage").is_not_null())
    if data.height == 0:
        return no_data(title, N_("No target for the next period"))
    data = plain(data)
    base = alt.Chart(data).encode(
        y=alt.Y(f"{group}:N", title=None),
        tooltip=[
            alt.Tooltip(f"{group}:N"),
            alt.Tooltip("coverage:Q", format=".2f"),
            alt.Tooltip("weighted_coverage:Q", format=".2f"),
            alt.Tooltip("due_deals:Q"),
            alt.Tooltip("due_value:Q", format=",.0f"),
            alt.Tooltip("target:Q", format=",.0f"),
        ],
    )
    bars = base.mark_bar(color=PALETTE[5]).encode(
        x=alt.X("coverage:Q", title="Open value due next period / target")
    )
    ticks = base.mark_tick(color=PALETTE[0], thickness=3, size=18).encode(
        x=alt.X("weighted_coverage:Q")
    )
    sub = f"Next period {data['next_period'][0]} · tick: weighted by stage probability"
    return alt.layer(bars, ticks, reference_rule(1.0, "1x target")).properties(
        title=alt.Title(title, subtitle=sub), width=480
    )
