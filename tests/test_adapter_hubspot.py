"""The HubSpot adapter (source="hubspot") on hand-written fixtures in the documented shapes.

Every expected value below was read off the fixture files by hand (the comments say how); none
comes from running the adapter.

- tests/fixtures/hubspot_export/: one Deals UI export (labels, every field quoted, 16 deals,
  lines 2-17), pipelines "Sales Pipeline" and "Partner Pipeline".
- tests/fixtures/hubspot_api/: the API / Fivetran tables (13 deals in deal.csv, lines 2-14;
  31 stage rows in deal_stage_data.csv, lines 2-32), pipelines "Sales Pipeline" (id default)
  and "Enterprise" (id 2001).
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.adapters.hubspot import _parse_entered

FIXTURES = Path(__file__).parent / "fixtures"
EXPORT = FIXTURES / "hubspot_export"
API = FIXTURES / "hubspot_api"
EXPORT_FILE = EXPORT / "hubspot-crm-exports-all-deals-2025-06-02.csv"
SEEDS = Path(__file__).resolve().parents[2] / "shared/realdata/crm-samples/hubspot-fivetran-seeds"

D = dt.date


@pytest.fixture(scope="module")
def export() -> pk.Dataset:
    return pk.load(EXPORT, source="hubspot")


@pytest.fixture(scope="module")
def api() -> pk.Dataset:
    return pk.load(API, source="hubspot")


def counts(ds: pk.Dataset) -> dict[str, tuple[int, int, int, int]]:
    return {
        r["table"]: (r["read"], r["valid"], r["quarantined"], r["excluded"])
        for r in ds.counts.iter_rows(named=True)
    }


def set_aside(ds: pk.Dataset) -> set[tuple[str, int, str]]:
    """(table, line, reason or rule) of every excluded and quarantined row."""
    excluded = {
        (t, r, why) for t, r, why in ds.excluded.select("table", "source_row", "reason").iter_rows()
    }
    quarantined = {
        (t, r, rule)
        for t, r, rules in ds.quarantine.select("table", "source_row", "rules").iter_rows()
        for rule in rules
    }
    return excluded | quarantined


def by_deal(ds: pk.Dataset, col: str) -> dict[str, object]:
    return dict(ds.deals.select("deal_id", col).iter_rows())


def history(ds: pk.Dataset, deal_id: str) -> list[tuple[str, dt.date]]:
    return (
        ds.stage_history.filter(pl.col("deal_id") == deal_id)
        .sort("entered_at")
        .select("stage", "entered_at")
        .rows()
    )


def rewrite_export(folder: Path, *, drop=(), change=None, encoding="utf-8") -> Path:
    """A copy of the UI export fixture without the columns ``drop``; ``change(row)`` edits rows."""
    with EXPORT_FILE.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    header = [c for c in rows[0] if c not in drop]
    folder.mkdir(exist_ok=True)
    target = folder / EXPORT_FILE.name
    with target.open("w", newline="", encoding=encoding) as handle:
        writer = csv.DictWriter(
            handle, fieldnames=header, quoting=csv.QUOTE_ALL, extrasaction="ignore"
        )
        writer.writeheader()
        for row in rows:
            writer.writerow(change(row) if change else row)
    return folder


# ----------------------------------------------------------------------------- UI export


def test_export_counts_every_row(export):
    # deals: 16 rows; 1012 (line 13) is listed in 1013's "Merged object IDs" -> excluded;
    # 1015 (line 16) has no Amount nor company amount -> kept, amount empty (counted in rates,
    # left out of amount figures).
    # stage_history: one row per filled 'Date entered' cell (Date exited / Time in / Date
    # entered current stage are not stage columns): 1001 5, 1002 3, 1003 3, 1004 3, 1005 2,
    # 1006 3, 1007 2, 1008 4, 1009 2, 1010 2, 1011 5, 1012 1, 1013 2, 1014 4, 1015 1, 1016 4
    # = 46; 1012's row excluded (merged).
    # stages: 10 'Date entered' columns = 10 (pipeline, stage) pairs, all valid.
    assert counts(export) == {
        "deals": (16, 15, 0, 1),
        "stages": (10, 10, 0, 0),
        "stage_history": (46, 45, 0, 1),
    }
    for read, valid, quarantined, excluded in counts(export).values():
        assert read == valid + quarantined + excluded


def test_export_reasons(export):
    assert set_aside(export) == {
        ("deals", 13, "merged_into_another_deal"),
        ("stage_history", 13, "merged_into_another_deal"),
    }
    meaning = dict(export.exclusions().select("reason", "meaning").iter_rows())
    assert "merged into another deal" in meaning["merged_into_another_deal"]


def test_export_status_won_lost_and_probability(export):
    # Is Deal Closed? true + Deal Stage Probability 1 -> won, 0 -> lost; false -> open
    assert by_deal(export, "status") == {
        "1001": "won", "1002": "lost", "1003": "open", "1004": "won", "1005": "lost",
        "1006": "open", "1007": "open", "1008": "won", "1009": "open", "1010": "lost",
        "1011": "won", "1013": "open", "1014": "won", "1015": "open", "1016": "lost",
    }  # fmt: skip
    assert by_deal(export, "amount")["1015"] is None  # no Amount: kept, amount empty
    probability = by_deal(export, "probability")
    # lost deals keep probability 0 (not missing, not a default); 0-1 stays 0-1
    assert probability["1002"] == 0.0 and probability["1005"] == 0.0
    assert probability["1003"] == 0.9 and probability["1001"] == 1.0


def test_export_closed_at_and_expected_close(export):
    closed = by_deal(export, "closed_at")
    # 1001: entered "Closed won (Sales Pipeline)" 2025-02-25 11:00 (Close Date says 02-28)
    assert closed["1001"] == D(2025, 2, 25)
    # 1011: entered Closed won 2025-04-09 although its Close Date is 2025-03-31
    assert closed["1011"] == D(2025, 4, 9)
    # 1004: Partner pipeline, single-quoted column, entered 'Closed won' 2025-03-20
    assert closed["1004"] == D(2025, 3, 20)
    # 1008: its Closed won cell and Date entered current stage are empty -> Close Date 03-28
    assert closed["1008"] == D(2025, 3, 28)
    assert any("1008" in n and "Close Date" in n for n in export.notes)
    assert closed["1003"] is None  # open
    expected = by_deal(export, "expected_close")
    assert expected["1003"] == D(2025, 4, 30) and expected["1001"] is None


def test_export_stage_history_unpivot(export):
    # 1007: 'Appointment scheduled (Sales Pipeline)' 03-03 and 'Demo (scheduled) (Sales
    # Pipeline)' 03-07: the stage label keeps its own parentheses
    assert history(export, "1007") == [
        ("Appointment scheduled", D(2025, 3, 3)),
        ("Demo (scheduled)", D(2025, 3, 7)),
    ]
    # 1004: single-quoted Partner Pipeline columns; shared labels get the pipeline
    assert history(export, "1004") == [
        ("Qualified (Partner Pipeline)", D(2025, 1, 13)),
        ("Negotiation", D(2025, 2, 5)),
        ("Closed won (Partner Pipeline)", D(2025, 3, 20)),
    ]
    # 1003 skipped Demo: 3 entries
    assert [s for s, _ in history(export, "1003")] == [
        "Appointment scheduled",
        "Qualified (Sales Pipeline)",
        "Contract sent",
    ]


def test_parse_entered_header():
    assert _parse_entered('Date entered "Demo (scheduled) (Sales Pipeline)"') == (
        "Demo (scheduled)",
        "Sales Pipeline",
    )
    assert _parse_entered("Date entered 'Closed won (Partner Pipeline)'") == (
        "Closed won",
        "Partner Pipeline",
    )
    # polars keeps the doubled quotes of a quoted header cell
    assert _parse_entered('Date entered ""B. MQL (Sales Pipeline)""') == (
        "B. MQL",
        "Sales Pipeline",
    )


def test_export_stages_and_pipelines(export):
    stages = {
        r["stage"]: (r["pipeline"], r["order"], r["is_won"], r["is_lost"], r["probability"])
        for r in export.stages.iter_rows(named=True)
    }
    # order within a pipeline: open stages by their mean entry rank in the deals' histories
    # (Appointment 1, Demo 2, Qualified 19/7 = 2.7, Contract sent 18/5 = 3.6), then won, lost.
    # probability: the Deal Stage Probability of the deals in the stage
    assert stages == {
        "Appointment scheduled": ("Sales Pipeline", 1, False, False, 0.2),
        "Demo (scheduled)": ("Sales Pipeline", 2, False, False, 0.4),
        "Qualified (Sales Pipeline)": ("Sales Pipeline", 3, False, False, 0.6),
        "Contract sent": ("Sales Pipeline", 4, False, False, 0.9),
        "Closed won (Sales Pipeline)": ("Sales Pipeline", 5, True, False, 1.0),
        "Closed lost (Sales Pipeline)": ("Sales Pipeline", 6, False, True, 0.0),
        "Qualified (Partner Pipeline)": ("Partner Pipeline", 1, False, False, 0.3),
        "Negotiation": ("Partner Pipeline", 2, False, False, 0.7),
        "Closed won (Partner Pipeline)": ("Partner Pipeline", 3, True, False, 1.0),
        "Closed lost (Partner Pipeline)": ("Partner Pipeline", 4, False, True, 0.0),
    }
    assert by_deal(export, "stage")["1006"] == "Qualified (Sales Pipeline)"
    assert by_deal(export, "pipeline")["1009"] == "Partner Pipeline"


def test_export_currency(export):
    amount = by_deal(export, "amount")
    original = by_deal(export, "amount_original")
    currency = by_deal(export, "currency")
    # Amount in company currency preferred: 1003 10000 EUR -> 11000; 1016 5000 GBP -> 6300
    assert (amount["1003"], original["1003"], currency["1003"]) == (11000.0, "10000", "EUR")
    assert (amount["1016"], original["1016"], currency["1016"]) == (6300.0, "5000", "GBP")
    assert (amount["1001"], currency["1001"]) == (12000.0, "USD")
    # the company currency is USD: the only one whose Amount equals the company amount
    assert any("company currency (USD)" in n and "EUR 3, GBP 1" in n for n in export.notes)


def test_export_owner_and_team(export):
    owner, team = by_deal(export, "owner"), by_deal(export, "team")
    assert (owner["1001"], team["1001"]) == ("José Núñez", "EMEA")
    assert (owner["1004"], team["1004"]) == ("Chloé Dubois", "EMEA")
    assert (owner["1005"], team["1005"]) == ("Tom Reed", "Americas")
    assert export.teams == ["Americas", "EMEA"]


def test_export_win_rate(export):
    # closed_at in 2025-Q1: won 1001 (02-25), 1004 (03-20), 1008 (03-28), 1014 (01-29);
    # lost 1002 (03-03), 1005 (02-12), 1016 (03-12). 1010 (05-19) and 1011 (04-09) are Q2.
    q1 = pk.win_rate(export, "2025-Q1").row(0, named=True)
    assert (q1["won"], q1["lost"]) == (4, 3)
    assert q1["win_rate"] == pytest.approx(4 / 7)
    by_team = {
        r["team"]: (r["won"], r["lost"])
        for r in pk.win_rate(export, "2025-Q1", by="team").iter_rows(named=True)
    }
    # EMEA: 1001, 1004, 1014 won, 1016 lost; Americas: 1008 won, 1002, 1005 lost
    assert by_team == {"EMEA": (3, 1), "Americas": (1, 2)}
    q2 = pk.win_rate(export, "2025-Q2").row(0, named=True)
    assert (q2["won"], q2["lost"]) == (1, 1)  # 1011 won, 1010 lost


def test_export_without_closed_flags_reads_stage_names(tmp_path):
    folder = rewrite_export(tmp_path / "x", drop=("Is Deal Closed?",))
    ds = pk.load(folder, source="hubspot")
    # same statuses as with the flags: "Closed won" / "Closed lost" say it
    statuses = by_deal(ds, "status")
    assert statuses["1001"] == "won" and statuses["1002"] == "lost"
    assert statuses["1003"] == "open" and statuses["1005"] == "lost"
    assert any("from the stage name" in n for n in ds.notes)


def test_export_blank_closed_flag_falls_back_to_the_stage_name(tmp_path):
    def blank(row):
        if row["Record ID"] == "1005":  # the only deal in 'Closed lost (Partner Pipeline)'
            row["Is Deal Closed?"] = ""
        return row

    ds = pk.load(rewrite_export(tmp_path / "x", change=blank), source="hubspot")
    assert by_deal(ds, "status")["1005"] == "lost"
    assert any("Closed lost (Partner Pipeline)" in n and "stage name" in n for n in ds.notes)


def export_rows() -> list[dict[str, str]]:
    with EXPORT_FILE.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def write_rows(folder: Path, rows: list[dict[str, str]]) -> Path:
    """The rows as a UI export (header = the first row's keys, in their order)."""
    folder.mkdir(exist_ok=True)
    with (folder / EXPORT_FILE.name).open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]), quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerows(rows)
    return folder


