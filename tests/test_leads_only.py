"""An export of leads only (a marketing tool's, or a CRM's leads without opportunities):
the lead figures, and a clear word wherever deals are needed."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.cli import main
from pipeline_kit.metrics import metrics_long

# created, qualified, first response, converted (by 2025-12-31: L1, L2, L4 converted)
LEADS = """lead_id,created_at,source,owner,team,qualified_at,first_response_at,converted_at,deal_id
L1,2025-10-01 09:00,Web,Ann,East,2025-10-02 09:00,2025-10-01 11:00,2025-10-09 09:00,D1
L2,2025-10-02 09:00,Event,Bob,West,,2025-10-02 10:00,2025-10-20 09:00,D2
L3,2025-10-03 09:00,Web,Ann,East,,,,
L4,2025-11-04 09:00,Referral,Bob,West,2025-11-05 09:00,2025-11-04 13:00,2025-12-30 09:00,D4
L5,2025-11-05 09:00,Web,Ann,East,,2025-11-06 09:00,,
"""


@pytest.fixture
def leads_only(tmp_path):
    (tmp_path / "leads.csv").write_text(LEADS)
    return tmp_path


def test_a_folder_of_leads_loads_for_lead_figures(leads_only):
    ds = pk.load(leads_only, cache=False)
    assert ds.leads_only and not ds.usable
    assert ds.deals.height == 0 and ds.leads.height == 5
    assert ds.last_date == dt.date(2025, 12, 30)  # the latest lead date: L4's conversion
    text = ds.report()
    assert "has leads but no deals" in text and "Usable: for lead figures only" in text
    assert "stages were derived" not in text and "minimal history" not in text
    funnel = pk.lead_funnel(ds, "2025-Q4").row(0, named=True)
    # 5 created; converted by as_of (2025-12-30): L1, L2, L4; qualified: L1, L4
    assert (funnel["created"], funnel["converted"], funnel["qualified"]) == (5, 3, 2)
    assert funnel["conversion_rate"] == pytest.approx(3 / 5)
    # no deal says whether a lead was won: unknown, not 0 of 5
    assert funnel["won"] is None and funnel["lead_win_rate"] is None
    assert funnel["lead_win_rate_ci_low"] is None
    with pytest.raises(ValueError, match="leads only"):
        pk.lead_time_to_win(ds, "2025-Q4")
    with pytest.raises(pk.DataError, match="leads but no valid deal"):
        ds.require_usable()


def test_metrics_of_a_leads_export_are_the_lead_figures(leads_only):
    ds = pk.load(leads_only, cache=False)
    long = metrics_long(ds, "2025-Q4")
    assert set(long["metric"]) == {
        "leads_created",
        "qualified_leads",
        "lead_conversion_rate",
        "lead_response_hours",
    }
    # plain Python over the rows: leads created in Q4 and converted by the last lead date
    rows = [line.split(",") for line in LEADS.splitlines()[1:]]
    converted = sum(1 for r in rows if r[7] and r[7][:10] <= "2025-12-30")
    rate = long.filter(pl.col("metric") == "lead_conversion_rate")["value"][0]
    assert rate == pytest.approx(converted / len(rows))
    with pytest.raises(ValueError, match="need\\(s\\) deals"):
        metrics_long(ds, "2025-Q4", metrics=["win_rate"])


def test_the_command_line_on_a_leads_export(leads_only, tmp_path, capsys):
    assert main(["validate", str(leads_only), "--no-cache"]) == 0
    out = tmp_path / "m.csv"
    assert (
        main(["metrics", str(leads_only), "--period", "2025-Q4", "--no-cache", "--out", str(out)])
        == 0
    )
    assert pl.read_csv(out)["metric"].n_unique() == 4
    code = main(
        [
            "report",
            str(leads_only),
            "--period",
            "2025-Q4",
            "--no-cache",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "leads but no valid deal" in err and "Traceback" not in err


def test_leads_as_a_dataframe_or_through_a_mapping(tmp_path):
    frame = pl.read_csv(LEADS.encode(), infer_schema=False)
    assert pk.load({"leads": frame}).leads_only
    (tmp_path / "crm").mkdir()
    (tmp_path / "crm" / "marketing.csv").write_text(
        LEADS.replace("lead_id,created_at", "Lead ID,Created Date")
    )
    mapping = {
        "leads": {
            "file": "marketing.csv",
            "columns": {"lead_id": "Lead ID", "created_at": "Created Date"},
        }
    }
    ds = pk.load(tmp_path / "crm" / "marketing.csv", mapping=mapping)
    assert ds.leads_only and ds.leads.height == 5
    ds = pk.load(tmp_path / "crm", mapping=mapping)
    assert ds.leads_only and ds.leads.height == 5


def test_lead_columns_the_export_lacks_are_unknown_not_zero(tmp_path):
    """No qualified_at and no first_response_at in the whole export: the figures built on them
    are null (not "0 qualified", not "every lead never contacted")."""
    frame = pl.read_csv(LEADS.encode(), infer_schema=False).drop(
        "qualified_at", "first_response_at"
    )
    ds = pk.load({"leads": frame})
    funnel = pk.lead_funnel(ds, "2025-Q4").row(0, named=True)
    assert funnel["qualified"] is None and funnel["qualified_rate"] is None
    assert funnel["qualified_rate_ci_low"] is None and funnel["converted"] == 3
    response = pk.lead_response_time(ds, "2025-Q4").row(0, named=True)
    assert response["n"] == 5 and response["enough_data"] is False
    assert response["responded"] is None and response["never_contacted"] is None
    assert response["within"] is None and response["median_hours"] is None
    # a column exported but empty for this cohort's leads still counts its zeros
    one = pl.read_csv(LEADS.encode(), infer_schema=False).with_columns(
        pl.when(pl.col("lead_id") == "L1").then(pl.col("qualified_at")).alias("qualified_at")
    )
    q3 = pk.lead_funnel(pk.load({"leads": one}), "2025-11").row(0, named=True)
    assert (q3["created"], q3["qualified"], q3["qualified_rate"]) == (2, 0, 0.0)


def test_a_team_report_says_which_lead_columns_the_export_lacks(tmp_path):
    from pipeline_kit.team_report import TeamReport

    from .conftest import SAMPLE

    deals = pl.read_csv(SAMPLE / "deals.csv", infer_schema=False)
    leads = pl.read_csv(SAMPLE / "leads.csv", infer_schema=False)
    deals.write_csv(tmp_path / "deals.csv")
    leads.drop("qualified_at", "first_response_at").write_csv(tmp_path / "leads.csv")
    ds = pk.load(tmp_path, cache=False)
    assert {"leads.qualified_at", "leads.first_response_at"} <= ds.absent_columns
    report = TeamReport(ds, team="EMEA", period="2025-Q4")
    assert "not in the export" in report.lead_funnel_table().data
    assert "no first response time" in report.leads_section().data
    # a team none of whose leads was qualified, in an export that has the column: 0, not unknown
    full = pk.load(SAMPLE, cache=True)
    assert "leads.qualified_at" not in full.absent_columns


def test_absent_columns_survive_the_cache(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    frame = pl.read_csv(LEADS.encode(), infer_schema=False).drop("qualified_at")
    frame.write_csv(folder / "leads.csv")
    first = pk.load(folder, cache_dir=str(tmp_path / "cache"))
    again = pk.load(folder, cache_dir=str(tmp_path / "cache"))
    assert "leads.qualified_at" in first.absent_columns
    assert again.absent_columns == first.absent_columns and again.leads_only
    assert pk.lead_funnel(again, "2025-Q4")["qualified"][0] is None


def test_a_leads_export_without_conversion_times_converts_by_deal_id():
    """No converted_at column, but deal_id filled on L1, L2, L4: those three became
    opportunities. With no deal in the export the links are kept as given (not emptied as
    links to unknown deals, which made every lead unconverted)."""
    frame = pl.read_csv(LEADS.encode(), infer_schema=False).drop("converted_at")
    ds = pk.load({"leads": frame})
    assert ds.leads["deal_id"].drop_nulls().sort().to_list() == ["D1", "D2", "D4"]
    funnel = pk.lead_funnel(ds, "2025-Q4").row(0, named=True)
    assert (funnel["created"], funnel["converted"]) == (5, 3)
    assert funnel["conversion_rate"] == pytest.approx(3 / 5)
    assert not any("not among the valid deals" in n for n in ds.notes)
