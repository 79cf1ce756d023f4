"""Every export shape gets a useful report: metrics, comparisons and every report section run
on each shape of ``tests/shapes.py``; a section either renders or says the real reason."""

from __future__ import annotations

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.metrics import metrics_long
from pipeline_kit.org_report import OrgReport
from pipeline_kit.reports import run_reports
from pipeline_kit.sections import SectionError
from pipeline_kit.team_report import TeamReport

from .shapes import PERIODS, SHAPES, write_shape

SECTIONS = [
    name
    for name in dir(TeamReport)
    if not name.startswith("_") and callable(getattr(TeamReport, name))
]


@pytest.fixture(scope="module")
def shape_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("shapes")
    return {name: pk.load(write_shape(name, root / name)) for name in SHAPES}


def _text(output) -> str:
    if hasattr(output, "data") and isinstance(output.data, str):
        return output.data
    return ""


def _report(ds: pk.Dataset, team: str | None = None, period: str = "2025-Q4") -> dict:
    report = TeamReport(ds, team=team or ds.teams[0], period=period)
    return {name: getattr(report, name)() for name in SECTIONS}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_metrics_and_comparisons_run_on_every_shape(shape_data, shape):
    ds = shape_data[shape]
    long = metrics_long(ds, PERIODS[shape], by="team")
    assert long.height > 0
    assert {"metric", "value", "n"} <= set(long.columns)
    pk.compare(ds, PERIODS[shape], by="team")


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_report_section_renders_on_every_shape(shape_data, shape):
    sections = _report(shape_data[shape], period=PERIODS[shape])
    failed = {k: v for k, v in sections.items() if isinstance(v, SectionError)}
    assert not failed, failed


ORG_SECTIONS = [
    name
    for name in dir(OrgReport)
    if not name.startswith("_") and callable(getattr(OrgReport, name))
]


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_organisation_section_renders_on_every_shape(shape_data, shape):
    org = OrgReport(shape_data[shape], PERIODS[shape])
    sections = {name: getattr(org, name)() for name in ORG_SECTIONS}
    failed = {k: v for k, v in sections.items() if isinstance(v, SectionError)}
    assert not failed, failed
    assert {"targets_table", "conversion_alerts", "bookings_trend_chart"} <= set(sections)
    if shape == "only_closed":  # no stage cohort has a baseline: said, not "all within"
        assert "no team's stage has earlier quarters" in sections["conversion_alerts"].data


def _all_text(ds, team=None, period="2025-Q4") -> str:
    return "\n".join(_text(v) for v in _report(ds, team, period).values())


def test_closed_only_export_says_there_are_no_open_deals(shape_data):
    text = _all_text(shape_data["only_closed"])
    assert "there are no open deals in this export" in text
    assert "not enough data (fewer than" not in text


@pytest.mark.parametrize(
    ("shape", "reason"),
    [
        ("only_won", "no lost deals"),
        ("only_lost", "no won deals"),
        ("leads_and_won", "no lost deals"),
    ],
)
def test_one_sided_exports_show_no_win_rate(shape_data, shape, reason):
    text = _all_text(shape_data[shape])
    assert reason in text
    assert "100.0%" not in text.split("Average won deal size")[0]  # no "win rate 100%"


def test_lost_amounts_zero_make_the_amount_win_rate_unreadable(shape_data):
    ds = shape_data["lost_amount_zero"]
    alt = pk.win_rate_alternatives(ds, "2025-Q4")
    row = alt.filter(pl.col("definition") == "amount_closed").row(0, named=True)
    assert row["value"] is None and "amount 0" in row["caveat"]
    # the count-based win rate is unaffected
    assert alt.filter(pl.col("definition") == "count_closed")["value"][0] is not None


def test_no_owner_column_loads_with_a_note_and_no_rep_figures(shape_data):
    ds = shape_data["no_owner_column"]
    assert set(ds.deals["owner"]) == {"(unknown)"}
    assert any("no owner column" in n for n in ds.notes)
    assert "no owner column" in _all_text(ds)


def test_no_team_column_is_one_team(shape_data):
    ds = shape_data["no_team_column"]
    assert ds.teams == ["All"]
    assert any("no team column" in n for n in ds.notes)


