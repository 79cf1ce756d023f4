"""Ninth-session export sweep: CRMs the kit has no adapter for, read through `inspect`'s draft.

Each case is a few rows in the vendor's export shape whose outcome is known by hand; the
sweep's full-size builders and what a user hit are in /work/findings/exports9 (FINDINGS.md).
"""

from __future__ import annotations

import datetime as dt
import tomllib

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.adapters.mapping import draft_mapping


def _drafted(tmp_path, name: str, text: str, **fill: str) -> tuple[dict, list[str]]:
    """The drafted mapping of ``text`` written as ``name``, with the constants a user fills."""
    (tmp_path / name).write_text(text, encoding="utf-8")
    draft, said = draft_mapping(tmp_path / name)
    mapping = tomllib.loads(draft)
    mapping["deals"].setdefault("constants", {}).update(fill)
    return mapping, said


def _statuses(ds: pk.Dataset) -> dict[str, str]:
    return dict(ds.deals.select("deal_id", pl.col("status").cast(pl.String)).rows())


# ----------------------------------------------------------------------------- Zoho CRM

ZOHO = (
    "Record Id,Deal Owner.id,Deal Owner,Deal Name,Amount,Closing Date,Stage,Created Time,"
    "Reason For Loss__s\n"
    "zcrm_1,zcrm_9,Ana,A,100.00,2025-02-01,Closed Won,2025-01-05 14:22:10,\n"
    "zcrm_2,zcrm_9,Ana,B,200.00,2025-02-02,Closed Lost,2025-01-06 09:00:00,Price\n"
    "zcrm_3,zcrm_8,Ben,C,300.00,2025-02-03,Closed Lost to Competition,2025-01-07 10:00:00,"
    "Competitor\n"
    "zcrm_4,zcrm_8,Ben,D,400.00,2025-06-30,Negotiation/Review,2025-01-08 11:00:00,\n"
)


def test_zohos_closed_lost_to_competition_stage_is_drafted_as_lost(tmp_path):
    """Zoho's standard layout has a third closing stage, "Closed Lost to Competition": the
    draft took it as open ("*" = "open"), so the sweep's Zoho export read 68 lost deals as 36
    and its 2025-Q1 win rate as 62.5% (10 of 16) instead of 40% (10 of 25)."""
    mapping, _ = _drafted(tmp_path, "Deals_2025_07_01.csv", ZOHO, team="All")
    assert mapping["deals"]["values"]["status"]["Closed Lost to Competition"] == "lost"
    # the custom field's suffix (__s) no longer hides the loss reason
    assert mapping["deals"]["columns"]["lost_reason"] == "Reason For Loss__s"
    ds = pk.load(tmp_path / "Deals_2025_07_01.csv", mapping=mapping)
    assert _statuses(ds) == {"zcrm_1": "won", "zcrm_2": "lost", "zcrm_3": "lost", "zcrm_4": "open"}
    lost = ds.deals.filter(pl.col("deal_id") == "zcrm_3").row(0, named=True)
    assert lost["closed_at"] == dt.date(2025, 2, 3) and lost["lost_reason"] == "Competitor"
    assert ds.quarantine.height == 0


# ----------------------------------------------------------------------------- Close

CLOSE = (
    "id,lead_name,status_label,status_type,value,value_period,value_currency,value_formatted,"
    "user_name,date_created,date_won,date_lost\n"
    # won: 1000.50 USD on 2025-02-01
    'oppo_1,Acme,Won,won,100050,one_time,USD,"$1,000.50",Ana,'
    "2025-01-05T14:22:10.123000+00:00,2025-02-01,\n"
    # lost: 250.00 USD on 2025-02-10 (Close keeps the expected close in date_won: not read)
    "oppo_2,Beta,Lost,lost,25000,one_time,USD,$250.00,Ben,"
    "2025-01-06T09:00:00.000000+00:00,2025-03-31,2025-02-10\n"
    # active: 80.00 EUR, expected to close on 2025-06-30
    "oppo_3,Gamma,Demo Scheduled,active,8000,one_time,EUR,€80.00,Ana,"
    "2025-01-07T10:00:00.000000+00:00,2025-06-30,\n"
    # won: 12.00 USD a month (the value is per month, as Close writes it)
    "oppo_4,Delta,Won,won,1200,monthly,USD,$12.00/mo,Ben,"
    "2025-01-08T11:00:00.000000+00:00,2025-03-01,\n"
)


