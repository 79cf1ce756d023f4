"""The tables of a team report as an Excel workbook people can pass around.

``pipeline-kit report --xlsx`` writes ``<slug>.xlsx`` beside each team's ``<slug>.html``: a
``Contents`` sheet (what each sheet holds, or why it is missing), one sheet per table the team
report's sections are drawn from (the figures :class:`~pipeline_kit.report_data.TeamData`
fetches, unrounded, with Excel number formats for money, shares, days and counts) and a
``Definitions`` sheet with the card of every figure. The figures come from the package, not
from the executed notebook, and the file is the same byte for byte for the same data, team,
period and snapshot day.

In another language (``lang="zh-Hans"``, ``"zh-Hant"``, ``"ms"``) the sheet names, the
contents, the key figures' titles and headers and the definitions are in that language; the
data columns of the table sheets keep the kit's column ids, so formulas and scripts that read
them work on every language's workbook. Amounts carry the currency's symbol for the language.
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
from pipeline_kit.excel import NUMBER_FORMATS, currency_format, definitions_frame, workbook_at
from pipeline_kit.forecasting.cards import FORECAST_CARDS, REPORT_FORECAST_CARDS
from pipeline_kit.i18n import N_, gettext, normalise_lang
from pipeline_kit.metrics import CATALOGUE
from pipeline_kit.periods import Period
from pipeline_kit.report_data import TeamData

__all__ = ["SHEETS", "Sheet", "sheet_names", "team_workbook_frames", "write_team_workbook"]

# the kit's units, and two more for figures without one
FORMATS = {**NUMBER_FORMATS, "ratio": "0.00", "probability": "0.000"}
_SHARE_CI = {"ci_low": "share", "ci_high": "share"}


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

    def why_not(self, data: TeamData, lang: str = "en") -> str | None:
        """Why ``data`` cannot give this sheet (in ``lang``), or None when it can."""
        _ = gettext(lang)
        missing = [table for table in self.needs if not data.ds.has(table)]
        if missing:
            tables = missing[0]
            for table in missing[1:]:  # table names stay as they are in every language
                tables = _(N_("{one} or {other}")).format(one=tables, other=table)
            return _(N_("the export has no {table} table")).format(table=tables)
        if self.dated and data.period.is_all:
            return _(N_("the report covers the whole export (no dates), not a period"))
        if "leads" in self.needs and data.leads_scope() is None:
            return _(N_("the leads carry no team and the export holds several teams"))
        return None


# the key figures' scopes: the column names of key_metrics_frame (translated when written)
_SCOPES = {"team": N_("team"), "rest": N_("rest of organisation"), "all": N_("whole organisation")}
# a scope's interval bounds and count, in the order key_metrics_frame writes them
_BOUNDS = (N_("{scope} low"), N_("{scope} high"), N_("{scope} n"))


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
        name = _SCOPES[scope]
        table = table.join(
            frame.select(
                "metric",
                pl.col("value").alias(name),
                pl.col("ci_low").alias(_BOUNDS[0].format(scope=name)),
                pl.col("ci_high").alias(_BOUNDS[1].format(scope=name)),
                pl.col("n").alias(_BOUNDS[2].format(scope=name)),
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
        N_("Pipeline by stage"),
        N_("Open deals by stage on the snapshot day, their value and stage-weighted value"),
        TeamData.open_pipeline,
        {"open_value": "currency", "weighted_value": "currency"},
    ),
    Sheet(
        N_("Pipeline due next period"),
        N_("Open pipeline expected to close next period and its coverage of that period's target"),
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
        N_("Stage conversion"),
        N_("Deals that first entered each stage in the period and how many moved on"),
        TeamData.stage_conversion,
        {"conversion": "share", **_SHARE_CI, "drop_off": "share", "pending_share": "share"},
    ),
    Sheet(
        N_("Cycle length"),
        N_("Days from creation to close of the deals closed in the period"),
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
        N_("Velocity"),
        N_("Pipeline velocity and its parts"),
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
        N_("Won deal size"),
        N_("Won deals of the period: number, mean, median and total (bookings)"),
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
        N_("Bookings vs target"),
        N_("Bookings of the period by deal type against the team's target"),
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
        N_("Forecast"),
        N_("Next quarter's bookings forecast: won so far, expected from open and new deals, range"),
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
        N_("Win rate by team"),
        N_("Every team's win rate in the period (won / (won + lost))"),
        TeamData.win_rate_by_team,
        {"win_rate": "share", **_SHARE_CI},
    ),
    Sheet(
        N_("Win rate by segment"),
        N_("The team's win rate per value of each segment column"),
        _segments,
        {"win_rate": "share", **_SHARE_CI},
    ),
    Sheet(
        N_("Lost reasons"),
        N_("Why the team's deals were lost"),
        TeamData.lost_reasons,
        {"lost_value": "currency", "share": "share", **_SHARE_CI},
    ),
    Sheet(
        N_("Competitors"),
        N_("The team's win rate against each competitor"),
        TeamData.competitor_win_rates,
        {"win_rate": "share", **_SHARE_CI},
    ),
    Sheet(
        N_("Reps"),
        N_(
            "Each rep's own win rate with its 95% interval, the rate shrunk towards the "
            "organisation to rank reps on (its interval is right on average over the reps, not "
            "for any one rep), with funnel limits"
        ),
        TeamData.reps,
        {
            **{
                c: "share"
                for c in (
                    "rate",
                    "ci_low",
                    "ci_high",
                    "shrunk",
                    "shrunk_ci_low",
                    "shrunk_ci_high",
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
        N_("Lead funnel"),
        N_("The period's leads through qualification, conversion and win"),
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
        N_("Lead response"),
        N_("Hours to first response to the team's leads, by lead source"),
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
        N_("Activities"),
        N_("Calls and won deals of the team's reps, with the rank correlation"),
        TeamData.calls_vs_closes,
        {"rho": "ratio", "p_value": "probability"},
        needs=("activities",),
    ),
    Sheet(
        N_("Calls by industry"),
        N_("Calls per deal closed in the period, by industry, won deals against lost"),
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
        N_("Collateral"),
        N_("Win rates of deals with and without each piece of collateral"),
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
        N_("Churn"),
        N_("Customers and recurring revenue churned in the period"),
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
        N_("Churn reasons"),
        N_("Customers churned in the period by churn reason, with the MRR they took"),
        TeamData.churn_reasons,
        {"share": "share", **_SHARE_CI, "mrr_lost": "currency"},
        needs=("customers",),
    ),
    Sheet(
        N_("CLV"),
        N_("Customer lifetime value and CLV:CAC"),
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
        N_("Slipped deals"),
        N_("Open deals past their expected close on the snapshot day"),
        TeamData.slipped_deals,
        {"amount": "currency", "days_overdue": "days"},
    ),
    Sheet(
        N_("Stalled deals"),
        N_("Open deals in their stage longer than 90% of past deals were (all of them)"),
        lambda d: d.stalled_deals(),
        {"amount": "currency", "days_in_stage": "days", "threshold_days": "days"},
    ),
)
"""The sheets after ``Key metrics``, in the order of the report's sections."""

