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
from pipeline_kit.comparisons.verdicts import localised_verdict
from pipeline_kit.dataset import Dataset
from pipeline_kit.forecasting.sections import ForecastSection
from pipeline_kit.formatting import Formatter
from pipeline_kit.i18n import N_
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
    """Sections of the organisation summary for a period (snapshot at ``as_of``).

    ``lang`` ("en", "zh-Hans", "zh-Hant", "ms") is the language of its sentences, tables and
    charts; ``currency`` the ISO 4217 code of the amounts.
    """

    def __init__(
        self,
        ds: Dataset,
        period: str | Period,
        as_of: str | dt.date | None = None,
        *,
        lang: str = "en",
        currency: str = "USD",
    ) -> None:
        self.fmt = Formatter(lang, currency)  # unknown language or currency: ValueError
        self.lang = self.fmt.lang
        self._ = self.fmt._  # this summary's gettext
        self.ds = ds
        self.period, self.as_of = report_period(ds, period, as_of)
        self._comparison = compare_teams(ds, self.period)
        self.shape = DataShape.of(ds).in_language(self.fmt.text)  # reasons in the language

    def header(self) -> Markdown:
        """The title, period, snapshot day, number of teams and data file of the summary."""
        from pipeline_kit import __version__

        _, d = self._, self.fmt.date
        when = (
            _("**Whole export** (no dates: a win/loss analysis)")
            if self.period.is_all
            else _("Period **{start} to {end}** · snapshot as of **{as_of}**").format(
                start=d(self.period.start), end=d(self.period.end), as_of=d(self.as_of)
            )
        )
        title = _("whole export") if self.period.is_all else self.period.label
        return markdown(
            _("# Organisation summary: {title}").format(title=title)
            + "\n\n"
            + _(
                "{when} · {teams} teams · data `{file}` (fingerprint `{fingerprint}`) · "
                "pipeline_kit {version}"
            ).format(
                when=when,
                teams=len(self.ds.teams),
                file=self.ds.path.name,
                fingerprint=self.ds.fingerprint,
                version=__version__,
            )
        )

    def findings(self) -> Markdown:
        """Every clear difference across teams, strongest evidence first."""
        clear = self._comparison.filter(pl.col("direction").is_in(["above", "below"]))
        clear = clear.sort("q_value")
        thin = self._comparison.filter(pl.col("direction") == "not enough data")
        tested = self._comparison["p_value"].is_not_null().sum()
        _ = self._
        lines = [
            _(
                "**{n} clear difference(s)** among the {tested} comparisons with enough data to "
                "test (Benjamini-Hochberg q < 0.05 over those {tested}; {untested} more had too "
                "few deals):"
            ).format(n=clear.height, tested=tested, untested=self._comparison.height - tested)
        ]
        verdicts = (
            clear["verdict"].to_list()
            if self.lang == "en"
            else [localised_verdict(r, self.fmt) for r in clear.iter_rows(named=True)]
        )
        lines += [f"- {escape(v)}" for v in verdicts] or ["- " + _("none")]
        if thin.height:
            teams = ", ".join(sorted(set(thin["team"])))
            lines.append(
                "\n"
                + _("Not enough data for some verdicts in: {teams}.").format(teams=escape(teams))
            )
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
        _, f = self._, self.fmt
        for r in (
            wr.join(pipe, on="team", how="full", coalesce=True).sort("team").iter_rows(named=True)
        ):
            rate = (
                _("{rate} ({low} to {high})").format(
                    rate=f.pct(r["win_rate"]), low=f.pct(r["ci_low"]), high=f.pct(r["ci_high"])
                )
                if r["n"] and not self.shape.why_no_win_rate()
                else "–"
            )
            rows.append(
                [
                    escape(r["team"]),
                    f"{r['won'] or 0} / {r['n'] or 0}",
                    rate,
                    f"{r['open_deals'] or 0:,}",
                    f.money(r["open_value"]),
                ]
            )
        note = (
            "\n\n" + _("No win rates: {reason}.").format(reason=self.shape.why_no_win_rate())
            if self.shape.why_no_win_rate()
            else ""
        )
        return markdown(
            md_table(
                [
                    _("Team"),
                    _("Won / closed"),
                    _("Win rate (95% CI)"),
                    _("Open deals"),
                    _("Open value"),
                ],
                rows,
            )
            + note
        )

    def _chart(self, chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
        """``chart`` in the summary's language, its amounts in the summary's currency."""
        return charts.localise(chart, self.lang, self.fmt.currency)

    def win_rate_chart(self) -> alt.TopLevelMixin | Markdown:
        """Every team's win rate in the period, with its interval, as a chart."""
        _ = self._
        if self.shape.why_no_win_rate():
            return markdown(
                _("No win-rate chart: {reason}.").format(reason=self.shape.why_no_win_rate())
            )
        return self._chart(
            charts.win_rate_by_group(
                win_rate(self.ds, self.period, by="team"),
                "team",
                title=_("Win rate by team, {period}").format(period=self.period.label),
            )
        )

    def trend_chart(self) -> alt.TopLevelMixin | Markdown:
        """Every team's win rate quarter by quarter, up to the period."""
        _ = self._
        if self.shape.undated:
            return markdown(
                _("No trend: {reason}.").format(
                    reason=self.shape.why_no_dates(N_("quarter-by-quarter trend"))
                )
            )
        if self.shape.why_no_win_rate():
            return markdown(
                _("No win-rate trend: {reason}.").format(reason=self.shape.why_no_win_rate())
            )
        return self._chart(
            charts.trend_chart(
                quarterly_trend(self.ds, end=self.period, by="team"),
                group="team",
                title=_("Win rate by quarter"),
            )
        )

    def cycle_chart(self) -> alt.TopLevelMixin | Markdown:
        """Share of each team's deals still open over time (Kaplan-Meier curves)."""
        if self.shape.undated:
            return markdown(
                self._("No cycle curves: {reason}.").format(
                    reason=self.shape.why_no_dates(N_("curve over time"))
                )
            )
        return self._chart(
            charts.km_curves(cycle_length_curve(self.ds, self.period, by="team"), "team")
        )

    def pipeline_chart(self) -> alt.TopLevelMixin | Markdown:
        """The organisation's open pipeline by stage on the snapshot day."""
        if self.shape.why_no_open_pipeline():
            return markdown(
                self._("No pipeline chart: {reason}.").format(
                    reason=self.shape.why_no_open_pipeline()
                )
            )
        return self._chart(charts.pipeline_by_stage(open_pipeline(self.ds, self.as_of)))

    def waterfall_chart(self) -> alt.TopLevelMixin | Markdown:
        """How the pipeline moved in the period: start + created - won - lost = end."""
        if self.shape.undated:
            return markdown(
                self._("No waterfall: {reason}.").format(
                    reason=self.shape.why_no_dates(N_("pipeline movement"))
                )
            )
        return self._chart(charts.waterfall(pipeline_waterfall(self.ds, self.period)))

    def rep_chart(self) -> alt.TopLevelMixin | Markdown:
        """Funnel plot of every rep: win rate against deals closed."""
        reason = self.shape.why_no_reps() or self.shape.why_no_win_rate()
        if reason:
            return markdown(self._("No rep funnel plot: {reason}.").format(reason=reason))
        return self._chart(charts.rep_funnel_plot(rep_win_rates(self.ds, self.period)))

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
            self._forecast_memo = ForecastSection(
                self.ds, self.period, self.as_of, lang=self.lang, currency=self.fmt.currency
            )
        return self._forecast_memo