STATUSES = {
    "1001": "won", "1002": "lost", "1003": "open", "1004": "won", "1005": "lost",
    "1006": "open", "1007": "open", "1008": "won", "1009": "open", "1010": "lost",
    "1011": "won", "1013": "open", "1014": "won", "1015": "open", "1016": "lost",
}  # fmt: skip


def test_export_closed_flag_without_probability_is_never_open(tmp_path):
    # the view has 'Is Deal Closed?' but not 'Deal Stage Probability': the closed stages are
    # read by their label (Closed won / Closed lost), the same statuses as with the probability
    # (the lost ones, 1002, 1005, 1010, 1016, were read as open)
    ds = pk.load(rewrite_export(tmp_path / "x", drop=("Deal Stage Probability",)), source="hubspot")
    assert by_deal(ds, "status") == STATUSES
    assert any("Closed lost" in n and "from the stage name" in n for n in ds.notes)


def test_export_closed_stage_named_neither_won_nor_lost(tmp_path):
    # 1005 (line 6) is closed (true) in a stage called 'Dead': no probability, no Is Closed
    # Won, no won/lost word -> quarantined with its reason, never open
    rows = export_rows()
    for row in rows:
        del row["Deal Stage Probability"]
        if row["Record ID"] == "1005":
            row["Deal Stage"] = "Dead"
    ds = pk.load(write_rows(tmp_path / "x", rows), source="hubspot")
    assert "1005" not in by_deal(ds, "status")
    assert ("deals", 6, "closed_outcome_unknown") in set_aside(ds)
    assert {k: v for k, v in by_deal(ds, "status").items()} == {
        k: v for k, v in STATUSES.items() if k != "1005"
    }
    assert any("Dead" in n and "quarantined" in n for n in ds.notes)
    # with 'Is Closed Won' (false for 1005) the stage is lost
    for row in rows:
        row["Is Closed Won"] = "true" if STATUSES.get(row["Record ID"]) == "won" else "false"
    ds = pk.load(write_rows(tmp_path / "y", rows), source="hubspot")
    assert by_deal(ds, "status") == STATUSES


