"""The Maven adapter on small hand-written exports: quarantined deals of every kind, keys
repeated in the lookup files, the older variant of the export, and the adapter's signature.

Every expected value below was read off the fixture files by hand (line numbers are physical
lines, header = line 1); the comments say how.
"""

from __future__ import annotations

import inspect
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.adapters.base import RawDataset
from pipeline_kit.adapters.maven import read_maven

from .conftest import read_rows

FIXTURES = Path(__file__).parent / "fixtures"
QUARANTINED = FIXTURES / "maven_quarantined"
LOOKUP_DUPLICATES = FIXTURES / "maven_lookup_duplicates"
OLDER = FIXTURES / "maven_older_variant"
US_DATES = FIXTURES / "maven_us_dates"
MINIMAL = FIXTURES / "maven_minimal"


def counts(ds: pk.Dataset) -> dict[str, tuple[int, int, int, int]]:
    """table -> (read, valid, quarantined, excluded), after checking they add up."""
    out = {}
    for row in ds.counts.iter_rows(named=True):
        assert row["read"] == row["valid"] + row["quarantined"] + row["excluded"], row
        out[row["table"]] = (row["read"], row["valid"], row["quarantined"], row["excluded"])
    return out


def rules_by_line(ds: pk.Dataset, table: str) -> dict[int, list[list[str]]]:
    """source_row -> the rules of each quarantined row of ``table`` on that line."""
    out: dict[int, list[list[str]]] = {}
    for row in ds.quarantine.filter(pl.col("table") == table).iter_rows(named=True):
        out.setdefault(row["source_row"], []).append(sorted(row["rules"]))
    return out


# ----------------------------------------------------------------------------- 1. quarantine


# maven_quarantined/sales_pipeline.csv, line by line:
#   2 Q01 Won, 3 Q02 Lost, 4 Q03 Engaging: valid (amounts 4000 close_value, 55 and 550 list price)
#   5 Q04 deal_stage "Pending"                    -> deal_stage_unknown (set aside by the adapter)
#   6 Q05 Won, close_value -100                   -> amount|min
#   7 Q06 and 8 Q06 (different rows, same id)     -> primary_key, both
#   9 Q07 close_date 2017-04-01 < engage 05-01    -> closed_not_before_created
#  10 Q08 engage_date 2017-13-45                  -> created_at|dtype
#  11 Q09 Won without close_date                  -> closed_deal_has_closed_at
#  12 Q10 Engaging with a close_date              -> open_deal_has_no_closed_at
#  13 Q11 agent Zed is not in sales_teams.csv     -> valid, team '(unknown)' (a note)
#  14 Q12 product Widget is not in products.csv   -> valid, amount empty (Lost: list price
#                                                    unknown; counted in rates, not in sums)
#  15 Q13 Prospecting, no engage_date             -> created_at|nullability
#  16 exact copy of line 2                        -> excluded (exact_duplicate)
#  17 Q14 close_value "abc"                       -> amount|dtype
QUARANTINED_DEAL_RULES = {
    5: [["deal_stage_unknown"]],
    6: [["amount|min"]],
    7: [["primary_key"]],
    8: [["primary_key"]],
    9: [["closed_not_before_created"]],
    10: [["created_at|dtype"]],
    11: [["closed_deal_has_closed_at"]],
    12: [["open_deal_has_no_closed_at"]],
    15: [["created_at|nullability"]],
    17: [["amount|dtype"]],
}
# stage_history rows per line: one at engage_date (if any) + one at close_date (if any)
HISTORY_ROWS = {2: 2, 3: 2, 4: 1, 5: 2, 6: 2, 7: 2, 8: 2, 9: 2, 10: 2, 11: 1, 12: 2, 13: 2}
HISTORY_ROWS |= {14: 2, 15: 0, 16: 2, 17: 2}


