"""The Salesforce adapter (``source="salesforce"``) on hand-made folders in the documented export
shapes (tests/fixtures/salesforce_*) and on the real samples in ../shared/realdata/crm-samples.

Every expected value below was read off the fixture files by hand (the derivation is in the
comments), never taken from a run of the adapter. Line numbers are physical lines of the file,
header = line 1. Ids: an 18-character id is the 15-character one plus a 3-letter checksum
(0065e00000AbCd1 -> 0065e00000AbCd1AAF); when the files of one folder mix the two lengths the
adapter compares (and shows) ids on their first 15 characters.
"""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest

import pipeline_kit as pk

FIXTURES = Path(__file__).resolve().parent / "fixtures"
REAL = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "crm-samples"

D = dt.date
T = dt.datetime


def load(name: str | Path, **options) -> pk.Dataset:
    folder = name if isinstance(name, Path) else FIXTURES / name
    return pk.load(folder, source="salesforce", **options)


def counts(ds: pk.Dataset) -> dict[str, tuple[int, int, int, int]]:
    """table -> (read, valid, quarantined, excluded)."""
    return {
        r["table"]: (r["read"], r["valid"], r["quarantined"], r["excluded"])
        for r in ds.counts.iter_rows(named=True)
    }


def exclusions(ds: pk.Dataset) -> dict[tuple[str, str], list[int]]:
    """(table, reason) -> source lines of the rows excluded for it."""
    out: dict[tuple[str, str], list[int]] = {}
    for r in ds.excluded.sort("table", "source_row").iter_rows(named=True):
        out.setdefault((r["table"], r["reason"]), []).append(r["source_row"])
    return out


def quarantined(ds: pk.Dataset) -> dict[tuple[str, str], list[int]]:
    """(table, rule) -> source lines of the quarantined rows breaking it."""
    out: dict[tuple[str, str], list[int]] = {}
    for r in ds.quarantine.explode("rules").sort("table", "source_row").iter_rows(named=True):
        out.setdefault((r["table"], r["rules"]), []).append(r["source_row"])
    return out


def by_id(frame: pl.DataFrame, key: str, *cols: str) -> dict[str, tuple]:
    return {r[key]: tuple(r[c] for c in cols) for r in frame.iter_rows(named=True)}


def notes(ds: pk.Dataset) -> str:
    return "\n".join(ds.notes)


def assert_balanced(ds: pk.Dataset) -> None:
    for table, (read, valid, bad, excluded) in counts(ds).items():
        assert read == valid + bad + excluded, table


# ============================================================================ Data Export folder
#
# tests/fixtures/salesforce_data_export: Bulk API / Data Export shape. Opportunity.csv is UTF-8
# with a BOM, booleans 1/blank, datetimes 2024-01-22T23:30:00.000+0000, 18-character ids.
# The deals, by line of Opportunity.csv (D1 = 0065e00000AbCd1AAF, ...):
#   2 D1 José Müller   Closed Won  10000 USD  CloseDate 2024-02-20  New Business  EMEA
#   3 D2 José Müller   Closed Lost  8000 EUR  CloseDate 2024-03-31  Loss_Reason__c Price
#   4 D3 Anna Öberg    Qualification 5000 GBP (open; Probability 35, stage default 10)
#   5 D4 Anna Öberg    Closed Won  12000 USD  CloseDate 2024-03-01  Renewal  UK
#   6 D5 IsDeleted=1                              -> excluded deleted_in_crm
#   7 D6 Ola Nordmann  1500000 JPY (no JPY in CurrencyType.csv) -> quarantined
#   8 D7 Ola Nordmann  Prospecting 3000 USD, AccountId 000000000000000AAA, Region__c blank
#   9 D8 owner 0055e00000Usr09AAB (not in User.csv), Closed Lost 4000 USD, CloseDate
#        2024-04-02, RecordTypeId 000000000000000AAA, no history rows
# OpportunityHistory.csv gives OpportunityId on 15 characters (the join must still work) and
# IsDeleted as true/false; Lead.csv TRUE/FALSE; Task.csv 0/1; OpportunityStage.csv 1/0.

EXPORT = "salesforce_data_export"
D1, D2, D3, D4, D5, D6, D7, D8 = (f"0065e00000AbCd{i}" for i in range(1, 9))


@pytest.fixture(scope="module")
def export() -> pk.Dataset:
    return load(EXPORT)


def test_export_counts_add_up(export):
    # deals: 8 lines; D5 deleted (excluded), D6 JPY without rate (quarantined) -> 6 valid.
    # stage_history: 20 lines; 4 saves that keep the stage (lines 4, 7, 11, 15) and 2 deleted
    #   rows of D5 (19, 20) excluded; line 21 belongs to the quarantined D6 -> deal_unknown;
    #   20 - 6 - 1 = 13 valid.
    # stages: 7 OpportunityStage rows. leads: 5 lines, line 4 deleted. activities: 3 tasks +
    #   1 event, task line 4 deleted.
    assert counts(export) == {
        "deals": (8, 6, 1, 1),
        "stage_history": (20, 13, 1, 6),
        "stages": (7, 7, 0, 0),
        "leads": (5, 4, 0, 1),
        "activities": (4, 3, 0, 1),
    }
    assert_balanced(export)
    assert quarantined(export) == {
        ("deals", "currency_without_rate"): [7],
        ("stage_history", "deal_unknown"): [21],
    }


def test_history_rows_that_do_not_change_the_stage_are_excluded(export):
    # line 4: D1 Prospecting again (amount 10000 -> 11000); line 7: D1 Proposal/Price Quote
    # again (close date moved); line 11: D2 Closed Lost again (amount zeroed after closing);
    # line 15: D3 Qualification again (probability set to 35). Rows are compared in time
    # order, not file order (D1's Closed Won row is on line 2, first in the file).
    assert exclusions(export) == {
        ("activities", "deleted_in_crm"): [4],
        ("deals", "deleted_in_crm"): [6],
        ("leads", "deleted_in_crm"): [4],
        ("stage_history", "deleted_in_crm"): [19, 20],
        ("stage_history", "not_a_stage_change"): [4, 7, 11, 15],
    }
    listed = export.exclusions().filter(pl.col("reason") == "not_a_stage_change").row(0, named=True)
    assert listed["table"] == "stage_history" and listed["rows"] == 4
    assert listed["example_rows"] == [4, 7, 11]
    assert "does not change the stage" in listed["meaning"]