def test_one_team_says_there_is_no_other_team(shape_data):
    ds = shape_data["one_team"]
    assert ds.teams == ["EMEA"]
    summary = _text(TeamReport(ds, team="EMEA", period="2025-Q4").executive_summary())
    assert "no other team to compare with" in summary


def test_new_team_says_it_has_no_previous_quarters(shape_data):
    summary = _text(
        TeamReport(shape_data["new_team"], team="SMB", period="2025-Q4").executive_summary()
    )
    assert "the team has no deals in its previous four quarters" in summary


def test_one_deal_gives_a_short_honest_report(shape_data):
    ds = shape_data["one_deal"]
    assert ds.deals.height == 1
    text = _all_text(ds)
    assert "no lost deals" in text and "no open deals" in text


def test_no_dates_export_is_a_win_loss_analysis_of_the_whole_export(shape_data, tmp_path):
    ds = shape_data["no_dates"]
    assert ds.undated and ds.last_date is None
    assert any("no created_at column" in n for n in ds.notes)
    # the whole export: every closed deal counts; cycle length from days_to_close
    rows = ds.deals
    wr = pk.win_rate(ds, "all").row(0, named=True)
    assert (wr["won"], wr["n"]) == (
        rows.filter(pl.col("status") == "won").height,
        rows.filter(pl.col("status") != "open").height,
    )
    cycle = pk.cycle_length(ds, "all").row(0, named=True)
    assert cycle["n"] == rows.height
    assert cycle["mean"] == pytest.approx(rows["days_to_close"].mean())
    # by= works on any column
    assert pk.win_rate(ds, "all", by="industry").height == rows["industry"].n_unique()
    text = _all_text(ds, period="all")
    assert "win/loss report" in text and "this export has no dates" in text
    assert "Segment" in text  # win rate by segment
    # a dated period cannot be picked out of it
    with pytest.raises(ValueError, match="no dates"):
        run_reports(
            write_shape("no_dates", tmp_path / "d"), "2025-Q4", tmp_path / "o", progress=False
        )


@pytest.mark.parametrize(
    "shape", ["only_closed", "only_won", "one_deal", "no_owner_column", "no_dates"]
)
def test_report_batch_runs_on_shape(tmp_path, shape):
    folder = write_shape(shape, tmp_path / "data")
    period = "latest" if shape == "no_dates" else PERIODS[shape]
    results = run_reports(folder, period, tmp_path / "out", progress=False, jobs=1)
    assert all(r.ok and not r.section_errors for r in results), [
        (r.team, r.error, r.section_errors) for r in results
    ]
    for r in results:
        page = (tmp_path / "out" / f"{r.slug}.html").read_text()
        assert "Traceback" not in page and "could not be produced" not in page


def test_no_dates_key_figures_say_why_instead_of_not_enough_data():
    """An undated export's key figures: deals created and (without days_to_close) the cycle
    were '–, n = 0 · not enough data', as if more deals would give them."""
    deals = pl.DataFrame(
        {
            "deal_id": [f"D{i}" for i in range(6)],
            "owner": ["Ann", "Bob"] * 3,
            "team": ["A"] * 6,
            "stage": ["Won", "Lost", "Won", "Lost", "Lost", "Proposal"],
            "status": ["won", "lost", "won", "lost", "lost", "open"],
            "amount": [100.0, 50.0, 70.0, 20.0, 30.0, 80.0],
        }
    )
    ds = pk.load({"deals": deals})
    table = TeamReport(ds, team="A", period="all").key_metrics().data
    rows = {line.split("|")[1].strip(): line for line in table.splitlines() if line.count("|") > 3}
    reason = "this export has no dates, so there is no"
    assert (
        "not shown" in rows["Deals created"] and "not shown" in rows["Sales cycle length (naive)"]
    )
    assert f"{reason} count of deals created in a period" in table
    assert f"{reason} sales cycle length" in table
    assert "not shown" not in rows["Deals won"] and "not shown" not in rows["Win rate"]
    # with each deal's days to close, the cycle is shown
    with_days = pk.load({"deals": deals.with_columns(pl.Series("days_to_close", [9] * 6))})
    table = TeamReport(with_days, team="A", period="all").key_metrics().data
    assert "sales cycle length" not in table and "count of deals created" in table