def test_every_kind_of_quarantined_deal_loads_and_counts_add_up():
    ds = pk.load(QUARANTINED, source="maven")
    got = counts(ds)
    # deals: 16 data lines; valid Q01 Q02 Q03, Q11 (its agent's team unknown) and Q12 (its
    # amount unknown); 10 quarantined (lines 5-12, 15, 17); line 16 excluded
    assert got["deals"] == (16, 5, 10, 1)
    # stage_history: 28 rows (sum of HISTORY_ROWS); valid: 2 + 2 + 1 of Q01-Q03, 2 of Q11,
    # 2 of Q12; excluded: the 2 rows of line 16 (copies of line 2's); quarantined: the other 17
    assert sum(HISTORY_ROWS.values()) == 28
    assert got["stage_history"] == (28, 9, 17, 2)
    assert got["stages"] == (4, 4, 0, 0)

    assert rules_by_line(ds, "deals") == QUARANTINED_DEAL_RULES
    # every history row of a quarantined deal is quarantined too: deal_unknown, except the
    # engage row of line 10 whose date cannot be read
    history = rules_by_line(ds, "stage_history")
    assert {line: len(rows) for line, rows in history.items()} == {
        line: n for line, n in HISTORY_ROWS.items() if line in QUARANTINED_DEAL_RULES and n
    }
    assert history[10] == [["entered_at|dtype"], ["deal_unknown"]]
    assert all(
        rules == [["deal_unknown"]] * len(rules) for line, rules in history.items() if line != 10
    )
    assert ds.excluded.filter(pl.col("table") == "stage_history")["source_row"].to_list() == [
        16,
        16,
    ]

    valid = {r["deal_id"]: r["amount"] for r in ds.deals.iter_rows(named=True)}
    assert valid == {"Q01": 4000.0, "Q02": 55.0, "Q03": 550.0, "Q11": 4000.0, "Q12": None}
    assert ds.deals.filter(pl.col("deal_id") == "Q11")["team"].to_list() == ["(unknown)"]
    problems = {r["rule"]: r for r in ds.problems().iter_rows(named=True)}
    assert "In_Progress" in problems["deal_stage_unknown"]["problem"]
    assert "quarantined in the deals table" in problems["deal_unknown"]["fix"]


@pytest.mark.parametrize(
    "bad", [(5,), (6,), (7, 8), (9,), (10,), (11,), (12,), (13,), (14,), (15,), (16,), (17,)]
)
def test_each_kind_of_quarantined_deal_alone(tmp_path, bad):
    """The three valid deals (lines 2-4) plus the bad line(s) of one kind (both Q06 lines for
    the duplicate id): loads, and read = valid + quarantined + excluded holds for deals and
    stage_history."""
    lines = (QUARANTINED / "sales_pipeline.csv").read_text().splitlines()
    folder = tmp_path / "maven"
    shutil.copytree(QUARANTINED, folder)
    kept = [*lines[:4], *(lines[n - 1] for n in bad)]
    (folder / "sales_pipeline.csv").write_text("\n".join(kept) + "\n")
    got = counts(pk.load(folder, source="maven"))
    bad_history = sum(HISTORY_ROWS[n] for n in bad)
    if bad == (16,):  # the exact copy of line 2: excluded, as are its two history rows
        assert got["deals"] == (4, 3, 0, 1)
        assert got["stage_history"] == (5 + bad_history, 5, 0, bad_history)
    elif bad in ((13,), (14,)):  # an agent in no team: valid, team '(unknown)'; a product
        # not in products.csv: valid, its amount (the list price) empty
        assert got["deals"] == (4, 4, 0, 0)
        assert got["stage_history"] == (5 + bad_history, 5 + bad_history, 0, 0)
    else:
        assert got["deals"] == (3 + len(bad), 3, len(bad), 0)
        assert got["stage_history"] == (5 + bad_history, 5, bad_history, 0)


# ----------------------------------------------------------------------------- 2. lookups