def test_history_keeps_every_change_mid_funnel_skips_and_backward_moves(export):
    # D1 (lines 3, 5, 6, 8, 2): a normal progression.
    # D2 starts mid-funnel at Needs Analysis (line 9) and jumps to Closed Lost (line 10).
    # D3: Prospecting (12) -> Proposal/Price Quote, skipping two stages (13) -> back to
    #     Qualification (14).
    # D4: Prospecting (16) -> Negotiation/Review (17) -> Closed Won on line 18 at
    #     2024-03-01T00:30+0100 = 2024-02-29 23:30 UTC: the UTC day is 2024-02-29.
    got = {
        deal: list(zip(g["stage"], g["entered_at"], strict=True))
        for (deal,), g in export.stage_history.sort("entered_at").group_by(
            "deal_id", maintain_order=True
        )
    }
    assert got == {
        D1: [
            ("Prospecting", D(2024, 1, 8)),
            ("Qualification", D(2024, 1, 15)),
            ("Proposal/Price Quote", D(2024, 1, 29)),
            ("Negotiation/Review", D(2024, 2, 8)),
            ("Closed Won", D(2024, 2, 14)),
        ],
        D2: [("Needs Analysis", D(2024, 1, 10)), ("Closed Lost", D(2024, 2, 26))],
        D3: [
            ("Prospecting", D(2024, 1, 22)),
            ("Proposal/Price Quote", D(2024, 2, 2)),
            ("Qualification", D(2024, 2, 20)),
        ],
        D4: [
            ("Prospecting", D(2024, 2, 1)),
            ("Negotiation/Review", D(2024, 2, 15)),
            ("Closed Won", D(2024, 2, 29)),
        ],
    }


def test_closed_at_is_the_day_the_closing_stage_was_entered(export):
    # D1: Closed Won entered 2024-02-14 (history line 2), CloseDate says 2024-02-20.
    # D2: Closed Lost entered 2024-02-26 (line 10; line 11 is a later save), CloseDate 03-31.
    # D4: 2024-02-29 (UTC day of 2024-03-01T00:30+0100), CloseDate 2024-03-01.
    # D8: no history row -> CloseDate 2024-04-02. Open deals: CloseDate is expected_close.
    # created_at: D3's 2024-01-22T23:30:00.000+0000 stays on the 22nd.
    got = by_id(export.deals, "deal_id", "status", "created_at", "closed_at", "expected_close")
    assert got == {
        D1: ("won", D(2024, 1, 8), D(2024, 2, 14), None),
        D2: ("lost", D(2024, 1, 10), D(2024, 2, 26), None),
        D3: ("open", D(2024, 1, 22), None, D(2024, 4, 30)),
        D4: ("won", D(2024, 2, 1), D(2024, 2, 29), None),
        D7: ("open", D(2024, 3, 4), None, D(2024, 6, 15)),
        D8: ("lost", D(2024, 2, 10), D(2024, 4, 2), None),
    }
    assert "closed_at is the day the closing stage was entered" in notes(export)


def test_amounts_in_several_currencies_are_converted_to_the_corporate_one(export):
    # CurrencyType.csv: USD 1 (IsCorporate true), EUR 0.8, GBP 0.5 (units per 1 USD).
    # D2 8000 EUR / 0.8 = 10000 USD; D3 5000 GBP / 0.5 = 10000 USD; USD amounts unchanged.
    got = by_id(export.deals, "deal_id", "amount", "amount_original", "currency")
    assert got == {
        D1: (10000.0, "10000", "USD"),
        D2: (10000.0, "8000", "EUR"),
        D3: (10000.0, "5000", "GBP"),
        D4: (12000.0, "12000", "USD"),
        D7: (3000.0, "3000", "USD"),
        D8: (4000.0, "4000", "USD"),
    }
    text = notes(export)
    assert "converted to USD" in text and "amount_original" in text
    # D6 (JPY, line 7) is quarantined, never summed raw: 10000*3 + 12000 + 3000 + 4000
    assert export.deals["amount"].sum() == 49000.0
    problem = export.problems().filter(pl.col("rule") == "currency_without_rate")
    assert problem["rows"].to_list() == [1] and problem["example_rows"][0].to_list() == [7]


def test_reporting_currency_other_than_the_corporate_one():
    # CurrencyType quotes rates per USD (corporate); reporting in EUR divides every rate by
    # EUR's 0.8: USD 1.25, EUR 1, GBP 0.625. D1 10000/1.25 = 8000, D2 8000, D3 5000/0.625 =
    # 8000, D4 12000/1.25 = 9600, D7 3000/1.25 = 2400, D8 4000/1.25 = 3200.
    ds = load(EXPORT, reporting_currency="EUR")
    got = by_id(ds.deals, "deal_id", "amount")
    assert got == {
        D1: (8000.0,),
        D2: (8000.0,),
        D3: (8000.0,),
        D4: (9600.0,),
        D7: (2400.0,),
        D8: (3200.0,),
    }
    assert "converted to EUR" in notes(ds)


