"""Charts of the forecast: the distribution against the target, the backtest, PIT, reliability."""

from __future__ import annotations

import altair as alt
import polars as pl

from pipeline_kit.charts._base import PERCENT, no_data, plain, with_currency
from pipeline_kit.charts.theme import INK, MUTED, PALETTE
from pipeline_kit.i18n import N_

__all__ = ["backtest_chart", "forecast_chart", "pit_histogram", "reliability_diagram"]

CHECKPOINT_ORDER = ["start", "month 1", "month 2", "month 3"]


def forecast_chart(
    summary: pl.DataFrame,
    group: str | None = None,
    *,
    title: str = "Bookings forecast",
    currency: str = "USD",
) -> alt.TopLevelMixin:
    """The forecast of each group: won so far (bar), P10-P90 (line), P50 (dot), target (tick).

    ``summary``: :attr:`pipeline_kit.forecasting.BookingsForecast.summary` (``by=group``).
    """
    if summary.height == 0:
        return no_data(title, N_("Nothing to forecast"))
    data = plain(summary)
    if group is None:
        group = "who"
        data = data.with_columns(pl.lit("all").alias(group))
    money = alt.Axis(format="$,.3~s")
    y = alt.Y(f"{group}:N", title=None)
    tips = [
        alt.Tooltip(f"{group}:N"),
        alt.Tooltip("won_to_date:Q", title="won so far", format="$,.0f"),
        alt.Tooltip("p10:Q", title="P10", format="$,.0f"),
        alt.Tooltip("p50:Q", title="P50", format="$,.0f"),
        alt.Tooltip("p90:Q", title="P90", format="$,.0f"),
        alt.Tooltip("target:Q", format="$,.0f"),
        alt.Tooltip("p_reach_target:Q", title="chance of target", format=".0%"),
    ]
    base = alt.Chart(data).encode(y=y, tooltip=tips)
    won = base.mark_bar(color=MUTED, opacity=0.5, height=14).encode(
        x=alt.X("won_to_date:Q", title="Bookings in the period", axis=money)
    )
    band = base.mark_rule(strokeWidth=4, color=PALETTE[0]).encode(
        x=alt.X("p10:Q"), x2=alt.X2("p90:Q")
    )
    mid = base.mark_point(filled=True, size=90, color=PALETTE[0]).encode(x=alt.X("p50:Q"))
    target = (
        alt.Chart(data.filter(pl.col("target").is_not_null()))
        .mark_tick(color=INK, thickness=3, size=24)
        .encode(y=y, x=alt.X("target:Q"), tooltip=tips)
    )
    chart = alt.layer(won, band, mid, target).properties(
        title=alt.Title(
            title,
            subtitle="Grey bar: won so far. Blue line: 80% of outcomes (P10-P90), dot: P50. "
            "Black tick: target",
        ),
        width=480,
    )
    return with_currency(chart, currency)


def backtest_chart(
    forecasts: pl.DataFrame,
    *,
    method: str = "model",
    title: str = "Past forecasts against what happened",
    currency: str = "USD",
) -> alt.TopLevelMixin:
    """Past forecasts' P10-P90 and P50 per period and checkpoint, and the actual bookings.

    ``forecasts``: :attr:`Backtest.forecasts` without groups (or filtered to one group); the
    actual is a black diamond.
    """
    rows = forecasts.filter((pl.col("method") == method) & pl.col("p10").is_not_null())
    if rows.height == 0:
        return no_data(title, N_("No scored forecast"))
    data = plain(rows.select("period", "checkpoint", "p10", "p50", "p90", "actual"))
    money = alt.Axis(format="$,.3~s")
    checkpoints = [c for c in CHECKPOINT_ORDER if c in set(data["checkpoint"])] + sorted(
        set(data["checkpoint"]) - set(CHECKPOINT_ORDER)
    )
    colour = alt.Color(
        "checkpoint:N",
        scale=alt.Scale(domain=checkpoints, range=PALETTE[: len(checkpoints)]),
        legend=alt.Legend(title="forecast made at"),
    )
    x = alt.X("period:N", title=None)
    offset = alt.XOffset("checkpoint:N", sort=checkpoints)
    tips = [
        alt.Tooltip("period:N"),
        alt.Tooltip("checkpoint:N"),
        *[
            alt.Tooltip(f"{c}:Q", title=c.upper() if c != "actual" else c, format="$,.0f")
            for c in ("p10", "p50", "p90", "actual")
        ],
    ]
    base = alt.Chart(data).encode(x=x, xOffset=offset, tooltip=tips)
    band = base.mark_rule(strokeWidth=3).encode(
        y=alt.Y("p10:Q", title="Bookings", axis=money, scale=alt.Scale(zero=False)),
        y2=alt.Y2("p90:Q"),
        color=colour,
    )
    mid = base.mark_tick(thickness=2, size=10).encode(y=alt.Y("p50:Q"), color=colour)
    actual = (
        alt.Chart(data.unique("period", maintain_order=True))
        .mark_point(shape="diamond", filled=True, size=80, color=INK)
        .encode(x=x, y=alt.Y("actual:Q"), tooltip=tips)
    )
    chart = alt.layer(band, mid, actual).properties(
        title=alt.Title(
            title,
            subtitle="Lines: P10-P90 of each forecast, tick: P50. Black diamond: what was booked",
        ),
        width=520,
        height=260,
    )
    return with_currency(chart, currency)