def test_export_note_on_open_stages_that_look_closing(tmp_path):
    # no 'Is Deal Closed?' nor probability; 1005's closing stage is called 'Dead': taken as
    # open (nothing says otherwise), but no deal leaves it (1005 entered it last, 2025-02-12)
    # and its Close Date (2025-02-14) is before the latest stage entry (1010, 2025-05-19): a
    # note names it. Every other open stage is left by some deal (Qualified by 1001/1004,
    # Negotiation by 1004, Contract sent by 1001, ...).
    rows = []
    for row in export_rows():
        dropped = ("Deal Stage Probability", "Is Deal Closed?")
        old, new = "'Closed lost (Partner Pipeline)'", "'Dead (Partner Pipeline)'"
        row = {k.replace(old, new): v for k, v in row.items() if k not in dropped}
        if row["Record ID"] == "1005":
            row["Deal Stage"] = "Dead"
        rows.append(row)
    ds = pk.load(write_rows(tmp_path / "x", rows), source="hubspot")
    assert by_deal(ds, "status")["1005"] == "open"
    looks = [n for n in ds.notes if "no deal ever leaves" in n]
    assert len(looks) == 1 and "stage(s) Dead are read as open" in looks[0]
    assert "Is Deal Closed?" in looks[0]


def test_api_closed_stage_without_probability_nor_won_lost_name(tmp_path):
    # stage 3004 renamed 'Dead', its probability blanked: is_closed true, and nothing says won
    # or lost -> its deal 5005 (line 6 of deal.csv) is quarantined, not open
    folder = tmp_path / "api"
    shutil.copytree(API, folder)
    stages = next(folder.glob("deal_pipeline_stage*.csv"))
    text = stages.read_text(encoding="utf-8")
    assert ",3,0.0,3004,Closed lost,2001," in text
    stages.write_text(text.replace(",3,0.0,3004,Closed lost,2001,", ",3,,3004,Dead,2001,"))
    ds = pk.load(folder, source="hubspot")
    assert "5005" not in by_deal(ds, "status")
    assert ("deals", 6, "closed_outcome_unknown") in set_aside(ds)