def test_a_decimal_comma_amount_is_not_read_a_hundred_times_too_large(tmp_path):
    # A European Excel copy (';' separator, decimal comma): "8000,50" EUR must not become
    # 800050 / 0.8. No value reads only with a decimal point, so it is read as 8000.50 (a
    # note says so) and converted: 8000.50 / 0.8 = 10000.625 USD; "12000" USD (rate 1) too.
    # With decimal='.' it is left for the loader, which rejects it (amount|dtype).
    folder = tmp_path / "eu"
    folder.mkdir()
    (folder / "Opportunity.csv").write_text(
        "Id;IsDeleted;StageName;Amount;CurrencyIsoCode;CloseDate;IsClosed;IsWon;OwnerId;"
        "CreatedDate\n"
        "0065e00000Eur01AAB;false;Prospecting;8000,50;EUR;2024-03-01;false;false;"
        "0055e00000Usr01AAB;2024-01-02T10:00:00.000+0000\n"
        "0065e00000Eur02AAB;false;Prospecting;12000;USD;2024-03-01;false;false;"
        "0055e00000Usr01AAB;2024-01-02T10:00:00.000+0000\n",
        encoding="utf-8",
    )
    shutil.copy(FIXTURES / EXPORT / "CurrencyType.csv", folder / "CurrencyType.csv")
    ds = load(folder)
    assert quarantined(ds) == {}
    assert sorted(ds.deals["amount"].to_list()) == [10000.625, 12000.0]
    assert any("decimal comma" in str(n) and "'8000,50'" in str(n) for n in ds.notes)
    ds = load(folder, decimal=".")
    assert quarantined(ds) == {("deals", "amount|dtype"): [2]}
    assert ds.deals["amount"].to_list() == [12000.0]


def test_one_currency_other_than_the_corporate_one_is_converted(tmp_path):
    # Only EUR deals, CurrencyType corporate USD (EUR 0.8): 8000 EUR -> 10000 USD, not an
    # EUR amount reported as if it were USD.
    folder = tmp_path / "eur"
    folder.mkdir()
    (folder / "Opportunity.csv").write_text(
        "Id,IsDeleted,StageName,Amount,CurrencyIsoCode,CloseDate,IsClosed,IsWon,OwnerId,"
        "CreatedDate\n"
        "0065e00000Eur01AAB,false,Prospecting,8000,EUR,2024-03-01,false,false,"
        "0055e00000Usr01AAB,2024-01-02T10:00:00.000+0000\n",
        encoding="utf-8",
    )
    shutil.copy(FIXTURES / EXPORT / "CurrencyType.csv", folder / "CurrencyType.csv")
    ds = load(folder)
    assert ds.deals.select("amount", "amount_original", "currency").rows() == [
        (10000.0, "8000", "EUR")
    ]


def test_deal_probability_is_the_reps_and_stage_probability_the_default(export):
    # Opportunity.Probability / 100: D3 was set to 35 by the rep (its stage's default is 10).
    got = by_id(export.deals, "deal_id", "probability")
    assert got == {
        D1: (1.0,),
        D2: (0.0,),
        D3: (0.35,),
        D4: (1.0,),
        D7: (0.1,),
        D8: (0.0,),
    }
    # OpportunityStage.csv: SortOrder, DefaultProbability / 100, IsWon, IsClosed and not IsWon
    stages = export.stages.sort("order")
    assert stages.select("stage", "order", "probability", "is_won", "is_lost").rows() == [
        ("Prospecting", 1, 0.1, False, False),
        ("Qualification", 2, 0.1, False, False),
        ("Needs Analysis", 3, 0.2, False, False),
        ("Proposal/Price Quote", 4, 0.75, False, False),
        ("Negotiation/Review", 5, 0.9, False, False),
        ("Closed Won", 6, 1.0, True, False),
        ("Closed Lost", 7, 0.0, False, True),
    ]
    assert "stages.probability is the stage default" in notes(export)


def test_mixed_15_and_18_character_ids_join_and_null_lookups_are_empty(export):
    # OpportunityHistory.OpportunityId is 15 characters, Opportunity.Id 18: the history joined
    # (13 valid rows above, closed_at from it); ids are shown on 15 characters.
    assert sorted(export.deals["deal_id"]) == [D1, D2, D3, D4, D7, D8]
    assert "15- and 18-character" in notes(export)
    # 000000000000000AAA: D7's AccountId and D8's RecordTypeId are empty, not a fake id;
    # Ola Nordmann's UserRoleId too, so his team is '(no role)'.
    got = by_id(export.deals, "deal_id", "account_id", "pipeline")
    assert got[D7] == (None, "Renewal")
    assert got[D8] == ("0015e00000Acc06", None)
    assert got[D1] == ("0015e00000Acc01", "New Business")


