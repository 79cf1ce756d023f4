"""What a team report is about, and the figures its sections show.

:class:`TeamData` decides the report's scope (which deals and leads are the team's, the
period and the snapshot day, which benchmark applies, the organisation-wide comparison it
reads) and fetches every figure a section of :class:`~pipeline_kit.team_report.TeamReport`
formats. The sections then only turn frames into sentences, tables and charts.

>>> data = TeamData.of(pk.load("data/sample"), team="EMEA", period="2025-Q4")  # doctest: +SKIP
>>> data.benchmark("win_rate")                                                 # doctest: +SKIP
(0.28, 'illustrative, not a measured figure')
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import polars as pl

from pipeline_kit.comparisons import compare_teams, load_benchmarks, rep_win_rates
from pipeline_kit.comparisons.benchmarks import external_benchmark, trailing_period
from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics import (
    bookings_vs_target,
    calls_per_deal_by_industry,
    calls_vs_closes,
    churn,
    churn_reasons,
    clv,
    collateral_win_rates,
    competitor_win_rates,
    cycle_length,
    cycle_length_curve,
    deal_list,
    deal_size_distribution,
    lead_funnel,
    lead_response_time,
    lead_time_to_win,
    lost_reasons,
    lost_reasons_by_stage,
    metrics_long,
    needed_for_target,
    open_pipeline,
    period_over_period,
    pipeline_coverage,
    pipeline_vs_target,
    quarterly_trend,
    seasonality,
    slipped_deals,
    stage_conversion,
    stage_conversion_control,
    stalled_deals,
    unused_content,
    velocity,
    win_rate,
    won_deal_size,
)
from pipeline_kit.metrics._common import amount_total, as_period, pipelines, resolve_as_of
from pipeline_kit.metrics.collateral import content_stages
from pipeline_kit.metrics.long_format import WHOLE_EXPORT_METRICS
from pipeline_kit.metrics.pipeline import next_period, open_at, share_stalled_deals
from pipeline_kit.periods import Period
from pipeline_kit.shape import DataShape

__all__ = ["SEGMENT_COLUMNS", "TeamData", "report_period"]

TREND_QUARTERS = 8  # the quarters of a team's trends

SEGMENT_COLUMNS = ("deal_type", "lead_source", "industry", "region", "product", "pipeline")
"""The canonical columns a team's win rate is split by, when the export has them."""

# win_rate's own output columns: an export's column of the same name (a Salesforce report's
# "Won" true/false flag, kept as the extra column won) cannot be a segment of it (the section
# failed: "column with name 'won' has more than one occurrence")
_WIN_RATE_OUTPUT = {
    "won",
    "lost",
    "n",
    "win_rate",
    "ci_low",
    "ci_high",
    "design_effect",
    "enough_data",
    "time_basis",
}
_NOT_SEGMENTS = {  # text columns that identify or describe a deal rather than group deals
    "deal_id",
    "owner",
    "team",
    "stage",
    "status",
    "lost_reason",
    "competitor",
    "account_id",
    "currency",
    "deal_name",
    "source_row",
}


def report_period(
    ds: Dataset, period: str | Period, as_of: str | dt.date | None = None
) -> tuple[Period, dt.date]:
    """The period a report covers and its snapshot day.

    ``"latest"`` is the data's last complete quarter; the snapshot day is ``as_of``, by default
    the period's last day.
    """
    resolved = as_period(period, ds)
    return resolved, resolve_as_of(ds, as_of, resolved)