def test_export_probability_as_percent(tmp_path):
    def percent(row):
        value = row["Deal Stage Probability"]
        row["Deal Stage Probability"] = f"{round(float(value) * 100)}%"  # 0.9 -> 90%
        return row

    ds = pk.load(rewrite_export(tmp_path / "x", change=percent), source="hubspot")
    probability = by_deal(ds, "probability")
    assert probability["1003"] == 0.9 and probability["1002"] == 0.0
    assert by_deal(ds, "status")["1001"] == "won"  # closed at 100%


def test_export_with_semicolons(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    with EXPORT_FILE.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    with (folder / EXPORT_FILE.name).open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, delimiter=";", quoting=csv.QUOTE_ALL).writerows(rows)
    assert counts(pk.load(folder, source="hubspot"))["deals"] == (16, 15, 0, 1)


def test_export_team_option_and_missing_team(tmp_path):
    folder = rewrite_export(tmp_path / "x", drop=("HubSpot Team",))
    ds = pk.load(folder, source="hubspot")
    assert ds.teams == ["All"]
    assert any("no HubSpot Team column" in n for n in ds.notes)
    ds = pk.load(folder, source="hubspot", team="Sales")
    assert ds.teams == ["Sales"]
    assert any("team='Sales'" in n for n in ds.notes)