def test_latin1_user_file_keeps_accented_names_and_a_bom_is_no_trouble(export):
    raw = (FIXTURES / EXPORT / "User.csv").read_bytes()
    assert b"Jos\xe9,M\xfcller" in raw  # the file really is ISO-8859-1, not UTF-8
    assert (FIXTURES / EXPORT / "Opportunity.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert "Opportunity.csv is not UTF-8" not in notes(export)
    # owner = FirstName + ' ' + LastName of User (the Data Export has no Name column);
    # D8's owner is not in User.csv: shown by its id.
    got = by_id(export.deals, "deal_id", "owner", "team")
    assert got == {
        D1: ("José Müller", "AE EMEA"),
        D2: ("José Müller", "AE EMEA"),
        D3: ("Anna Öberg", "AE UK"),
        D4: ("Anna Öberg", "AE UK"),
        D7: ("Ola Nordmann", "(no role)"),
        D8: ("0055e00000Usr09AAB", "(no role)"),
    }
    text = notes(export)
    assert "User.csv is not UTF-8" in text
    assert "ISO-8859-1" in text or "latin" in text.lower() or "1252" in text
    assert "1 opportunities have an owner missing from the User file" in text


def test_team_options():
    # parent_role: AE EMEA and AE UK both report to Sales VP (UserRole.ParentRoleId).
    parent = by_id(load(EXPORT, team="parent_role").deals, "deal_id", "team")
    assert parent == {
        D1: ("Sales VP",),
        D2: ("Sales VP",),
        D3: ("Sales VP",),
        D4: ("Sales VP",),
        D7: ("(no role)",),
        D8: ("(no role)",),
    }
    # any Opportunity column: Region__c (blank for D7)
    region = by_id(load(EXPORT, team="Region__c").deals, "deal_id", "team")
    assert region == {
        D1: ("EMEA",),
        D2: ("EMEA",),
        D3: ("UK",),
        D4: ("UK",),
        D7: ("(none)",),
        D8: ("EMEA",),
    }
    with pytest.raises(pk.DataError, match="team='Nowhere__c'"):
        load(EXPORT, team="Nowhere__c")


def test_record_type_gives_the_pipeline_column(export):
    # RecordType.csv: 0125e00000Rtp01AAB New Business, 0125e00000Rtp02AAB Renewal
    got = by_id(export.deals, "deal_id", "pipeline")
    assert got == {
        D1: ("New Business",),
        D2: ("New Business",),
        D3: ("New Business",),
        D4: ("Renewal",),
        D7: ("Renewal",),
        D8: (None,),
    }
    assert pk.win_rate(export, "2024-02", by="pipeline").height == 2


def test_leads(export):
    # Lead.csv (TRUE/FALSE booleans): line 2 converted into D1 (ConvertedDate 2024-01-08, a
    # date only); line 3 owned by a queue (00G...), ConvertedOpportunityId = the null
    # sentinel; line 4 deleted; line 5 without LeadSource; line 6 created 2024-02-01 09:30 UTC
    # and converted the same day (ConvertedDate 2024-02-01 has no time): not "converted before
    # created", the conversion is placed at the creation time.
    leads = export.leads.sort("source_row")
    assert leads.select(
        "source_row", "created_at", "source", "owner", "team", "converted_at", "deal_id"
    ).rows() == [
        (2, T(2024, 1, 5, 9), "Web", "José Müller", "AE EMEA", T(2024, 1, 8), D1),
        (3, T(2024, 1, 18, 11), "Partner Referral", "00G5e00000Que01EAB", None, None, None),
        (5, T(2024, 2, 3, 8, 15), "(not given)", "Anna Öberg", "AE UK", None, None),
        (6, T(2024, 2, 1, 9, 30), "Web", "Anna Öberg", "AE UK", T(2024, 2, 1, 9, 30), D4),
    ]
    text = notes(export)
    assert "1 leads are owned by a queue" in text
    assert "1 leads have no LeadSource" in text


def test_activities(export):
    # Task line 2: call on D1 completed 2024-01-15 10:30 UTC; line 3: email on an account
    # (WhatId 001...) to lead 00Q...Led02, no CompletedDateTime -> ActivityDate 2024-01-20;
    # line 4 deleted. Event line 2: meeting on D3 at 2024-02-01 15:00 UTC.
    acts = export.activities.sort("occurred_at")
    assert acts.select("object", "owner", "type", "occurred_at", "deal_id", "lead_id").rows() == [
        ("Task", "José Müller", "call", T(2024, 1, 15, 10, 30), D1, None),
        ("Task", "Anna Öberg", "email", T(2024, 1, 20), None, "00Q5e00000Led02"),
        ("Event", "Anna Öberg", "meeting", T(2024, 2, 1, 15), D3, None),
    ]


def test_win_rate_against_a_hand_count(export):
    # closed in February 2024 (closed_at from the history): D1 won 02-14, D2 lost 02-26,
    # D4 won 02-29 (the UTC day). D8 closed 2024-04-02. -> 2 won, 1 lost.
    # (With CloseDate instead, February would hold only D1; with the local day D4 would fall
    # in March.)
    row = pk.win_rate(export, "2024-02").row(0, named=True)
    assert (row["won"], row["lost"], row["n"]) == (2, 1, 3)
    assert row["win_rate"] == pytest.approx(2 / 3)
    teams = pk.win_rate(export, "2024-02", by="team")
    assert by_id(teams, "team", "won", "lost") == {"AE EMEA": (1, 1), "AE UK": (1, 0)}
    q2 = pk.win_rate(export, "2024-Q2").row(0, named=True)
    assert (q2["won"], q2["lost"]) == (0, 1)  # D8


# ============================================================================ Excel round trip
#
# tests/fixtures/salesforce_excel_dated_rates: files saved by Excel (CRLF, no BOM, MM/DD/YY
# dates, MM/DD/YY hh:mm AM/PM datetimes, TRUE/FALSE, a "1,800.00" amount), with
# DatedConversionRate.csv (EUR 0.95 from 2023-01-01, 0.90 from 2024-01-01, 0.80 from
# 2024-02-01, 0.75 from 2024-03-01; GBP 0.50 from 2023-01-01) and CurrencyType.csv (USD
# corporate, EUR 0.85, GBP 0.55). Opportunity.csv by line (X1 = 0065e00000Xls01AAB, ...):
#   2 X1 Closed Won  1000 USD  close 01/15/24  created 12/01/23 09:15 AM
#   3 X2 Closed Won   900 EUR  close 01/20/24  created 12/05/23 12:05 AM -> EUR Jan 0.90
#   4 X3 Negotiation  800 EUR  close 02/15/24  created 01/05/24 11:30 PM -> EUR Feb 0.80
#   5 X4 Closed Lost  500 GBP  close 02/28/24  created 01/10/24 12:45 PM -> GBP 0.50
#   6 X5 Prospecting 1000 CHF  no rate anywhere                        -> quarantined
#   7 X6 IsDeleted TRUE                                                 -> excluded
#   8 X7 Closed Lost "1,800.00" EUR close 02/10/24 created 01/15/24 10:00 AM -> Feb 0.80

DATED = "salesforce_excel_dated_rates"
X = {i: f"0065e00000Xls0{i}AAB" for i in range(1, 8)}


def test_excel_dates_booleans_and_dated_rates():
    ds = load(DATED)
    assert counts(ds)["deals"] == (7, 5, 1, 1)
    assert quarantined(ds) == {("deals", "currency_without_rate"): [6]}
    assert exclusions(ds) == {("deals", "deleted_in_crm"): [7]}
    # X1 1000 USD (corporate, rate 1); X2 900/0.90 = 1000; X3 800/0.80 = 1000 (expected close
    # in February); X4 500/0.50 = 1000; X7 1800/0.80 = 2250 (the static EUR 0.85 of
    # CurrencyType is not used when a dated rate exists).
    got = by_id(ds.deals, "deal_id", "amount", "currency", "status", "created_at", "closed_at")
    assert got == {
        X[1]: (1000.0, "USD", "won", D(2023, 12, 1), D(2024, 1, 15)),
        X[2]: (1000.0, "EUR", "won", D(2023, 12, 5), D(2024, 1, 20)),
        X[3]: (1000.0, "EUR", "open", D(2024, 1, 5), None),
        X[4]: (1000.0, "GBP", "lost", D(2024, 1, 10), D(2024, 2, 28)),
        X[7]: (2250.0, "EUR", "lost", D(2024, 1, 15), D(2024, 2, 10)),
    }
    assert ds.deals.filter(pl.col("deal_id") == X[3])["expected_close"].to_list() == [
        D(2024, 2, 15)
    ]
    text = notes(ds)
    assert "DatedConversionRate" in text and "USD" in text
    assert "MM/DD/YY dates" in text
    # no User file: owners by id, one team 'All'
    assert set(ds.deals["team"]) == {"All"}
    assert "No User and UserRole files" in text
    # Lead.csv: 11/30/23 11:30 PM -> 23:30; 12/05/23 12:05 AM -> 00:05; ConvertedDate 12/01/23
    leads = ds.leads.sort("source_row")
    assert leads.select("created_at", "converted_at", "deal_id").rows() == [
        (T(2023, 11, 30, 23, 30), T(2023, 12, 1), X[1]),
        (T(2023, 12, 5, 0, 5), None, None),
    ]


def test_dated_rates_reported_in_another_currency():
    # corporate USD, reported in EUR: each rate divided by EUR's rate on the same day.
    # X1 1000 USD on 01-15: 1 / 0.90 per EUR -> 900; X2 900 EUR -> 900; X3 800 EUR (Feb) ->
    # 800; X4 500 GBP on 02-28: 0.50 / 0.80 = 0.625 -> 800; X7 1800 EUR -> 1800.
    ds = load(DATED, reporting_currency="EUR")
    got = by_id(ds.deals, "deal_id", "amount")
    assert got == {
        X[1]: (900.0,),
        X[2]: (900.0,),
        X[3]: (800.0,),
        X[4]: (800.0,),
        X[7]: (1800.0,),
    }


def test_dated_rates_without_currency_type(tmp_path):
    # Without CurrencyType.csv the corporate currency comes from reporting_currency; it has
    # no DatedConversionRate row of its own, and its rate is 1 by definition.
    folder = tmp_path / "dated"
    shutil.copytree(FIXTURES / DATED, folder)
    (folder / "CurrencyType.csv").unlink()
    ds = load(folder, reporting_currency="USD")
    assert quarantined(ds) == {("deals", "currency_without_rate"): [6]}
    got = by_id(ds.deals, "deal_id", "amount")
    assert got == {
        X[1]: (1000.0,),
        X[2]: (1000.0,),
        X[3]: (1000.0,),
        X[4]: (1000.0,),
        X[7]: (2250.0,),
    }


# ============================================================================ Fivetran
#
# tests/fixtures/salesforce_fivetran: snake_case tables (sf_<object>_data.csv), booleans
# true/false, datetimes "2024-01-02 10:00:00.000", dates "2024-03-29 00:00:00".
# sf_opportunity_data.csv by line (F1 = 0065e00000Ftv01AAB, ...):
#   2 F1 current version (Qualification, _fivetran_active true)
#   3 F1 earlier version (_fivetran_active false)          -> excluded old_history_mode_version
#   4 F2 _fivetran_deleted true                            -> excluded deleted_in_crm
#   5 F3 is_deleted true                                   -> excluded deleted_in_crm
#   6 F4 Closed Won 7000 (close_date 2024-01-25), owner Eric Welsh
#   7 F5 Closed Lost 3000 (close_date 2024-02-10), owner Ana Souza
# sf_opportunity_history_data.csv is History Mode: one full copy per version; every version
# counts (not only the active one). Line 3 (F1, amount 5000 -> 5500) keeps the stage.

FIVETRAN = "salesforce_fivetran"
F1, F4, F5 = "0065e00000Ftv01AAB", "0065e00000Ftv04AAB", "0065e00000Ftv05AAB"


def test_fivetran_deleted_rows_old_versions_and_history_mode():
    ds = load(FIVETRAN)
    assert counts(ds) == {"deals": (6, 3, 0, 3), "stage_history": (7, 6, 0, 1)}
    assert exclusions(ds) == {
        ("deals", "deleted_in_crm"): [4, 5],
        ("deals", "old_history_mode_version"): [3],
        ("stage_history", "not_a_stage_change"): [3],
    }
    # stage entries at _fivetran_start of each version where stage_name changed
    hist = ds.stage_history.sort("deal_id", "entered_at")
    assert hist.select("deal_id", "stage", "entered_at").rows() == [
        (F1, "Prospecting", D(2024, 1, 2)),
        (F1, "Qualification", D(2024, 1, 15)),
        (F4, "Prospecting", D(2024, 1, 3)),
        (F4, "Closed Won", D(2024, 1, 20)),
        (F5, "Prospecting", D(2024, 1, 4)),
        (F5, "Closed Lost", D(2024, 2, 8)),
    ]
    # owner = User.name; team = UserRole.name (Mid-Market reports to Sales Director);
    # closed_at = the version that entered the closing stage (not close_date)
    got = by_id(
        ds.deals, "deal_id", "owner", "team", "stage", "closed_at", "expected_close", "probability"
    )
    assert got == {
        F1: ("Ana Souza", "Mid-Market", "Qualification", None, D(2024, 3, 29), 0.2),
        F4: ("Eric Welsh", "Sales Director", "Closed Won", D(2024, 1, 20), None, 1.0),
        F5: ("Ana Souza", "Mid-Market", "Closed Lost", D(2024, 2, 8), None, 0.0),
    }
    parent = by_id(load(FIVETRAN, team="parent_role").deals, "deal_id", "team")
    assert parent == {F1: ("Sales Director",), F4: ("(no role)",), F5: ("Sales Director",)}
    assert "History Mode" in notes(ds)


# ============================================================================ report export
#
# tests/fixtures/salesforce_report/report1706000000000.csv: Reports -> Export, "Details Only":
# field labels, no Id, "$1,234,567" amounts, "100%" probabilities, M/D/YYYY dates, then the
# footer: line 6 Total, 7 blank, 8 Confidential..., 9 Copyright ©..., 10 "", 11 Generated By:,
# 12 the organisation's name.

REPORT = "salesforce_report"


def test_plain_number_reads_currency_codes_and_symbols():
    from pipeline_kit.adapters._tools import amount_code, plain_number

    values = pl.Series(
        "v",
        ["EUR 1,000.50", "1,000.50 USD", "RM1,000.50", "S$ 2,000", "HK$300", "CHF 1,250.00",
         "1000 kr", "-EUR 5", "$1,234.50", "1.000,50 EUR", "12.500 EUR", "EUR", "RM1.000,50"],
    )  # fmt: skip
    frame = pl.DataFrame([values])
    read = frame.select(plain_number(pl.col("v"), money=True)).to_series().to_list()
    # a code or symbol is read past; a decimal comma or a dot grouping is never guessed
    assert read == [
        1000.5, 1000.5, 1000.5, 2000.0, 300.0, 1250.0, 1000.0, -5.0, 1234.5, None, None, None,
        None,
    ]  # fmt: skip
    codes = frame.select(amount_code(pl.col("v"))).to_series().to_list()
    assert codes == [
        "EUR", "USD", None, None, None, "CHF", None, "EUR", None, "EUR", "EUR", None, None,
    ]  # fmt: skip


def _multicurrency_report(folder: Path, converted: bool) -> Path:
    """A multi-currency org's report: Amount 'EUR 1,000.50', as Lightning exports it.

    Lines 2-5: won EUR, lost USD, open EUR, won 'GBP 50.00' though the deal is in EUR.
    """
    folder.mkdir()
    header = ["Opportunity Name", "Stage", "Opportunity Currency", "Amount"]
    rows = [
        ["A", "Closed Won", "EUR", "EUR 1,000.50", "USD", "USD 1,200.60"],
        ["B", "Closed Lost", "USD", "USD 300.00", "USD", "USD 300.00"],
        ["C", "Prospecting", "EUR", "EUR 2,000.00", "USD", "USD 2,400.00"],
        ["D", "Closed Won", "EUR", "GBP 50.00", "USD", "USD 60.00"],
    ]
    if converted:
        header += ["Amount (converted) Currency", "Amount (converted)"]
    lines = [header] + [r if converted else r[:4] for r in rows]
    dates = [["Close Date", "Created Date"]] + [["3/1/2024", "1/5/2024"]] * 4
    with (folder / "report.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, quoting=csv.QUOTE_ALL).writerows(
            [a + b for a, b in zip(lines, dates, strict=True)]
        )
    return folder


def test_report_amounts_with_currency_codes(tmp_path):
    # no rates: EUR (3 deals) is the reporting currency; B (USD) is quarantined without a
    # rate and D ('GBP 50.00' in an EUR deal) for the code that is not its currency. The EUR
    # amounts are read past their code (they were all quarantined as unreadable).
    ds = load(_multicurrency_report(tmp_path / "x", converted=False))
    assert by_id(ds.deals, "deal_id", "amount", "currency") == {
        "line-2": (1000.5, "EUR"),
        "line-4": (2000.0, "EUR"),
    }
    assert quarantined(ds) == {
        ("deals", "amount_currency_differs"): [5],
        ("deals", "currency_without_rate"): [3],
    }
    assert "only the EUR deals are used" not in notes(ds)
    assert "EUR is the reporting currency" in notes(ds)


def test_report_prefers_amount_converted(tmp_path):
    # 'Amount (converted)' is already in the corporate currency (USD): it is the amount; the
    # deal's own amount and currency are kept. D's own amount names GBP, its currency EUR.
    ds = load(_multicurrency_report(tmp_path / "x", converted=True))
    assert by_id(ds.deals, "deal_id", "amount", "amount_original", "currency") == {
        "line-2": (1200.6, "EUR 1,000.50", "EUR"),
        "line-3": (300.0, "USD 300.00", "USD"),
        "line-4": (2400.0, "EUR 2,000.00", "EUR"),
    }
    assert quarantined(ds) == {("deals", "amount_currency_differs"): [5]}
    assert "'Amount (converted)', in USD" in notes(ds)


def _formatted_report(folder: Path, title_rows: list[list[str]]) -> Path:
    """A Lightning 'Formatted Report' .xlsx: ``title_rows`` above the header, a Total row."""
    import xlsxwriter

    folder.mkdir()
    book = xlsxwriter.Workbook(folder / "report.xlsx")
    sheet = book.add_worksheet("Opportunity Report")
    rows = [
        *title_rows,
        ["Opportunity Owner", "Opportunity Name", "Stage", "Amount", "Close Date", "Created Date"],
        ["Ana", "Opp A", "Closed Won", 1000.5, "3/1/2024", "1/5/2024"],
        ["Ben", "Opp B", "Closed Lost", 250, "3/2/2024", "1/5/2024"],
        ["Ana", "Opp C", "Prospecting", 80, "6/30/2024", "1/5/2024"],
        ["Total", "", "", 1330.5, "", ""],
    ]
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if value != "":
                sheet.write(i, j, value)
    book.close()
    return folder


def test_formatted_report_title_rows_are_skipped(tmp_path):
    # rows 1-4: title, 'As of', filter, blank; header on row 5; deals on rows 6-8; Total on 9
    titles = [["Opportunity Pipeline"], ["As of 6/1/2024 10:14 AM"], ["Filtered By:", "FY"], []]
    ds = load(_formatted_report(tmp_path / "x", titles))
    assert counts(ds) == {"deals": (4, 3, 0, 1)}
    assert exclusions(ds) == {("deals", "report_footer"): [9]}
    assert by_id(ds.deals, "deal_id", "amount", "status") == {
        "line-6": (1000.5, "won"),
        "line-7": (250.0, "lost"),
        "line-8": (80.0, "open"),
    }
    assert "header is row 5" in notes(ds)


def test_formatted_report_without_a_header_in_reach(tmp_path):
    # 16 title rows (with a second cell, as filter lines have): no header in the first 15
    titles = [[f"Filter {i}", "x"] for i in range(16)]
    with pytest.raises(pk.DataError, match="looks like a formatted report") as error:
        load(_formatted_report(tmp_path / "x", titles))
    assert "Details Only" in str(error.value)


def test_report_export_footer_rows_are_excluded():
    ds = load(REPORT)
    assert counts(ds) == {"deals": (11, 4, 0, 7)}
    assert exclusions(ds) == {("deals", "report_footer"): [6, 7, 8, 9, 10, 11, 12]}
    # deals numbered by line; status from the stage names (no IsWon/IsClosed in a report)
    got = by_id(
        ds.deals,
        "deal_id",
        "owner",
        "team",
        "amount",
        "stage",
        "status",
        "created_at",
        "closed_at",
        "probability",
        "account_id",
    )
    assert got == {
        "line-2": (
            "Marta Díaz",
            "All",
            1234567.0,
            "Closed Won",
            "won",
            D(2023, 11, 2),
            D(2024, 1, 15),
            1.0,
            "Acme",
        ),
        "line-3": (
            "Marta Díaz",
            "All",
            250000.0,
            "Closed Lost",
            "lost",
            D(2023, 12, 1),
            D(2024, 2, 20),
            0.0,
            "Globex",
        ),
        "line-4": (
            "Liam Chen",
            "All",
            80500.0,
            "Proposal/Price Quote",
            "open",
            D(2024, 1, 10),
            None,
            0.75,
            "Initech",
        ),
        "line-5": (
            "Liam Chen",
            "All",
            99000.0,
            "Closed Won",
            "won",
            D(2024, 2, 1),
            D(2024, 3, 5),
            1.0,
            "Umbrella",
        ),
    }
    text = notes(ds)
    assert "a stage named 'Closed Won'" in text  # status from stage names
    assert "no opportunity Id" in text
    assert "one team 'All'" in text
    # 1,234,567 + 250,000 + 80,500 + 99,000: the Total row is not a deal
    assert ds.deals["amount"].sum() == 1_664_067.0


# ============================================================================ import-dated history
#
# tests/fixtures/salesforce_import_history: 8 migrated opportunities (audit fields kept:
# CreatedDate in 2023-01..05). OpportunityHistory.csv: lines 2-9 one row per deal at the
# import, 2023-06-01T12:00:00.000+0000; then real saves: lines 10 (M3 -> Qualification),
# 11 (M3 amount only), 12 (M8 -> Qualification), 13 (M4 amount only), 14 (M6 -> Closed Won),
# 15 (M4 -> Proposal/Price Quote). Stage changes: 8 + 4 = 12, of which 8 share one
# timestamp (>= half): the history is dated at the import and not used.

IMPORT = "salesforce_import_history"


def test_history_dated_at_an_import_is_not_used():
    ds = load(IMPORT)
    assert counts(ds)["stage_history"] == (14, 0, 0, 14)
    assert counts(ds)["deals"] == (8, 8, 0, 0)
    assert exclusions(ds) == {
        ("stage_history", "history_dated_at_import"): [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 15],
        ("stage_history", "not_a_stage_change"): [11, 13],
    }
    assert ds.stage_history_approximate
    text = notes(ds)
    assert "8 of 12 stage entries share the timestamp 2023-06-01 12:00:00" in text
    # closed_at falls back to CloseDate; no User file: one team "All", owners by id
    got = by_id(ds.deals, "deal_id", "status", "closed_at", "team", "owner")
    assert got["0065e00000Imp06AAB"] == ("won", D(2023, 6, 9), "All", "0055e00000Usr01AAB")
    assert "No User file: owners are shown by their Salesforce user id" in text
    # 2023-Q2 (April-June) by CloseDate: M1 won 05-10, M2 lost 05-20, M5 won 04-28,
    # M6 won 06-09, M7 lost 05-31 -> 3 won, 2 lost
    row = pk.win_rate(ds, "2023-Q2").row(0, named=True)
    assert (row["won"], row["lost"]) == (3, 2)


# ============================================================================ real samples


def _real(name: str) -> Path:
    folder = REAL / name
    if not folder.is_dir():
        pytest.skip(f"{folder} not found (../shared is not part of this checkout)")
    return folder


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def test_real_bulk_api_sample():
    folder = _real("salesforce-bulk-api")
    ds = load(folder)
    # SOURCE.md: Opportunity.csv 50 rows, Lead.csv 60, Task.csv 75; no IsDeleted set.
    # Every CreatedDate is 2024-01-22 (the insert), while the 15 closed deals (12 Closed Won,
    # 3 Closed Lost) have CloseDates in 2023: closed before created -> quarantined.
    opp = _rows(folder / "Opportunity.csv")
    closed = [r for r in opp if r["IsClosed"] == "1"]
    assert len(opp) == 50 and len(closed) == 15
    assert {r["CreatedDate"][:10] for r in opp} == {"2024-01-22"}
    assert counts(ds) == {
        "deals": (50, 35, 15, 0),
        "leads": (60, 60, 0, 0),
        "activities": (75, 75, 0, 0),
    }
    assert quarantined(ds).keys() == {("deals", "closed_not_before_created")}
    assert set(ds.deals["status"]) == {"open"}
    assert "50 of 50 opportunities were created on 2024-01-22" in notes(ds)


def test_real_excel_report_sample():
    folder = _real("salesforce-excel-report")
    ds = load(folder)
    # SOURCE.md: Opportunity.csv 36 rows, OpportunityHistory.csv 48, Lead.csv 22 (no
    # CreatedDate column). Most history rows share 02/23/26 08:55 PM: dated at an import.
    history = _rows(folder / "OpportunityHistory.csv")
    shared = sum(r["CreatedDate"] == "02/23/26 08:55 PM" for r in history)
    assert len(history) == 48 and shared >= 24
    c = counts(ds)
    assert c["deals"][0] == 36
    assert c["stage_history"] == (48, 0, 0, 48)
    assert c["leads"] == (22, 0, 0, 22)
    assert ds.stage_history_approximate
    assert ds.usable
    assert_balanced(ds)


def test_real_fivetran_seeds_every_opportunity_is_deleted_or_an_old_version():
    folder = _real("salesforce-fivetran-seeds")
    ds = load(folder)
    opp = _rows(folder / "sf_opportunity_data.csv")
    old = [r for r in opp if r["_fivetran_active"] == "false"]
    deleted = [r for r in opp if r["_fivetran_active"] != "false" and r["is_deleted"] == "true"]
    assert (len(opp), len(old), len(deleted)) == (10, 2, 8)
    assert counts(ds)["deals"] == (10, 0, 0, 10)
    ex = exclusions(ds)
    assert len(ex[("deals", "deleted_in_crm")]) == 8
    assert len(ex[("deals", "old_history_mode_version")]) == 2
    assert not ds.usable
    assert_balanced(ds)


def test_a_report_with_its_header_repeated_mid_file_excludes_that_line(tmp_path):
    """A report's page header repeated after line 3 (two exports joined): excluded as a
    repeated header, not quarantined as an unreadable amount and dates."""
    lines = (FIXTURES / REPORT / "report1706000000000.csv").read_text(encoding="utf-8")
    lines = lines.splitlines()
    folder = tmp_path / "report"
    folder.mkdir()
    (folder / "report.csv").write_text(
        "\n".join([*lines[:3], lines[0], *lines[3:]]) + "\n", encoding="utf-8"
    )
    ds = load(folder)
    assert counts(ds) == {"deals": (12, 4, 0, 8)}
    assert exclusions(ds) == {
        ("deals", "repeated_header"): [4],
        ("deals", "report_footer"): [7, 8, 9, 10, 11, 12, 13],
    }


def _french_report(folder: Path) -> Path:
    folder.mkdir()
    (folder / "rapport.csv").write_text(
        '\ufeff"Propriétaire de l\'opportunité";"Étape";"Montant";"Date de clôture"\n'
        '"Ana";"Fermée gagnée";"1 000,50 €";"21/01/2024"\n',
        encoding="utf-8",
    )
    return folder


def test_a_report_in_another_language_names_its_headers_and_a_mapping(tmp_path):
    """A French org's report: the error lists the headers read and points to a mapping; it
    said "no Opportunity file found" and listed the files (a folder) or "no StageName
    column" (the file)."""
    folder = _french_report(tmp_path / "fr")
    for path in (folder, folder / "rapport.csv"):
        with pytest.raises(pk.DataError) as error:
            load(path)
        text = str(error.value)
        assert "columns found: " in text
        assert "Propriétaire de l'opportunité, Étape, Montant, Date de clôture" in text
        assert "another language" in text
        assert "pipeline-kit inspect rapport.csv --out mapping.toml" in text
        assert "mapping='mapping.toml'" in text


def test_a_workbook_that_cannot_be_opened_is_named_corrupt_not_a_formatted_report(tmp_path):
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "report.xlsx").write_bytes(b"PK\x03\x04 cut short")
    with pytest.raises(pk.DataError) as error:
        load(folder)
    text = str(error.value)
    assert "report.xlsx cannot be opened as a workbook" in text
    assert "damaged" in text and "download or export report.xlsx again" in text
    assert "formatted report" not in text


