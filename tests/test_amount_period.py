"""A CRM's per-period values (Close's value_period): read as yearly values when mapped.

Expected amounts are the fixture's values times 12 / 4 / 1 written by hand (and Close's own
``annualized_value`` column, which the fixture carries as Close computes it), never the
kit's output.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.adapters.mapping import draft_mapping

HEADER = "id,user_name,value,value_period,annualized_value,date_created,status_type,date_won"
ROWS = [
    "o1,Ana,1500,monthly,18000,2025-01-05,won,2025-02-01",
    "o2,Ana,20000,one_time,20000,2025-01-06,won,2025-02-02",
    "o3,Ben,9000,annual,9000,2025-01-07,won,2025-02-03",
    "o4,Ben,2500,quarterly,10000,2025-01-08,active,",
    "o5,Ben,700,Monthly,8400,2025-01-09,active,",
    "o6,Cy,4000,,4000,2025-01-10,won,2025-02-04",
]
MAPPING = {
    "deals": {
        "columns": {
            "deal_id": "id",
            "owner": "user_name",
            "amount": "value",
            "amount_period": "value_period",
            "created_at": "date_created",
            "stage": "status_type",
            "status": "status_type",
            "closed_at": "date_won",
        },
        "values": {"status": {"won": "won", "active": "open"}},
        "constants": {"team": "All"},
    }
}


def _file(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "opportunities.csv"
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def test_amounts_are_read_as_yearly_values_by_their_period(tmp_path: Path) -> None:
    ds = pk.load(_file(tmp_path, ROWS), mapping=MAPPING)
    got = dict(ds.tables["deals"].select("deal_id", "amount").iter_rows())
    # by hand: monthly x 12, one_time x 1, annual x 1, quarterly x 4, "Monthly" x 12, empty x 1
    assert got == {
        "o1": 18000.0,
        "o2": 20000.0,
        "o3": 9000.0,
        "o4": 10000.0,
        "o5": 8400.0,
        "o6": 4000.0,
    }
    # the same as Close's own annualized_value (kept as an extra column)
    frame = ds.tables["deals"].select("amount", pl.col("annualized_value").cast(pl.Float64))
    assert frame["amount"].to_list() == frame["annualized_value"].to_list()
    note = next(str(n) for n in ds.notes if "yearly values" in str(n))
    assert "'value_period'" in note
    assert "2 monthly x 12, 1 quarterly x 4, 1 annual and 2 one-off" in note
    assert "e.g. 1500 monthly is 18000" in note
    # a won figure reads the yearly values: 18000 + 20000 + 9000 + 4000
    won = ds.tables["deals"].filter(pl.col("status") == "won")["amount"].sum()
    assert won == pytest.approx(51000.0)


def test_a_period_not_understood_is_quarantined_never_read_as_one_off(tmp_path: Path) -> None:
    rows = [*ROWS, "o7,Cy,300,weekly,,2025-01-11,won,2025-02-05"]
    ds = pk.load(_file(tmp_path, rows), mapping=MAPPING)
    assert ds.tables["deals"].height + ds.quarantine.height == len(rows)
    assert ds.quarantine.height == 1
    assert ds.quarantine["rules"][0].to_list() == ["amount_period_unknown"]
    assert "o7" not in ds.tables["deals"]["deal_id"].to_list()
    note = next(str(n) for n in ds.notes if "yearly values" in str(n))
    assert "1 deal(s) with a period not understood were quarantined" in note


def test_without_amount_period_every_value_is_read_as_written(tmp_path: Path) -> None:
    mapping = {"deals": {**MAPPING["deals"], "columns": dict(MAPPING["deals"]["columns"])}}
    del mapping["deals"]["columns"]["amount_period"]
    ds = pk.load(_file(tmp_path, ROWS), mapping=mapping)
    got = dict(ds.tables["deals"].select("deal_id", "amount").iter_rows())
    assert got["o1"] == 1500.0 and got["o4"] == 2500.0
    assert not any("yearly values" in str(n) for n in ds.notes)


def test_dataframes_with_a_mapping_read_periods_the_same_way(tmp_path: Path) -> None:
    frame = pl.read_csv(_file(tmp_path, ROWS), infer_schema_length=0)
    ds = pk.load({"deals": frame}, mapping=MAPPING)
    got = dict(ds.tables["deals"].select("deal_id", "amount").iter_rows())
    assert got["o1"] == 18000.0 and got["o4"] == 10000.0 and got["o2"] == 20000.0


def test_inspect_drafts_amount_period_and_says_what_it_does(tmp_path: Path) -> None:
    text, sentences = draft_mapping(_file(tmp_path, ROWS))
    line = next(x for x in text.splitlines() if x.startswith("amount_period"))
    assert line.startswith('amount_period = "value_period"  # yearly values: monthly x 12')
    said = next(s for s in sentences if "value_period" in s)
    assert "2 monthly, 1 annual, 1 quarterly of 6" in said
    assert "without it each is read as a one-off amount" in said


def test_inspect_leaves_a_column_of_one_off_periods_alone(tmp_path: Path) -> None:
    rows = [r.replace("monthly", "one_time").replace("Monthly", "one_time") for r in ROWS]
    rows = [r.replace("annual,", "one_time,").replace("quarterly", "one_time") for r in rows]
    text, _ = draft_mapping(_file(tmp_path, rows))
    assert "amount_period" not in text
