"""The tables of a team report as an Excel workbook people can pass around.

``pipeline-kit report --xlsx`` writes ``<slug>.xlsx`` beside each team's ``<slug>.html``: a
``Contents`` sheet (what each sheet holds, or why it is missing), one sheet per table the team
report's sections are drawn from (the figures :class:`~pipeline_kit.report_data.TeamData`
fetches, unrounded, with Excel number formats for money, shares, days and counts) and a
``Definitions`` sheet with the card of every figure. The figures come from the package, not
from the executed notebook, and the file is the same byte for byte for the same data, team,
period and snapshot day.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from pipeline_kit.dataset import Dataset
from pipeline_kit.errors import DataError
from pipeline_kit.excel import NUMBER_FORMATS, definitions_frame, workbook_at
from pipeline_kit.forecasting.cards import FORECAST_CARDS, REPORT_FORECAST_CARDS
from pipeline_kit.metrics import CATALOGUE
from pipeline_kit.periods import Period
from pipeline_kit.report_data import TeamData

__all__ = ["SHEETS", "Sheet", "team_workbook_frames", "write_team_workbook"]

# the kit's units, and two more for figures without one
FORMATS = {**NUMBER_FORMATS, "ratio": "0.00", "probability": "0.000"}
_SHARE_CI = {"ci_low": "share", "ci_high": "share"}
# every stalled deal, not only the report's first 15
_ALL_STALLED = 1_000_000


@dataclass(frozen=True)
class Sheet:
    """One sheet of the team workbook: its name, what it shows and how its columns read.

    ``units`` maps a column to a key of :data:`FORMATS`; integer columns not named there
    read as counts, other columns keep Excel's general format. ``needs``: the tables the sheet
    reads beyond deals; ``dated``: whether it needs a dated period (not the whole export).
    """

    name: str
    about: str
    frame: Callable[[TeamData], pl.DataFrame]
    units: dict[str, str] = field(default_factory=dict)
    needs: tuple[str, ...] = ()
    dated: bool = False

    def why_not(self, data: TeamData) -> str | None:
        """Why ``data`` cannot give this sheet, or None when it can."""
        missing = [table for table in self.needs if not data.ds.has(table)]
        if missing:
            return f"the export has no {' or '.join(missing)} table"
        if self.dated and data.period.is_all:
            return "the report covers the whole export (no dates), not a period"
        if "leads" in self.needs and data.leads_scope() is None:
            return "the leads carry no team and the export holds several teams"
        return None


def _one_row(row: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame([row])


def key_metrics_frame(data: TeamData) -> pl.DataFrame:
    """The key-figures table: one row per metric, the team, the rest and the whole organisation.

    For each of the three: the value, its 95% interval (``low``, ``high``) and ``n``.
    """
    from pipeline_kit.team_report import METRICS_SHOWN

    scopes = data.key_metrics(METRICS_SHOWN)
    shown = [m for m in METRICS_SHOWN if m in set().union(*(f["metric"] for f in scopes.values()))]
    table = pl.DataFrame(
        {
            "metric": shown,
            "title": [CATALOGUE[m].title for m in shown],
            "unit": [CATALOGUE[m].unit for m in shown],
        }
    )
    for scope, frame in scopes.items():
        prefix = {"team": "team", "rest": "rest of organisation", "all": "whole organisation"}
        name = prefix[scope]
        table = table.join(
            frame.select(
                "metric",
                pl.col("value").alias(name),
                pl.col("ci_low").alias(f"{name} low"),
                pl.col("ci_high").alias(f"{name} high"),
                pl.col("n").alias(f"{name} n"),
            ),
            on="metric",
            how="left",
            maintain_order="left",
        )
    return table


def _segments(data: TeamData) -> pl.DataFrame:
    parts = [
        data.win_rate_by_segment(column)
        .rename({column: "value"})
        .with_columns(pl.col("value").cast(pl.String), segment=pl.lit(column))
        .select("segment", pl.exclude("segment"))
        for column in data.segment_columns()
    ]
    return pl.concat(parts, how="vertical_relaxed") if parts else pl.DataFrame()


def _forecast(data: TeamData) -> pl.DataFrame:
    from pipeline_kit.forecasting.sections import ForecastSection

    section = ForecastSection(data.ds, data.period, data.as_of, data.team)
    return section.outlook.summary.filter(pl.col("team") == data.team)


SHEETS: tuple[Sheet, ...] = (
    Sheet(
        "Pipeline by stage",
        "Open deals by stage on the snapshot day, their value and stage-weighted value",
        TeamData.open_pipeline,
        {"open_value": "currency", "weighted_value": "currency"},
    ),
    Sheet(
        "Pipeline due next period",
        "Open pipeline expected to close next period and its coverage of that period's target",
        TeamData.pipeline_due_next_period,
        dated=True,
        units={
            "due_value": "currency",
            "weighted_due": "currency",
            "target": "currency",
            "coverage": "share",
            "weighted_coverage": "share",
        },
    ),
    Sheet(
        "Stage conversion",
        "Deals that first entered each stage in the period and how many moved on",
        TeamData.stage_conversion,
        {"conversion": "share", **_SHARE_CI, "drop_off": "share", "pending_share": "share"},
    ),
    Sheet(
        "Cycle length",
        "Days from creation to close of the deals closed in the period",
        TeamData.cycle_length,
        {
            c: "days"
            for c in (
                "mean",
                "median",
                "sd",
                "ci_low",
                "ci_high",
                "median_ci_low",
                "median_ci_high",
            )
        },
    ),
    Sheet(
        "Velocity",
        "Pipeline velocity and its parts",
        lambda d: _one_row(d.velocity()),
        {
            "win_rate": "share",
            "avg_won_deal_size": "currency",
            "avg_cycle_days_won": "days",
            "velocity_per_day": "currency",
            "velocity_per_period": "currency",
        },
    ),
    Sheet(
        "Won deal size",
        "Won deals of the period: number, mean, median and total (bookings)",
        TeamData.won_deal_size,
        {
            c: "currency"
            for c in (
                "mean",
                "median",
                "sd",
                "total",
                "ci_low",
                "ci_high",
                "median_ci_low",
                "median_ci_high",
            )
        },
    ),
    Sheet(
        "Bookings vs target",
        "Bookings of the period by deal type against the team's target",
        TeamData.bookings_vs_target,
        {
            **{
                c: "currency"
                for c in (
                    "bookings",
                    "bookings_new",
                    "bookings_expansion",
                    "bookings_renewal",
                    "bookings_other",
                    "target",
                )
            },
            "attainment": "share",
        },
    ),
    Sheet(
        "Forecast",
        "Next quarter's bookings forecast: won so far, expected from open and new deals, range",
        _forecast,
        dated=True,
        units={
            **{
                c: "currency"
                for c in (
                    "won_to_date",
                    "open_amount",
                    "expected_from_open",
                    "expected_from_new",
                    "mean",
                    "p10",
                    "p50",
                    "p90",
                    "target",
                )
            },
            "p_reach_target": "share",
        },
    ),
    Sheet(
        "Win rate by team",
        "Every team's win rate in the period (won / (won + lost))",
        TeamData.win_rate_by_team,
        {"win_rate": "share", **_SHARE_CI},
    ),
    Sheet(
        "Win rate by segment",
        "The team's win rate per value of each segment column",
        _segments,
        {"win_rate": "share", **_SHARE_CI},
    ),
    Sheet(
        "Lost reasons",
        "Why the team's deals were lost",
        TeamData.lost_reasons,
        {"lost_value": "currency", "share": "share", **_SHARE_CI},
    ),
    Sheet(
        "Competitors",
        "The team's win rate against each competitor",
        TeamData.competitor_win_rates,
        {"win_rate": "share", **_SHARE_CI},
    ),
    Sheet(
        "Reps",
        "Each rep's win rate, raw and shrunk towards the organisation, with funnel limits",
        TeamData.reps,
        {
            **{
                c: "share"
                for c in (
                    "rate",
                    "shrunk",
                    "ci_low",
                    "ci_high",
                    "org_rate",
                    "funnel_low95",
                    "funnel_high95",
                    "funnel_low998",
                    "funnel_high998",
                )
            },
            "p_value": "probability",
            "q_value": "probability",
            "prior_a": "ratio",
            "prior_b": "ratio",
        },
    ),
    Sheet(
        "Lead funnel",
        "The period's leads through qualification, conversion and win",
        lambda d: _one_row(d.lead_funnel()),
        needs=("leads",),
        units={
            c: "share"
            for c in (
                "qualified_rate",
                "qualified_rate_ci_low",
                "qualified_rate_ci_high",
                "conversion_rate",
                "ci_low",
                "ci_high",
                "lead_win_rate",
                "lead_win_rate_ci_low",
                "lead_win_rate_ci_high",
            )
        },
    ),
    Sheet(
        "Lead response",
        "Hours to first response to the team's leads, by lead source",
        TeamData.lead_response_by_source,
        needs=("leads",),
        units={
            "median_hours": "hours",
            "ci_low": "hours",
            "ci_high": "hours",
            "naive_median_responded": "hours",
            "within": "share",
            "within_ci_low": "share",
            "within_ci_high": "share",
        },
    ),
    Sheet(
        "Activities",
        "Calls and won deals of the team's reps, with the rank correlation",
        TeamData.calls_vs_closes,
        {"rho": "ratio", "p_value": "probability"},
        needs=("activities",),
    ),
    Sheet(
        "Calls by industry",
        "Calls per deal closed in the period, by industry, won deals against lost",
        TeamData.calls_per_deal_by_industry,
        {
            "calls_per_deal": "ratio",
            "ci_low": "ratio",
            "ci_high": "ratio",
            "calls_per_won_deal": "ratio",
            "calls_per_lost_deal": "ratio",
        },
        needs=("activities",),
        dated=True,
    ),
    Sheet(
        "Collateral",
        "Win rates of deals with and without each piece of collateral",
        TeamData.collateral_win_rates,
        needs=("collateral_usage",),
        units={
            c: "share"
            for c in (
                "users_win_rate",
                "users_win_rate_ci_low",
                "users_win_rate_ci_high",
                "peers_win_rate",
                "peers_win_rate_ci_low",
                "peers_win_rate_ci_high",
                "naive_win_rate_without",
                "difference",
                "ci_low",
                "ci_high",
            )
        },
    ),
    Sheet(
        "Churn",
        "Customers and recurring revenue churned in the period",
        TeamData.churn,
        needs=("customers",),
        units={
            "mrr_at_start": "currency",
            "mrr_churned": "currency",
            "churn_rate": "share",
            **_SHARE_CI,
            "mrr_churn_rate": "share",
            "monthly_churn_rate": "share",
        },
    ),
    Sheet(
        "Churn reasons",
        "Customers churned in the period by churn reason, with the MRR they took",
        TeamData.churn_reasons,
        {"share": "share", **_SHARE_CI, "mrr_lost": "currency"},
        needs=("customers",),
    ),
    Sheet(
        "CLV",
        "Customer lifetime value and CLV:CAC",
        TeamData.clv,
        needs=("customers",),
        units={
            "arpa_mrr": "currency",
            "monthly_churn_rate": "share",
            "clv": "currency",
            "ci_low": "currency",
            "ci_high": "currency",
            "cac": "currency",
            "clv_cac": "ratio",
        },
    ),
    Sheet(
        "Slipped deals",
        "Open deals past their expected close on the snapshot day",
        TeamData.slipped_deals,
        {"amount": "currency", "days_overdue": "days"},
    ),
    Sheet(
        "Stalled deals",
        "Open deals in their stage longer than 90% of past deals were (all of them)",
        lambda d: d.stalled_deals(_ALL_STALLED),
        {"amount": "currency", "days_in_stage": "days", "threshold_days": "days"},
    ),
)
"""The sheets after ``Key metrics``, in the order of the report's sections."""