@dataclass(frozen=True)
class TeamData:
    """The scope of one team's report and the figures of its sections.

    ``team_deals`` holds the team's deals only (the other tables whole); ``team_vs_rest``
    every deal, with a ``scope`` column "team" or "rest" for figures shown side by side.
    ``as_of`` is the snapshot day (default: the period's last day).
    """

    ds: Dataset
    team: str
    period: Period
    as_of: dt.date
    in_data: bool
    team_deals: Dataset
    team_vs_rest: Dataset
    shape: DataShape

    @classmethod
    def of(
        cls, ds: Dataset, team: str, period: str | Period, as_of: str | dt.date | None = None
    ) -> TeamData:
        """The report scope of ``team`` in ``period`` (``"latest"`` accepted)."""
        resolved, day = report_period(ds, period, as_of)
        return cls(
            ds=ds,
            team=team,
            period=resolved,
            as_of=day,
            in_data=team in ds.teams,
            team_deals=ds.filter_deals(pl.col("team") == team),
            team_vs_rest=ds.with_deal_columns(
                scope=pl.when(pl.col("team") == team).then(pl.lit("team")).otherwise(pl.lit("rest"))
            ),
            shape=DataShape.of(ds),
        )

    @property
    def period_name(self) -> str:
        """How the report names its period: "2025-Q4", or "the whole export".

        "The whole export" is period all (an export without dates).
        """
        return "the whole export" if self.period.is_all else self.period.label

    # ------------------------------------------------------------------ lookups

    def benchmark(self, metric: str) -> tuple[float | None, str]:
        """The external benchmark of ``metric`` for the team, and its source.

        The benchmark of the team's own scope, else ``all``, else unscoped; ``(None, "")``
        without one.
        """
        return external_benchmark(load_benchmarks(None, self.ds), metric, self.team)

    def comparison(self) -> pl.DataFrame:
        """The team's rows of the organisation-wide comparison (:func:`compare_teams`)."""
        return self.every_team_comparison().filter(pl.col("team") == self.team)

    def every_team_comparison(self) -> pl.DataFrame:
        """Every team against the benchmarks: one Benjamini-Hochberg family.

        The family is shared with the other team reports and the organisation summary.
        """
        return compare_teams(self.ds, self.period)

    @property
    def has_trailing_comparison(self) -> bool:
        """Whether the comparison covers the team's previous quarters (quarter periods)."""
        return trailing_period(self.period, 4) is not None

    def segment_columns(self) -> list[str]:
        """Columns to split the win rate by, at most 6.

        The canonical segments, then extra text columns of the export with 2 to 12 values (a
        segment, not an id or a name).
        """
        deals = self.team_deals.tables["deals"]
        extra = [
            c
            for c, t in deals.schema.items()
            if t == pl.String
            and c not in _NOT_SEGMENTS
            and c not in SEGMENT_COLUMNS
            and c not in _WIN_RATE_OUTPUT
        ]
        chosen = []
        for column in [*SEGMENT_COLUMNS, *extra]:
            if column in deals.columns and 2 <= deals[column].drop_nulls().n_unique() <= 12:
                chosen.append(column)
        return chosen[:6]

    def leads_scope(self) -> str | None:
        """How the team's leads are picked out: 'team', 'all' or None.

        'team' when leads carry a team, 'all' when they do not but the export holds one team
        (every lead is that team's), None when leads cannot be split by team.
        """
        leads = self.ds.tables["leads"]
        if "team" in leads.columns and leads["team"].null_count() < leads.height:
            return "team"
        return "all" if self.shape.teams == 1 else None

    def team_leads(self) -> Dataset:
        """The dataset with the team's leads only (all of them when leads carry no team)."""
        if self.leads_scope() == "all":
            return self.ds
        leads = self.ds.tables["leads"].filter(pl.col("team") == self.team)
        return replace(self.ds, tables={**self.ds.tables, "leads": leads})

    def _team_row(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The team's row of a frame grouped by team (empty when the team has none)."""
        return frame.filter(pl.col("team") == self.team)

    def _whole(self, key: tuple, compute: Callable[[], pl.DataFrame]) -> pl.DataFrame:
        """A table of the whole dataset (by team, or the organisation's), computed once.

        Every team's report reads the same one, and a report kernel runs many: kept with the
        dataset (:meth:`Dataset.memoised`) under ``key`` and the period.
        """
        return self.ds.memoised(("team_data", *key, self.period), compute)

    # ------------------------------------------------------------------ figures

    def win_rates_team_and_rest(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The win rate of the team's deals and of every other team's.

        One row each, or none.
        """
        wr = win_rate(self.team_vs_rest, self.period, by="scope")
        return wr.filter(pl.col("scope") == "team"), wr.filter(pl.col("scope") == "rest")

    def win_rate_by_team(self) -> pl.DataFrame:
        """Every team's win rate in the period."""
        return self._whole(("win_rate", "team"), lambda: win_rate(self.ds, self.period, by="team"))

    def organisation_win_rate(self) -> float | None:
        """The whole organisation's win rate in the period."""
        whole = self._whole(("win_rate",), lambda: win_rate(self.ds, self.period))
        return whole["win_rate"][0]

    def win_rate_by_rep(self) -> pl.DataFrame:
        """The win rate of each rep of the team."""
        return win_rate(self.team_deals, self.period, by="owner")

    def win_rate_by_segment(self, column: str) -> pl.DataFrame:
        """The team's win rate per value of ``column``, values with closed deals only."""
        return win_rate(self.team_deals, self.period, by=column).filter(pl.col("n") > 0)

    def key_metrics(self, shown: list[str]) -> dict[str, pl.DataFrame]:
        """The metrics ``shown`` for the team, the rest of the organisation and the whole one.

        Long format, totals only; on an export without dates only those with a whole-export
        reading, and no snapshot day.
        """
        shown = [m for m in shown if not self.period.is_all or m in WHOLE_EXPORT_METRICS]
        as_of = None if self.shape.undated else self.as_of
        scoped = metrics_long(
            self.team_vs_rest, self.period, as_of=as_of, by="scope", metrics=shown
        ).filter(pl.col("detail").is_null())
        whole = self._whole(
            ("metrics_long", as_of, tuple(shown)),
            lambda: metrics_long(self.ds, self.period, as_of=as_of, metrics=shown),
        ).filter(pl.col("detail").is_null())
        return {
            "team": scoped.filter(pl.col("scope") == "team"),
            "rest": scoped.filter(pl.col("scope") == "rest"),
            "all": whole,
        }

    def open_pipeline(self) -> pl.DataFrame:
        """The team's open deals by stage on the snapshot day.

        Computed once for the sections that show it (chart, table, pipeline size).
        """
        return self.team_deals.memoised(
            ("open_pipeline", self.as_of), lambda: open_pipeline(self.team_deals, self.as_of)
        )

    def won_deal_size(self) -> pl.DataFrame:
        """The team's won deals in the period: n, mean, median, total (bookings)."""
        return won_deal_size(self.team_deals, self.period)

    def cycle_length(self) -> pl.DataFrame:
        """Creation to close of the team's deals closed in the period."""
        return cycle_length(self.team_deals, self.period)

    def bookings_vs_target(self) -> pl.DataFrame:
        """The team's row of bookings against target."""
        return self._team_row(
            self._whole(
                ("bookings_vs_target",), lambda: bookings_vs_target(self.ds, self.period, by="team")
            )
        )

    def pipeline_due_next_period(self) -> pl.DataFrame:
        """The team's open pipeline due next period and its coverage of that period's target.

        Columns ``due_deals``, ``due_value``, ``without_amount`` (due deals left out of the
        value: no amount), ``next_period`` and ``coverage`` (against next period's target;
        null without targets).
        """
        if self.ds.has("targets"):
            return pipeline_coverage(
                self.team_deals, self.period, by="team", as_of=self.as_of
            ).filter(pl.col("team") == self.team)
        # no targets: the pipeline due next period, without a ratio
        following = next_period(self.period)
        due = self.team_deals.tables["deals"].filter(
            open_at(self.as_of) & following.contains("expected_close")
        )
        return pl.DataFrame(
            {
                "due_deals": [due.height],
                "due_value": [amount_total(due["amount"])],
                "without_amount": [due["amount"].null_count()],  # (left out of due_value)
                "coverage": [None],
                "next_period": [following.label],
            },
            schema_overrides={"coverage": pl.Float64},
        )

    def slipped_deals(self) -> pl.DataFrame:
        """The team's open deals past their expected close on the snapshot day."""
        return slipped_deals(self.team_deals, self.as_of)

    def stage_conversion(self) -> pl.DataFrame:
        """Stage-to-stage conversion of the team's deals."""
        return stage_conversion(self.team_deals, self.period)

    def cycle_curves(self) -> pl.DataFrame:
        """Kaplan-Meier curves of the period's new deals, the team beside the rest.

        The rest of the organisation: ``scope`` holds the team's name or "rest of
        organisation".
        """
        return cycle_length_curve(self.team_vs_rest, self.period, by="scope").with_columns(
            pl.col("scope").replace({"team": self.team, "rest": "rest of organisation"})
        )

    def velocity(self) -> dict[str, Any]:
        """The team's pipeline velocity and its parts (one row, as a dict)."""
        return velocity(self.team_deals, self.period).row(0, named=True)

    def deal_sizes(self) -> pl.DataFrame:
        """Deal-size distribution, the team beside the rest of the organisation."""
        return deal_size_distribution(self.team_vs_rest, self.period, by="scope").with_columns(
            pl.col("scope").replace({"team": self.team, "rest": "rest of organisation"})
        )

    def lost_reasons(self) -> pl.DataFrame:
        """Why the team's deals were lost."""
        return lost_reasons(self.team_deals, self.period)

    def competitor_win_rates(self) -> pl.DataFrame:
        """The team's win rate against each competitor."""
        return competitor_win_rates(self.team_deals, self.period)

    def reps(self) -> pl.DataFrame:
        """The team's reps, shrunk towards the organisation with a prior fitted on every rep.

        See :func:`rep_win_rates`; computed once for the chart and the table.
        """
        return self.ds.memoised(
            ("rep_win_rates", self.period.label, self.team),
            lambda: rep_win_rates(self.ds, self.period, scope=pl.col("team") == self.team),
        )

    def lead_response_by_source(self) -> pl.DataFrame:
        """Response time to the team's leads, by lead source."""
        return lead_response_time(self.team_leads(), self.period, by="source")

    def lead_funnel(self) -> dict[str, Any]:
        """The team's leads of the period through qualification, conversion and win.

        Outcomes read on the snapshot day; one row, as a dict.
        """
        return lead_funnel(self.team_leads(), self.period, as_of=self.as_of).row(0, named=True)

    def lead_time_to_win(self) -> dict[str, Any]:
        """Kaplan-Meier time from lead to won deal for the team's leads (one row, as a dict)."""
        return lead_time_to_win(self.team_leads(), self.period, as_of=self.as_of).row(0, named=True)

    def calls_vs_closes(self) -> pl.DataFrame:
        """Calls and won deals of the team's reps, with the team's rank correlation."""
        return self._team_row(
            self._whole(
                ("calls_vs_closes",), lambda: calls_vs_closes(self.ds, self.period, by="team")
            )
        )

    def collateral_win_rates(self) -> pl.DataFrame:
        """Win rates of the team's deals with and without each piece of collateral.

        :func:`~pipeline_kit.collateral_win_rates` of the team's deals, with each content's
        stage (:func:`~pipeline_kit.metrics.collateral.content_stages`: every deal's uses,
        whichever team's report) computed once for the reports of the dataset.
        """
        stages = self._whole(
            ("collateral_content_stages",), lambda: content_stages(self.ds).collect()
        )
        return collateral_win_rates(self.team_deals, self.period, content_stage=stages)

    def churn(self) -> pl.DataFrame:
        """The team's row of customer churn in the period."""
        return self._team_row(
            self._whole(("churn",), lambda: churn(self.ds, self.period, by="team"))
        )

    def clv(self) -> pl.DataFrame:
        """The team's row of customer lifetime value and CLV:CAC."""
        return self._team_row(self._whole(("clv",), lambda: clv(self.ds, self.period, by="team")))

    @property
    def pipelines(self) -> list[str]:
        """The pipelines the team's deals are in (several: the report adds a Pipelines section)."""
        return pipelines(self.team_deals)

    def by_pipeline(self) -> dict[str, pl.DataFrame]:
        """The team's figures by ``pipeline``.

        Win rate, won deal size (bookings) and cycle length of the deals closed in the period;
        open pipeline on the snapshot day.
        """
        ds, period = self.team_deals, self.period
        return {
            "win_rate": win_rate(ds, period, by="pipeline"),
            "won": won_deal_size(ds, period, by="pipeline"),
            "cycle": cycle_length(ds, period, by="pipeline"),
            "open": open_pipeline(ds, self.as_of, by="pipeline"),
        }

    def churn_reasons(self) -> pl.DataFrame:
        """The team's customers churned in the period, by churn reason (largest first)."""
        return self._team_row(
            self._whole(("churn_reasons",), lambda: churn_reasons(self.ds, self.period, by="team"))
        )

    def calls_per_deal_by_industry(self) -> pl.DataFrame:
        """Calls per deal the team closed in the period, by the deal's industry."""
        return calls_per_deal_by_industry(self.team_deals, self.period)

    def stalled_deals(self) -> pl.DataFrame:
        """The team's open deals stalled in their stage on the snapshot day.

        Longest in their stage first, then the largest (a deal without an amount last), then
        by id: the order a list to act on is read in.
        """
        self._share_stalled_deals()
        return (
            stalled_deals(self.team_deals, self.as_of)
            .filter("stalled")
            .sort(
                ["days_in_stage", "amount", "deal_id"],
                descending=[True, True, False],
                nulls_last=True,
            )
        )

    def _share_stalled_deals(self) -> None:
        """The team's stalled deals as the whole dataset's rows of the team's deals.

        The same table (a deal's reference is the whole export's history either way), computed
        once for every team: :func:`~pipeline_kit.metrics.pipeline.share_stalled_deals`.
        """
        share_stalled_deals(self.ds, self.team_deals, pl.col("team") == self.team, self.as_of)

    # ------------------------------------------------------------------ figures over time

    def period_over_period(self) -> pl.DataFrame:
        """The team's headline figures against the previous and the year-earlier period."""
        return period_over_period(self.team_deals, self.period, as_of=self.as_of)

    def quarterly_trend(self, metric: str = "win_rate") -> pl.DataFrame:
        """The team's ``metric`` over the eight quarters ending with the report's period.

        The win rate's (counts, and an interval from them: a team's row is the same whether
        computed alone or beside every team's) is read from every team's, computed once for
        the reports of the dataset, when the team has a row in each quarter there.
        """
        if metric == "win_rate":
            every = self._whole(
                ("quarterly_trend", metric),
                lambda: quarterly_trend(
                    self.ds, metric, end=self.period, quarters=TREND_QUARTERS, by="team"
                ),
            )
            rows = self._team_row(every).drop("team")
            if rows.height == TREND_QUARTERS:
                return rows
        return quarterly_trend(self.team_deals, metric, end=self.period, quarters=TREND_QUARTERS)

    def churn_trend(self) -> pl.DataFrame:
        """The team's customer churn rate over the eight quarters ending with the period."""
        return self._team_row(
            self._whole(
                ("quarterly_trend", "churn_rate"),
                lambda: quarterly_trend(self.ds, "churn_rate", end=self.period, by="team"),
            )
        )

    def lead_response_trend(self) -> pl.DataFrame:
        """Median response time to the team's leads over the eight quarters ending with it."""
        return quarterly_trend(self.team_leads(), "lead_response_hours", end=self.period)

    def pipeline_vs_target(self) -> pl.DataFrame:
        """The team's open pipeline at each of the last eight quarters' starts against target.

        Quarters that start before the data does are left out (nothing was open then).
        """
        frame = self._team_row(
            self.team_deals.memoised(  # for the chart and the pipeline-size note
                ("pipeline_vs_target", self.period),
                lambda: pipeline_vs_target(self.team_deals, self.period, by="team"),
            )
        )
        first = self.ds.first_date
        return frame if first is None else frame.filter(pl.col("as_of") >= first)

    def seasonality(self) -> pl.DataFrame:
        """The team's deals created and won per calendar month over the last three years."""
        return seasonality(self.team_deals, self.period)

    def lost_reasons_by_stage(self) -> pl.DataFrame:
        """The team's lost deals by the stage they were lost from, and why."""
        return lost_reasons_by_stage(self.team_deals, self.period)

    def stage_conversion_control(self) -> pl.DataFrame:
        """The team's stage conversion this quarter against p-chart limits from past quarters.

        ``stage_conversion_control(team_deals, period)``: nine quarters' cohorts of the team's
        deals, read at the team's last date; computed once for the alerts and the chart. (It
        was once computed for every team of the dataset at once, the team's rows kept: with
        the design effect's intraclass correlation pooled over a table's rows, since the
        tenth session, that table's limits are no longer each team's own.)
        """
        return self.team_deals.memoised(
            ("stage_conversion_control", self.period),
            lambda: stage_conversion_control(self.team_deals, self.period),
        )

    def needed_for_target(self, following: bool = False) -> pl.DataFrame:
        """What the team's target of the period (or the next one) takes at its recent rates."""
        period = self.period.following() if following else self.period
        return self._team_row(
            self._whole(
                ("needed_for_target", period), lambda: needed_for_target(self.ds, period, by="team")
            )
        )

    def deal_list(self, kind: str) -> pl.DataFrame:
        """The team's deals behind a count: won, lost, created, open, stalled or slipped.

        Flows cover the whole period; open, stalled and slipped deals are read on the
        snapshot day.
        """
        snapshot = kind in ("open", "stalled", "slipped")
        if kind == "stalled":
            self._share_stalled_deals()
        return deal_list(
            self.team_deals, self.period, kind=kind, as_of=self.as_of if snapshot else None
        )

    def unused_content(self, months: int = 6) -> pl.DataFrame:
        """Content the team's deals have not used for ``months`` months on the snapshot day."""
        # grouped by team: the uses in the team's deals only (other tables are not filtered)
        return self._team_row(
            self._whole(
                ("unused_content", self.as_of, months),
                lambda: unused_content(self.ds, self.as_of, by="team", months=months),
            )
        )