def test_report_footer_is_excluded_when_the_id_is_the_first_column(tmp_path):
    """A report with `Opportunity ID` added as its first column: the footer's text is in the
    id column, which the footer rule required empty (5 lines quarantined, the footer said
    to be deals with no owner)."""
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "report1717000000000.csv").write_text(
        '"Opportunity ID","Opportunity Owner","Stage","Amount","Close Date","Created Date"\n'
        '"0065e00000Op001AAA","Ana","Closed Won","$1,000.00","3/1/2024","1/5/2024"\n'
        '"0065e00000Op002AAA","Ben","Closed Lost","$250.00","3/2/2024","1/5/2024"\n'
        "\n"
        '"Grand Totals (2 records)"\n'
        "\n"
        '"Confidential Information - Do Not Distribute"\n'
        '"Copyright (c) 2000-2024 salesforce.com, inc. All rights reserved."\n'
    )
    ds = load(folder)
    assert counts(ds) == {"deals": (7, 2, 0, 5)}
    assert exclusions(ds) == {("deals", "report_footer"): [4, 5, 6, 7, 8]}
    assert sorted(ds.deals["deal_id"]) == ["0065e00000Op001AAA", "0065e00000Op002AAA"]
    assert not any("empty owner" in n for n in notes(ds).split("\n"))


def test_a_second_report_in_the_folder_is_said_not_to_be_read(tmp_path):
    """An Opportunity History report beside the opportunities report was ignored silently."""
    folder = tmp_path / "r"
    folder.mkdir()
    (folder / "report1.csv").write_text(
        '"Opportunity Owner","Opportunity Name","Stage","Amount","Close Date","Created Date"\n'
        '"Ana","Opp A","Closed Won","$1,000.00","3/1/2024","1/5/2024"\n'
    )
    (folder / "report2.csv").write_text(
        '"Opportunity Name","From Stage","To Stage","Edit Date"\n'
        '"Opp A","","Prospecting","1/5/2024 9:00 AM"\n'
    )
    ds = load(folder)
    assert ds.deals.height == 1
    assert "report2.csv: not read: of a folder of report exports, only the one with a stage " in (
        notes(ds)
    )
    assert "(report1.csv) is read, as the opportunities" in notes(ds)