def pit_histogram(
    frame: pl.DataFrame, *, title: str = "Where the outcomes fell"
) -> alt.TopLevelMixin:
    """Histogram of PIT values (share of forecast draws at or below the actual).

    Flat when the forecasts are calibrated, U-shaped when too narrow, humped when too wide,
    sloped when biased. ``frame``: :meth:`Backtest.pit_histogram`.
    """
    if frame.height == 0 or frame["forecasts"].sum() == 0:
        return no_data(title, N_("No scored forecast"))
    data = plain(frame)
    expected = float(frame["forecasts"].sum()) / frame.height
    bars = (
        alt.Chart(data)
        .mark_bar(color=PALETTE[0])
        .encode(
            x=alt.X(
                "bin_low:Q",
                bin="binned",
                title="PIT (share of draws below the actual)",
                axis=alt.Axis(format=".1f"),
            ),
            x2=alt.X2("bin_high:Q"),
            y=alt.Y("forecasts:Q", title="Forecasts"),
            tooltip=[
                alt.Tooltip("bin_low:Q", format=".1f"),
                alt.Tooltip("bin_high:Q", format=".1f"),
                alt.Tooltip("forecasts:Q"),
            ],
        )
    )
    flat = (
        alt.Chart(alt.Data(values=[{"expected": expected}]))
        .mark_rule(strokeDash=[4, 3], color=INK)
        .encode(y=alt.Y("expected:Q"), tooltip=[alt.Tooltip("expected:Q", format=".1f")])
    )
    return alt.layer(bars, flat).properties(
        title=alt.Title(title, subtitle="Dashed line: what a calibrated forecast gives on average"),
        width=420,
        height=200,
    )


def reliability_diagram(
    frame: pl.DataFrame, *, title: str = "Do the probabilities come true?"
) -> alt.TopLevelMixin:
    """Observed share of wins (95% interval) against the mean predicted probability per bin.

    One colour per source; points on the diagonal are calibrated.
    ``frame``: :attr:`pipeline_kit.forecasting.Calibration.reliability`.
    """
    if frame.height == 0:
        return no_data(title, N_("No predictions with known outcomes"))
    data = plain(frame)
    sources = sorted(set(data["source"]))
    colour = alt.Color(
        "source:N",
        scale=alt.Scale(domain=sources, range=[PALETTE[3], PALETTE[0]][: len(sources)]),
        legend=alt.Legend(title=None),
    )
    share = alt.Scale(domain=[0, 1])
    tips = [
        alt.Tooltip("source:N"),
        alt.Tooltip("mean_predicted:Q", title="predicted", format=".0%"),
        alt.Tooltip("observed:Q", format=".0%"),
        alt.Tooltip("ci_low:Q", format=".0%"),
        alt.Tooltip("ci_high:Q", format=".0%"),
        alt.Tooltip("predictions:Q"),
    ]
    diagonal = (
        alt.Chart(alt.Data(values=[{"p": 0.0}, {"p": 1.0}]))
        .mark_line(strokeDash=[4, 3], color=MUTED)
        .encode(x=alt.X("p:Q"), y=alt.Y("p:Q"))
    )
    base = alt.Chart(data).encode(
        x=alt.X("mean_predicted:Q", title="Predicted probability", axis=PERCENT, scale=share),
        color=colour,
        tooltip=tips,
    )
    rules = base.mark_rule(strokeWidth=2).encode(
        y=alt.Y("ci_low:Q", title="Share that was won", axis=PERCENT, scale=share),
        y2=alt.Y2("ci_high:Q"),
    )
    dots = base.mark_point(filled=True).encode(
        y=alt.Y("observed:Q"), size=alt.Size("predictions:Q", legend=None)
    )
    return alt.layer(diagonal, rules, dots).properties(
        title=alt.Title(
            title,
            subtitle="On the dashed diagonal, predictions come true as often "
            "as they say; lines: 95% intervals",
        ),
        width=360,
        height=360,
    )
