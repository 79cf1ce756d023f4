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
from pipeline_kit.comparisons.compare_groups import localised_warning
from pipeline_kit.comparisons.verdicts import localised_verdict
from pipeline_kit.dataset import Dataset
from pipeline_kit.forecasting.sections import ForecastSection
from pipeline_kit.formatting import Formatter
from pipeline_kit.i18n import N_
from pipeline_kit.metrics import (
    bookings_vs_target,
    cycle_length_curve,
    open_pipeline,
    pipeline_coverage,
    pipeline_waterfall,
    quarterly_trend,
    stage_conversion_control,
    win_rate,
)
from pipeline_kit.metrics._common import amount_sum
from pipeline_kit.periods import Period
from pipeline_kit.report_data import report_period
from pipeline_kit.sections import escape, fail_softly, markdown, md_table
from pipeline_kit.shape import DataShape
from pipeline_kit.stats import MIN_N
from pipeline_kit.team_report import amounts_left_out, per_pipeline
from pipeline_kit.trend_sections import blind_limits, signal_text

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
                "{when} · {teams} team(s) · data `{file}` (fingerprint `{fingerprint}`) · "
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
        if tested == 0:  # nothing to list: say why, not "0 clear differences among 0"
            why = (
                _(
                    "The export has one team ({team}): there is no rest of the organisation "
                    "to compare it with, and its comparisons with its own past and the "
                    "benchmarks are in its team report."
                ).format(team=escape(self.ds.teams[0]))
                if len(self.ds.teams) == 1
                else _("No comparison across teams had enough data to test.")
            )
            untested = self._comparison.height
            return markdown(
                why
                + (
                    " "
                    + _(
                        "{n} comparison(s) had too few deals for a verdict ({min_n} on each side)."
                    ).format(n=untested, min_n=MIN_N)
                    if untested
                    else ""
                )
            )
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
        # (the cautions of the differences listed: a young history, a mix of segments)
        warnings = clear["warning"].drop_nulls().unique(maintain_order=True).to_list()
        lines += [
            "- " + _("*Caution:* {warning}").format(warning=escape(localised_warning(w, _)))
            for w in warnings
        ]
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
                .agg(
                    pl.len().alias("open_deals"),
                    amount_sum().alias("open_value"),
                    pl.col("amount").null_count().alias("without_amount"),
                )
            )
        else:
            pipe = (
                open_pipeline(self.ds, self.as_of, by="team")
                .group_by("team")
                .agg(
                    pl.col("open_deals", "without_amount").sum(),
                    # (unknown when no open deal of the team has an amount)
                    pl.when(pl.col("open_deals").sum() > pl.col("without_amount").sum())
                    .then(pl.col("open_value").sum())
                    .when(pl.col("open_deals").sum() == 0)
                    .then(0.0)
                    .alias("open_value"),
                )
            )
        rows = []
        table = wr.join(pipe, on="team", how="full", coalesce=True).sort("team")
        _, f = self._, self.fmt
        money = f.side_by_side(table["open_value"]).money  # one money form down the column
        for r in table.iter_rows(named=True):
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
                    money(r["open_value"]),
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
            + amounts_left_out(_, int(pipe["without_amount"].sum()))
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

    def bookings_trend_chart(self) -> alt.TopLevelMixin | Markdown:
        """Every team's bookings quarter by quarter, with a compound-Poisson 95% band."""
        _ = self._
        if self.shape.undated or self.period.is_all:
            return markdown(
                _("No trend: {reason}.").format(
                    reason=self.shape.why_no_dates(N_("quarter-by-quarter trend"))
                    or _("the report covers the whole export")
                )
            )
        return self._chart(
            charts.trend_chart(
                quarterly_trend(self.ds, "bookings", end=self.period, by="team"),
                group="team",
                title=_("Bookings by quarter"),
                value_format="$,.3~s",
            )
        )

    def targets_table(self) -> Markdown:
        """Each team's bookings against target, and its pipeline due next quarter against target.

        Amounts share one money form down the table.
        """
        _, f = self._, self.fmt
        if self.shape.undated or self.period.is_all:
            return markdown(
                _("No targets table: {reason}.").format(
                    reason=self.shape.why_no_dates(N_("bookings against target"))
                    or _("the report covers the whole export")
                )
            )
        if not self.ds.has("targets"):
            return markdown(
                _(
                    "Provide targets.csv (team, period_start, period_end, target) to see each "
                    "team's bookings against its target."
                )
            )
        booked = bookings_vs_target(self.ds, self.period, by="team")
        due = pipeline_coverage(self.ds, self.period, by="team", as_of=self.as_of).select(
            "team",
            "due_deals",
            "due_value",
            pl.col("without_amount").alias("due_without_amount"),
            pl.col("target").alias("next_target"),
            "coverage",
            "next_period",
        )
        table = booked.join(due, on="team", how="full", coalesce=True).sort("team")
        following = table["next_period"].drop_nulls()
        next_label = following[0] if following.len() else ""
        money = f.side_by_side(
            v for c in ("bookings", "target", "due_value", "next_target") for v in table[c]
        ).money
        rows = [
            [
                escape(r["team"]),
                money(r["bookings"]),
                money(r["target"]),
                f.pct(r["attainment"], 0),
                _("{value} in {n} deal(s)").format(
                    value=money(r["due_value"]), n=f"{r['due_deals'] or 0:,}"
                ),
                money(r["next_target"]),
                f.ratio(r["coverage"]),
            ]
            for r in table.iter_rows(named=True)
        ]
        return markdown(
            md_table(
                [
                    _("Team"),
                    _("Bookings"),
                    _("Target"),
                    _("Attainment"),
                    _("Open pipeline due in {period}").format(period=next_label),
                    _("Target of {period}").format(period=next_label),
                    _("Coverage"),
                ],
                rows,
            )
            + "\n\n"
            + _(
                "Attainment = bookings / target of {period}. Coverage = open pipeline expected to "
                "close in {next} (on {as_of}) / the target of {next}; '–' where a team has no "
                "target for the quarter."
            ).format(period=self.period.label, next=next_label, as_of=f.date(self.as_of))
            + amounts_left_out(
                _,
                int(booked["without_amount"].sum())
                + int(table["due_without_amount"].fill_null(0).sum()),
            )
        )

    def conversion_alerts(self) -> Markdown:
        """Every team's stages whose conversion left the p-chart limits of its past quarters."""
        _, pct = self._, self.fmt.pct
        if self.shape.undated or self.period.is_all:
            return markdown(
                _("No stage alerts: {reason}.").format(
                    reason=self.shape.why_no_dates(N_("stage conversion over time"))
                    or _("the report covers the whole export")
                )
            )
        control = stage_conversion_control(self.ds, self.period, by="team")
        checked = control.filter(pl.col("signal") != "no baseline")
        flagged = checked.filter(pl.col("signal").is_in(["above", "below"]))
        if checked.height == 0:  # nothing to compare with: say so, not "all within limits"
            return markdown(
                _(
                    "No stage alerts for {period}: no team's stage has earlier quarters of "
                    "the same stage to set its control limits."
                ).format(period=self.period.label)
            )
        blind = checked.filter(blind_limits()).height
        blind_note = (
            " "
            + _(
                "{blind} of them have limits from 0% to 100% (too few past quarters for the "
                "swing between them), which nothing can fall outside."
            ).format(blind=blind)
            if blind
            else ""
        )
        if flagged.height == 0:
            return markdown(
                _(
                    "No team's stage converted outside its control limits in {period} "
                    "({n} team-stage cohorts checked against their own past quarters)."
                ).format(period=self.period.label, n=checked.height)
                + blind_note
            )
        rows = [
            [
                escape(r["team"]),
                escape(r["stage"]),
                _("{rate} ({advanced} of {n})").format(
                    rate=pct(r["conversion"]), advanced=f"{r['advanced']:,}", n=f"{r['n']:,}"
                ),
                _("{low} to {high}").format(low=pct(r["lcl"]), high=pct(r["ucl"])),
                signal_text(r["signal"], self.fmt),
            ]
            for r in flagged.iter_rows(named=True)
        ]
        return markdown(
            _(
                "**{n} of {checked} team-stage cohorts outside their control limits** in "
                "{period}: look for a cause before reacting."
            ).format(n=flagged.height, checked=checked.height, period=self.period.label)
            + blind_note
            + "\n\n"
            + md_table(
                [_("Team"), _("Stage"), _("This quarter"), _("3-sigma limits"), _("Signal")],
                rows,
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
        return self._chart(  # several pipelines: one chart each (stage orders differ)
            per_pipeline(
                open_pipeline(self.ds, self.as_of),
                lambda frame, part: charts.pipeline_by_stage(
                    frame,
                    title=self._("Open pipeline by stage") + part
                    if part
                    else "Open pipeline by stage",  # (translated with the chart's other texts)
                ),
                self._("(no pipeline)"),
            )
        )

    def waterfall_chart(self) -> alt.TopLevelMixin | Markdown:
        """How the pipeline moved in the period: start + created - won - lost = end."""
        if self.shape.undated:
            return markdown(
                self._("No waterfall: {reason}.").format(
                    reason=self.shape.why_no_dates(N_("pipeline movement"))
                )
            )
        if not self.ds.has_amounts:
            return markdown(
                self._("No waterfall: no deal in the export has an amount, so nothing to add up.")
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