def test_closes_export_is_drafted_with_cents_currency_and_both_close_dates(tmp_path):
    """Close writes amounts in cents (value_formatted shows them), the currency in
    value_currency, and no single close date (date_won, date_lost). As drafted before, the
    sweep's 200 deals loaded with every won and lost deal quarantined (117 of 200: "won/lost
    deal without closed_at"), every amount 100 times too large, and EUR summed with USD."""
    mapping, said = _drafted(tmp_path, "opportunities.csv", CLOSE, team="All")
    deals = mapping["deals"]
    assert deals["amount_unit"] == "minor"
    assert deals["columns"]["closed_at"] == ["date_lost", "date_won"]
    assert deals["columns"]["currency"] == "value_currency"
    assert any("'value' is in cents (100050 is written '$1,000.50'" in s for s in said)
    ds = pk.load(tmp_path / "opportunities.csv", mapping=mapping, rates={"EUR": 0.8})
    got = {
        r["deal_id"]: (r["status"], r["amount"], r["closed_at"], r["expected_close"])
        for r in ds.deals.to_dicts()
    }
    assert got == {
        "oppo_1": ("won", 1000.5, dt.date(2025, 2, 1), None),
        "oppo_2": ("lost", 250.0, dt.date(2025, 2, 10), None),
        "oppo_3": ("open", 80.0 / 0.8, None, dt.date(2025, 6, 30)),
        # 12.00 USD a month read as a yearly value, 12 x 12 (tenth session: amount_period)
        "oppo_4": ("won", 144.0, dt.date(2025, 3, 1), None),
    }
    assert deals["columns"]["amount_period"] == "value_period"
    assert any(
        "'value_period' says what period each amount covers (1 monthly of 4)" in s for s in said
    )
    assert ds.quarantine.height == 0


def test_no_minor_unit_is_drafted_without_evidence(tmp_path):
    """A formatted column that does not show the amount a hundredth as large: no unit line."""
    text = CLOSE.replace('"$1,000.50"', '"$100,050.00"').replace("$250.00", '"$25,000.00"')
    text = text.replace("€80.00", '"€8,000.00"').replace("$12.00/mo", '"$1,200.00/mo"')
    (tmp_path / "opportunities.csv").write_text(text, encoding="utf-8")
    draft, said = draft_mapping(tmp_path / "opportunities.csv")
    assert "amount_unit" not in draft and not any("cents" in s for s in said)


# ----------------------------------------------------------------------------- Odoo

ODOO = (
    "ID,Opportunity,Customer,Salesperson,Sales Team,Stage,Expected Revenue,Probability,"
    "Created on,Expected Closing,Closed Date,Lost Reason,Active\n"
    "__export__.crm_lead_1_a,Deal 1,Acme,Ana,Europe,Won,1000.00,100.00,2025-01-05 09:30:00,,"
    "2025-02-01 10:00:00,,True\n"
    # lost: archived in the stage it was in
    "__export__.crm_lead_2_b,Deal 2,Beta,Ben,Europe,Proposition,500.00,0.00,2025-01-06 09:30:00,"
    ",2025-02-10 16:00:00,Too expensive,False\n"
    "__export__.crm_lead_3_c,Deal 3,Gamma,Ana,Europe,Qualified,80.00,20.00,2025-01-07 09:30:00,"
    "2025-06-30,,,True\n"
)


def test_odoos_archived_opportunities_are_drafted_as_lost(tmp_path):
    """Odoo has no lost stage: a lost opportunity is archived (Active False) in its stage.
    The draft left status to the user ("?"); from the stage ("Won" = won, "*" = open) the
    sweep's 81 lost deals were quarantined as open deals with a close date, and its 2025-Q1
    win rate read 100% (9 of 9) instead of 36% (9 of 25)."""
    mapping, said = _drafted(tmp_path, "crm.lead.csv", ODOO)
    assert mapping["deals"]["columns"]["status"] == ["Active", "Stage"]
    assert mapping["deals"]["values"]["status"] == {"False": "lost", "Won": "won", "*": "open"}
    assert any("Odoo archives lost opportunities" in s for s in said)
    ds = pk.load(tmp_path / "crm.lead.csv", mapping=mapping)
    assert _statuses(ds) == {
        "__export__.crm_lead_1_a": "won",
        "__export__.crm_lead_2_b": "lost",
        "__export__.crm_lead_3_c": "open",
    }
    lost = ds.deals.filter(pl.col("status") == "lost").row(0, named=True)
    assert lost["closed_at"] == dt.date(2025, 2, 10) and lost["lost_reason"] == "Too expensive"
    assert ds.quarantine.height == 0


