"""The content of a team's quarterly report: every section as Markdown, a table or a chart.

The report template (``templates/team_report.ipynb``) only calls these methods and adds prose;
all sentences, tables and charts are produced here, where they are tested, from the figures
:class:`~pipeline_kit.report_data.TeamData` fetches (the team's scope, benchmarks, metrics).

>>> report = TeamReport(pk.load("data/sample"), team="EMEA", period="2025-Q4")  # doctest: +SKIP
>>> report.summary()                                                           # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import altair as alt
import polars as pl
from IPython.display import Markdown

from pipeline_kit import charts, trend_sections
from pipeline_kit.dataset import Dataset
from pipeline_kit.forecasting.cards import FORECAST_CARDS, REPORT_FORECAST_CARDS
from pipeline_kit.forecasting.sections import ForecastSection
from pipeline_kit.formatting import FORMAT as _FORMAT
from pipeline_kit.formatting import fmt_days, fmt_money, fmt_pct
from pipeline_kit.formatting import missing as _missing
from pipeline_kit.metrics import CATALOGUE
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


@fail_softly
class TeamReport:
    """Sections of one team's report for a period (snapshot at ``as_of``, default period end)."""

    def __init__(
        self, ds: Dataset, team: str, period: str | Period, as_of: str | dt.date | None = None
    ) -> None:
        self.data = TeamData.of(ds, team, period, as_of)
        self.ds = ds
        self.team = team
        self.period = self.data.period
        self.as_of = self.data.as_of
        self.in_data = self.data.in_data
        self.shape = self.data.shape
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
        return _markdown(f"No {what}: {reason}.") if reason else None

    # ------------------------------------------------------------------ sections
    def header(self) -> Markdown:
        """The title, period, snapshot day and data file (source, fingerprint) of the report."""
        from pipeline_kit import __version__

        when = (
            "**Whole export** (no dates: a win/loss analysis; sections over time are left out "
            "and say why)"
            if self.period.is_all
            else f"Period **{self.period.start} to {self.period.end}** · snapshot as of "
            f"**{self.as_of}**"
        )
        title = "win/loss report" if self.period.is_all else f"pipeline report {self.period.label}"
        lines = [
            f"# {_esc(self.team)}: {title}",
            "",
            f"{when} · data `{self.ds.path.name}` (source {self.ds.source}, "
            f"fingerprint `{self.ds.fingerprint}`) · pipeline_kit {__version__}",
        ]
        if not self.in_data:
            lines += [
                "",
                f"> **No valid deals for team {_esc(self.team)} in this dataset.** "
                "Check the team name and the data-quality section.",
            ]
        return _markdown("\n".join(lines))

    def summary(self) -> Markdown:
        """Headline sentences: win rate, pipeline, deal size, cycle length, each with n."""
        p = self.period_name
        team, rest = self.data.win_rates_team_and_rest()
        bullets = [self._win_rate_sentence(team, rest, p)]
        pipe = self.data.open_pipeline()
        n_open, value = int(pipe["open_deals"].sum()), _as_float(pipe["open_value"].sum())
        no_pipeline = self.shape.why_no_open_pipeline()
        if no_pipeline:
            bullets.append(no_pipeline[0].upper() + no_pipeline[1:] + ".")
        elif n_open:
            weighted_value = _as_float(pipe["weighted_value"].sum())
            weighted = (
                f" ({fmt_money(weighted_value)} weighted by stage probability)"
                if pipe["weighted_value"].is_not_null().any()
                else " (no stage probabilities, so no weighted figure)"
            )
            bullets.append(
                f"As of {self.as_of} the team has **{n_open:,} open deals** worth "
                f"**{fmt_money(value)}**{weighted}."
            )
        else:
            bullets.append(f"As of {self.as_of} the team has no open deals.")
        size = self.data.won_deal_size()
        n_won = int(size["n"][0])
        if n_won:
            caution = "" if size["enough_data"][0] else " Too few won deals for a reliable average."
            bullets.append(
                f"Won deals averaged **{fmt_money(size['mean'][0])}** (median "
                f"{fmt_money(size['median'][0])}, 95% CI for the mean "
                f"{fmt_money(size['ci_low'][0])} to {fmt_money(size['ci_high'][0])}, "
                f"n = {n_won}); bookings "
                f"{fmt_money(size['total'][0])}.{caution}"
            )
        cyc = self.data.cycle_length()
        if int(cyc["n"][0]):
            bullets.append(
                f"Deals closed in {p} took **{fmt_days(cyc['mean'][0])}** on average from creation "
                f"to close (median {fmt_days(cyc['median'][0])}, n = {int(cyc['n'][0])}; won and "
                "lost deals, open deals not counted)."
            )
        return _markdown("\n".join(f"- {b}" for b in bullets))

    def _win_rate_sentence(self, team: pl.DataFrame, rest: pl.DataFrame, p: str) -> str:
        unreadable = self.shape.why_no_win_rate()
        if unreadable:
            return "No win rate: " + unreadable + "."
        n = int(team["n"][0]) if team.height else 0
        rest_txt = ""
        if rest.height and rest["n"][0]:
            r = rest.row(0, named=True)
            rest_txt = (
                f" The rest of the organisation: {fmt_pct(r['win_rate'])} "
                f"(95% CI {fmt_pct(r['ci_low'])} to {fmt_pct(r['ci_high'])}, n = {r['n']:,})."
            )
        if n == 0:
            return f"No deals were won or lost in {p}, so there is no win rate." + rest_txt
        t = team.row(0, named=True)
        observed = (
            f"{fmt_pct(t['win_rate'])} (95% CI {fmt_pct(t['ci_low'])} to {fmt_pct(t['ci_high'])})"
        )
        if n < MIN_N:
            return (
                f"Only {n} deals closed in {p} (won {t['won']}): **not enough data** for a "
                f"reliable win rate; observed {observed}." + rest_txt
            )
        return (
            f"The team won **{t['won']} of {n}** deals closed in {p}: win rate "
            f"**{observed}**." + rest_txt
        )

    def key_metrics(self) -> Markdown:
        """Team vs rest of the organisation vs whole organisation, every figure with n."""
        columns = self.data.key_metrics(METRICS_SHOWN)
        rows = []
        unreadable = {
            "win_rate": self.shape.why_no_win_rate(),
            "open_deals": self.shape.why_no_open_pipeline(),
            "open_value": self.shape.why_no_open_pipeline(),
            "weighted_pipeline": self.shape.why_no_open_pipeline(),
        }
        reasons = []
        for metric in METRICS_SHOWN:
            card = CATALOGUE[metric]
            fmt = _FORMAT[card.unit]
            cells = [card.title]
            if unreadable.get(metric):
                if unreadable[metric] not in reasons:
                    reasons.append(unreadable[metric])
                mark = f"[{reasons.index(unreadable[metric]) + 1}]"
                rows.append([card.title, *[f"not shown {mark}"] * 3])
                continue
            for frame in columns.values():
                hit = frame.filter(pl.col("metric") == metric)
                if hit.height == 0:
                    cells.append("–")
                    continue
                r = hit.row(0, named=True)
                text = fmt(r["value"])
                if r["ci_low"] is not None and not _missing(r["ci_low"]):
                    text += f" ({fmt(r['ci_low'])} to {fmt(r['ci_high'])})"
                if (
                    card.unit in ("share", "currency", "days")
                    and metric != "bookings"
                    and "pipeline" not in metric
                    and metric != "open_value"
                ):
                    text += f", n = {r['n']:,}"
                    if r["n"] < MIN_N:
                        text += " · not enough data"
                cells.append(text)
            rows.append(cells)
        table = _md_table(
            ["Metric", _esc(self.team), "Rest of organisation", "Whole organisation"], rows
        )
        note = (
            f"\n\nRates and averages show the 95% interval in brackets and the number of deals "
            f"they rest on; below {MIN_N} deals the figure is marked *not enough data*."
        )
        for i, reason in enumerate(reasons, start=1):
            note += f"\n\n[{i}] Not shown because {reason}."
        return _markdown(table + note)

    def pipeline_chart(self) -> alt.TopLevelMixin | Markdown:
        """The team's open pipeline by stage on the snapshot day, as a chart."""
        reason = self.shape.why_no_open_pipeline()
        if reason:
            return _markdown(f"No pipeline chart: {reason}.")
        return charts.pipeline_by_stage(
            self.data.open_pipeline(),
            title=f"Open pipeline by stage: {self.team}",
        )

    def pipeline_table(self) -> Markdown:
        """The team's open pipeline by stage: deals, value and weighted value."""
        if self.shape.why_no_open_pipeline():
            return _markdown("")  # the chart's place says why
        pipe = self.data.open_pipeline()
        if pipe.height == 0:
            return _markdown(f"{_esc(self.team)} had no open deals on {self.as_of}.")
        rows = [
            [
                _esc(r["stage"]),
                f"{r['open_deals']:,}",
                fmt_money(r["open_value"]),
                fmt_money(r["weighted_value"]),
            ]
            for r in pipe.iter_rows(named=True)
        ]
        text = _md_table(["Stage", "Open deals", "Value", "Weighted value"], rows)
        if self.ds.stage_history_approximate:
            text += (
                "\n\n*Stage history was derived from the deals' current state: stages as of a "
                "past date are approximate.*"
            )
        return _markdown(text)

    def win_rate_by_team_chart(self) -> alt.TopLevelMixin | Markdown:
        """Every team's win rate in the period, the team highlighted, against the benchmark."""
        if self.shape.why_no_win_rate():
            return _markdown(f"No win-rate chart: {self.shape.why_no_win_rate()}.")
        bench, _ = self.data.benchmark("win_rate")
        label = f"benchmark {fmt_pct(bench, 0)}" if bench is not None else ""
        return charts.win_rate_by_group(
            self.data.win_rate_by_team(),
            "team",
            benchmark=bench,
            benchmark_label=label,
            highlight=self.team,
            title=f"Win rate by team, {self.period_name}",
        )

    def win_rate_by_rep_chart(self) -> alt.TopLevelMixin | Markdown:
        """The win rate of each rep of the team against the organisation's rate."""
        reason = self.shape.why_no_win_rate() or self.shape.why_no_reps()
        if reason:
            return _markdown(f"No rep win rates: {reason}.")
        org_rate = self.data.organisation_win_rate()
        return charts.win_rate_by_group(
            self.data.win_rate_by_rep(),
            "owner",
            benchmark=org_rate,
            benchmark_label=f"organisation {fmt_pct(org_rate, 0)}",
            title=f"Win rate by rep: {self.team}, {self.period_name}",
        )

    def segments_table(self, top: int = 8) -> Markdown:
        """Win rate by segment for the team in the period: a win/loss analysis by any column.

        Segments: deal type, lead source, industry, ... and the export's own segment columns.
        """
        reason = self.shape.why_no_win_rate()
        if reason:
            return _markdown(f"No win rate by segment: {reason}.")
        columns = self.data.segment_columns()
        if not columns:
            return _markdown(
                "No win rate by segment: the export has no segment column (deal type, lead "
                "source, industry, region, product, or a column of its own with 2 to 12 values)."
            )
        rows = []
        for column in columns:
            rates = self.data.win_rate_by_segment(column)
            for r in rates.sort("n", descending=True).head(top).iter_rows(named=True):
                thin = " · not enough data" if r["n"] < MIN_N else ""
                rows.append(
                    [
                        _esc(column.replace("_", " ")),
                        _esc(r[column] if r[column] is not None else "(empty)"),
                        f"{r['won']} / {r['n']}",
                        f"{fmt_pct(r['win_rate'])} ({fmt_pct(r['ci_low'])} to "
                        f"{fmt_pct(r['ci_high'])}){thin}",
                    ]
                )
        if not rows:
            return _markdown(f"No deal of {_esc(self.team)} closed in {self._span}.")
        return _markdown(
            _md_table(["Segment", "Value", "Won / closed", "Win rate (95% CI)"], rows)
            + "\n\nDescriptive: with many segments some differ by chance alone; compare "
            "the intervals, and test a difference you would act on (`pk.compare(..., by=...)`)."
        )

    def benchmark_note(self) -> Markdown:
        """Where the win-rate benchmark (the dashed line) comes from, or that there is none."""
        bench, source = self.data.benchmark("win_rate")
        if bench is None:
            return _markdown("No external win-rate benchmark was provided (add benchmarks.csv).")
        return _markdown(
            f"The dashed line is the win-rate benchmark of **{fmt_pct(bench)}** ({_esc(source)})."
        )

    def data_quality(self) -> Markdown:
        """Rows read, valid and quarantined per table, the rows kept out and why, loading notes."""
        lines = [
            _md_table(
                ["Table", "Rows read", "Valid", "Quarantined"],
                [
                    [r["table"], f"{r['read']:,}", f"{r['valid']:,}", f"{r['quarantined']:,}"]
                    for r in self.ds.counts.iter_rows(named=True)
                ],
            )
        ]
        problems = self.ds.problems()
        if problems.height:
            lines += ["", "Rows kept out of every figure:"]
            lines += [
                f"- {r['rows']:,} row(s) of {r['table']}: {_esc(r['problem'])}. "
                f"*What to do:* {_esc(r['fix'])}"
                for r in problems.iter_rows(named=True)
            ]
        else:
            lines += ["", "Every input row passed validation."]
        if self.ds.notes:
            lines += ["", "Notes from loading:"] + [f"- {_esc(n)}" for n in self.ds.notes]
        return _markdown("\n".join(lines))

    # ------------------------------------------------------------------ statistics
    def executive_summary(self) -> Markdown:
        """The findings that matter: clear differences first (smallest q), then what is unclear."""
        rows = self.data.comparison()
        if rows.height == 0:
            return _markdown(
                f"No deals for {_esc(self.team)} in {self.period_name}: nothing to compare."
            )
        clear = rows.filter(pl.col("direction").is_in(["above", "below"])).sort("q_value")
        family = self.data.every_team_comparison()["p_value"].is_not_null().sum()
        lines = []
        no_trailing = (
            ""
            if self.data.has_trailing_comparison or self.period.is_all
            else f"\n- Not compared with the team's previous four quarters: that needs a "
            f"quarter, and this report covers {self.period.label}."
        )
        if self.period.is_all:
            no_trailing += (
                "\n- Not compared with the team's previous quarters: this export has no dates."
            )
        if self.shape.teams == 1:
            no_trailing += (
                "\n- Not compared with the rest of the organisation: this export holds one "
                "team, so there is no other team to compare with."
            )
        headline = self._headline()
        if (rows["direction"] == "not enough data").all():
            return _markdown(
                headline
                + f"**No verdict for {self._span}**: "
                + "; ".join(self._thin_reasons(rows))
                + ". The figures below are descriptive."
                + no_trailing
            )
        if clear.height:
            lines.append(
                f"**{clear.height} clear difference(s)** (Benjamini-Hochberg q < 0.05; "
                f"the correction covers the {family:,} comparisons of every team with enough "
                f"data to test in {self._span}, {rows['p_value'].is_not_null().sum()} of them "
                "in this report):"
            )
            lines += [f"- {_esc(v)}" for v in clear["verdict"]]
        else:
            lines.append(
                f"No clear difference from any benchmark in {self._span}: the figures below "
                "are within what chance alone would produce."
            )
        warnings = rows.filter(pl.col("warning").is_not_null())["warning"].unique().to_list()
        lines += [f"- *Caution:* {_esc(w)}" for w in warnings]
        thin = rows.filter(pl.col("direction") == "not enough data")
        if thin.height:
            lines.append("- No verdict on: " + "; ".join(self._thin_reasons(thin)) + ".")
        return _markdown(headline + "\n".join(lines) + no_trailing)

    def _headline(self) -> str:
        """Where the quarter stands, before what differs; empty lines left out.

        Bookings against target, the pipeline due next period against its target, slipped
        deals.
        """
        lines = []
        won = self.data.won_deal_size().row(0, named=True)
        bookings = f"**Bookings {fmt_money(won['total'] or 0)}** from {won['n']:,} won deal(s)"
        if self.ds.has("targets") and not self.period.is_all:
            target = self.data.bookings_vs_target()
            if target.height and target["target"][0]:
                t = target.row(0, named=True)
                bookings += (
                    f": {fmt_pct(t['attainment'], 0)} of the {fmt_money(t['target'])} target"
                )
        lines.append(bookings + ".")
        if not self.shape.why_no_open_pipeline() and not self.period.is_all:
            cover = self.data.pipeline_due_next_period()
            if cover.height and cover["due_deals"][0]:
                c = cover.row(0, named=True)
                text = (
                    f"Open pipeline due in {c['next_period']}: {fmt_money(c['due_value'])} in "
                    f"{c['due_deals']:,} deal(s)"
                )
                if c["coverage"] is not None:
                    text += f", {c['coverage']:.1f}x that period's target"
                elif self.ds.has("targets"):
                    text += f" (no target for {c['next_period']}, so no coverage ratio)"
                lines.append(text + ".")
            slipped = self.data.slipped_deals()
            if slipped.height:
                worth = fmt_money(_as_float(slipped["amount"].sum()))
                lines.append(
                    f"{slipped.height:,} open deal(s) worth {worth} "
                    f"are past their expected close date on {self.as_of} (slipped)."
                )
        return "\n".join(f"- {line}" for line in lines) + "\n\n"

    def _thin_reasons(self, thin: pl.DataFrame) -> list[str]:
        """Why each comparison without a verdict has none, with the real counts."""
        reasons = []
        for metric, group in thin.group_by("metric", maintain_order=True):
            name = str(metric[0]).replace("_", " ")
            if metric[0] == "win_rate" and self.shape.why_no_win_rate():
                reasons.append(f"{name} ({self.shape.why_no_win_rate()})")
                continue
            if metric[0] == "cycle_length_km_days" and self.shape.undated:
                reasons.append(
                    f"{name} (the comparison follows deals from creation to close "
                    "over time, and this export has no dates)"
                )
                continue
            n = int(_as_float(group["n"].max()) or 0)
            parts = [f"{n} deal(s) behind it in {self._span}"] if n < MIN_N else []
            for r in group.iter_rows(named=True):
                m = r["n_benchmark"]
                m = None if m is None or m != m else int(m)  # NaN: no such benchmark
                if r["kind"] == "trailing":
                    if not m:
                        parts.append("the team has no deals in its previous four quarters")
                    elif m < MIN_N:
                        parts.append(f"its previous four quarters hold {m} deal(s)")
                elif r["kind"] == "rest_of_org" and self.shape.teams > 1 and (m or 0) < MIN_N:
                    parts.append(f"the rest of the organisation has {m or 0} deal(s)")
            if not parts:
                parts.append("too few deals on one side")
            reasons.append(f"{name} ({'; '.join(parts)}; a verdict needs {MIN_N} on each side)")
        return reasons

    def forest_chart(self) -> alt.TopLevelMixin:
        """The team's comparisons with the benchmarks as a forest plot, each with its interval."""
        return charts.forest_plot(
            self.data.comparison(), title=f"{self.team} against the benchmarks"
        )

    # ------------------------------------------------------------------ sections
    def funnel_chart(self) -> alt.TopLevelMixin | Markdown:
        """Deals entering each stage in the period, with the conversion to the next."""
        if (note := self._undated_note("stage funnel over time")) is not None:
            return note
        return charts.funnel(
            self.data.stage_conversion(),
            title=f"Funnel: {self.team}, {self.period.label}",
        )

    def conversion_chart(self) -> alt.TopLevelMixin | Markdown:
        """Conversion per stage with its Wilson interval (incomplete cohorts in grey)."""
        if (note := self._undated_note("stage conversion over time")) is not None:
            return note
        return charts.stage_conversion_chart(self.data.stage_conversion())

    def cycle_chart(self) -> alt.TopLevelMixin | Markdown:
        """Share of the period's new deals still open over time, the team beside the rest."""
        if (note := self._undated_note("curve of deals closing over time")) is not None:
            return note
        curve = self.data.cycle_curves()
        return charts.km_curves(curve, "scope", title="Share of the quarter's new deals still open")

    def velocity_note(self) -> Markdown:
        """Pipeline velocity per day and the four figures it is made of."""
        reason = self.shape.why_no_open_pipeline() or self.shape.why_no_win_rate()
        if reason:
            return _markdown(f"No pipeline velocity: {reason}.")
        v = self.data.velocity()
        if not v["n"] or v["velocity_per_day"] is None:
            return _markdown("Not enough closed deals this period to compute pipeline velocity.")
        caution = "" if v["enough_data"] else " (few closed deals: read with care)"
        return _markdown(
            f"Pipeline velocity: **{fmt_money(v['velocity_per_day'])} per day**{caution} = "
            f"{v['open_qualified']} qualified open deals x {fmt_pct(v['win_rate'])} win rate x "
            f"{fmt_money(v['avg_won_deal_size'])} average won deal / "
            f"{fmt_days(v['avg_cycle_days_won'])} average cycle of won deals."
        )

    def deal_size_chart(self) -> alt.TopLevelMixin:
        """Won deal sizes of the team beside the rest of the organisation."""
        dist = self.data.deal_sizes()
        return charts.deal_size_chart(dist, "scope")

    def revenue_section(self) -> Markdown:
        """The team's bookings (new, expansion, renewal) against its target."""
        if (note := self._undated_note("bookings against a target period")) is not None:
            return note
        if not self.ds.has("targets"):
            return _markdown(
                "Provide targets.csv (team, period_start, period_end, target) to "
                "compare bookings with target."
            )
        row = self.data.bookings_vs_target()
        if row.height == 0:
            return _markdown("No bookings and no target for this team in the period.")
        r = row.row(0, named=True)
        return _markdown(
            _md_table(
                ["Bookings", "New", "Expansion", "Renewal", "Target", "Attainment"],
                [
                    [
                        fmt_money(r["bookings"]),
                        fmt_money(r["bookings_new"]),
                        fmt_money(r["bookings_expansion"]),
                        fmt_money(r["bookings_renewal"]),
                        fmt_money(r["target"]),
                        fmt_pct(r["attainment"], 0),
                    ]
                ],
            )
        )

    def lost_reasons_chart(self) -> alt.TopLevelMixin:
        """Share of the team's lost deals per reason, with its interval."""
        return charts.lost_reasons_chart(self.data.lost_reasons())

    def competitor_chart(self) -> alt.TopLevelMixin:
        """The team's win rate against each competitor."""
        return charts.competitor_chart(self.data.competitor_win_rates())

    def rep_chart(self) -> alt.TopLevelMixin | Markdown:
        """Funnel plot of the team's reps: win rate against deals closed."""
        reason = self.shape.why_no_reps() or self.shape.why_no_win_rate()
        if reason:
            return _markdown(f"No rep funnel plot: {reason}.")
        return charts.rep_funnel_plot(self.data.reps())

    def rep_table(self) -> Markdown:
        """Each rep's raw and shrunk win rate, and where the funnel plot puts them."""
        if self.shape.why_no_reps() or self.shape.why_no_win_rate():
            return _markdown("")  # the funnel plot's place says why
        reps = self.data.reps()
        if reps.height == 0:
            return _markdown("No rep closed a deal in this period.")
        rows = [
            [
                _esc(r["owner"]),
                f"{r['won']} / {r['n']}",
                fmt_pct(r["rate"]),
                f"{fmt_pct(r['shrunk'])} ({fmt_pct(r['ci_low'])} to {fmt_pct(r['ci_high'])})",
                r["flag"] or "within limits",
            ]
            for r in reps.sort("shrunk", descending=True).iter_rows(named=True)
        ]
        return _markdown(
            _md_table(
                ["Rep", "Won / closed", "Raw rate", "Shrunk rate (95% interval)", "Funnel plot"],
                rows,
            )
            + "\n\nThe shrunk rate pulls each rep towards the organisation's rate in "
            "proportion to how few deals they closed: rank reps on it, not on "
            "the raw rate."
        )

    def leads_section(self) -> Markdown | alt.TopLevelMixin:
        """Response time to the team's leads by lead source, against the benchmark."""
        if (note := self._undated_note("lead response over time")) is not None:
            return note
        if not self.ds.has("leads"):
            return _markdown("Provide leads.csv to see lead conversion and response times.")
        if self.data.leads_scope() is None:
            return _markdown(
                "leads.csv has no team column and this export holds several teams: lead "
                "figures cannot be split by team (see the organisation summary)."
            )
        times = self.data.lead_response_by_source()
        bench, _ = self.data.benchmark("lead_response_hours")
        return charts.lead_response_chart(
            times, "source", benchmark=bench, title=f"Lead response time by source: {self.team}"
        )

    def lead_funnel_table(self) -> Markdown:
        """The team's leads through qualification, conversion and win, and the time to win."""
        if (undated := self._undated_note("lead funnel over time")) is not None:
            return undated
        if not self.ds.has("leads") or self.data.leads_scope() is None:
            return _markdown("")
        # lead outcomes are read at the report's snapshot day, as the header says
        f = self.data.lead_funnel()
        note = f"\n\nOutcomes as of {self.as_of}." + (
            " Recent leads are still converting: figures will rise." if f["incomplete"] else ""
        )
        t = self.data.lead_time_to_win()
        if t["n"] and t["won_within"] is not None:
            median = (
                f"half of them were won within {fmt_days(t['median_days'])}"
                if t["median_days"] is not None
                else "fewer than half are won, so there is no median time to win"
            )
            note += (
                f"\n\nCounting the leads not won yet (Kaplan-Meier): "
                f"{fmt_pct(t['won_within'])} of the period's leads became won deals within 90 "
                f"days (95% CI {fmt_pct(t['won_within_ci_low'])} to "
                f"{fmt_pct(t['won_within_ci_high'])}, {t['won']:,} won of {t['n']:,}); {median}."
            )
        return _markdown(
            _md_table(
                ["Leads", "Qualified", "Became opportunities", "Won"],
                [
                    [
                        f"{f['created']:,}",
                        f"{f['qualified']:,} ({fmt_pct(f['qualified_rate'])})",
                        f"{f['converted']:,} ({fmt_pct(f['conversion_rate'])})",
                        f"{f['won']:,} ({fmt_pct(f['lead_win_rate'])})",
                    ]
                ],
            )
            + note
        )

    def activity_chart(self) -> Markdown | alt.TopLevelMixin:
        """Calls of the team's reps against the deals they won."""
        if (note := self._undated_note("activity over time")) is not None:
            return note
        if not self.ds.has("activities"):
            return _markdown("Provide activities.csv to see calls, meetings and emails per rep.")
        reps = self.data.calls_vs_closes()
        return charts.activities_vs_closes(reps, title=f"Calls against deals won: {self.team} reps")

    def collateral_chart(self) -> Markdown | alt.TopLevelMixin:
        """Win rates of the team's deals with and without each piece of collateral."""
        if (note := self._undated_note("collateral use over time")) is not None:
            return note
        if not self.ds.has("collateral_usage"):
            return _markdown("Provide collateral_usage.csv to see which content goes with wins.")
        return charts.collateral_chart(self.data.collateral_win_rates())

    def churn_section(self) -> Markdown:
        """Customer churn in the period with its interval, and CLV:CAC when spend is known."""
        if (note := self._undated_note("churn over time")) is not None:
            return note
        if not self.ds.has("customers"):
            return _markdown("Provide customers.csv to see churn and customer lifetime value.")
        c = self.data.churn()
        if c.height == 0:
            return _markdown("No customers of this team were active at the start of the period.")
        r = c.row(0, named=True)
        text = (
            f"{r['churned']} of {r['active_at_start']} customers active at the start of the "
            f"period left during it: churn {fmt_pct(r['churn_rate'])} (95% CI "
            f"{fmt_pct(r['ci_low'])} to {fmt_pct(r['ci_high'])})."
        )
        if self.ds.has("marketing_spend"):
            v = self.data.clv()
            if v.height and v["clv_cac"][0] is not None:
                w = v.row(0, named=True)
                text += (
                    f" Lifetime value {fmt_money(w['clv'])} per customer against an "
                    f"acquisition cost of {fmt_money(w['cac'])}: CLV:CAC "
                    f"{w['clv_cac']:.1f} (no margin applied)."
                )
            else:
                text += " CLV:CAC cannot be estimated this period (no churn or no new customers)."
        return _markdown(text)

    def stalled_table(self, limit: int = 15) -> Markdown:
        """Up to ``limit`` open deals in their stage longer than 90% of past deals there."""
        reason = self.shape.why_no_open_pipeline()
        if reason:
            return _markdown(f"No stalled deals to show: {reason}.")
        stalled = self.data.stalled_deals(limit)
        if stalled.height == 0:
            return _markdown(
                "No open deal has been in its stage longer than 90% of past deals in that stage."
            )
        rows = [
            [
                _esc(r["deal_id"]),
                _esc(r["owner"]),
                _esc(r["stage"]),
                fmt_money(r["amount"]),
                f"{r['days_in_stage']} days",
                f"{r['threshold_days']:.0f} days",
            ]
            for r in stalled.iter_rows(named=True)
        ]
        return _markdown(
            _md_table(
                ["Deal", "Owner", "Stage", "Amount", "In stage", "Usual maximum (90th pct)"], rows
            )
        )

    # ------------------------------------------------------------------ over time
    def period_over_period_table(self) -> Markdown:
        """The period beside the previous one and the same period a year earlier (QoQ, YoY)."""
        return trend_sections.period_over_period_table(self.data)

    def win_rate_trend_chart(self) -> alt.TopLevelMixin | Markdown:
        """The team's win rate over the last eight quarters, with its interval."""
        return trend_sections.win_rate_trend_chart(self.data)

    def pipeline_vs_target_chart(self) -> alt.TopLevelMixin | Markdown:
        """Open pipeline at each of the last eight quarters' starts against their targets."""
        return trend_sections.pipeline_vs_target_chart(self.data)

    def pipeline_size_note(self) -> Markdown:
        """How much pipeline the next quarter's target needs at the team's past conversion."""
        return trend_sections.pipeline_size_note(self.data)

    def seasonality_chart(self) -> alt.TopLevelMixin | Markdown:
        """The team's deals created per calendar month (seasonality)."""
        return trend_sections.seasonality_chart(self.data)

    def lost_by_stage_table(self) -> Markdown:
        """The team's losses by the stage they were lost from, with each stage's top reasons."""
        return trend_sections.lost_by_stage_table(self.data)

    def conversion_alerts(self) -> Markdown:
        """Stages whose conversion this quarter is outside their p-chart control limits."""
        return trend_sections.conversion_alerts(self.data)

    def conversion_control_chart(self) -> alt.TopLevelMixin | Markdown:
        """The team's stage conversion this quarter inside its control limits."""
        return trend_sections.conversion_control_chart(self.data)

    def needed_for_target_table(self) -> Markdown:
        """Won deals, deals to close, leads and activities the target takes at the team's rates."""
        return trend_sections.needed_for_target_table(self.data)

    def deal_lists_appendix(self, limit: int = 10) -> Markdown:
        """The deals behind the counts (won, lost, open, stalled, slipped), ``limit`` per list."""
        return trend_sections.deal_lists_appendix(self.data, limit)

    def unused_content_note(self) -> Markdown:
        """The content the team's deals have not used for six months."""
        return trend_sections.unused_content_note(self.data)

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
            self._forecast_memo = ForecastSection(self.ds, self.period, self.as_of, self.team)
        return self._forecast_memo

    def methodology(self) -> Markdown:
        """The card of every figure the report shows: formula, time basis, deals counted."""
        used = [CATALOGUE[m] for m in [*METRICS_SHOWN, *METRICS_IN_SECTIONS]]
        used += [FORECAST_CARDS[m] for m in REPORT_FORECAST_CARDS]
        return _markdown("\n\n".join(card.to_markdown() for card in used))


def _as_float(value: object) -> float | None:
    """A polars scalar (``Series.sum()``, ``.max()``) as a float; None stays None.

    polars types these aggregates as any Python value a column can hold; the columns summed
    here are numbers, so anything else is a bug and raises.
    """
    if value is None:
        return None
    if isinstance(value, int | float | Decimal):
        return float(value)
    raise TypeError(f"expected a number, got {value!r}")