def test_export_without_company_amount(tmp_path):
    folder = rewrite_export(tmp_path / "x", drop=("Amount in company currency",))
    ds = pk.load(folder, source="hubspot")
    # no rates: only USD deals are kept; EUR 1003 (line 4), 1004 (5), 1010 (11), GBP 1016 (17)
    quarantined = {
        r for t, r, rule in set_aside(ds) if t == "deals" and rule == "currency_without_rate"
    }
    assert quarantined == {4, 5, 11, 17}
    assert by_deal(ds, "amount")["1001"] == 12000.0


def test_export_without_pipeline_column(tmp_path):
    folder = rewrite_export(tmp_path / "x", drop=("Pipeline",))
    ds = pk.load(folder, source="hubspot")
    # 1004's latest 'Date entered' column is 'Closed won (Partner Pipeline)'
    assert by_deal(ds, "stage")["1004"] == "Closed won (Partner Pipeline)"
    assert by_deal(ds, "pipeline")["1004"] == "Partner Pipeline"


def test_export_stage_with_pipeline_suffix(tmp_path):
    def suffixed(row):
        if row["Record ID"] == "1009":
            row["Deal Stage"] = "Negotiation (Partner Pipeline)"
        return row

    ds = pk.load(rewrite_export(tmp_path / "x", change=suffixed), source="hubspot")
    assert by_deal(ds, "stage")["1009"] == "Negotiation"


def test_export_latin1(tmp_path):
    folder = rewrite_export(tmp_path / "x", encoding="latin-1")
    ds = pk.load(folder, source="hubspot", encoding="latin-1")
    assert by_deal(ds, "owner")["1001"] == "José Núñez"
    detected = pk.load(folder, source="hubspot")  # encoding guessed: said in a note
    assert any("is not UTF-8" in n for n in detected.notes)
    assert counts(detected)["deals"] == (16, 15, 0, 1)


def test_folder_errors(tmp_path):
    with pytest.raises(pk.DataError, match="no HubSpot deals found"):
        pk.load(tmp_path, source="hubspot")
    both = tmp_path / "both"
    rewrite_export(both)
    shutil.copy(API / "deal.csv", both / "deal.csv")
    with pytest.raises(pk.DataError, match="both a Deals UI export"):
        pk.load(both, source="hubspot")
    two = tmp_path / "two"
    rewrite_export(two)
    shutil.copy(EXPORT_FILE, two / "hubspot-crm-exports-all-deals-2025-06-09.csv")
    with pytest.raises(pk.DataError, match="2 HubSpot deal exports"):
        pk.load(two, source="hubspot")


# ----------------------------------------------------------------------------- API / Fivetran


def test_api_counts_every_row(api):
    # deals (13): 5007 is_deleted, 5008 _fivetran_deleted -> excluded; 5009 is
    # merged_deal.merged_deal_id of 5010 -> excluded; 5006 has no amount -> kept (empty).
    # stage_history (31): excluded 5 = 5002's second qualifiedtobuy (01-25, same stage as
    # the row before) + 5007's 2 + 5008's 1 + 5009's 1; quarantined 1 = stage id 999 (in no
    # pipeline); 5006's 2 rows are valid (its deal is kept).
    # stages (10): "Legacy stage" (555) is _fivetran_deleted and unused -> excluded.
    # activities (7): 9005 is on deleted deal 5007, 9007's call row is _fivetran_deleted.
    assert counts(api) == {
        "deals": (13, 10, 0, 3),
        "stages": (10, 9, 0, 1),
        "stage_history": (31, 25, 1, 5),
        "activities": (7, 5, 0, 2),
    }
    for read, valid, quarantined, excluded in counts(api).values():
        assert read == valid + quarantined + excluded


