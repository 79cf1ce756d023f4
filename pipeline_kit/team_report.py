"""The content of a team's quarterly report: every section as Markdown, a table or a chart.

The report template (``templates/team_report.ipynb``) only calls these methods and adds prose;
all sentences, tables and charts are produced here, where they are tested, from the figures
:class:`~pipeline_kit.report_data.TeamData` fetches (the team's scope, benchmarks, metrics).

>>> report = TeamReport(pk.load("data/sample"), team="EMEA", period="2025-Q4")  # doctest: +SKIP
>>> report.summary()                                                           # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, cast

import altair as alt
import polars as pl
from IPython.display import Markdown

from pipeline_kit import charts, churn_activity_sections, trend_sections
from pipeline_kit.comparisons.compare_groups import localised_warning
from pipeline_kit.comparisons.verdicts import localised_verdict
from pipeline_kit.dataset import Dataset
from pipeline_kit.forecasting.cards import FORECAST_CARDS, REPORT_FORECAST_CARDS
from pipeline_kit.forecasting.sections import ForecastSection
from pipeline_kit.formatting import Formatter, as_float
from pipeline_kit.formatting import missing as _missing
from pipeline_kit.i18n import N_
from pipeline_kit.metrics import CATALOGUE
from pipeline_kit.metrics._common import amount_total
from pipeline_kit.metrics.cards import metric_titles
from pipeline_kit.metrics.winloss import NO_COMPETITOR, NO_REASON
from pipeline_kit.periods import Period
from pipeline_kit.report_data import TeamData
from pipeline_kit.sections import escape as _esc
from pipeline_kit.sections import fail_softly
from pipeline_kit.sections import markdown as _markdown
from pipeline_kit.sections import md_table as _md_table
from pipeline_kit.stats import MIN_N

__all__ = ["TeamReport"]


METRICS_IN_SECTIONS = [
    "stage_conversion",
    "cycle_length_km_days",
    "velocity_per_day",
    "bookings_vs_target",
    "lost_reason_share",
    "win_rate_vs_competitor",
    "lead_conversion_rate",
    "lead_response_hours",
    "calls",
    "collateral_win_rate_lift",
    "churn_rate",
    "churn_reason_share",
    "calls_per_closed_deal",
    "clv_cac",
    "stalled_deals",
    "win_rate_change_vs_previous",
    "win_rate_change_vs_year_ago",
    "start_pipeline_coverage",
    "deals_created_per_calendar_month",
    "lost_reason_share_by_stage",
    "stage_conversion_control_limits",
    "won_deals_needed_for_target",
    "deals_needed_for_target",
    "leads_needed_for_target",
    "activities_needed_for_target",
    "content_unused",
]
METRICS_SHOWN = [  # the key-figures table; the methodology appendix lists these and the rest
    "deals_created",
    "deals_won",
    "deals_lost",
    "win_rate",
    "avg_won_deal_size",
    "median_won_deal_size",
    "bookings",
    "cycle_length_days",
    "open_deals",
    "open_value",
    "weighted_pipeline",
]


def amounts_left_out(_: Callable[[str], str], n: int | None) -> str:
    """The footnote of a table whose amounts left out ``n`` deals without an amount, else ''.

    A sum with deals left out must not read as complete (``without_amount`` of the metrics).
    """
    if not n:
        return ""
    return "\n\n" + _(
        "*Amounts leave out {n} deal(s) without an amount (counted in the deal counts): the "
        "values are lower bounds.*"
    ).format(n=f"{n:,}")


# about how wide one character of an axis label is (11 px sans-serif), for per_pipeline
STAGE_LABEL_PX = 6


def per_pipeline(
    frame: pl.DataFrame,
    draw: Callable[[pl.DataFrame, str], alt.TopLevelMixin],
    no_pipeline: str = "(no pipeline)",
) -> alt.TopLevelMixin:
    """``draw(part, " · <pipeline>")`` per pipeline of ``frame``, stacked; else ``draw(frame, "")``.

    For a stage metric's frame grouped by pipeline (``metrics._common.stage_groups``): one chart
    per pipeline, its stages in their own order; deals without a pipeline last.
    """
    if "pipeline" not in frame.columns or frame["pipeline"].n_unique() < 2:
        return draw(frame, "")
    parts = frame.partition_by("pipeline", maintain_order=True, include_key=True)
    parts.sort(key=lambda p: (p["pipeline"][0] is None, p["pipeline"][0] or ""))
    charts_ = [draw(p, f" · {p['pipeline'][0] or no_pipeline}") for p in parts]
    # the same room for the stage names in every chart, so that their plots line up
    stages = (
        frame["stage"].drop_nulls() if "stage" in frame.columns else pl.Series([], dtype=pl.String)
    )
    room = min(STAGE_LABEL_PX * max((len(str(s)) for s in stages), default=0) + 8, 180)
    stacked = alt.vconcat(*cast(list[Any], charts_))  # each builder returns a whole chart
    return stacked.configure_axisY(minExtent=room) if room else stacked


class Nothing:
    """A section with nothing to show: ``display()`` publishes no output for it."""

    data = ""  # as Markdown.data: no text

    def _ipython_display_(self) -> None:
        return None


@fail_softly
class TeamReport:
    """Sections of one team's report for a period (snapshot at ``as_of``, default period end).

    ``lang`` ("en", "zh-Hans", "zh-Hant", "ms") is the language of its sentences, tables and
    charts; ``currency`` the ISO 4217 code of the amounts (symbol and forms from Babel).
    """

    def __init__(
        self,
        ds: Dataset,
        team: str,
        period: str | Period,
        as_of: str | dt.date | None = None,
        *,
        lang: str = "en",
        currency: str = "USD",
    ) -> None:
        self.fmt = Formatter(lang, currency)  # unknown language or currency: ValueError
        self.lang = self.fmt.lang
        self._ = self.fmt._  # this report's gettext
        self.data = TeamData.of(ds, team, period, as_of)
        self.ds = ds
        self.team = team
        self.period = self.data.period
        self.as_of = self.data.as_of
        self.in_data = self.data.in_data
        self.shape = self.data.shape.in_language(self.fmt.text)  # reasons in the language
        # "2025-Q4", or "the whole export" for period all (an export without dates)
        self.period_name = self.data.period_name

    # ------------------------------------------------------------------ helpers

    @property
    def _span(self) -> str:
        """How the report names its period in sentences: "2025-Q4", "the whole export"."""
        return self.period_name

    def _undated_note(self, what: str) -> Markdown | None:
        """The sentence a section over time shows for an export without dates, else None."""
        reason = self.shape.why_no_dates(what)
        return (
            _markdown(self._("No {what}: {reason}.").format(what=self._(what), reason=reason))
            if reason
            else None
        )

    def _chart(self, chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
        """``chart`` in the report's language, its amounts in the report's currency."""
        return charts.localise(chart, self.lang, self.fmt.currency)

    def _per_pipeline(
        self, frame: pl.DataFrame, draw: Callable[[pl.DataFrame, str], alt.TopLevelMixin]
    ) -> alt.TopLevelMixin:
        """``draw(frame, title suffix)``, once per pipeline stacked when the team has several.

        A stage chart never mixes pipelines: each pipeline's stages in their own order.
        """
        if len(self.data.pipelines) < 2:
            return draw(frame, "")
        return per_pipeline(frame, draw, self._("(no pipeline)"))

    # ------------------------------------------------------------------ sections
    def header(self) -> Markdown:
        """The title, period, snapshot day and data file (source, fingerprint) of the report."""
        from pipeline_kit import __version__

        _, d = self._, self.fmt.date
        when = (
            _(
                "**Whole export** (no dates: a win/loss analysis; sections over time are left "
                "out and say why)"
            )
            if self.period.is_all
            else _("Period **{start} to {end}** · snapshot as of **{as_of}**").format(
                start=d(self.period.start), end=d(self.period.end), as_of=d(self.as_of)
            )
        )
        title = (
            _("win/loss report")
            if self.period.is_all
            else _("pipeline report {period}").format(period=self.period.label)
        )
        lines = [
            f"# {_esc(self.team)}: {title}",
            "",
            _(
                "{when} · data `{file}` (source {source}, fingerprint `{fingerprint}`) · "
                "pipeline_kit {version}"
            ).format(
                when=when,
                file=self.ds.path.name,
                source=self.ds.source,
                fingerprint=self.ds.fingerprint,
                version=__version__,
            ),
        ]
        if not self.in_data:
            lines += [
                "",
                _(
                    "> **No valid deals for team {team} in this dataset.** "
                    "Check the team name and the data-quality section."
                ).format(team=_esc(self.team)),
            ]
        return _markdown("\n".join(lines))

    def summary(self) -> Markdown:
        """Headline sentences: win rate, pipeline, deal size, cycle length, each with n."""
        p, _, f = self.period_name, self._, self.fmt
        team, rest = self.data.win_rates_team_and_rest()
        bullets = [self._win_rate_sentence(team, rest, p)]
        pipe = self.data.open_pipeline()
        n_open, value = int(pipe["open_deals"].sum()), as_float(pipe["open_value"].sum())
        open_blank = int(pipe["without_amount"].sum())
        if n_open and open_blank == n_open:  # (no open deal has an amount: unknown, '–')
            value = None
        no_pipeline = self.shape.why_no_open_pipeline()
        if no_pipeline:
            bullets.append(no_pipeline[0].upper() + no_pipeline[1:] + ".")
        elif n_open:
            weighted_value = as_float(pipe["weighted_value"].sum())
            weighted = (
                ""  # (no amount: nothing to weigh)
                if value is None
                else _(" ({value} weighted by stage probability)").format(
                    value=f.money(weighted_value)
                )
                if pipe["weighted_value"].is_not_null().any()
                else _(" (no stage probabilities, so no weighted figure)")
            )
            bullets.append(
                _(
                    "As of {as_of} the team has **{n_open} open deals** worth "
                    "**{value}**{weighted}."
                ).format(
                    as_of=f.date(self.as_of),
                    n_open=f"{n_open:,}",
                    value=f.money(value),
                    weighted=weighted + self._left_out(open_blank),
                )
            )
        else:
            bullets.append(
                _("As of {as_of} the team has no open deals.").format(as_of=f.date(self.as_of))
            )
        size = self.data.won_deal_size()
        n_won = int(size["n"][0])
        if n_won:
            caution = (
                "" if size["enough_data"][0] else _(" Too few won deals for a reliable average.")
            )
            if size["ci_low"][0] is None:
                interval = _("too few amounts for an interval for the mean")
            elif size["ci_high"][0] is None:  # (a Pareto tail that may have no mean)
                interval = _(
                    "95% CI for the mean from {low}, with no upper end: the largest amounts "
                    "are too heavy-tailed to bound it"
                ).format(low=f.money(size["ci_low"][0]))
            else:
                interval = _("95% CI for the mean {low} to {high}").format(
                    low=f.money(size["ci_low"][0]), high=f.money(size["ci_high"][0])
                )
            bullets.append(
                _(
                    "Won deals averaged **{mean}** (median {median}, {interval}, n = {n}); "
                    "bookings {total}.{caution}"
                ).format(
                    mean=f.money(size["mean"][0]),
                    median=f.money(size["median"][0]),
                    interval=interval,
                    n=n_won,
                    total=f.money(size["total"][0]) + self._left_out(size["without_amount"][0]),
                    caution=caution,
                )
            )
        cyc = self.data.cycle_length()
        if int(cyc["n"][0]):
            bullets.append(
                _(
                    "Deals closed in {period} took **{mean}** on average from creation to close "
                    "(median {median}, n = {n}; won and lost deals, open deals not counted)."
                ).format(
                    period=p,
                    mean=f.days(cyc["mean"][0]),
                    median=f.days(cyc["median"][0]),
                    n=int(cyc["n"][0]),
                )
            )
        return _markdown("\n".join(f"- {b}" for b in bullets))

    def _win_rate_sentence(self, team: pl.DataFrame, rest: pl.DataFrame, p: str) -> str:
        _, pct = self._, self.fmt.pct
        unreadable = self.shape.why_no_win_rate()
        if unreadable:
            return _("No win rate: {reason}.").format(reason=unreadable)
        n = int(team["n"][0]) if team.height else 0
        rest_txt = ""
        if rest.height and rest["n"][0]:
            r = rest.row(0, named=True)
            rest_txt = _(
                " The rest of the organisation: {rate} (95% CI {low} to {high}, n = {n})."
            ).format(
                rate=pct(r["win_rate"]),
                low=pct(r["ci_low"]),
                high=pct(r["ci_high"]),
                n=f"{r['n']:,}",
            )
        if n == 0:
            return (
                _("No deals were won or lost in {period}, so there is no win rate.").format(
                    period=p
                )
                + rest_txt
            )
        t = team.row(0, named=True)
        observed = _("{rate} (95% CI {low} to {high})").format(
            rate=pct(t["win_rate"]), low=pct(t["ci_low"]), high=pct(t["ci_high"])
        )
        if n < MIN_N:
            return (
                _(
                    "Only {n} deals closed in {period} (won {won}): **not enough data** for a "
                    "reliable win rate; observed {observed}."
                ).format(n=n, period=p, won=t["won"], observed=observed)
                + rest_txt
            )
        return (
            _(
                "The team won **{won} of {n}** deals closed in {period}: win rate **{observed}**."
            ).format(won=t["won"], n=n, period=p, observed=observed)
            + rest_txt
        )

    def key_metrics(self) -> Markdown:
        """Team vs rest of the organisation vs whole organisation, every figure with n."""
        columns = self.data.key_metrics(METRICS_SHOWN)
        rows = []
        unreadable = {
            "deals_created": self.shape.why_no_dates(N_("count of deals created in a period")),
            "cycle_length_days": self.shape.why_no_cycle(),
            "win_rate": self.shape.why_no_win_rate(),
            "open_deals": self.shape.why_no_open_pipeline(),
            "open_value": self.shape.why_no_open_pipeline(),
            "weighted_pipeline": self.shape.why_no_open_pipeline(),
        }
        reasons = []
        _, units = self._, self.fmt.by_unit()
        for metric in METRICS_SHOWN:
            card = CATALOGUE[metric]
            fmt = units[card.unit]
            if card.unit == "currency":  # one money form across the row
                hits = [f.filter(pl.col("metric") == metric) for f in columns.values()]
                row_amounts = [
                    v for h in hits for c in ("value", "ci_low", "ci_high") for v in h[c]
                ]
                fmt = self.fmt.side_by_side(row_amounts).money
            cells = [_(card.title)]
            if unreadable.get(metric):
                if unreadable[metric] not in reasons:
                    reasons.append(unreadable[metric])
                mark = f"[{reasons.index(unreadable[metric]) + 1}]"
                rows.append([_(card.title), *[_("not shown {mark}").format(mark=mark)] * 3])
                continue
            for frame in columns.values():
                hit = frame.filter(pl.col("metric") == metric)
                if hit.height == 0:
                    cells.append("–")
                    continue
                r = hit.row(0, named=True)
                text = fmt(r["value"])
                if r["ci_low"] is not None and not _missing(r["ci_low"]):
                    text += _(" ({low} to {high})").format(
                        low=fmt(r["ci_low"]), high=fmt(r["ci_high"])
                    )
                if (
                    card.unit in ("share", "currency", "days")
                    and metric != "bookings"
                    and "pipeline" not in metric
                    and metric != "open_value"
                ):
                    text += f", n = {r['n']:,}"
                    if r["n"] < MIN_N:
                        text += _(" · not enough data")
                cells.append(text)
            rows.append(cells)
        table = _md_table(
            [_("Metric"), _esc(self.team), _("Rest of organisation"), _("Whole organisation")], rows
        )
        note = "\n\n" + _(
            "Rates and averages show the 95% interval in brackets and the number of deals "
            "they rest on; below {min_n} deals the figure is marked *not enough data*."
        ).format(min_n=MIN_N)
        for i, reason in enumerate(reasons, start=1):
            note += "\n\n" + _("[{i}] Not shown because {reason}.").format(i=i, reason=reason)
        return _markdown(table + note)

    def pipeline_chart(self) -> alt.TopLevelMixin | Markdown:
        """The team's open pipeline by stage on the snapshot day, as a chart."""
        reason = self.shape.why_no_open_pipeline()
        if reason:
            return _markdown(self._("No pipeline chart: {reason}.").format(reason=reason))
        title = self._("Open pipeline by stage: {team}").format(team=self.team)
        return self._chart(
            self._per_pipeline(
                self.data.open_pipeline(),
                lambda frame, part: charts.pipeline_by_stage(frame, title=title + part),
            )
        )

    def pipeline_table(self) -> Markdown:
        """The team's open pipeline by stage: deals, value and weighted value."""
        if self.shape.why_no_open_pipeline():
            return _markdown("")  # the chart's place says why
        pipe = self.data.open_pipeline()
        if pipe.height == 0:
            return _markdown(
                self._("{team} had no open deals on {as_of}.").format(
                    team=_esc(self.team), as_of=self.fmt.date(self.as_of)
                )
            )
        _ = self._
        several = len(self.data.pipelines) > 1 and "pipeline" in pipe.columns
        money = self.fmt.side_by_side(pipe["open_value"]).money  # one form down the columns
        rows = [
            [
                *([_esc(r["pipeline"] or _("(no pipeline)"))] if several else []),
                _esc(r["stage"]),
                f"{r['open_deals']:,}",
                money(r["open_value"]),
                money(r["weighted_value"]),
            ]
            for r in pipe.iter_rows(named=True)
        ]
        head = [_("Stage"), _("Open deals"), _("Value"), _("Weighted value")]
        text = _md_table([_("Pipeline"), *head] if several else head, rows)
        text += amounts_left_out(_, int(pipe["without_amount"].sum()))
        if self.ds.stage_history_approximate:
            text += "\n\n" + _(
                "*The stage history was not exported but derived (from the deals' dates, or "
                "from snapshots: see the load's notes): stages as of a past date are "
                "approximate.*"
            )
        return _markdown(text)

    def pipelines_section(self) -> Markdown | Nothing:
        """The "Pipelines" section when the team's deals are in several pipelines, else nothing.

        Per pipeline: win rate (95% interval, n), deals won, bookings, mean cycle of the deals
        closed in the period, and the open deals and value on the snapshot day; then the stage
        conversion of each pipeline's own stages. With one pipeline, :class:`Nothing`: displayed,
        it leaves no output, so a report on one pipeline is unchanged.
        """
        names = self.data.pipelines
        if len(names) < 2:
            return Nothing()
        _, f = self._, self.fmt
        figures = self.data.by_pipeline()
        keys = pl.DataFrame({"pipeline": [*names, None]}, schema={"pipeline": pl.String})
        open_ = (
            figures["open"]
            .group_by("pipeline")
            .agg(
                pl.col("open_deals").sum(),
                # (unknown when no open deal of the pipeline has an amount)
                pl.when(pl.col("open_deals").sum() > pl.col("without_amount").sum())
                .then(pl.col("open_value").sum())
                .when(pl.col("open_deals").sum() == 0)
                .then(0.0)
                .alias("open_value"),
            )
        )
        table = (
            keys.join(figures["win_rate"], on="pipeline", how="left", nulls_equal=True)
            .join(
                figures["won"].select("pipeline", pl.col("n").alias("won_n"), "total"),
                on="pipeline",
                how="left",
                nulls_equal=True,
            )
            .join(
                figures["cycle"].select(
                    "pipeline", pl.col("n").alias("cycle_n"), pl.col("mean").alias("cycle")
                ),
                on="pipeline",
                how="left",
                nulls_equal=True,
            )
            .join(open_, on="pipeline", how="left", nulls_equal=True)
            # the row of deals without a pipeline only when there are any
            .filter(
                pl.col("pipeline").is_not_null()
                | pl.sum_horizontal(pl.col("n", "open_deals").fill_null(0)).gt(0)
            )
        )
        rows = []
        for r in table.iter_rows(named=True):
            n = r["n"] or 0
            if n:
                rate = _("{rate} ({low} to {high}), n = {n}").format(
                    rate=f.pct(r["win_rate"]),
                    low=f.pct(r["ci_low"]),
                    high=f.pct(r["ci_high"]),
                    n=f"{n:,}",
                )
                if n < MIN_N:
                    rate += _(" · not enough data")
            else:
                rate = "–"
            rows.append(
                [
                    _esc(r["pipeline"] or _("(no pipeline)")),
                    rate,
                    f"{r['won'] or 0:,}",
                    # (won or open deals, none with an amount: unknown, '–')
                    f.money(r["total"] if r["won"] else 0.0),
                    f.days(r["cycle"]) if r["cycle_n"] else "–",
                    f"{r['open_deals'] or 0:,}",
                    f.money(r["open_value"] if r["open_deals"] else 0.0),
                ]
            )
        head = [
            _("Pipeline"),
            _("Win rate"),
            _("Deals won"),
            _("Bookings"),
            _("Average cycle"),
            _("Open deals"),
            _("Open value"),
        ]
        text = (
            "## "
            + _("Pipelines")
            + "\n\n"
            + _(
                "{team}'s deals are in {count} pipelines. A stage order means something "
                "within one pipeline only, so the stage figures of this report (funnel, "
                "conversion, time in stage, open pipeline by stage, losses by stage) are shown "
                "per pipeline; the figures elsewhere are for all of the team's deals together."
            ).format(team=_esc(self.team), count=len(names))
        )
        text += "\n\n" + _md_table(head, rows)
        text += "\n\n" + _(
            "Win rate among deals closed in {period} (95% interval); bookings = the value won; "
            "average cycle = mean days from creation to close of the deals closed; open deals "
            "and value on {as_of}."
        ).format(period=self._span, as_of=f.date(self.as_of))
        text += amounts_left_out(
            _,
            int(figures["won"]["without_amount"].sum())
            + int(figures["open"]["without_amount"].sum()),
        )
        conversion = self.data.stage_conversion().filter(pl.col("entered") > 0)
        if conversion.height and "pipeline" in conversion.columns:
            stage_rows = [
                [
                    _esc(r["pipeline"] or _("(no pipeline)")),
                    _esc(r["stage"]),
                    f"{r['entered']:,}",
                    _("{rate} ({low} to {high}), n = {n}").format(
                        rate=f.pct(r["conversion"]),
                        low=f.pct(r["ci_low"]),
                        high=f.pct(r["ci_high"]),
                        n=f"{r['n']:,}",
                    )
                    if r["n"]
                    else "–",
                ]
                for r in conversion.sort("pipeline", "stage_order", nulls_last=True).iter_rows(
                    named=True
                )
            ]
            text += "\n\n" + _md_table(
                [_("Pipeline"), _("Stage"), _("Entered"), _("Conversion")], stage_rows
            )
        return _markdown(text)

    def win_rate_by_team_chart(self) -> alt.TopLevelMixin | Markdown:
        """Every team's win rate in the period, the team highlighted, against the benchmark."""
        _ = self._
        if self.shape.why_no_win_rate():
            return _markdown(
                _("No win-rate chart: {reason}.").format(reason=self.shape.why_no_win_rate())
            )
        bench, _source = self.data.benchmark("win_rate")
        label = (
            _("benchmark {rate}").format(rate=self.fmt.pct(bench, 0)) if bench is not None else ""
        )
        return self._chart(
            charts.win_rate_by_group(
                self.data.win_rate_by_team(),
                "team",
                benchmark=bench,
                benchmark_label=label,
                highlight=self.team,
                title=_("Win rate by team, {period}").format(period=self.period_name),
            )
        )

    def win_rate_by_rep_chart(self) -> alt.TopLevelMixin | Markdown:
        """The win rate of each rep of the team against the organisation's rate."""
        reason = self.shape.why_no_win_rate() or self.shape.why_no_reps()
        _ = self._
        if reason:
            return _markdown(_("No rep win rates: {reason}.").format(reason=reason))
        org_rate = self.data.organisation_win_rate()
        return self._chart(
            charts.win_rate_by_group(
                self.data.win_rate_by_rep(),
                "owner",
                benchmark=org_rate,
                benchmark_label=_("organisation {rate}").format(rate=self.fmt.pct(org_rate, 0)),
                title=_("Win rate by rep: {team}, {period}").format(
                    team=self.team, period=self.period_name
                ),
            )
        )

    def segments_table(self, top: int = 8) -> Markdown:
        """Win rate by segment for the team in the period: a win/loss analysis by any column.

        Segments: deal type, lead source, industry, ... and the export's own segment columns.
        """
        _, pct = self._, self.fmt.pct
        reason = self.shape.why_no_win_rate()
        if reason:
            return _markdown(_("No win rate by segment: {reason}.").format(reason=reason))
        columns = self.data.segment_columns()
        if not columns:
            return _markdown(
                _(
                    "No win rate by segment: the export has no segment column (deal type, lead "
                    "source, industry, region, product, or a column of its own with 2 to 12 "
                    "values)."
                )
            )
        rows = []
        for column in columns:
            rates = self.data.win_rate_by_segment(column)
            for r in rates.sort("n", descending=True).head(top).iter_rows(named=True):
                thin = _(" · not enough data") if r["n"] < MIN_N else ""
                rows.append(
                    [
                        _esc(column.replace("_", " ")),
                        _esc(r[column] if r[column] is not None else _("(empty)")),
                        f"{r['won']} / {r['n']}",
                        _("{rate} ({low} to {high})").format(
                            rate=pct(r["win_rate"]), low=pct(r["ci_low"]), high=pct(r["ci_high"])
                        )
                        + thin,
                    ]
                )
        if not rows:
            return _markdown(
                _("No deal of {team} closed in {period}.").format(
                    team=_esc(self.team), period=self._span
                )
            )
        return _markdown(
            _md_table([_("Segment"), _("Value"), _("Won / closed"), _("Win rate (95% CI)")], rows)
            + "\n\n"
            + _(
                "Descriptive: with many segments some differ by chance alone; compare the "
                "intervals, and test a difference you would act on (`pk.compare(..., by=...)`)."
            )
        )

    def benchmark_note(self) -> Markdown:
        """Where the win-rate benchmark (the dashed line) comes from, or that there is none."""
        bench, source = self.data.benchmark("win_rate")
        if bench is None:
            return _markdown(
                self._("No external win-rate benchmark was provided (add benchmarks.csv).")
            )
        return _markdown(
            self._("The dashed line is the win-rate benchmark of **{rate}** ({source}).").format(
                rate=self.fmt.pct(bench), source=_esc(source)
            )
        )

    def data_quality(self) -> Markdown:
        """Rows read, valid and quarantined per table, the rows kept out and why, loading notes."""
        _ = self._
        lines = [
            _md_table(
                [_("Table"), _("Rows read"), _("Valid"), _("Quarantined")],
                [
                    [r["table"], f"{r['read']:,}", f"{r['valid']:,}", f"{r['quarantined']:,}"]
                    for r in self.ds.counts.iter_rows(named=True)
                ],
            )
        ]
        problems = self.ds.problems()
        text = self.fmt.text  # the loader's messages in the report's language
        if problems.height:
            lines += ["", _("Rows kept out of every figure:")]
            for r in problems.iter_rows(named=True):
                problem, fix = self.ds.problem_texts(r["table"], r["rule"])
                lines.append(
                    "- "
                    + _("{rows} row(s) of {table}: {problem}. *What to do:* {fix}").format(
                        rows=self.fmt.number(r["rows"]),
                        table=r["table"],
                        problem=_esc(text(problem)),
                        fix=_esc(text(fix)),
                    )
                )
        else:
            lines += ["", _("Every input row passed validation.")]
        if self.ds.notes:
            lines += ["", _("Notes from loading:")] + [f"- {_esc(text(n))}" for n in self.ds.notes]
        return _markdown("\n".join(lines))

    # ------------------------------------------------------------------ statistics
    def executive_summary(self) -> Markdown:
        """The findings that matter: clear differences first (smallest q), then what is unclear."""
        _ = self._
        rows = self.data.comparison()
        if rows.height == 0:
            return _markdown(
                _("No deals for {team} in {period}: nothing to compare.").format(
                    team=_esc(self.team), period=self.period_name
                )
            )
        clear = rows.filter(pl.col("direction").is_in(["above", "below"])).sort("q_value")
        family = self.data.every_team_comparison()["p_value"].is_not_null().sum()
        lines = []
        no_trailing = (
            ""
            if self.data.has_trailing_comparison or self.period.is_all
            else "\n- "
            + _(
                "Not compared with the team's previous four quarters: that needs a quarter, "
                "and this report covers {period}."
            ).format(period=self.period.label)
        )
        if self.period.is_all:
            no_trailing += "\n- " + _(
                "Not compared with the team's previous quarters: this export has no dates."
            )
        if self.shape.teams == 1:
            no_trailing += "\n- " + _(
                "Not compared with the rest of the organisation: this export holds one "
                "team, so there is no other team to compare with."
            )
        headline = self._headline()
        if (rows["direction"] == "not enough data").all():
            return _markdown(
                headline
                + _("**No verdict for {period}**: ").format(period=self._span)
                + "; ".join(self._thin_reasons(rows))
                + _(". The figures below are descriptive.")
                + no_trailing
            )
        if clear.height:
            lines.append(
                _(
                    "**{n} clear difference(s)** (Benjamini-Hochberg q < 0.05; the correction "
                    "covers the {family} comparisons of every team with enough data to test in "
                    "{period}, {in_report} of them in this report):"
                ).format(
                    n=clear.height,
                    family=f"{family:,}",
                    period=self._span,
                    in_report=rows["p_value"].is_not_null().sum(),
                )
            )
            lines += [f"- {_esc(v)}" for v in self._verdicts(clear)]
        else:
            lines.append(
                _(
                    "No clear difference from any benchmark in {period}: the figures below "
                    "are within what chance alone would produce."
                ).format(period=self._span)
            )
        warnings = rows.filter(pl.col("warning").is_not_null())["warning"].unique().to_list()
        lines += [
            "- " + _("*Caution:* {warning}").format(warning=_esc(localised_warning(w, _)))
            for w in warnings
        ]
        thin = rows.filter(pl.col("direction") == "not enough data")
        if thin.height:
            lines.append(
                "- "
                + _("No verdict on: {reasons}.").format(reasons="; ".join(self._thin_reasons(thin)))
            )
        return _markdown(headline + "\n".join(lines) + no_trailing)

    def _headline(self) -> str:
        """Where the quarter stands, before what differs; empty lines left out.

        Bookings against target, the pipeline due next period against its target, slipped
        deals.
        """
        lines = []
        _, f = self._, self.fmt
        won = self.data.won_deal_size().row(0, named=True)
        # (won deals, none with an amount: unknown, '–')
        total = None if won["without_amount"] and not won["n"] else (won["total"] or 0)
        bookings = _("**Bookings {total}** from {n} won deal(s)").format(
            total=f.money(total), n=f"{won['n']:,}"
        ) + self._left_out(won["without_amount"])
        if self.ds.has("targets") and not self.period.is_all:
            target = self.data.bookings_vs_target()
            if target.height and target["target"][0]:
                t = target.row(0, named=True)
                bookings += _(": {attainment} of the {target} target").format(
                    attainment=f.pct(t["attainment"], 0), target=f.money(t["target"])
                )
        lines.append(bookings + _("."))
        if not self.shape.why_no_open_pipeline() and not self.period.is_all:
            cover = self.data.pipeline_due_next_period()
            if cover.height and cover["due_deals"][0]:
                c = cover.row(0, named=True)
                text = _("Open pipeline due in {period}: {value} in {n} deal(s)").format(
                    period=c["next_period"], value=f.money(c["due_value"]), n=f"{c['due_deals']:,}"
                ) + self._left_out(c["without_amount"])
                if c["coverage"] is not None:
                    text += _(", {coverage}x that period's target").format(
                        coverage=f"{c['coverage']:.1f}"
                    )
                elif self.ds.has("targets"):
                    text += _(" (no target for {period}, so no coverage ratio)").format(
                        period=c["next_period"]
                    )
                lines.append(text + _("."))
            slipped = self.data.slipped_deals()
            if slipped.height:
                worth = f.money(amount_total(slipped["amount"]))
                lines.append(
                    _(
                        "{n} open deal(s) worth {worth} are past their expected close date on "
                        "{as_of} (slipped)."
                    ).format(
                        n=f"{slipped.height:,}",
                        worth=worth + self._left_out(slipped["amount"].null_count()),
                        as_of=f.date(self.as_of),
                    )
                )
        return "\n".join(f"- {line}" for line in lines) + "\n\n"

    def _left_out(self, n: int | None) -> str:
        """`` (N without an amount left out)`` after an amount that left out N deals, else ''.

        A sum that left deals out must not read as complete (``without_amount``).
        """
        if not n:
            return ""
        _ = self._
        return _(" ({n} deal(s) without an amount left out)").format(n=f"{n:,}")

    def _thin_reasons(self, thin: pl.DataFrame) -> list[str]:
        """Why each comparison without a verdict has none, with the real counts."""
        reasons = []
        _ = self._
        for metric, group in thin.group_by("metric", maintain_order=True):
            key = str(metric[0])
            name = _(metric_titles([key]).get(key, key.replace("_", " ")))
            if metric[0] == "win_rate" and self.shape.why_no_win_rate():
                reasons.append(f"{name} ({self.shape.why_no_win_rate()})")
                continue
            if metric[0] == "cycle_length_km_days" and self.shape.undated:
                reasons.append(
                    _(
                        "{name} (the comparison follows deals from creation to close "
                        "over time, and this export has no dates)"
                    ).format(name=name)
                )
                continue
            n = int(as_float(group["n"].max()) or 0)
            parts = (
                [_("{n} deal(s) behind it in {period}").format(n=n, period=self._span)]
                if n < MIN_N
                else []
            )
            for r in group.iter_rows(named=True):
                m = r["n_benchmark"]
                m = None if m is None or m != m else int(m)  # NaN: no such benchmark
                if r["kind"] == "trailing":
                    if not m:
                        parts.append(_("the team has no deals in its previous four quarters"))
                    elif m < MIN_N:
                        parts.append(_("its previous four quarters hold {m} deal(s)").format(m=m))
                elif r["kind"] == "rest_of_org" and self.shape.teams > 1 and (m or 0) < MIN_N:
                    parts.append(_("the rest of the organisation has {m} deal(s)").format(m=m or 0))
            if not parts:
                parts.append(_("too few deals on one side"))
            reasons.append(
                _("{name} ({parts}; a verdict needs {min_n} on each side)").format(
                    name=name, parts="; ".join(parts), min_n=MIN_N
                )
            )
        return reasons

    def forest_chart(self) -> alt.TopLevelMixin:
        """The team's comparisons with the benchmarks as a forest plot, each with its interval."""
        return self._chart(
            charts.forest_plot(
                self.data.comparison(),
                title=self._("{team} against the benchmarks").format(team=self.team),
            )
        )

    # ------------------------------------------------------------------ sections
    def funnel_chart(self) -> alt.TopLevelMixin | Markdown:
        """Deals entering each stage in the period, with the conversion to the next."""
        if (note := self._undated_note(N_("stage funnel over time"))) is not None:
            return note
        title = self._("Funnel: {team}, {period}").format(team=self.team, period=self.period.label)
        return self._chart(
            self._per_pipeline(
                self.data.stage_conversion(),
                lambda frame, part: charts.funnel(frame, title=title + part),
            )
        )

    def conversion_chart(self) -> alt.TopLevelMixin | Markdown:
        """Conversion per stage with its Wilson interval (incomplete cohorts in grey)."""
        if (note := self._undated_note(N_("stage conversion over time"))) is not None:
            return note
        if len(self.data.pipelines) < 2:
            return self._chart(charts.stage_conversion_chart(self.data.stage_conversion()))
        title = self._("Stage conversion with 95% interval")
        return self._chart(
            self._per_pipeline(
                self.data.stage_conversion(),
                lambda frame, part: charts.stage_conversion_chart(frame, title=title + part),
            )
        )

    def cycle_chart(self) -> alt.TopLevelMixin | Markdown:
        """Share of the period's new deals still open over time, the team beside the rest."""
        if (note := self._undated_note(N_("curve of deals closing over time"))) is not None:
            return note
        curve = self.data.cycle_curves()
        return self._chart(
            charts.km_curves(
                curve, "scope", title=self._("Share of the quarter's new deals still open")
            )
        )

    def velocity_note(self) -> Markdown:
        """Pipeline velocity per day and the four figures it is made of."""
        reason = self.shape.why_no_open_pipeline() or self.shape.why_no_win_rate()
        _, f = self._, self.fmt
        if reason:
            return _markdown(_("No pipeline velocity: {reason}.").format(reason=reason))
        v = self.data.velocity()
        if not v["n"] or v["velocity_per_day"] is None:
            return _markdown(_("Not enough closed deals this period to compute pipeline velocity."))
        caution = "" if v["enough_data"] else _(" (few closed deals: read with care)")
        return _markdown(
            _(
                "Pipeline velocity: **{velocity} per day**{caution} = {open_qualified} qualified "
                "open deals x {win_rate} win rate x {deal_size} average won deal / {cycle} "
                "average cycle of won deals."
            ).format(
                velocity=f.money(v["velocity_per_day"]),
                caution=caution,
                open_qualified=v["open_qualified"],
                win_rate=f.pct(v["win_rate"]),
                deal_size=f.money(v["avg_won_deal_size"]),
                cycle=f.days(v["avg_cycle_days_won"]),
            )
            + (
                " "
                + _("95% interval: {low} to {high} per day.").format(
                    low=f.money(v["ci_low"]), high=f.money(v["ci_high"])
                )
                if v["ci_low"] is not None and v["ci_high"] is not None
                else ""
            )
        )

    def deal_size_chart(self) -> alt.TopLevelMixin | Markdown:
        """Won deal sizes of the team beside the rest of the organisation.

        Below :data:`MIN_N` won deals with an amount a distribution has no shape to show (3
        deals in log-spaced bins): a sentence says so instead.
        """
        dist = self.data.deal_sizes()
        won = int(dist.filter(pl.col("scope") == self.team)["won_deals"].sum())
        if won < MIN_N:
            return _markdown(
                self._(
                    "No distribution of won deal sizes: {team} won {n} deal(s) with an amount "
                    "in {period}, and a distribution needs {min_n} (the average and the median "
                    "are in the summary)."
                ).format(team=_esc(self.team), n=won, period=self._span, min_n=MIN_N)
            )
        return self._chart(charts.deal_size_chart(dist, "scope"))

    def revenue_section(self) -> Markdown:
        """The team's bookings (new, expansion, renewal) against its target."""
        if (note := self._undated_note(N_("bookings against a target period"))) is not None:
            return note
        _, f = self._, self.fmt
        if not self.ds.has("targets"):
            return _markdown(
                _(
                    "Provide targets.csv (team, period_start, period_end, target) to "
                    "compare bookings with target."
                )
            )
        row = self.data.bookings_vs_target()
        if row.height == 0:
            return _markdown(_("No bookings and no target for this team in the period."))
        r = row.row(0, named=True)
        amounts = ("bookings", "bookings_new", "bookings_expansion", "bookings_renewal", "target")
        f = f.side_by_side(r[c] for c in amounts)
        return _markdown(
            _md_table(
                [
                    _("Bookings"),
                    _("New"),
                    _("Expansion"),
                    _("Renewal"),
                    _("Target"),
                    _("Attainment"),
                ],
                [
                    [
                        f.money(r["bookings"]),
                        f.money(r["bookings_new"]),
                        f.money(r["bookings_expansion"]),
                        f.money(r["bookings_renewal"]),
                        f.money(r["target"]),
                        f.pct(r["attainment"], 0),
                    ]
                ],
            )
        )

    def lost_reasons_chart(self) -> alt.TopLevelMixin | Markdown:
        """Share of the team's lost deals per reason, with its interval.

        When no lost deal has a reason, a sentence says so (a one-bar chart at 100% would
        only restate it).
        """
        reasons = self.data.lost_reasons()
        if reasons.height and (reasons["lost_reason"] == NO_REASON).all():
            absent = "deals.lost_reason" in self.ds.absent_columns
            return _markdown(
                (
                    self._(
                        "No lost reasons: the export has no lost_reason column ({n} deal(s) "
                        "lost in {period})."
                    )
                    if absent
                    else self._(
                        "No lost reasons: none of the {n} deal(s) lost in {period} has one "
                        "in the export."
                    )
                ).format(n=f"{int(reasons['lost'].sum()):,}", period=self._span)
            )
        return self._chart(charts.lost_reasons_chart(reasons))

    def competitor_chart(self) -> alt.TopLevelMixin | Markdown:
        """The team's win rate against each competitor (a sentence when none is recorded)."""
        rates = self.data.competitor_win_rates()
        if rates.height and (rates["competitor"] == NO_COMPETITOR).all():
            absent = "deals.competitor" in self.ds.absent_columns
            return _markdown(
                (
                    self._(
                        "No win rate by competitor: the export has no competitor column ({n} "
                        "deal(s) closed in {period})."
                    )
                    if absent
                    else self._(
                        "No win rate by competitor: none of the {n} deal(s) closed in "
                        "{period} names one."
                    )
                ).format(n=f"{int(rates['n'].sum()):,}", period=self._span)
            )
        return self._chart(charts.competitor_chart(rates))

    def rep_chart(self) -> alt.TopLevelMixin | Markdown:
        """Funnel plot of the team's reps: win rate against deals closed."""
        reason = self.shape.why_no_reps() or self.shape.why_no_win_rate()
        if reason:
            return _markdown(self._("No rep funnel plot: {reason}.").format(reason=reason))
        return self._chart(charts.rep_funnel_plot(self.data.reps()))

    def rep_table(self) -> Markdown:
        """Each rep's own win rate (with its interval), shrunk rate and funnel-plot place."""
        if self.shape.why_no_reps() or self.shape.why_no_win_rate():
            return _markdown("")  # the funnel plot's place says why
        _, pct = self._, self.fmt.pct
        reps = self.data.reps()
        if reps.height == 0:
            return _markdown(_("No rep closed a deal in this period."))
        rows = [
            [
                _esc(r["owner"]),
                f"{r['won']} / {r['n']}",
                _("{rate} ({low} to {high})").format(
                    rate=pct(r["rate"]), low=pct(r["ci_low"]), high=pct(r["ci_high"])
                ),
                pct(r["shrunk"]),
                self.fmt.translate(r["flag"]) if r["flag"] else _("within limits"),
            ]
            for r in reps.sort("shrunk", descending=True).iter_rows(named=True)
        ]
        return _markdown(
            _md_table(
                [
                    _("Rep"),
                    _("Won / closed"),
                    _("Own win rate (95% interval)"),
                    _("Shrunk rate"),
                    _("Funnel plot"),
                ],
                rows,
            )
            + "\n\n"
            + _(
                "The own win rate's interval is where this rep's rate lies, from their deals "
                "alone. The shrunk rate pulls each rep towards the organisation's rate in "
                "proportion to how few deals they closed: rank reps on it, not on the own "
                "rate; it is no estimate of a standout rep's rate, which it pulls to the middle "
                "(the funnel plot says whether a rep differs)."
            )
        )

    def leads_section(self) -> Markdown | alt.TopLevelMixin:
        """Response time to the team's leads by lead source, against the benchmark."""
        if (note := self._undated_note(N_("lead response over time"))) is not None:
            return note
        _ = self._
        if not self.ds.has("leads"):
            return _markdown(_("Provide leads.csv to see lead conversion and response times."))
        if self.data.leads_scope() is None:
            return _markdown(
                _(
                    "leads.csv has no team column and this export holds several teams: lead "
                    "figures cannot be split by team (see the organisation summary)."
                )
            )
        if "leads.first_response_at" in self.ds.absent_columns:
            return _markdown(
                _(
                    "The leads export has no first response time (first_response_at): add it "
                    "to see how fast leads are answered."
                )
            )
        times = self.data.lead_response_by_source()
        bench, _source = self.data.benchmark("lead_response_hours")
        return self._chart(
            charts.lead_response_chart(
                times,
                "source",
                benchmark=bench,
                title=_("Lead response time by source: {team}").format(team=self.team),
            )
        )

    def lead_funnel_table(self) -> Markdown:
        """The team's leads through qualification, conversion and win, and the time to win."""
        if (undated := self._undated_note(N_("lead funnel over time"))) is not None:
            return undated
        if not self.ds.has("leads") or self.data.leads_scope() is None:
            return _markdown("")
        # lead outcomes are read at the report's snapshot day, as the header says
        _, pct = self._, self.fmt.pct
        f = self.data.lead_funnel()
        note = (
            "\n\n"
            + _("Outcomes as of {as_of}.").format(as_of=self.fmt.date(self.as_of))
            + (
                _(" Recent leads are still converting: figures will rise.")
                if f["incomplete"]
                else ""
            )
        )
        t = self.data.lead_time_to_win()
        if t["n"] and t["won_within"] is not None:
            median = (
                _("half of them were won within {days}").format(
                    days=self.fmt.days(t["median_days"])
                )
                if t["median_days"] is not None
                else _("fewer than half are won, so there is no median time to win")
            )
            note += "\n\n" + _(
                "Counting the leads not won yet (Kaplan-Meier): {share} of the period's leads "
                "became won deals within 90 days (95% CI {low} to {high}, {won} won of {n}); "
                "{median}."
            ).format(
                share=pct(t["won_within"]),
                low=pct(t["won_within_ci_low"]),
                high=pct(t["won_within_ci_high"]),
                won=f"{t['won']:,}",
                n=f"{t['n']:,}",
                median=median,
            )

        def count(n: int | None, share: float | None) -> str:
            # (null: the export has no such column, as Salesforce's Lead has no qualified_at)
            return _("not in the export") if n is None else f"{n:,} ({pct(share)})"

        return _markdown(
            _md_table(
                [_("Leads"), _("Qualified"), _("Became opportunities"), _("Won")],
                [
                    [
                        f"{f['created']:,}",
                        count(f["qualified"], f["qualified_rate"]),
                        count(f["converted"], f["conversion_rate"]),
                        count(f["won"], f["lead_win_rate"]),
                    ]
                ],
            )
            + note
        )

    def activity_chart(self) -> Markdown | alt.TopLevelMixin:
        """Calls of the team's reps against the deals they won."""
        if (note := self._undated_note(N_("activity over time"))) is not None:
            return note
        if not self.ds.has("activities"):
            return _markdown(
                self._("Provide activities.csv to see calls, meetings and emails per rep.")
            )
        reps = self.data.calls_vs_closes()
        return self._chart(
            charts.activities_vs_closes(
                reps, title=self._("Calls against deals won: {team} reps").format(team=self.team)
            )
        )

    def collateral_chart(self) -> Markdown | alt.TopLevelMixin:
        """Win rates of the team's deals with and without each piece of collateral."""
        if (note := self._undated_note(N_("collateral use over time"))) is not None:
            return note
        if not self.ds.has("collateral_usage"):
            return _markdown(
                self._("Provide collateral_usage.csv to see which content goes with wins.")
            )
        return self._chart(charts.collateral_chart(self.data.collateral_win_rates()))

    def churn_section(self) -> Markdown:
        """Customer churn in the period with its interval, and CLV:CAC when spend is known."""
        if (note := self._undated_note(N_("churn over time"))) is not None:
            return note
        _, f = self._, self.fmt
        if not self.ds.has("customers"):
            return _markdown(_("Provide customers.csv to see churn and customer lifetime value."))
        c = self.data.churn()
        if c.height == 0:
            return _markdown(_("No customers of this team were active at the start of the period."))
        r = c.row(0, named=True)
        text = _(
            "{churned} of {active} customers active at the start of the period left during it: "
            "churn {rate} (95% CI {low} to {high})."
        ).format(
            churned=r["churned"],
            active=r["active_at_start"],
            rate=f.pct(r["churn_rate"]),
            low=f.pct(r["ci_low"]),
            high=f.pct(r["ci_high"]),
        )
        if self.ds.has("marketing_spend"):
            v = self.data.clv()
            if v.height and v["clv_cac"][0] is not None:
                w = v.row(0, named=True)
                text += _(
                    " Lifetime value {clv} per customer against an acquisition cost of {cac}: "
                    "CLV:CAC {ratio} (no margin applied)."
                ).format(clv=f.money(w["clv"]), cac=f.money(w["cac"]), ratio=f"{w['clv_cac']:.1f}")
            else:
                text += _(
                    " CLV:CAC cannot be estimated this period (no churn or no new customers)."
                )
        return _markdown(text)

    def churn_reasons_table(self) -> Markdown:
        """The team's customers churned in the period by reason, with shares and MRR lost."""
        return churn_activity_sections.churn_reasons_table(self.data, fmt=self.fmt)

    def churn_trend_chart(self) -> alt.TopLevelMixin | Markdown:
        """The team's customer churn rate over the last eight quarters."""
        return churn_activity_sections.churn_trend_chart(self.data, fmt=self.fmt)

    def calls_by_industry_table(self) -> Markdown:
        """Calls per deal the team closed in the period, by industry, won against lost."""
        return churn_activity_sections.calls_by_industry_table(self.data, fmt=self.fmt)

    def lead_response_trend_chart(self) -> alt.TopLevelMixin | Markdown:
        """Median response time to the team's leads over the last eight quarters."""
        return churn_activity_sections.lead_response_trend_chart(self.data, fmt=self.fmt)

    def stalled_table(self, limit: int = 15) -> Markdown:
        """Up to ``limit`` open deals in their stage longer than 90% of past deals there."""
        reason = self.shape.why_no_open_pipeline()
        _ = self._
        if reason:
            return _markdown(_("No stalled deals to show: {reason}.").format(reason=reason))
        every = self.data.stalled_deals()
        if every.height == 0:
            return _markdown(
                _("No open deal has been in its stage longer than 90% of past deals in that stage.")
            )
        stalled = every.head(limit)
        summary = _(
            "{n} open deal(s) stalled on {day}, worth {value}{left_out}; {shown} listed, the "
            "longest in their stage first, then the largest."
        ).format(
            n=f"{every.height:,}",
            day=self.fmt.date(self.as_of),
            value=self.fmt.money(amount_total(every["amount"])),
            left_out=self._left_out(every["amount"].null_count()),
            shown=f"{stalled.height:,}",
        )
        rows = [
            [
                _esc(r["deal_id"]),
                _esc(r["owner"]),
                _esc(r["stage"]),
                self.fmt.money(r["amount"]),
                _("{n} days").format(n=r["days_in_stage"]),
                _("{n} days").format(n=f"{r['threshold_days']:.0f}"),
            ]
            for r in stalled.iter_rows(named=True)
        ]
        return _markdown(
            summary
            + "\n\n"
            + _md_table(
                [
                    _("Deal"),
                    _("Owner"),
                    _("Stage"),
                    _("Amount"),
                    _("In stage"),
                    _("Usual maximum (90th pct)"),
                ],
                rows,
            )
        )

    # ------------------------------------------------------------------ over time
    def period_over_period_table(self) -> Markdown:
        """The period beside the previous one and the same period a year earlier (QoQ, YoY)."""
        return trend_sections.period_over_period_table(self.data, fmt=self.fmt)

    def win_rate_trend_chart(self) -> alt.TopLevelMixin | Markdown:
        """The team's win rate over the last eight quarters, with its interval."""
        return trend_sections.win_rate_trend_chart(self.data, fmt=self.fmt)

    def pipeline_vs_target_chart(self) -> alt.TopLevelMixin | Markdown:
        """Open pipeline at each of the last eight quarters' starts against their targets."""
        return trend_sections.pipeline_vs_target_chart(self.data, fmt=self.fmt)

    def pipeline_size_note(self) -> Markdown:
        """How much pipeline the next quarter's target needs at the team's past conversion."""
        return trend_sections.pipeline_size_note(self.data, fmt=self.fmt)

    def seasonality_chart(self) -> alt.TopLevelMixin | Markdown:
        """The team's deals created per calendar month (seasonality)."""
        return trend_sections.seasonality_chart(self.data, fmt=self.fmt)

    def lost_by_stage_table(self) -> Markdown:
        """The team's losses by the stage they were lost from, with each stage's top reasons."""
        return trend_sections.lost_by_stage_table(self.data, fmt=self.fmt)

    def conversion_alerts(self) -> Markdown:
        """Stages whose conversion this quarter is outside their p-chart control limits."""
        return trend_sections.conversion_alerts(self.data, fmt=self.fmt)

    def conversion_control_chart(self) -> alt.TopLevelMixin | Markdown:
        """The team's stage conversion this quarter inside its control limits."""
        return trend_sections.conversion_control_chart(self.data, fmt=self.fmt)

    def needed_for_target_table(self) -> Markdown:
        """Won deals, deals to close, leads and activities the target takes at the team's rates."""
        return trend_sections.needed_for_target_table(self.data, fmt=self.fmt)

    def deal_lists_appendix(self, limit: int = 10) -> Markdown:
        """The deals behind the counts (won, lost, open, stalled, slipped), ``limit`` per list."""
        return trend_sections.deal_lists_appendix(self.data, limit, fmt=self.fmt)

    def unused_content_note(self) -> Markdown:
        """The content the team's deals have not used for six months."""
        return trend_sections.unused_content_note(self.data, fmt=self.fmt)

    def forecast_table(self) -> Markdown:
        """The next quarter's bookings forecast for the team: range, target, what it rests on."""
        return self._forecast_section().outlook_table()

    def forecast_chart(self) -> alt.TopLevelMixin | Markdown:
        """The next quarter's bookings forecast for the team, as a chart."""
        return self._forecast_section().outlook_chart()

    def forecast_track_record(self) -> Markdown:
        """How the forecast did on the team's past quarters."""
        return self._forecast_section().track_record_table()

    def forecast_track_record_chart(self) -> alt.TopLevelMixin | Markdown:
        """The team's past forecasts against what was booked, as a chart."""
        return self._forecast_section().track_record_chart()

    def _forecast_section(self) -> ForecastSection:
        if not hasattr(self, "_forecast_memo"):
            self._forecast_memo = ForecastSection(
                self.ds,
                self.period,
                self.as_of,
                self.team,
                lang=self.lang,
                currency=self.fmt.currency,
            )
        return self._forecast_memo

    def methodology(self) -> Markdown:
        """The card of every figure the report shows: formula, time basis, deals counted."""
        used = [CATALOGUE[m] for m in [*METRICS_SHOWN, *METRICS_IN_SECTIONS]]
        used += [FORECAST_CARDS[m] for m in REPORT_FORECAST_CARDS]
        several = len(self.data.pipelines) > 1  # the cards' line on several pipelines
        return _markdown(
            "\n\n".join(card.to_markdown(self.lang, pipelines=several) for card in used)
        )

    def _verdicts(self, rows: pl.DataFrame) -> list[str]:
        """The verdict sentence of each comparison row, in the report's language."""
        if self.lang == "en":
            return rows["verdict"].to_list()
        return [localised_verdict(r, self.fmt) for r in rows.iter_rows(named=True)]