def test_keys_repeated_in_lookup_files_never_multiply_deals():
    ds = pk.load(LOOKUP_DUPLICATES, source="maven")
    got = counts(ds)
    # 7 opportunities in sales_pipeline.csv, 7 deals: no join multiplied a row
    assert len(read_rows(LOOKUP_DUPLICATES / "sales_pipeline.csv")) == 7
    assert got["deals"] == (7, 3, 4, 0)
    # sales_teams.csv: Bob is West/Mo (line 3) and East/Lee (line 5) -> L03, L04 quarantined.
    # products.csv: GTX Pro at 4821 (line 2) and 4999 (line 4) -> the open / lost GTX Pro
    # deals L02 (Lost) and L05 (Engaging) are quarantined; L01 (Won) keeps its close_value.
    assert rules_by_line(ds, "deals") == {
        3: [["product_price_ambiguous"]],
        4: [["sales_agent_in_several_teams"]],
        5: [["sales_agent_in_several_teams"]],
        6: [["product_price_ambiguous"]],
    }
    # history: L01 2 + L02 2 + L03 2 + L04 1 + L05 1 + L06 2 + L07 2 = 12 rows; those of the
    # 4 quarantined deals (2 + 2 + 1 + 1) are quarantined as deal_unknown
    assert got["stage_history"] == (12, 6, 6, 0)

    deals = {r["deal_id"]: r for r in ds.deals.iter_rows(named=True)}
    assert set(deals) == {"L01", "L06", "L07"}
    # Ann: lines 2 (Mo, West) and 7 (blank manager, West) agree -> Mo, West
    # Cat: lines 4 and 6 identical -> Lee, East
    # Acme: lines 2 and 4 identical -> retail; Betatech: medical (3) vs finance (5) -> unknown
    # MG Special: 55 (line 3) and 55.0 (line 5) are the same price -> 55
    expected = {
        "L01": ("Ann", "West", "Mo", 4000.0, "retail", "GTX Pro"),
        "L06": ("Cat", "East", "Lee", 55.0, None, "MG Special"),
        "L07": ("Ann", "West", "Mo", 52.0, "retail", "MG Special"),
    }
    for deal_id, values in expected.items():
        row = deals[deal_id]
        fields = ("owner", "team", "manager", "amount", "industry", "product")
        assert tuple(row[f] for f in fields) == values

    notes = " ".join(ds.notes)
    for listed in (
        "Bob (lines 3, 5)",
        "Ann (lines 2, 7); Cat (lines 4, 6)",
        "GTX Pro (lines 2, 4)",
        "MG Special (lines 3, 5)",
        "Acme (lines 2, 4)",
        "Betatech (lines 3, 5)",
    ):
        assert listed in notes
    problems = {r["rule"]: r for r in ds.problems().iter_rows(named=True)}
    assert "sales_teams.csv" in problems["sales_agent_in_several_teams"]["problem"]
    assert "sales_price" in problems["product_price_ambiguous"]["problem"]


# ----------------------------------------------------------------------------- 3. variants


def test_older_variant_created_on_in_progress_no_sector():
    ds = pk.load(OLDER, source="maven")
    # 4 deals, all valid: V04 is in Prospecting but has a created_on date
    assert counts(ds)["deals"] == (4, 4, 0, 0)
    assert ds.stages.sort("order")["stage"].to_list() == [
        "Prospecting",
        "In_Progress",
        "Won",
        "Lost",
    ]
    deals = {r["deal_id"]: r for r in ds.deals.iter_rows(named=True)}
    fields = ("stage", "status", "amount", "created_at", "closed_at", "industry")
    expected = {
        # Won: close_value; Lost / open: the list price (MG Special 55, GTX Pro 4821)
        "V01": ("Won", "won", 4000.0, date(2017, 1, 2), date(2017, 2, 1), None),
        "V02": ("Lost", "lost", 55.0, date(2017, 1, 3), date(2017, 2, 5), None),
        "V03": ("In_Progress", "open", 4821.0, date(2017, 3, 1), None, None),
        "V04": ("Prospecting", "open", 55.0, date(2017, 3, 5), None, None),
    }
    assert {k: tuple(r[f] for f in fields) for k, r in deals.items()} == expected
    # closed deals: Prospecting at created_on, then Won/Lost at close_date; open deals: their
    # current stage at created_on
    history = ds.tables["stage_history"].sort("source_row", "entered_at")
    assert history.select("deal_id", "stage", "entered_at").rows() == [
        ("V01", "Prospecting", date(2017, 1, 2)),
        ("V01", "Won", date(2017, 2, 1)),
        ("V02", "Prospecting", date(2017, 1, 3)),
        ("V02", "Lost", date(2017, 2, 5)),
        ("V03", "In_Progress", date(2017, 3, 1)),
        ("V04", "Prospecting", date(2017, 3, 5)),
    ]
    notes = " ".join(ds.notes)
    assert "created_on instead of engage_date" in notes
    assert "In_Progress" in notes
    assert "no sector column" in notes