_CONTENTS = N_("Contents")
_KEY_METRICS = N_("Key metrics")
_DEFINITIONS = N_("Definitions")
_KEY_METRICS_ABOUT = N_("The key figures: the team, the rest and the whole organisation")
# in another language, one line under the title block of the contents
_COLUMN_IDS = N_(
    "The data columns of the table sheets keep the kit's column ids in every language, so "
    "formulas and scripts that read them keep working."
)
# characters Excel does not allow in a sheet name, and its longest sheet name
_NOT_IN_SHEET_NAMES = str.maketrans(dict.fromkeys("[]:*?/\\", " "))
_SHEET_NAME_LENGTH = 31


def sheet_names(lang: str = "en") -> dict[str, str]:
    """Each sheet's name (as in :data:`SHEETS`) -> its name in ``lang``'s workbook.

    A name Excel accepts: at most 31 characters, none of ``[]:*?/`` nor a backslash,
    unique whatever the case. English names are as written.
    """
    _ = gettext(lang)
    shown: dict[str, str] = {}
    taken: set[str] = set()
    for name in (_CONTENTS, _KEY_METRICS, *(sheet.name for sheet in SHEETS), _DEFINITIONS):
        base = " ".join(_(name).translate(_NOT_IN_SHEET_NAMES).split())[:_SHEET_NAME_LENGTH]
        candidate, i = base, 1
        while candidate.casefold() in taken:
            i += 1
            suffix = f" ({i})"
            candidate = base[: _SHEET_NAME_LENGTH - len(suffix)] + suffix
        taken.add(candidate.casefold())
        shown[name] = candidate
    return shown


