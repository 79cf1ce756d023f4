"""The leadership view across all teams: the same statistics as the team reports, side by side.

Used by ``templates/org_summary.ipynb``; every number and sentence is produced here.
"""

from __future__ import annotations

import datetime as dt

import altair as alt
import polars as pl
from IPython.display import Markdown

from pipeline_kit import charts
from pipeline_kit.comparisons import compare_teams, rep_win_rates
from pipeline_kit.dataset import Dataset
from pipeline_kit.forecasting.sections import ForecastSection
from pipeline_kit.formatting import fmt_money, fmt_pct
from pipeline_kit.metrics import (
    cycle_length_curve,
    open_pipeline,
    pipeline_waterfall,
    quarterly_trend,
    win_rate,
)
from pipeline_kit.periods import Period
from pipeline_kit.report_data import report_period
from pipeline_kit.sections import escape, fail_softly, markdown, md_table
from pipeline_kit.shape import DataShape

__all__ = ["OrgReport"]


@fail_softly
class OrgReport:
    """Sections of the organisation summary for a period (snapshot at ``as_of``)."""

    def __init__(
        self, ds: Dataset, period: str | Period, as_of: str | dt.date | None = None
    ) -> None:
        self.ds = ds
        self.period, self.as_of = report_period(ds, period, as_of)
        self._comparison = compare_teams(ds, self.period)
        self.shape = DataShape.of(ds)

    def header(self) -> Markdown:
        """The title, period, snapshot day, number of teams and data file of the summary."""
        from pipeline_kit import __version__

        when = (
            "**Whole export** (no dates: a win/loss analysis)"
            if self.period.is_all
            else f"Period **{self.period.start} to {self.period.end}** · snapshot as of "
            f"**{self.as_of}**"
        )
        title = "whole export" if self.period.is_all else self.period.label
        return markdown(
            f"# Organisation summary: {title}\n\n"
            f"{when} · {len(self.ds.teams)} teams · data `{self.ds.path.name}` "
            f"(fingerprint `{self.ds.fingerprint}`) · pipeline_kit {__version__}"
        )

    def findings(self) -> Markdown:
        """Every clear difference across teams, strongest evidence first."""
        clear = self._comparison.filter(pl.col("direction").is_in(["above", "below"]))
        clear = clear.sort("q_value")
        thin = self._comparison.filter(pl.col("direction") == "not enough data")
        tested = self._comparison["p_value"].is_not_null().sum()
        lines = [
            f"**{clear.height} clear difference(s)** among the {tested} comparisons with "
            f"enough data to test (Benjamini-Hochberg q < 0.05 over those {tested}; "
            f"{self._comparison.height - tested} more had too few deals):"
        ]
        lines += [f"- {escape(v)}" for v in clear["verdict"]] or ["- none"]
        if thin.height:
            teams = ", ".join(sorted(set(thin["team"])))
            lines.append(f"\nNot enough data for some verdicts in: {escape(teams)}.")
        return markdown("\n".join(lines))

    def team_table(self) -> Markdown:
        """Every team's won / closed deals, win rate with its interval, and open pipeline."""
        wr = win_rate(self.ds, self.period, by="team")
        if self.shape.undated:  # no snapshot on a day: the open deals of the export
            pipe = (
                self.ds.tables["deals"]
                .filter(pl.col("status") == "open")
                .group_by("team")
                .agg(pl.len().alias("open_deals"), pl.col("amount").sum().alias("open_value"))
            )
        else:
            pipe = (
                open_pipeline(self.ds, self.as_of, by="team")
                .group_by("team")
                .agg(pl.col("open_deals", "open_value").sum())
            )
        rows = []
        for r in (
            wr.join(pipe, on="team", how="full", coalesce=True).sort("team").iter_rows(named=True)
        ):
            rate = (
                f"{fmt_pct(r['win_rate'])} ({fmt_pct(r['ci_low'])} to {fmt_pct(r['ci_high'])})"
                if r["n"] and not self.shape.why_no_win_rate()
                else "–"
            )
            rows.append(
                [
                    escape(r["team"]),
                    f"{r['won'] or 0} / {r['n'] or 0}",
                    rate,
                    f"{r['open_deals'] or 0:,}",
                    fmt_money(r["open_value"]),
                ]
            )
        note = (
            f"\n\nNo win rates: {self.shape.why_no_win_rate()}."
            if self.shape.why_no_win_rate()
            else ""
        )
        return markdown(
            md_table(
                ["Team", "Won / closed", "Win rate (95% CI)", "Open deals", "Open value"], rows
            )
            + note
        )

    def win_rate_chart(self) -> alt.TopLevelMixin | Markdown:
        """Every team's win rate in the period, with its interval, as a chart."""
        if self.shape.why_no_win_rate():
            return markdown(f"No win-rate chart: {self.shape.why_no_win_rate()}.")
        return charts.win_rate_by_group(
            win_rate(self.ds, self.period, by="team"),
            "team",
            title=f"Win rate by team, {self.period.label}",
        )

    def trend_chart(self) -> alt.TopLevelMixin | Markdown:
        """Every team's win rate quarter by quarter, up to the period."""
        if self.shape.undated:
            return markdown(f"No trend: {self.shape.why_no_dates('quarter-by-quarter trend')}.")
        if self.shape.why_no_win_rate():
            return markdown(f"No win-rate trend: {self.shape.why_no_win_rate()}.")
        return charts.trend_chart(
            quarterly_trend(self.ds, end=self.period, by="team"),
            group="team",
            title="Win rate by quarter",
        )

    def cycle_chart(self) -> alt.TopLevelMixin | Markdown:
        """Share of each team's deals still open over time (Kaplan-Meier curves)."""
        if self.shape.undated:
            return markdown(f"No cycle curves: {self.shape.why_no_dates('curve over time')}.")
        return charts.km_curves(cycle_length_curve(self.ds, self.period, by="team"), "team")

    def pipeline_chart(self) -> alt.TopLevelMixin | Markdown:
        """The organisation's open pipeline by stage on the snapshot day."""
        if self.shape.why_no_open_pipeline():
            return markdown(f"No pipeline chart: {self.shape.why_no_open_pipeline()}.")
        return charts.pipeline_by_stage(open_pipeline(self.ds, self.as_of))

    def waterfall_chart(self) -> alt.TopLevelMixin | Markdown:
        """How the pipeline moved in the period: start + created - won - lost = end."""
        if self.shape.undated:
            return markdown(f"No waterfall: {self.shape.why_no_dates('pipeline movement')}.")
        return charts.waterfall(pipeline_waterfall(self.ds, self.period))

    def rep_chart(self) -> alt.TopLevelMixin | Markdown:
        """Funnel plot of every rep: win rate against deals closed."""
        reason = self.shape.why_no_reps() or self.shape.why_no_win_rate()
        if reason:
            return markdown(f"No rep funnel plot: {reason}.")
        return charts.rep_funnel_plot(rep_win_rates(self.ds, self.period))

    def forecast_table(self) -> Markdown:
        """The next quarter's bookings forecast for the organisation."""
        return self._forecast_section().outlook_table()

    def forecast_chart(self) -> alt.TopLevelMixin | Markdown:
        """Every team's forecast of the next quarter side by side."""
        return self._forecast_section().teams_chart()

    def forecast_track_record(self) -> Markdown:
        """How the forecast did on the organisation's past quarters."""
        return self._forecast_section().track_record_table()

    def _forecast_section(self) -> ForecastSection:
        if not hasattr(self, "_forecast_memo"):
            self._forecast_memo = ForecastSection(self.ds, self.period, self.as_of)
        return self._forecast_memo