def test_api_reasons(api):
    assert set_aside(api) == {
        ("deals", 8, "deleted_in_crm"),  # 5007 is_deleted
        ("deals", 9, "deleted_in_crm"),  # 5008 _fivetran_deleted
        ("deals", 10, "merged_into_another_deal"),  # 5009 -> 5010
        ("stage_history", 8, "not_a_stage_change"),  # 5002 qualifiedtobuy again
        ("stage_history", 22, "deleted_in_crm"),  # 5007
        ("stage_history", 23, "deleted_in_crm"),  # 5007
        ("stage_history", 24, "deleted_in_crm"),  # 5008
        ("stage_history", 25, "merged_into_another_deal"),  # 5009
        ("stage_history", 31, "stage_not_in_pipelines"),  # 5013, stage id 999
        ("stages", 7, "deleted_in_crm"),  # Legacy stage
        ("activities", 6, "deleted_in_crm"),  # 9005 on deleted deal 5007
        ("activities", 8, "deleted_in_crm"),  # 9007 deleted call
    }


def test_api_status_won_lost_and_probability(api):
    # stage is_closed + probability 1 -> won, 0 -> lost (closed_won is TRUE on closedlost
    # too: the deprecated flag meant "closed")
    assert by_deal(api, "status") == {
        "5001": "won", "5002": "lost", "5003": "open", "5004": "won", "5005": "lost",
        "5006": "open", "5010": "open", "5011": "won", "5012": "won", "5013": "open",
    }  # fmt: skip
    assert by_deal(api, "amount")["5006"] is None  # no amount: kept, amount empty
    probability = by_deal(api, "probability")
    assert probability["5002"] == 0.0 and probability["5005"] == 0.0  # 0 kept
    assert probability["5010"] == 0.4  # empty -> its stage qualifiedtobuy's 0.4


def test_api_dates(api):
    closed, created = by_deal(api, "closed_at"), by_deal(api, "created_at")
    # 5001: deal_stage entered closedwon 2025-02-20T11:00:00Z (closedate 02-28)
    assert closed["5001"] == D(2025, 2, 20)
    # 5004: entered 3003 at epoch 1742900400000 = 2025-03-25 11:00 UTC (closedate 03-31)
    assert closed["5004"] == D(2025, 3, 25)
    # 5012: no closedwon row -> closedate, epoch 1743422400000 = 2025-03-31 12:00 UTC
    assert closed["5012"] == D(2025, 3, 31)
    assert any("5012" in n for n in api.notes)
    assert created["5004"] == D(2025, 1, 15)  # epoch 1736899200000
    assert created["5003"] == D(2025, 2, 1)  # 2025-02-01T08:30:00.000Z
    assert created["5001"] == D(2025, 1, 6)  # 2025-01-06 9:15:18 (one-digit hour)
    assert by_deal(api, "expected_close")["5003"] == D(2025, 5, 30)


def test_api_stages_keyed_by_pipeline(api):
    stages = {
        r["stage"]: (r["pipeline"], r["order"], r["is_won"], r["is_lost"])
        for r in api.stages.iter_rows(named=True)
    }
    # order = display_order within the pipeline, from 1
    assert stages == {
        "Appointment scheduled": ("Sales Pipeline", 1, False, False),
        "Qualified (Sales Pipeline)": ("Sales Pipeline", 2, False, False),
        "Contract sent": ("Sales Pipeline", 3, False, False),
        "Closed won (Sales Pipeline)": ("Sales Pipeline", 4, True, False),
        "Closed lost (Sales Pipeline)": ("Sales Pipeline", 5, False, True),
        "Qualified (Enterprise)": ("Enterprise", 1, False, False),
        "Negotiation": ("Enterprise", 2, False, False),
        "Closed won (Enterprise)": ("Enterprise", 3, True, False),
        "Closed lost (Enterprise)": ("Enterprise", 4, False, True),
    }
    assert by_deal(api, "stage")["5004"] == "Closed won (Enterprise)"
    assert by_deal(api, "stage")["5001"] == "Closed won (Sales Pipeline)"