def test_older_variant_without_accounts_file(tmp_path):
    folder = tmp_path / "maven"
    shutil.copytree(OLDER, folder)
    (folder / "accounts.csv").unlink()
    ds = pk.load(folder, source="maven")
    assert counts(ds)["deals"] == (4, 4, 0, 0)
    assert ds.deals["industry"].null_count() == 4
    assert "No accounts.csv" in " ".join(ds.notes)


def test_us_dates_decimal_values_and_header_spelling():
    # the copy of the export re-saved with US dates and close_value 1054.0, with the headers
    # written "Opportunity ID", "Deal Stage", ...; "engaging" in lower case
    ds = pk.load(US_DATES, source="maven")
    assert counts(ds)["deals"] == (3, 3, 0, 0)
    deals = {r["deal_id"]: r for r in ds.deals.iter_rows(named=True)}
    fields = ("stage", "status", "amount", "created_at", "closed_at", "team", "product")
    assert {k: tuple(r[f] for f in fields) for k, r in deals.items()} == {
        # 10/20/2016 can only be month first: every slash date is read month first
        "1C1I7A6R": (
            "Won",
            "won",
            1054.0,
            date(2016, 10, 20),
            date(2017, 3, 1),
            "Central",
            "GTX Plus Basic",
        ),
        "Z063OYW0": (
            "Won",
            "won",
            4514.0,
            date(2016, 10, 25),
            date(2017, 3, 11),
            "Central",
            "GTX Pro",
        ),
        "X1": ("Engaging", "open", 1096.0, date(2017, 2, 3), None, "Central", "GTX Plus Basic"),
    }
    assert "MM/DD" in " ".join(ds.notes)


def test_optional_columns_missing_degrade_with_a_note():
    # maven_minimal: no account column in sales_pipeline.csv, no manager column in
    # sales_teams.csv, no accounts.csv
    ds = pk.load(MINIMAL, source="maven")
    assert counts(ds)["deals"] == (2, 2, 0, 0)
    assert ds.deals["manager"].null_count() == 2
    assert ds.deals["account_id"].null_count() == 2
    notes = " ".join(ds.notes)
    assert "no manager column" in notes and "no account column" in notes


PIPELINE_HEADER = (
    "opportunity_id,sales_agent,product,account,deal_stage,engage_date,close_date,close_value"
)


@pytest.mark.parametrize(
    ("file", "text", "message"),
    [
        (
            "sales_pipeline.csv",
            "opportunity_id,sales_agent,product,deal_stage,engage_date,close_date\n"
            "M01,Ann,GTX Pro,Won,2017-01-02,2017-02-01\n",
            r"close_value missing",
        ),
        (
            "sales_pipeline.csv",
            "opportunity_id,sales_agent,product,deal_stage,start_date,close_date,close_value\n"
            "M01,Ann,GTX Pro,Won,2017-01-02,2017-02-01,4000\n",
            r"engage_date or created_on missing",
        ),
        ("sales_teams.csv", "sales_agent,manager\nAnn,Mo\n", r"regional_office missing"),
        ("products.csv", "product,series\nGTX Pro,GTX\n", r"sales_price missing"),
    ],
)
def test_required_columns_keep_a_clear_error(tmp_path, file, text, message):
    folder = tmp_path / "maven"
    shutil.copytree(MINIMAL, folder)
    (folder / file).write_text(text)
    with pytest.raises(pk.DataError, match=message) as info:
        pk.load(folder, source="maven")
    assert file in str(info.value)


def test_required_file_missing(tmp_path):
    folder = tmp_path / "maven"
    shutil.copytree(MINIMAL, folder)
    (folder / "products.csv").unlink()
    with pytest.raises(pk.DataError, match=r"products\.csv is missing"):
        pk.load(folder, source="maven")


# ----------------------------------------------------------------------------- 4. signature


def test_adapter_signature_and_no_options():
    signature = inspect.signature(read_maven)
    assert list(signature.parameters) == ["path"]
    assert signature.return_annotation in (RawDataset, "RawDataset")
    raw = read_maven(MINIMAL)
    assert isinstance(raw, RawDataset) and raw.source == "maven"
    # a str path goes through pk.load too
    assert counts(pk.load(str(MINIMAL), source="maven"))["deals"] == (2, 2, 0, 0)
    with pytest.raises(pk.DataError, match="no options"):
        pk.load(MINIMAL, source="maven", encoding="latin-1")
