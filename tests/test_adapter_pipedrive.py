"""The Pipedrive adapter (source="pipedrive") on hand-written fixtures in the documented shapes.

Every expected value below was derived by reading the fixture files by hand (the derivation is
in the comments), not by running the adapter. Line numbers are physical lines (header = 1).

Fixtures:
- ``pipedrive_export/deals-7785302-17.csv``: a Deals list export, 16 deals (line = id + 1),
  pipelines Sales and Renewals, both with stages named Qualified and Proposal Made; USD and EUR.
- ``pipedrive_api/``: API v2 tables (deals, stages, pipelines, users, dealflow, activities),
  11 deals 101-111 (line = id - 99).
- ``pipedrive_api_v1/``: API v1 names (user_id, owner_name, active, deleted, active_flag,
  pipeline_name) and a dlt-style change log with new_value only.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

import pipeline_kit as pk

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPORT = FIXTURES / "pipedrive_export"
API = FIXTURES / "pipedrive_api"
API_V1 = FIXTURES / "pipedrive_api_v1"


def load(path: Path, **options) -> pk.Dataset:
    return pk.load(path, source="pipedrive", **options)


def counts(ds: pk.Dataset) -> dict[str, tuple[int, int, int, int]]:
    return {
        r["table"]: (r["read"], r["valid"], r["quarantined"], r["excluded"])
        for r in ds.counts.iter_rows(named=True)
    }


def assert_identity(ds: pk.Dataset) -> None:
    for r in ds.counts.iter_rows(named=True):
        assert r["read"] == r["valid"] + r["quarantined"] + r["excluded"], r


def reasons(ds: pk.Dataset, table: str) -> dict[int, str]:
    """source_row -> reason of the rows set aside from ``table`` (excluded or quarantined)."""
    out = {
        r["source_row"]: r["reason"]
        for r in ds.excluded.filter(pl.col("table") == table).iter_rows(named=True)
    }
    for r in ds.quarantine.filter(pl.col("table") == table).iter_rows(named=True):
        out[r["source_row"]] = "|".join(r["rules"])
    return out


def by_deal(ds: pk.Dataset, col: str) -> dict[str, object]:
    return dict(zip(ds.deals["deal_id"], ds.deals[col], strict=True))


def history(ds: pk.Dataset, deal: str) -> list[tuple[str, date]]:
    h = ds.stage_history.filter(pl.col("deal_id") == deal).sort("entered_at", "stage")
    return list(zip(h["stage"], h["entered_at"], strict=True))


def notes(ds: pk.Dataset) -> str:
    return " ".join(ds.notes)


# =============================================================================== list export


@pytest.fixture(scope="module")
def export() -> pk.Dataset:
    return load(EXPORT)


def test_export_counts_and_what_was_set_aside(export):
    # deals: 16 rows. Deal 16 (line 17) has status "Deleted" -> excluded. EUR deals 7 (line 8)
    # and 13 (line 14) are in a second currency with no rates -> quarantined. 13 valid.
    # stages: 7 open stage names (see test_export_stage_order) + Won + Lost = 9.
    # stage_history: 25 rows derived (see test_export_stage_history); deals 7 (2 rows: Negotiations
    # Started, Won) and 13 (1 row) are quarantined deals -> their 3 rows are deal_unknown.
    assert counts(export) == {
        "deals": (16, 13, 2, 1),
        "stages": (9, 9, 0, 0),
        "stage_history": (25, 22, 3, 0),
    }
    assert_identity(export)
    assert reasons(export, "deals") == {
        17: "deleted_in_crm",
        8: "currency_without_rate",
        14: "currency_without_rate",
    }
    # rows derived from one deal share its line: deal 7's two rows are both line 8
    quarantined = export.quarantine.filter(pl.col("table") == "stage_history")
    assert sorted(quarantined["source_row"]) == [8, 8, 14]
    assert quarantined["rules"].to_list() == [["deal_unknown"]] * 3
    assert "deleted in Pipedrive" in export.exclusions()["meaning"][0]


def test_export_status_from_any_capitalisation_and_synthetic_closed_stages(export):
    # Deal - Status as written: Won/won -> won, lost/LOST/Lost -> lost, Open/open -> open
    assert by_deal(export, "status") == {
        "1": "won", "2": "lost", "3": "lost", "4": "won", "5": "open", "6": "open",
        "8": "lost", "9": "open", "10": "won", "11": "lost", "12": "open", "14": "won",
        "15": "lost",
    }  # fmt: skip
    stage = by_deal(export, "stage")
    last_open = by_deal(export, "last_open_stage")
    # deal 2 is lost but its Deal - Stage still says Proposal Made (Sales pipeline; the name is
    # also used by Renewals, hence the suffix): canonical stage Lost, Pipedrive stage kept
    assert (stage["2"], last_open["2"]) == ("Lost", "Proposal Made (Sales)")
    assert (stage["1"], last_open["1"]) == ("Won", "Negotiations Started")
    # open deals keep their stage; ambiguous names get the pipeline
    assert stage["5"] == "Qualified (Sales)" and stage["12"] == "Qualified (Renewals)"
    assert stage["9"] == "Contact Made"  # only Sales has it: no suffix
    assert "synthetic stages 'Won' / 'Lost'" in notes(export)
    won_lost = export.stages.filter(pl.col("stage").is_in(["Won", "Lost"]))
    assert won_lost.select("stage", "is_won", "is_lost").rows() == [
        ("Won", True, False),
        ("Lost", False, True),
    ]


def test_export_closed_at(export):
    closed = by_deal(export, "closed_at")
    assert closed["1"] == date(2025, 2, 20)  # Won time
    assert closed["2"] == date(2025, 3, 2)  # Lost time
    assert closed["14"] == date(2025, 3, 15)  # Won time empty: Deal closed on
    # deal 9 is open but carries Deal closed on / Lost time 2025-03-08 (reopened)
    assert closed["9"] is None
    assert "1 open deal(s) carry a won/lost/close time" in notes(export)


def test_export_stage_order_is_derived_and_said_to_be(export):
    # No stages.csv: ordered like the loader's derivation. Key = all deals whose last open stage
    # it is are closed (1) or not (0), then name:
    #   Contact Made: 3 lost, 9 open -> 0        Proposal Made (Renewals): 11 lost, 13 open -> 0
    #   Proposal Made (Sales): 2 lost, 6 open -> 0    Qualified (Renewals): 12 open, 15 lost -> 0
    #   Qualified (Sales): 5 open, 8 lost -> 0 (16 is deleted)
    #   Contract Sent: 10, 14 won -> 1           Negotiations Started: 1, 4, 7 won -> 1
    assert export.stages.sort("order")["stage"].to_list() == [
        "Contact Made",
        "Proposal Made (Renewals)",
        "Proposal Made (Sales)",
        "Qualified (Renewals)",
        "Qualified (Sales)",
        "Contract Sent",
        "Negotiations Started",
        "Won",
        "Lost",
    ]
    assert "not the pipeline's order" in notes(export)
    pipelines = dict(zip(export.stages["stage"], export.stages["pipeline"], strict=True))
    assert pipelines["Qualified (Renewals)"] == "Renewals"
    assert pipelines["Contact Made"] == "Sales"


def test_export_stage_history_from_last_stage_change(export):
    # Without stages.csv: current stage at Last stage change (or creation when it never moved),
    # Won/Lost at closed_at; the first stage of a deal that moved is unknown.
    assert export.stage_history_approximate
    # deal 2: last change 2025-02-10 after creation 01-10; lost 03-02
    assert history(export, "2") == [
        ("Proposal Made (Sales)", date(2025, 2, 10)),
        ("Lost", date(2025, 3, 2)),
    ]
    # deal 3: no last stage change -> Contact Made on creation (01-15); lost 02-14
    assert history(export, "3") == [
        ("Contact Made", date(2025, 1, 15)),
        ("Lost", date(2025, 2, 14)),
    ]
    # deal 12: open, never moved
    assert history(export, "12") == [("Qualified (Renewals)", date(2025, 3, 10))]
    # deal 14: Won at Deal closed on (Won time empty)
    assert history(export, "14") == [
        ("Contract Sent", date(2025, 3, 1)),
        ("Won", date(2025, 3, 15)),
    ]
    assert "Last stage change" in notes(export)


def test_export_probability_from_the_deal_only_without_stages(export):
    # Deal - Probability 20, 60, 90 for deals 5, 6, 10 (13 has 50 but is quarantined); no
    # stages.csv so no stage probability
    prob = by_deal(export, "probability")
    assert (prob["5"], prob["6"], prob["10"]) == (0.2, 0.6, 0.9)
    assert prob["1"] is None
    assert by_deal(export, "probability_source")["5"] == "deal"
    assert set(export.deals["stage_probability"].to_list()) == {None}


def test_export_currencies_without_rates_never_summed(export):
    # 12 USD deals kept, EUR ones quarantined: every valid amount is in USD
    assert set(export.deals["currency"]) == {"USD"}
    assert "2 currencies (EUR, USD)" in notes(export)
    # win rate 2025-Q1 by hand, closed deals in Jan-Mar 2025, EUR deal 7 left out:
    # won 1 (02-20), 4 (03-28), 10 (01-30), 14 (03-15) = 4; lost 2, 3, 8, 11, 15 = 5
    wr = pk.win_rate(export, "2025-Q1").row(0, named=True)
    assert (wr["won"], wr["lost"], wr["n"]) == (4, 5, 9)
    assert wr["win_rate"] == pytest.approx(4 / 9)


def test_export_currencies_with_rates():
    ds = load(EXPORT, rates={"USD": 1, "EUR": 0.8}, reporting_currency="USD")
    assert counts(ds)["deals"] == (16, 15, 0, 1)
    amount = by_deal(ds, "amount")
    # deal 7: 7000 EUR / 0.8 = 8750 USD; deal 13: 2500 / 0.8 = 3125; USD unchanged
    assert (amount["7"], amount["13"], amount["1"]) == (8750.0, 3125.0, 12000.0)
    assert (by_deal(ds, "amount_original")["7"], by_deal(ds, "currency")["7"]) == ("7000", "EUR")
    # with deal 7 (won 03-05): 5 won, 5 lost in 2025-Q1
    wr = pk.win_rate(ds, "2025-Q1").row(0, named=True)
    assert (wr["won"], wr["lost"], wr["win_rate"]) == (5, 5, 0.5)


def test_export_reporting_currency_rate_defaults_to_one():
    # only the EUR rate given: USD is the reporting currency, so its rate is 1
    ds = load(EXPORT, rates={"EUR": 0.8}, reporting_currency="USD")
    assert counts(ds)["deals"] == (16, 15, 0, 1)
    assert by_deal(ds, "amount")["1"] == 12000.0


def test_export_rates_without_reporting_currency(tmp_path):
    # rates={"EUR": 0.8} alone: no rate is 1 and USD is the one currency present without a
    # rate, so USD is the reporting currency (said in a note); the USD deals were quarantined
    ds = load(EXPORT, rates={"EUR": 0.8})
    assert counts(ds)["deals"] == (16, 15, 0, 1)
    amount = by_deal(ds, "amount")
    assert (amount["7"], amount["1"]) == (8750.0, 12000.0)  # 7000 EUR / 0.8; USD as it is
    assert "USD, the one currency present without a rate" in notes(ds)
    # two currencies present without a rate (USD, EUR): which one the rates are in is unknown
    with pytest.raises(pk.DataError, match="reporting_currency") as error:
        load(EXPORT, rates={"GBP": 0.9})
    assert "USD, EUR" in str(error.value) or "EUR, USD" in str(error.value)
    # every currency present has a rate, none is 1: the same question
    with pytest.raises(pk.DataError, match="reporting_currency"):
        load(EXPORT, rates={"USD": 1.1, "EUR": 0.8})


def test_export_quarantined_currency_fix_names_reporting_currency(export):
    assert "reporting_currency=" in export.report()


def test_export_team_option_names_a_custom_field_without_its_prefix(tmp_path):
    # the custom field 'Sales segment' is exported as 'Deal - Sales segment'
    text = (EXPORT / "deals-7785302-17.csv").read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    (tmp_path / "deals.csv").write_text(
        header.replace(",Segment", ",Deal - Sales segment") + "\n" + rest, encoding="utf-8"
    )
    team = by_deal(load(tmp_path, team="sales SEGMENT"), "team")
    assert (team["1"], team["2"], team["4"]) == ("SMB", "Mid-market", "Enterprise")
    # a name of no column stays a constant team (documented), and the note names the columns
    # close to it
    ds = load(tmp_path, team="Sales")
    assert set(ds.deals["team"]) == {"Sales"}
    assert "names no column" in notes(ds) and "'Deal - Sales segment'" in notes(ds)


def test_export_amounts_written_with_a_currency_code(tmp_path):
    # deal 1 (line 2, USD) written 'USD 12,000' reads as 12000; deal 2 (line 3, USD) written
    # 'GBP 8,000' names another currency than its own: quarantined, never summed as USD
    text = (EXPORT / "deals-7785302-17.csv").read_text(encoding="utf-8")
    text = text.replace("\n1,Acme rollout,12000,USD,", '\n1,Acme rollout,"USD 12,000",USD,')
    text = text.replace("\n2,Beta licences,8000,USD,", '\n2,Beta licences,"GBP 8,000",USD,')
    (tmp_path / "deals.csv").write_text(text, encoding="utf-8")
    ds = load(tmp_path, rates={"EUR": 0.8}, reporting_currency="USD")
    assert by_deal(ds, "amount")["1"] == 12000.0
    assert reasons(ds, "deals")[3] == "amount_currency_differs"
    assert "2" not in by_deal(ds, "amount")


def test_export_team(export):
    assert set(export.deals["team"]) == {"All"}
    assert "Pipedrive has no team field" in notes(export)
    # a custom field chosen as team: Segment
    by_segment = load(EXPORT, team="Segment")
    team = by_deal(by_segment, "team")
    assert (team["1"], team["2"], team["4"]) == ("SMB", "Mid-market", "Enterprise")
    # a constant
    assert set(load(EXPORT, team="EMEA").deals["team"]) == {"EMEA"}


def test_export_extra_columns(export):
    cols = export.deals.columns
    for extra in ("segment", "deal_title", "organization_name", "person_email", "pipeline"):
        assert extra in cols
    assert by_deal(export, "segment")["6"] == "Enterprise"
    assert by_deal(export, "lead_source")["4"] == "Partner"  # Deal - Source
    assert by_deal(export, "account_id")["3"] == "Gamma GmbH"  # Deal - Organization
    pk.win_rate(export, "2025-Q1", by="segment")  # extras work in by=


def test_export_with_api_stages_file(tmp_path):
    # the export plus the API's stages.csv and pipelines.csv
    for f in [*EXPORT.glob("*.csv"), API / "stages.csv", API / "pipelines.csv"]:
        shutil.copy(f, tmp_path)
    ds = load(tmp_path, rates={"USD": 1, "EUR": 0.8})
    # stages.csv: Sales (order_nr 0) stages 1-4, Renewals (1) stages 5-7; stage 8 deleted and
    # not used -> excluded
    assert ds.stages.sort("order")["stage"].to_list() == [
        "Qualified (Sales)",
        "Contact Made",
        "Proposal Made (Sales)",
        "Negotiations Started",
        "Qualified (Renewals)",
        "Proposal Made (Renewals)",
        "Contract Sent",
        "Won",
        "Lost",
    ]
    assert counts(ds)["stages"] == (10, 9, 0, 1)
    prob, source = by_deal(ds, "probability"), by_deal(ds, "probability_source")
    stage_prob = by_deal(ds, "stage_probability")
    # deal 5: own 20 in Sales (deal probability on) -> 0.2; its stage Qualified (Sales) is 10%
    assert (prob["5"], source["5"], stage_prob["5"]) == (0.2, "deal", "0.1")
    # deal 10: own 90 in Renewals, where deal probability is off -> stage Contract Sent 90%
    # deal 13: own 50 in Renewals -> stage Proposal Made (Renewals) 60%
    assert (prob["13"], source["13"]) == (0.6, "stage")
    assert (prob["1"], source["1"]) == (0.8, "stage")  # no own probability
    assert "2 deal(s) have their own probability in a pipeline where deal probability is off" in (
        notes(ds)
    )
    # history: with the order known, a deal that moved also entered its pipeline's first stage
    # on its creation day. 25 rows + 10 moved deals (1, 2, 4, 6, 7, 9, 10, 11, 13, 14) = 35.
    assert counts(ds)["stage_history"] == (35, 35, 0, 0)
    assert history(ds, "2") == [
        ("Qualified (Sales)", date(2025, 1, 10)),
        ("Proposal Made (Sales)", date(2025, 2, 10)),
        ("Lost", date(2025, 3, 2)),
    ]
    assert history(ds, "3") == [("Contact Made", date(2025, 1, 15)), ("Lost", date(2025, 2, 14))]


def test_export_stage_missing_from_stages_file(tmp_path):
    for f in (API / "stages.csv", API / "pipelines.csv"):
        shutil.copy(f, tmp_path)
    (tmp_path / "deals-export.csv").write_text(
        "Deal - ID,Deal - Title,Deal - Value,Deal - Pipeline,Deal - Stage,Deal - Status,"
        "Deal - Owner,Deal - Deal created\n"
        "1,A,100,Sales,Discovery,open,Ann,2025-01-02\n"
        "2,B,200,Sales,Qualified,open,Ann,2025-01-03\n",
        encoding="utf-8",
    )
    ds = load(tmp_path)
    # stages.csv gives 7 live stages (lines 2-8; line 9 deleted, excluded); Discovery is not
    # in it: added 8th, numbered after the file's last line (10); then Won (11), Lost (12)
    stages = ds.stages.sort("order")
    assert stages["stage"].to_list()[6:] == ["Contract Sent", "Discovery", "Won", "Lost"]
    assert stages["source_row"].to_list()[7:] == [10, 11, 12]
    assert by_deal(ds, "stage") == {"1": "Discovery", "2": "Qualified (Sales)"}
    assert "not in stages.csv (Discovery)" in notes(ds)
    assert counts(ds)["deals"] == (2, 2, 0, 0)


def test_export_czech_labels(tmp_path):
    (tmp_path / "obchody.csv").write_text(
        "Obchod - ID,Obchod - Název,Obchod - Hodnota,Obchod - Měna hodnoty,Obchod - Fáze,"
        "Obchod - Stav,Obchod - Vlastník,Obchod - Obchod vytvořen,Obchod - Datum výhry\n"
        "1,Alfa,1000,CZK,Nabídka,Vyhraný,Jana Nováková,2025-01-02 09:00:00,2025-02-03 10:00:00\n"
        "2,Beta,2000,CZK,Nabídka,open,Petr Svoboda,2025-01-05 09:00:00,\n",
        encoding="utf-8",
    )
    ds = load(tmp_path)
    assert counts(ds)["deals"] == (2, 2, 0, 0)
    assert by_deal(ds, "status") == {"1": "won", "2": "open"}
    assert by_deal(ds, "stage") == {"1": "Won", "2": "Nabídka"}
    assert by_deal(ds, "owner")["1"] == "Jana Nováková"
    assert by_deal(ds, "closed_at")["1"] == date(2025, 2, 3)
    # no Last stage change column: no history written, the loader derives its own
    assert ds.stage_history_approximate


# =============================================================================== API v2


@pytest.fixture(scope="module")
def api() -> pk.Dataset:
    return load(API)


def test_api_counts_and_what_was_set_aside(api):
    # deals: 11. 105 (line 6, status deleted) and 111 (line 12, is_deleted true) excluded;
    # 103 (line 4) is the only EUR deal -> quarantined. 8 valid.
    # stages: 8 rows + Won + Lost; stage 8 (line 9) deleted and unused -> excluded.
    # stage_history: dealflow has 21 rows (lines 2-22): lines 13, 14 belong to deleted deal 105;
    # lines 3 (value), 6 (status), 10 (status), 12 (user_id), 22 (expected_close_date) are not
    # stage changes; line 17 (106 back to Proposal Made the same day as line 15) repeats a
    # same-day entry. 13 stage changes kept + derived: first stage of the 9 deals left (101,
    # 102, 103, 104, 106, 107, 108, 109, 110) + Won/Lost of the 5 closed ones = 27 rows;
    # 103's two rows (line 11 and its first stage) are deal_unknown. read 35 = 25 + 2 + 8.
    # activities: 7; 4 (deal 105) and 7 (is_deleted) excluded; 3 (deal 103) deal_unknown.
    assert counts(api) == {
        "deals": (11, 8, 1, 2),
        "stages": (10, 9, 0, 1),
        "stage_history": (35, 25, 2, 8),
        "activities": (7, 4, 1, 2),
    }
    assert_identity(api)
    assert reasons(api, "deals") == {
        6: "deleted_in_crm",
        12: "deleted_in_crm",
        4: "currency_without_rate",
    }
    assert reasons(api, "stages") == {9: "deleted_in_crm"}
    flow = reasons(api, "stage_history")
    assert {k: v for k, v in flow.items() if k <= 22} == {
        3: "not_a_stage_change",
        6: "not_a_stage_change",
        10: "not_a_stage_change",
        12: "not_a_stage_change",
        22: "not_a_stage_change",
        13: "deal_deleted_in_crm",
        14: "deal_deleted_in_crm",
        17: "repeated_same_day",
        11: "deal_unknown",
    }
    assert reasons(api, "activities") == {
        5: "deal_deleted_in_crm",
        8: "deleted_in_crm",
        4: "deal_unknown",
    }


def test_api_status_stage_owner_pipeline(api):
    assert by_deal(api, "status") == {
        "101": "won", "102": "lost", "104": "open", "106": "open", "107": "won",
        "108": "lost", "109": "open", "110": "won",
    }  # fmt: skip
    stage = by_deal(api, "stage")
    assert (stage["102"], by_deal(api, "last_open_stage")["102"]) == (
        "Lost",
        "Proposal Made (Sales)",
    )
    assert stage["104"] == "Qualified (Sales)" and stage["109"] == "Qualified (Renewals)"
    # owner_id through users.csv: 10 Alice Martin, 11 Bob Chen, 12 Carla Diaz
    owner = by_deal(api, "owner")
    assert (owner["101"], owner["102"], owner["106"]) == ("Alice Martin", "Bob Chen", "Carla Diaz")
    pipeline = by_deal(api, "pipeline")
    assert (pipeline["101"], pipeline["107"]) == ("Sales", "Renewals")
    closed = by_deal(api, "closed_at")
    assert (closed["101"], closed["108"], closed["104"]) == (
        date(2025, 2, 20),
        date(2025, 2, 10),
        None,
    )
    assert by_deal(api, "created_at")["101"] == date(2025, 1, 6)  # 2025-01-06T09:15:00Z
    assert by_deal(api, "lead_source")["104"] == "API"  # origin
    assert by_deal(api, "account_id")["101"] == "601"  # org_id


def test_api_stages(api):
    stages = api.stages.sort("order")
    assert stages["stage"].to_list() == [
        "Qualified (Sales)",
        "Contact Made",
        "Proposal Made (Sales)",
        "Negotiations Started",
        "Qualified (Renewals)",
        "Proposal Made (Renewals)",
        "Contract Sent",
        "Won",
        "Lost",
    ]
    # deal_probability / 100
    assert stages["probability"].to_list() == [0.1, 0.2, 0.5, 0.8, 0.3, 0.6, 0.9, 1.0, 0.0]
    assert "Demo Scheduled" not in stages["stage"].to_list()


def test_api_probability_sources(api):
    prob, source = by_deal(api, "probability"), by_deal(api, "probability_source")
    stage_prob = by_deal(api, "stage_probability")
    # 106: own 40 in Sales (deal probability enabled) -> 0.4; its stage says 50
    assert (prob["106"], source["106"], stage_prob["106"]) == (0.4, "deal", "0.5")
    # 107: own 95 in Renewals (is_deal_probability_enabled false) -> stage Contract Sent 0.9
    assert (prob["107"], source["107"]) == (0.9, "stage")
    # 101: no own probability -> stage Negotiations Started 0.8 (even though it is won)
    assert (prob["101"], source["101"]) == (0.8, "stage")
    assert "1 deal(s) have their own probability in a pipeline where deal probability is off" in (
        notes(api)
    )


def test_api_stage_history_from_the_deal_flow(api):
    assert not api.stage_history_approximate
    # 102: created 01-10 in stage 1 (old_value of its first change, line 7); 1->3 01-25,
    # 3->2 02-05 (backwards), 2->3 02-10; lost 03-02
    assert history(api, "102") == [
        ("Qualified (Sales)", date(2025, 1, 10)),
        ("Proposal Made (Sales)", date(2025, 1, 25)),
        ("Contact Made", date(2025, 2, 5)),
        ("Proposal Made (Sales)", date(2025, 2, 10)),
        ("Lost", date(2025, 3, 2)),
    ]
    # 110 was created in stage 2 (old_value of line 21), not in its pipeline's first stage
    assert history(api, "110") == [
        ("Contact Made", date(2025, 1, 20)),
        ("Negotiations Started", date(2025, 2, 25)),
        ("Won", date(2025, 3, 5)),
    ]
    # 104 never moved (only an owner change): its current stage since add_time
    assert history(api, "104") == [("Qualified (Sales)", date(2025, 2, 1))]
    # 106: 1->3 at 10:00, 3->2 at 10:01, 2->3 at 10:02 on 02-20: the second entry into
    # Proposal Made (Sales) that day is excluded
    assert history(api, "106") == [
        ("Qualified (Sales)", date(2025, 2, 15)),
        ("Contact Made", date(2025, 2, 20)),
        ("Proposal Made (Sales)", date(2025, 2, 20)),
    ]
    # derived rows are numbered after the change log's last line (22): 101's first stage is 23
    row = api.stage_history.filter((pl.col("deal_id") == "101") & (pl.col("stage") == "Won"))
    assert row["source_row"].to_list() == [24]


def test_api_archived_deals_are_kept(api):
    archived = by_deal(api, "is_archived")
    assert archived["106"] == "true" and archived["101"] == "false"
    assert "1 archived deal(s) are kept" in notes(api)


def test_api_activities(api):
    acts = api.activities.sort("activity_id")
    occurred = dict(zip(acts["activity_id"], acts["occurred_at"], strict=True))
    # done: marked_as_done_time (UTC); not done: due date + due time (or the date alone)
    assert str(occurred["1"]) == "2025-01-07 10:20:00"
    assert str(occurred["2"]) == "2025-03-20 14:30:00"
    assert str(occurred["6"]) == "2025-03-25 00:00:00"
    owners = dict(zip(acts["activity_id"], acts["owner"], strict=True))
    assert (owners["1"], owners["2"], owners["5"]) == ("Alice Martin", "Bob Chen", "Alice Martin")
    assert dict(zip(acts["activity_id"], acts["done"], strict=True))["2"] == "false"


def test_api_win_rate_and_rates(api):
    # 2025-Q1 closed: won 101 (02-20), 107 (01-30), 110 (03-05); lost 102 (03-02), 108 (02-10)
    wr = pk.win_rate(api, "2025-Q1").row(0, named=True)
    assert (wr["won"], wr["lost"], wr["win_rate"]) == (3, 2, 0.6)
    converted = load(API, rates={"USD": 1.0, "EUR": 0.8})
    assert counts(converted)["deals"] == (11, 9, 0, 2)
    assert by_deal(converted, "amount")["103"] == 6250.0  # 5000 EUR / 0.8
    assert by_deal(converted, "probability")["103"] == 0.7  # own 70 in Sales
    # 103 now valid: its history (line 11 + first stage) and activity 3 are valid too
    assert counts(converted)["stage_history"] == (35, 27, 0, 8)
    assert counts(converted)["activities"] == (7, 5, 0, 2)


def test_api_team_from_a_users_column(tmp_path):
    for f in API.glob("*.csv"):
        shutil.copy(f, tmp_path)
    users = tmp_path / "users.csv"
    users.write_text(
        "id,name,email,is_active,office\n"
        "10,Alice Martin,alice@example.com,true,Paris\n"
        "11,Bob Chen,bob@example.com,true,Berlin\n"
        "12,Carla Diaz,carla@example.com,false,Paris\n",
        encoding="utf-8",
    )
    ds = load(tmp_path, team="office")
    team = by_deal(ds, "team")
    assert (team["101"], team["102"], team["106"]) == ("Paris", "Berlin", "Paris")
    assert "users.office" in notes(ds)


def test_api_deals_rebuilt_from_the_change_log(tmp_path):
    for name in ("stages.csv", "pipelines.csv", "users.csv"):
        shutil.copy(API / name, tmp_path)
    (tmp_path / "dealflow.csv").write_text(
        "id,item_id,user_id,field_key,old_value,new_value,log_time\n"
        "1,501,10,add_time,,2025-01-02 09:00:00,2025-01-02T09:00:00Z\n"  # line 2
        "2,501,10,value,,1000,2025-01-02T09:00:00Z\n"
        "3,501,10,stage_id,1,2,2025-01-10T09:00:00Z\n"  # line 4
        "4,501,10,status,open,won,2025-02-01T09:00:00Z\n"
        "5,502,11,value,,2000,2025-01-05T09:00:00Z\n"  # line 6
        "6,502,11,stage_id,5,6,2025-01-15T09:00:00Z\n"
        "7,502,11,status,open,lost,2025-02-20T09:00:00Z\n"
        "8,503,12,value,,3000,2025-03-01T09:00:00Z\n"  # line 9
        "9,503,12,stage_id,1,3,2025-03-05T09:00:00Z\n"
        "10,504,12,stage_id,1,2,2025-03-06T09:00:00Z\n"  # line 11
        "11,504,12,status,open,deleted,2025-03-07T09:00:00Z\n",
        encoding="utf-8",
    )
    ds = load(tmp_path)
    # 4 deals in the log; 504's last status is deleted -> excluded (its deal row is numbered
    # by its first log line, 11)
    assert counts(ds)["deals"] == (4, 3, 0, 1)
    assert reasons(ds, "deals") == {11: "deleted_in_crm"}
    assert by_deal(ds, "status") == {"501": "won", "502": "lost", "503": "open"}
    assert by_deal(ds, "stage") == {"501": "Won", "502": "Lost", "503": "Proposal Made (Sales)"}
    assert by_deal(ds, "last_open_stage")["501"] == "Contact Made"  # last stage_id = 2
    assert by_deal(ds, "amount") == {"501": 1000.0, "502": 2000.0, "503": 3000.0}
    assert by_deal(ds, "owner")["502"] == "Bob Chen"  # user of its changes
    assert by_deal(ds, "created_at")["501"] == date(2025, 1, 2)  # add_time row
    assert by_deal(ds, "created_at")["502"] == date(2025, 1, 5)  # its first logged change
    assert by_deal(ds, "closed_at")["502"] == date(2025, 2, 20)  # time of status -> lost
    assert by_deal(ds, "pipeline")["502"] == "Renewals"  # from stage 6
    # history: 3 stage changes + 3 first stages + 2 closing = 8; set aside: 6 other fields,
    # 2 rows of deal 504
    assert counts(ds)["stage_history"] == (16, 8, 0, 8)
    assert history(ds, "501") == [
        ("Qualified (Sales)", date(2025, 1, 2)),
        ("Contact Made", date(2025, 1, 10)),
        ("Won", date(2025, 2, 1)),
    ]
    wr = pk.win_rate(ds, "2025-Q1").row(0, named=True)
    assert (wr["won"], wr["lost"]) == (1, 1)
    assert "rebuilt from dealflow.csv" in notes(ds)


# =============================================================================== API v1


@pytest.fixture(scope="module")
def api_v1() -> pk.Dataset:
    return load(API_V1)


def test_v1_names(api_v1):
    # deals: 5; 204 (line 5) has deleted=true -> excluded
    # stages: 4 + Won + Lost; Unused (line 5, active_flag false) excluded; Old Trial (line 4,
    # active_flag false) kept because deal 205 sits in it
    # history: log lines 2-5: line 3 is a status change, line 5 belongs to deleted 204;
    # kept 2 changes (201 and 203 to Demo) + first stage of never-moved 202 and 205 + Won 201,
    # Lost 203 = 6; the log has no old_value so 201's and 203's first stage is unknown
    assert counts(api_v1) == {
        "deals": (5, 4, 0, 1),
        "stages": (6, 5, 0, 1),
        "stage_history": (8, 6, 0, 2),
    }
    assert_identity(api_v1)
    assert reasons(api_v1, "deals") == {5: "deleted_in_crm"}
    assert reasons(api_v1, "stages") == {5: "deleted_in_crm"}
    assert reasons(api_v1, "stage_history") == {3: "not_a_stage_change", 5: "deal_deleted_in_crm"}
    # owner from owner_name (no users.csv), pipeline from stages.pipeline_name
    assert by_deal(api_v1, "owner") == {
        "201": "Dana Lee", "202": "Evan Park", "203": "Dana Lee", "205": "Evan Park",
    }  # fmt: skip
    assert set(api_v1.deals["pipeline"]) == {"Main"}
    assert api_v1.stages.sort("order")["stage"].to_list() == [
        "Lead In",
        "Demo",
        "Old Trial",
        "Won",
        "Lost",
    ]
    assert "Old Trial" in notes(api_v1) and "new_value only" in notes(api_v1)
    assert history(api_v1, "201") == [("Demo", date(2025, 1, 20)), ("Won", date(2025, 2, 15))]
    assert history(api_v1, "202") == [("Lead In", date(2025, 2, 1))]
    # probability: 202's own 25 (pipeline_deal_probability true); others their stage's
    prob = by_deal(api_v1, "probability")
    assert prob == {"201": 0.5, "202": 0.25, "203": 0.5, "205": 0.4}
    # 2025-Q1: 201 won 02-15, 203 lost 03-01
    wr = pk.win_rate(api_v1, "2025-Q1").row(0, named=True)
    assert (wr["won"], wr["lost"], wr["win_rate"]) == (1, 1, 0.5)


def test_duplicate_stage_name_in_one_pipeline(tmp_path):
    for f in API_V1.glob("*.csv"):
        shutil.copy(f, tmp_path)
    with (tmp_path / "stages.csv").open("a", encoding="utf-8") as out:
        out.write("5,5,Demo,true,55,1,false,,Main,true\n")  # line 6: a second Demo in Main
    ds = load(tmp_path)
    # stages: 5 rows + Won + Lost = 7; Unused (line 5) deleted, the second Demo (line 6) is a
    # duplicate name -> both excluded; 5 valid as before
    assert counts(ds)["stages"] == (7, 5, 0, 2)
    assert reasons(ds, "stages") == {5: "deleted_in_crm", 6: "duplicate_stage_name"}


def test_v1_and_v2_give_the_same_canonical_columns(api, api_v1):
    required = ["deal_id", "owner", "team", "amount", "created_at", "stage", "status"]
    added = ["pipeline", "last_open_stage", "probability", "stage_probability"]
    for ds in (api, api_v1):
        assert set(required + added) <= set(ds.deals.columns)
        assert ds.deals.select(required).null_count().sum_horizontal().item() == 0


# =============================================================================== errors


def test_no_pipedrive_data_is_explained(tmp_path):
    (tmp_path / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    with pytest.raises(pk.DataError, match="no Pipedrive deals export"):
        load(tmp_path)
    with pytest.raises(pk.DataError, match="does not exist"):
        load(tmp_path / "missing")


def test_api_deals_without_stages_is_explained(tmp_path):
    shutil.copy(API / "deals.csv", tmp_path)
    with pytest.raises(pk.DataError, match="no stages table"):
        load(tmp_path)


def test_export_with_its_header_repeated_mid_file_excludes_that_line(tmp_path):
    """Two list exports joined: the second header (line 6) is excluded as a repeated header,
    the deals below it keep their lines (one more than in the fixture)."""
    lines = (EXPORT / "deals-7785302-17.csv").read_text(encoding="utf-8").splitlines()
    folder = tmp_path / "joined"
    folder.mkdir()
    (folder / "deals.csv").write_text(
        "\n".join([*lines[:5], lines[0], *lines[5:]]) + "\n", encoding="utf-8"
    )
    ds = load(folder)
    assert counts(ds)["deals"] == (17, 13, 2, 2)
    assert reasons(ds, "deals") == {
        6: "repeated_header",
        18: "deleted_in_crm",
        9: "currency_without_rate",
        15: "currency_without_rate",
    }


def test_export_with_products_reads_each_deal_once(tmp_path):
    """A "deals with products" export writes a deal once per product: deal 2 (three products)
    and deal 3 (two) were quarantined whole as duplicate keys, and the win rate was 1 of 1."""
    head = (
        "Deal - ID,Deal - Title,Deal - Owner,Deal - Value,Deal - Currency,Deal - Status,"
        "Deal - Stage,Deal - Deal created,Deal - Won time,Deal - Lost time,"
        "Product - Name,Product - Quantity\n"
    )
    deal = {
        "1": "1,A,Ana,100,USD,Won,Proposal,2024-01-01 09:00:00,2024-02-01 10:00:00,",
        "2": "2,B,Ben,50,USD,Lost,Proposal,2024-01-02 09:00:00,,2024-02-02 10:00:00",
        "3": "3,C,Ana,70,USD,Open,Qualified,2024-01-03 09:00:00,,",
    }
    rows = [("1", "P1"), ("2", "P1"), ("2", "P2"), ("2", "P3"), ("3", "P1"), ("3", "P2")]
    (tmp_path / "deals-products.csv").write_text(
        head + "".join(f"{deal[d]},{p},1\n" for d, p in rows), encoding="utf-8"
    )
    ds = load(tmp_path)
    assert counts(ds)["deals"] == (6, 3, 0, 3)
    assert reasons(ds, "deals") == {4: "product_row", 5: "product_row", 7: "product_row"}
    assert dict(ds.deals.select("deal_id", "status").rows()) == {
        "1": "won",
        "2": "lost",
        "3": "open",
    }
    assert not {"product_name", "product_quantity"} & set(ds.deals.columns)
    assert any("lists a deal once per product" in n for n in ds.notes)