def test_api_stage_history(api):
    # 5003 moves back from Contract sent to Qualified and forward again (rows listed in
    # reverse order in the file)
    assert history(api, "5003") == [
        ("Appointment scheduled", D(2025, 2, 1)),
        ("Qualified (Sales Pipeline)", D(2025, 2, 10)),
        ("Contract sent", D(2025, 2, 20)),
        ("Qualified (Sales Pipeline)", D(2025, 3, 1)),
        ("Contract sent", D(2025, 3, 15)),
    ]
    # 5002: the repeated qualifiedtobuy row of 01-25 is not a stage change
    assert history(api, "5002") == [
        ("Appointment scheduled", D(2025, 1, 10)),
        ("Qualified (Sales Pipeline)", D(2025, 1, 20)),
        ("Closed lost (Sales Pipeline)", D(2025, 3, 10)),
    ]
    # _fivetran_active FALSE rows are earlier stages, not History Mode copies: all 4 kept
    assert len(history(api, "5001")) == 4
    # 5013: the entry into stage id 999 is quarantined, the rest kept
    assert history(api, "5013") == [("Appointment scheduled", D(2025, 1, 20))]


def test_api_owner_team_currency(api):
    owner, team = by_deal(api, "owner"), by_deal(api, "team")
    assert (owner["5001"], team["5001"]) == ("Ana Silva", "Inside Sales")
    # Ben Okafor: primary team 11 (Inside Sales), not his secondary team 13 (Partners)
    assert (owner["5002"], team["5002"]) == ("Ben Okafor", "Inside Sales")
    assert (owner["5004"], team["5004"]) == ("Chen Wei", "Enterprise Team")
    assert (owner["5011"], team["5011"]) == ("Dana Kim", "(no team)")  # no owner_team row
    amount, original = by_deal(api, "amount"), by_deal(api, "amount_original")
    assert (amount["5004"], original["5004"], by_deal(api, "currency")["5004"]) == (
        55000.0,
        "50000",
        "EUR",
    )
    # 5010 has no home-currency amount; its USD amount is in the company currency
    assert amount["5010"] == 7000.0


def test_api_activities(api):
    got = {
        r["activity_id"]: (r["owner"], r["type"], r["occurred_at"], r["deal_id"])
        for r in api.activities.iter_rows(named=True)
    }
    assert got == {
        # call: property_hs_timestamp, owner 101
        "9001": ("Ana Silva", "call", dt.datetime(2025, 1, 12, 10, 30), "5001"),
        # meeting (v1 shape: start_time, no owner) -> the owner of deal 5004
        "9002": ("Chen Wei", "meeting", dt.datetime(2025, 2, 12, 14, 0), "5004"),
        # email: epoch ms 1740477600000 = 2025-02-25 10:00 UTC
        "9003": ("Ana Silva", "email", dt.datetime(2025, 2, 25, 10, 0), "5003"),
        # note linked to 5003 and 5001: counted once, with the lowest id
        "9004": ("Ana Silva", "note", dt.datetime(2025, 1, 20, 16, 0), "5001"),
        # task without a deal
        "9006": ("Chen Wei", "task", dt.datetime(2025, 3, 3, 9, 0), None),
    }


def test_api_win_rate(api):
    # closed in 2025-Q1: won 5001 (02-20), 5004 (03-25), 5011 (03-28), 5012 (03-31);
    # lost 5002 (03-10), 5005 (03-05)
    q1 = pk.win_rate(api, "2025-Q1").row(0, named=True)
    assert (q1["won"], q1["lost"]) == (4, 2)
    assert q1["win_rate"] == pytest.approx(4 / 6)
    by_team = {
        r["team"]: (r["won"], r["lost"])
        for r in pk.win_rate(api, "2025-Q1", by="team").iter_rows(named=True)
    }
    assert by_team == {"Inside Sales": (2, 1), "Enterprise Team": (1, 1), "(no team)": (1, 0)}


def test_api_team_option(tmp_path):
    ds = pk.load(API, source="hubspot", team="Sales")
    assert ds.teams == ["Sales"]


def test_api_without_team_tables(tmp_path):
    folder = tmp_path / "api"
    shutil.copytree(API, folder)
    (folder / "owner_team.csv").unlink()
    (folder / "team.csv").unlink()
    ds = pk.load(folder, source="hubspot")
    assert ds.teams == ["All"]
    assert any("team 'All'" in n for n in ds.notes)


