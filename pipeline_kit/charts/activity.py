"""Activity charts: calls against closes per rep."""

from __future__ import annotations

import altair as alt
import polars as pl

from pipeline_kit.charts._base import no_data, plain
from pipeline_kit.charts.theme import PALETTE
from pipeline_kit.i18n import N_

__all__ = ["activities_vs_closes"]


def activities_vs_closes(
    reps: pl.DataFrame,
    *,
    title: str = "Calls against deals won, per rep",
) -> alt.TopLevelMixin:
    """Scatter of calls (x) against won deals (y) per rep.

    Spearman's rho is in the subtitle when the reps shown share one correlation (one team's
    rows, or ``by=None``). ``reps``: :func:`pipeline_kit.calls_vs_closes`, or some of its rows.
    """
    if reps.height == 0:
        return no_data(title, N_("No activities in this period"))
    sub = "Each dot is a rep"
    correlations = (
        reps.select("n", "rho", "p_value").unique().drop_nulls()
        if "rho" in reps.columns
        else pl.DataFrame()
    )
    if correlations.height == 1:
        n, rho, p_value = correlations.row(0)
        sub += f" · Spearman rho = {rho:.2f} (p = {p_value:.3f}, n = {n}); correlation, not cause"
    colour = (
        {"color": alt.Color("team:N", legend=alt.Legend(title=None))}
        if "team" in reps.columns
        else {}
    )
    return (
        alt.Chart(plain(reps))
        .mark_point(filled=True, size=70, color=PALETTE[0])
        .encode(
            x=alt.X("calls:Q", title="Calls logged"),
            y=alt.Y("won_deals:Q", title="Deals won"),
            **colour,
            tooltip=[
                alt.Tooltip("owner:N"),
                *([alt.Tooltip("team:N")] if colour else []),
                alt.Tooltip("calls:Q"),
                alt.Tooltip("won_deals:Q"),
            ],
        )
        .properties(title=alt.Title(title, subtitle=sub), width=420, height=280)
    )
