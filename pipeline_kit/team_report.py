"""The content of a team's quarterly report: every section as Markdown, a table or a chart.

The report template (``templates/team_report.ipynb``) only calls these methods and adds prose;
all numbers and sentences are produced here, where they are tested.

>>> report = TeamReport(pk.load("data/sample"), team="EMEA", period="2025-Q4")  # doctest: +SKIP
>>> report.summary()                                                           # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt

import altair as alt
import polars as pl
from IPython.display import Markdown

from pipeline_kit import charts
from pipeline_kit.dataset import Dataset
from pipeline_kit.formatting import FORMAT as _FORMAT
from pipeline_kit.formatting import fmt_days, fmt_money, fmt_pct
from pipeline_kit.formatting import missing as _missing
from pipeline_kit.metrics import (
    CATALOGUE,
    cycle_length,
    metrics_long,
    open_pipeline,
    win_rate,
    won_deal_size,
)
from pipeline_kit.periods import Period, parse_date
from pipeline_kit.stats import MIN_N

__all__ = ["TeamReport"]

METRICS_SHOWN = [
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


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _esc(text: str) -> str:
    """Escape Markdown/HTML-active characters in data values (team names, reasons)."""
    out = str(text)
    for ch in ("\\", "`", "*", "_", "[", "]", "<", ">", "|", "#"):
        out = out.replace(ch, "\\" + ch)
    return out


def _markdown(text: str) -> Markdown:
    """Markdown output with dollar signs escaped (Jupyter reads ``$...$`` as maths)."""
    return Markdown(text.replace("$", r"\$"))


class TeamReport:
    """Sections of one team's report for a period (snapshot at ``as_of``, default period end)."""

    def __init__(
        self, ds: Dataset, team: str, period: str | Period, as_of: str | dt.date | None = None
    ) -> None:
        self.ds = ds
        self.team = team
        self.period = Period.parse(period)
        self.as_of = parse_date(as_of) or self.period.end
        self.in_data = team in ds.teams
        self._scoped = ds.with_deal_columns(
            scope=pl.when(pl.col("team") == team).then(pl.lit("team")).otherwise(pl.lit("rest"))
        )
        self._team = ds.filter_deals(pl.col("team") == team)

    # ------------------------------------------------------------------ helpers

    def _benchmark(self, metric: str) -> tuple[float | None, str]:
        """External benchmark for ``metric``: team scope first, then 'all'."""
        bench = self.ds.tables.get("benchmarks")
        if bench is None or bench.height == 0:
            return None, ""
        rows = bench.filter(pl.col("metric") == metric)
        for scope in (self.team, "all", None):
            hit = rows.filter(
                pl.col("scope").is_null() if scope is None else pl.col("scope") == scope
            )
            if hit.height:
                source = hit["source"][0] or "benchmarks table"
                return float(hit["value"][0]), source
        return None, ""

    # ------------------------------------------------------------------ sections
    def header(self) -> Markdown:
        from pipeline_kit import __version__

        lines = [
            f"# {_esc(self.team)}: pipeline report {self.period.label}",
            "",
            f"Period **{self.period.start} to {self.period.end}** · snapshot as of "
            f"**{self.as_of}** · data `{self.ds.path.name}` (source {self.ds.source}, "
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
        p = self.period.label
        wr = win_rate(self._scoped, self.period, by="scope")
        team = wr.filter(pl.col("scope") == "team")
        rest = wr.filter(pl.col("scope") == "rest")
        bullets = [self._win_rate_sentence(team, rest, p)]
        pipe = open_pipeline(self._team, self.as_of)
        n_open, value = int(pipe["open_deals"].sum()), pipe["open_value"].sum()
        if n_open:
            weighted = (
                f" ({fmt_money(pipe['weighted_value'].sum())} weighted by stage probability)"
                if pipe["weighted_value"].is_not_null().any()
                else " (no stage probabilities, so no weighted figure)"
            )
            bullets.append(
                f"As of {self.as_of} the team has **{n_open:,} open deals** worth "
                f"**{fmt_money(value)}**{weighted}."
            )
        else:
            bullets.append(f"As of {self.as_of} the team has no open deals.")
        size = won_deal_size(self._team, self.period)
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
        cyc = cycle_length(self._team, self.period)
        if int(cyc["n"][0]):
            bullets.append(
                f"Deals closed in {p} took **{fmt_days(cyc['mean'][0])}** on average from creation "
                f"to close (median {fmt_days(cyc['median'][0])}, n = {int(cyc['n'][0])}; won and "
                "lost deals, open deals not counted)."
            )
        return _markdown("\n".join(f"- {b}" for b in bullets))

    def _win_rate_sentence(self, team: pl.DataFrame, rest: pl.DataFrame, p: str) -> str:
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
        scoped = metrics_long(
            self._scoped, self.period, as_of=self.as_of, by="scope", metrics=METRICS_SHOWN
        ).filter(pl.col("detail").is_null())
        whole = metrics_long(self.ds, self.period, as_of=self.as_of, metrics=METRICS_SHOWN).filter(
            pl.col("detail").is_null()
        )
        columns = {
            "team": scoped.filter(pl.col("scope") == "team"),
            "rest": scoped.filter(pl.col("scope") == "rest"),
            "all": whole,
        }
        rows = []
        for metric in METRICS_SHOWN:
            card = CATALOGUE[metric]
            fmt = _FORMAT[card.unit]
            cells = [card.title]
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
        return _markdown(table + note)

    def pipeline_chart(self) -> alt.TopLevelMixin:
        return charts.pipeline_by_stage(
            open_pipeline(self._team, self.as_of),
            title=f"Open pipeline by stage: {self.team}",
        )

    def pipeline_table(self) -> Markdown:
        pipe = open_pipeline(self._team, self.as_of)
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

    def win_rate_by_team_chart(self) -> alt.TopLevelMixin:
        bench, _ = self._benchmark("win_rate")
        label = f"benchmark {fmt_pct(bench, 0)}" if bench is not None else ""
        return charts.win_rate_by_group(
            win_rate(self.ds, self.period, by="team"),
            "team",
            benchmark=bench,
            benchmark_label=label,
            highlight=self.team,
            title=f"Win rate by team, {self.period.label}",
        )

    def win_rate_by_rep_chart(self) -> alt.TopLevelMixin:
        org = win_rate(self.ds, self.period)
        org_rate = org["win_rate"][0]
        return charts.win_rate_by_group(
            win_rate(self._team, self.period, by="owner"),
            "owner",
            benchmark=org_rate,
            benchmark_label=f"organisation {fmt_pct(org_rate, 0)}",
            title=f"Win rate by rep: {self.team}, {self.period.label}",
        )

    def benchmark_note(self) -> Markdown:
        bench, source = self._benchmark("win_rate")
        if bench is None:
            return _markdown("No external win-rate benchmark was provided (add benchmarks.csv).")
        return _markdown(
            f"The dashed line is the win-rate benchmark of **{fmt_pct(bench)}** ({_esc(source)})."
        )

    def data_quality(self) -> Markdown:
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

    def methodology(self) -> Markdown:
        return _markdown("\n\n".join(CATALOGUE[m].to_markdown() for m in METRICS_SHOWN))