# ----------------------------------------------------------------------------- the mapping

SEVERAL = (
    "deal_id,Owner,Team,created_at,Stage,Flag,Won On,Lost On,Cur,Amount\n"
    "1,Ana,A,2025-01-01,Won,,2025-02-01,,EUR,10\n"
    "2,Ana,A,2025-01-01,Pitch,archived,,2025-02-02,USD,20\n"
    "3,Ana,A,2025-01-01,Pitch,,  ,,USD,30\n"
    "4,Ana,A,2025-01-01,Won,archived,2025-02-04,2025-02-05,USD,40\n"
)


def test_a_column_mapped_to_several_headers_takes_the_first_filled(tmp_path):
    """closed_at = ["Lost On", "Won On"]: a blank cell is not filled. With a value map, the first
    header whose value the map names decides (row 4: archived although in the Won stage), and
    "*" applies to the first filled value of the others."""
    (tmp_path / "x.csv").write_text(SEVERAL)
    mapping = {
        "deals": {
            "columns": {
                "closed_at": ["Lost On", "Won On"],
                "status": ["Flag", "Stage"],
                "currency": "Cur",
            },
            "values": {"status": {"archived": "lost", "Won": "won", "*": "open"}},
        }
    }
    ds = pk.load(tmp_path / "x.csv", mapping=mapping, rates={"EUR": 0.5})
    got = {r["deal_id"]: (r["status"], r["closed_at"], r["amount"]) for r in ds.deals.to_dicts()}
    assert got == {
        "1": ("won", dt.date(2025, 2, 1), 20.0),
        "2": ("lost", dt.date(2025, 2, 2), 20.0),
        "3": ("open", None, 30.0),
        "4": ("lost", dt.date(2025, 2, 5), 40.0),
    }
    said = next(n for n in ds.notes if "as the mapping says" in n)
    assert "closed_at = ['Lost On', 'Won On']" in said
    assert "each row's value from the first of the headers that is filled" in said
    assert "'archived' -> 'lost' (2 rows), 'Won' -> 'won' (1 row)" in said


def test_a_constant_currency_replaces_the_files_currency_column(tmp_path):
    """Freshsales' 'Base currency amount' is already converted: currency = "USD" as a constant
    keeps its 'Currency' column (the deal's own currency) from being applied to it."""
    (tmp_path / "x.csv").write_text(
        "deal_id,Owner,Team,created_at,closed_at,Stage,Status,Deal value,Currency,"
        "Base currency amount\n"
        "1,Ana,A,2025-01-01,2025-02-01,Won,won,8300.00,INR,100.00\n"
        "2,Ana,A,2025-01-01,,New,open,50.00,USD,50.00\n"
    )
    mapping = {
        "deals": {
            "columns": {"amount": "Base currency amount"},
            "constants": {"currency": "USD"},
        }
    }
    ds = pk.load(tmp_path / "x.csv", mapping=mapping)
    assert dict(ds.deals.select("deal_id", "amount").rows()) == {"1": 100.0, "2": 50.0}
    assert any("'Currency' (its name is currency, given as a constant)" in n for n in ds.notes)


@pytest.mark.parametrize("bad", [["Won On", 3], ["Won On", ""], []])
def test_a_list_of_headers_must_hold_headers(tmp_path, bad):
    (tmp_path / "x.csv").write_text(SEVERAL)
    mapping = {"deals": {"columns": {"closed_at": bad}}}
    with pytest.raises(pk.DataError, match="closed_at"):
        pk.load(tmp_path / "x.csv", mapping=mapping)


# ----------------------------------------------------------------------------- a hand-kept sheet

SHEET = (
    "Deal,Rep,Region,Value,Stage,Status,Created,Close date\n"
    'Acme,Ana,East,"$12,500",Closed,Won,1/5/2025,2/1/2025\n'
    "Beta,,East,$500,Closed,Lost,1/6/2025,2/2/2025\n"
    "Gamma,,East,TBD,Proposal,Open,1/7/2025,\n"
    "Delta,Ben,West,$80,Proposal,Open,1/8/2025,\n"
    "Epsilon,,West,tbd,Prospecting,Open,1/9/2025,\n"
    "\n"
    'TOTAL,,,"$13,080",,,,\n'
)