def team_workbook_frames(data: TeamData, lang: str = "en") -> dict[str, pl.DataFrame | str]:
    """Each sheet's frame, or why it could not be produced (the error, in one line).

    Keyed by the sheets' English names (:func:`sheet_names` gives the names in ``lang``); the
    reasons the sheet itself gives are in ``lang``, a metric's error as the metric wrote it.
    """
    frames: dict[str, pl.DataFrame | str] = {}
    for sheet in (Sheet(_KEY_METRICS, "", key_metrics_frame), *SHEETS):
        why = sheet.why_not(data, lang)
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
    lang: str = "en",
    currency: str = "USD",
) -> dict[str, pl.DataFrame | str]:
    """Write ``team``'s report tables for ``period`` to the workbook ``path``.

    Sheets: ``Contents``, ``Key metrics``, then :data:`SHEETS` (those the data can give; the
    others are listed in ``Contents`` with the reason), then ``Definitions``. Returns what
    :func:`team_workbook_frames` found (keyed by the English sheet names).

    ``lang`` ("en", "zh-Hans", "zh-Hant", "ms") is the workbook's language: sheet names,
    contents, key figures' titles and headers, definitions (the data columns of the table
    sheets keep the kit's ids). ``currency`` (ISO 4217) gives the amounts' number format its
    symbol (:func:`pipeline_kit.excel.currency_format`).
    """
    from pipeline_kit.team_report import METRICS_IN_SECTIONS, METRICS_SHOWN

    lang = normalise_lang(lang)
    _ = gettext(lang)
    shown = sheet_names(lang)
    data = TeamData.of(ds, team, period, as_of)
    frames = team_workbook_frames(data, lang)
    about = {_KEY_METRICS: _KEY_METRICS_ABOUT} | {sheet.name: sheet.about for sheet in SHEETS}
    no_rows, not_produced = _(N_("no rows")), _(N_("not produced: {reason}"))
    contents = pl.DataFrame(
        {
            _(N_("sheet")): [shown[name] for name in frames],
            _(N_("what it shows")): [_(about[name]) for name in frames],
            _(N_("rows")): [
                f.height if isinstance(f, pl.DataFrame) else None for f in frames.values()
            ],
            _(N_("note")): [
                (no_rows if f.height == 0 else "")
                if isinstance(f, pl.DataFrame)
                else not_produced.format(reason=f)
                for f in frames.values()
            ],
        },
        schema_overrides={_(N_("rows")): pl.Int64},
    )
    title = pl.DataFrame(
        {
            _(N_("team")): [team],
            _(N_("period")): [data.period_name],
            _(N_("snapshot day")): [data.as_of],
            _(N_("data")): [ds.path.name],
            _(N_("fingerprint")): [ds.fingerprint],
        }
    )
    units = {sheet.name: sheet.units for sheet in SHEETS}
    formats = {**FORMATS, "currency": currency_format(lang, currency)}
    names = [*METRICS_SHOWN, *METRICS_IN_SECTIONS, *REPORT_FORECAST_CARDS]
    definitions = definitions_frame(names, {**CATALOGUE, **FORECAST_CARDS}, lang)
    with workbook_at(path) as workbook:
        # a fixed creation time: the same report, the same bytes
        report_title = _(N_("{team}: pipeline report {period}"))
        workbook.set_properties(
            {
                "title": report_title.format(team=team, period=data.period_name),
                "created": _created(data),
            }
        )
        title.write_excel(workbook, shown[_CONTENTS], autofit=True)
        contents.write_excel(workbook, shown[_CONTENTS], position=(3, 0), autofit=True)
        if lang != "en":  # after the tables: autofit leaves the columns to them
            workbook.get_worksheet_by_name(shown[_CONTENTS]).write_string(2, 0, _(_COLUMN_IDS))
        for name, frame in frames.items():
            if not isinstance(frame, pl.DataFrame) or frame.width == 0:
                continue
            if name == _KEY_METRICS:
                _write_key_metrics(workbook, frame, shown[name], formats, _)
                continue
            # 12 significant digits: a sum taken in another order differs in the 16th, and the
            # workbook must be the same bytes on every run
            frame = frame.with_columns(pl.col(pl.Float64).round_sig_figs(12))
            column_formats = {
                column: formats[units[name].get(column, "count")]
                for column, dtype in frame.schema.items()
                if column in units[name] or dtype.is_integer()
            }
            frame.write_excel(
                workbook,
                shown[name],
                autofit=True,
                freeze_panes=(1, 0),
                column_formats=column_formats,  # type: ignore[arg-type]
                float_precision=4,
            )
        definitions.write_excel(workbook, shown[_DEFINITIONS], autofit=True, freeze_panes=(1, 1))
    return frames