def test_api_history_from_date_entered_properties(tmp_path):
    folder = tmp_path / "api"
    shutil.copytree(API, folder)
    (folder / "deal_stage_data.csv").unlink()
    deal = pl.read_csv(folder / "deal.csv", infer_schema=False)
    # 5001: v2 property for appointmentscheduled, legacy one for closedwon; a legacy value
    # that a v2 value replaces for contractsent (v2 wins)
    values = {
        "property_hs_v2_date_entered_appointmentscheduled": "2025-01-06 09:15:18",
        "property_hs_date_entered_closedwon": "1740049200000",  # 2025-02-20 11:00 UTC
        "property_hs_date_entered_contractsent": "2025-01-30 08:00:00",
        "property_hs_v2_date_entered_contractsent": "2025-02-03 08:00:00",
    }
    deal = deal.with_columns(
        pl.when(pl.col("deal_id") == "5001").then(pl.lit(v)).alias(k) for k, v in values.items()
    )
    deal.write_csv(folder / "deal.csv")
    ds = pk.load(folder, source="hubspot")
    assert history(ds, "5001") == [
        ("Appointment scheduled", D(2025, 1, 6)),
        ("Contract sent", D(2025, 2, 3)),
        ("Closed won (Sales Pipeline)", D(2025, 2, 20)),
    ]
    assert by_deal(ds, "closed_at")["5001"] == D(2025, 2, 20)


def test_api_folder_errors(tmp_path):
    folder = tmp_path / "api"
    shutil.copytree(API, folder)
    shutil.copy(folder / "deal.csv", folder / "deal_data.csv")
    with pytest.raises(pk.DataError, match="two files hold the deal table"):
        pk.load(folder, source="hubspot")
    (folder / "deal_data.csv").unlink()
    (folder / "deal_pipeline_stage.csv").unlink()
    with pytest.raises(pk.DataError, match="deal_pipeline_stage is missing"):
        pk.load(folder, source="hubspot")


def test_fivetran_seeds_load_or_explain():
    """The real Fivetran seeds: values hashed, nothing joins. They load (every deal is
    quarantined with its reasons) or raise one DataError, never a polars traceback."""
    if not (SEEDS / "deal_data.csv").exists():
        pytest.skip(f"seeds not found at {SEEDS}")
    try:
        ds = pk.load(SEEDS, source="hubspot")
    except pk.DataError as exc:  # acceptable: one clear message
        assert "What to do" in str(exc)
        return
    for read, valid, quarantined, excluded in counts(ds).values():
        assert read == valid + quarantined + excluded
    assert not ds.usable
    assert "stage_not_in_pipelines" in {r for rules in ds.quarantine["rules"] for r in rules}


def test_an_export_with_deal_id_for_record_id_is_a_deals_export(tmp_path):
    """HubSpot's exports before the "Record ID" rename call the id column "Deal ID": the
    folder was said to hold no HubSpot deals."""
    example = Path(__file__).parents[1] / "data" / "examples" / "hubspot"
    (original,) = example.glob("*.csv")
    text = original.read_text(encoding="utf-8")
    assert text.startswith('"Record ID",')
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / original.name).write_text('"Deal ID",' + text.removeprefix('"Record ID",'))
    old, new = pk.load(folder, source="hubspot"), pk.load(example, source="hubspot")
    assert old.counts.drop("file").equals(new.counts.drop("file"))
    assert old.deals.equals(new.deals)


def test_an_export_from_a_ui_in_another_language_points_to_a_mapping(tmp_path):
    """A Spanish UI's export (ID del registro, Etapa del negocio) got "no HubSpot deals found:
    neither a Deals export ... nor a deal table", naming only the file; the Salesforce adapter
    already names the columns found and the mapping route."""
    (tmp_path / "hubspot-crm-exports-todos-los-negocios.csv").write_text(
        "ID del registro,Nombre del negocio,Etapa del negocio,Importe\n1,A,Cierre ganado,10\n",
        encoding="utf-8",
    )
    with pytest.raises(pk.DataError) as error:
        pk.load(tmp_path, source="hubspot")
    said = str(error.value)
    assert "column names translated" in said and "pipeline-kit inspect" in said
    assert "ID del registro, Nombre del negocio, Etapa del negocio, Importe" in said