def test_a_hand_kept_sheet_fills_reps_down_and_reads_tbd_as_no_amount(tmp_path):
    """Google Sheets download: each rep named once above their rows (merged cells), "TBD"
    amounts. As drafted before, 85 of the sweep's 90 deals counted under "(unknown)" and its
    5 TBD deals were quarantined, gone from every figure."""
    mapping, said = _drafted(tmp_path, "Pipeline - Sheet1.csv", SHEET)
    assert mapping["deals"]["fill_down"] == ["owner"]
    assert mapping["deals"]["values"]["amount"] == {"TBD": "", "tbd": ""}
    assert any("3 of 5 'Rep' cells are empty and each name is written once" in s for s in said)
    mapping["deals"]["columns"]["deal_id"] = "Deal"  # (the draft asks for it)
    ds = pk.load(tmp_path / "Pipeline - Sheet1.csv", mapping=mapping)
    got = {r["deal_id"]: (r["owner"], r["amount"], r["status"]) for r in ds.deals.to_dicts()}
    assert got == {
        "Acme": ("Ana", 12_500.0, "won"),
        "Beta": ("Ana", 500.0, "lost"),
        "Gamma": ("Ana", None, "open"),
        "Delta": ("Ben", 80.0, "open"),
        "Epsilon": ("Ben", None, "open"),
    }
    counts = ds.counts.row(0, named=True)  # read 7 = 5 valid + the blank line and the total
    assert (counts["read"], counts["valid"], counts["quarantined"], counts["excluded"]) == (
        7,
        5,
        0,
        2,
    )
    said_load = next(n for n in ds.notes if "as the mapping says" in n)
    assert "fill_down owner: 3 empty cell(s) take the value of the row above" in said_load


def test_fill_down_is_not_drafted_when_names_repeat(tmp_path):
    """A rep named on several rows and left empty on others: empty means nobody, not a merge."""
    text = SHEET.replace("Delta,Ben", "Delta,Ana")
    (tmp_path / "Pipeline - Sheet1.csv").write_text(text, encoding="utf-8")
    draft, _ = draft_mapping(tmp_path / "Pipeline - Sheet1.csv")
    assert "\nfill_down" not in draft


def test_fill_down_must_name_a_mapped_column(tmp_path):
    (tmp_path / "x.csv").write_text(SEVERAL)
    with pytest.raises(pk.DataError, match=r"fill_down\] names 'Rep'"):
        pk.load(tmp_path / "x.csv", mapping={"deals": {"fill_down": ["Rep"]}})


def test_inspect_names_the_other_amount_columns_of_freshsales_and_dynamics(tmp_path):
    """Said, not chosen: Freshsales' converted amounts, Dynamics' won revenue."""
    (tmp_path / "fs.csv").write_text(
        "Id,Sales owner,Deal value,Currency,Base currency amount,Deal stage,Created at\n"
        "1,Ana,8300,INR,100,Won,2025-01-01\n2,Ben,50,USD,50,New,2025-01-02\n"
    )
    _, said = draft_mapping(tmp_path / "fs.csv")
    assert any("'Base currency amount' holds the amounts converted" in s for s in said)
    (tmp_path / "dyn.csv").write_text(
        "(Do Not Modify) Opportunity,Topic,Est. Revenue,Actual Revenue,Status,Owner,Created On\n"
        "g1,A,100,90,Won,Ana,2025-01-01\ng2,B,50,0,Lost,Ben,2025-01-02\n"
    )
    _, said = draft_mapping(tmp_path / "dyn.csv")
    assert any("'Actual Revenue' holds what won deals brought in" in s for s in said)


def test_currencies_written_by_name_are_read_as_codes(tmp_path):
    """Dynamics 365 writes the currency record's name ("US Dollar", "Euro"): read as codes,
    "US DOLLAR" had no rate and rates={"EUR": 0.9} did not apply to "EURO" (a DataError asking
    for a reporting currency among "EURO, US DOLLAR")."""
    (tmp_path / "deals.csv").write_text(
        "deal_id,owner,team,created_at,closed_at,stage,status,amount,Currency\n"
        "1,Ana,A,2025-01-01,2025-02-01,Won,won,100,US Dollar\n"
        "2,Ana,A,2025-01-01,2025-02-01,Won,won,90,Euro\n"
        "3,Ana,A,2025-01-01,2025-02-01,Won,won,70,Zorkmid\n"
    )
    ds = pk.load(tmp_path / "deals.csv", rates={"EUR": 0.9}, reporting_currency="USD")
    assert dict(ds.deals.select("deal_id", "amount").rows()) == {"1": 100.0, "2": 100.0}
    assert ds.quarantine.select("source_row", "rules").rows() == [(4, ["currency_without_rate"])]
    assert any("read as their codes (EURO -> EUR, US DOLLAR -> USD)" in n for n in ds.notes)