def _created(data: TeamData) -> dt.datetime:
    return dt.datetime.combine(data.as_of, dt.time(), tzinfo=dt.UTC)


def _key_metrics_headers(columns: list[str], _: Callable[[str], str]) -> dict[str, str]:
    """The key figures' column names in the language of ``_``: titles and scopes translated.

    ``metric`` and ``unit`` hold the kit's ids and keep their names.
    """
    headers = {"title": _(N_("title"))}
    for scope in _SCOPES.values():
        headers[scope] = _(scope)
        for bound in _BOUNDS:
            headers[bound.format(scope=scope)] = _(bound).format(scope=_(scope))
    return {c: headers.get(c, c) for c in columns}


def _write_key_metrics(
    workbook: Any,
    frame: pl.DataFrame,
    name: str = _KEY_METRICS,
    number_formats: dict[str, str] = FORMATS,
    _: Callable[[str], str] = str,
) -> None:
    """The key-metrics sheet ``name``: each row's numbers in its metric's unit.

    Titles and headers in the language of ``_`` (:func:`pipeline_kit.i18n.gettext`).
    """
    counts = {i for i, column in enumerate(frame.columns) if column.endswith(" n")}
    frame = frame.with_columns(pl.col(pl.Float64).round_sig_figs(12))  # see write_team_workbook
    frame = frame.with_columns(pl.col("title").replace({t: _(t) for t in frame["title"]}))
    frame = frame.rename(_key_metrics_headers(frame.columns, _))
    frame.write_excel(workbook, name, autofit=True, freeze_panes=(1, 2), float_precision=4)
    sheet = workbook.get_worksheet_by_name(name)
    formats = {unit: workbook.add_format({"num_format": f}) for unit, f in number_formats.items()}
    count = formats["count"]
    numeric = [i for i, dtype in enumerate(frame.dtypes) if dtype.is_numeric()]
    # a dozen rows: each cell rewritten with its row's format (Excel formats columns, not rows)
    for row_index, row in enumerate(frame.iter_rows(), start=1):
        unit_format = formats.get(str(row[2]))
        for col in numeric:
            value = row[col]
            if value is None or not math.isfinite(value):
                continue
            sheet.write_number(row_index, col, value, count if col in counts else unit_format)
