"""Forest plot: a team's figures against their benchmarks, with intervals."""

from __future__ import annotations

import altair as alt
import polars as pl

from pipeline_kit.charts._base import no_data, plain
from pipeline_kit.charts.theme import INK, MUTED, PALETTE, SLATE
from pipeline_kit.i18n import N_
from pipeline_kit.metrics.cards import metric_titles

__all__ = ["forest_plot"]

_LABEL = {
    "external": "vs benchmark",
    "rest_of_org": "vs rest of organisation",
    "trailing": "vs own past quarters",
}


def forest_plot(frame: pl.DataFrame, *, title: str = "Against the benchmarks") -> alt.TopLevelMixin:
    """Each comparison as (estimate - benchmark) / benchmark with its interval.

    The interval is on the same scale, so metrics in different units share one axis; colour
    says the verdict.

    ``frame``: :func:`pipeline_kit.compare` rows for one group.
    """
    data = frame.filter(
        pl.col("benchmark").is_not_null()
        & (pl.col("benchmark") != 0)
        & pl.col("estimate").is_not_null()
    )
    if data.height == 0:
        return no_data(title, N_("Nothing to compare"))
    data = (
        plain(data)
        .with_columns(
            ((pl.col("estimate") - pl.col("benchmark")) / pl.col("benchmark")).alias("rel"),
            ((pl.col("ci_low") - pl.col("benchmark")) / pl.col("benchmark")).alias("rel_ci_low"),
            ((pl.col("ci_high") - pl.col("benchmark")) / pl.col("benchmark")).alias("rel_ci_high"),
            pl.concat_str(
                pl.col("metric").replace_strict(
                    metric_titles(data["metric"].unique().to_list()),
                    default=pl.col("metric").str.replace_all("_", " "),
                ),
                pl.lit(" · "),
                pl.col("kind").replace_strict(_LABEL, default=pl.col("kind")),
            ).alias("row"),
        )
        .with_columns(pl.col("rel_ci_high").fill_null(pl.col("rel") + 1.0))
    )
    # the verdict's colours are its own: green and vermillion mean won and lost elsewhere in
    # the report; the legend lists only the verdicts the chart shows
    verdicts = {
        "above": PALETTE[4],
        "below": PALETTE[1],
        "no clear difference": SLATE,
        "not enough data": MUTED,
    }
    shown = [v for v in verdicts if v in set(data["direction"].to_list())]
    colour = alt.Color(
        "direction:N",
        scale=alt.Scale(domain=shown, range=[verdicts[v] for v in shown]),
        legend=alt.Legend(title=None),
    )
    y = alt.Y("row:N", title=None, sort=None, axis=alt.Axis(labelLimit=0))  # never cut
    base = alt.Chart(data).encode(
        y=y,
        tooltip=[
            alt.Tooltip("row:N"),
            alt.Tooltip("verdict:N"),
            alt.Tooltip("q_value:Q", format=".3f"),
        ],
    )
    rule = base.mark_rule(strokeWidth=2).encode(
        x=alt.X(
            "rel_ci_low:Q",
            title="Difference from the benchmark (relative)",
            axis=alt.Axis(format="+%"),
        ),
        x2=alt.X2("rel_ci_high:Q"),
        color=colour,
    )
    dot = base.mark_point(filled=True, size=70).encode(x=alt.X("rel:Q"), color=colour)
    zero = alt.Chart(alt.Data(values=[{"x": 0}])).mark_rule(color=INK).encode(x=alt.X("x:Q"))
    return alt.layer(zero, rule, dot).properties(
        title=alt.Title(title, subtitle="0 = equal to the benchmark; bars: 95% intervals"),
        width=480,
    )