_KEY_METRICS = "Key metrics"
_DEFINITIONS = "Definitions"


def team_workbook_frames(data: TeamData) -> dict[str, pl.DataFrame | str]:
    """Each sheet's frame, or why it could not be produced (the error, in one line)."""
    frames: dict[str, pl.DataFrame | str] = {}
    for sheet in (Sheet(_KEY_METRICS, "", key_metrics_frame), *SHEETS):
        why = sheet.why_not(data)
        if why is not None:
            frames[sheet.name] = why
            continue
        try:
            frames[sheet.name] = sheet.frame(data)
        except DataError as exc:
            frames[sheet.name] = exc.problem
        except ValueError as exc:  # the metric says what it lacks, e.g. an open stage
            frames[sheet.name] = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        except Exception as exc:  # a table the data cannot give: listed, not fatal
            first = str(exc).strip().splitlines()[:1]
            frames[sheet.name] = f"{type(exc).__name__}: {first[0] if first else ''}"
    return frames


def write_team_workbook(
    ds: Dataset,
    team: str,
    period: str | Period,
    path: Path,
    as_of: str | dt.date | None = None,
) -> dict[str, pl.DataFrame | str]:
    """Write ``team``'s report tables for ``period`` to the workbook ``path``.

    Sheets: ``Contents``, ``Key metrics``, then :data:`SHEETS` (those the data can give; the
    others are listed in ``Contents`` with the reason), then ``Definitions``. Returns what
    :func:`team_workbook_frames` found.
    """
    from pipeline_kit.team_report import METRICS_IN_SECTIONS, METRICS_SHOWN

    data = TeamData.of(ds, team, period, as_of)
    frames = team_workbook_frames(data)
    about = {_KEY_METRICS: "The key figures: the team, the rest and the whole organisation"}
    about |= {sheet.name: sheet.about for sheet in SHEETS}
    contents = pl.DataFrame(
        {
            "sheet": list(frames),
            "what it shows": [about[name] for name in frames],
            "rows": [f.height if isinstance(f, pl.DataFrame) else None for f in frames.values()],
            "note": [
                ("no rows" if f.height == 0 else "")
                if isinstance(f, pl.DataFrame)
                else f"not produced: {f}"
                for f in frames.values()
            ],
        },
        schema_overrides={"rows": pl.Int64},
    )
    title = pl.DataFrame(
        {
            "team": [team],
            "period": [data.period_name],
            "snapshot day": [data.as_of],
            "data": [ds.path.name],
            "fingerprint": [ds.fingerprint],
        }
    )
    units = {sheet.name: sheet.units for sheet in SHEETS}
    names = [*METRICS_SHOWN, *METRICS_IN_SECTIONS, *REPORT_FORECAST_CARDS]
    definitions = definitions_frame(names, {**CATALOGUE, **FORECAST_CARDS})
    with workbook_at(path) as workbook:
        # a fixed creation time: the same report, the same bytes
        workbook.set_properties(
            {"title": f"{team}: pipeline report {data.period_name}", "created": _created(data)}
        )
        title.write_excel(workbook, "Contents", autofit=True)
        contents.write_excel(workbook, "Contents", position=(3, 0), autofit=True)
        for name, frame in frames.items():
            if not isinstance(frame, pl.DataFrame) or frame.width == 0:
                continue
            if name == _KEY_METRICS:
                _write_key_metrics(workbook, frame)
                continue
            # 12 significant digits: a sum taken in another order differs in the 16th, and the
            # workbook must be the same bytes on every run
            frame = frame.with_columns(pl.col(pl.Float64).round_sig_figs(12))
            formats = {
                column: FORMATS[units[name].get(column, "count")]
                for column, dtype in frame.schema.items()
                if column in units[name] or dtype.is_integer()
            }
            frame.write_excel(
                workbook,
                name,
                autofit=True,
                freeze_panes=(1, 0),
                column_formats=formats,  # type: ignore[arg-type]
                float_precision=4,
            )
        definitions.write_excel(workbook, _DEFINITIONS, autofit=True, freeze_panes=(1, 1))
    return frames


def _created(data: TeamData) -> dt.datetime:
    return dt.datetime.combine(data.as_of, dt.time(), tzinfo=dt.UTC)


def _write_key_metrics(workbook: Any, frame: pl.DataFrame) -> None:
    """The key-metrics sheet: each row's numbers in its metric's unit."""
    frame = frame.with_columns(pl.col(pl.Float64).round_sig_figs(12))  # see write_team_workbook
    frame.write_excel(workbook, _KEY_METRICS, autofit=True, freeze_panes=(1, 2), float_precision=4)
    sheet = workbook.get_worksheet_by_name(_KEY_METRICS)
    formats = {unit: workbook.add_format({"num_format": f}) for unit, f in FORMATS.items()}
    count = formats["count"]
    numeric = [i for i, dtype in enumerate(frame.dtypes) if dtype.is_numeric()]
    # a dozen rows: each cell rewritten with its row's format (Excel formats columns, not rows)
    for row_index, row in enumerate(frame.iter_rows(), start=1):
        unit_format = formats.get(str(row[2]))
        for col in numeric:
            value = row[col]
            if value is None or not math.isfinite(value):
                continue
            is_n = frame.columns[col].endswith(" n")
            sheet.write_number(row_index, col, value, count if is_n else unit_format)
