"""A deals export of pipeline snapshots (one row per deal per snapshot date).

Before: every deal appeared in several rows and all were quarantined ("duplicate key").
Expected values are computed here by plain Python over the rows written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline_kit as pk
from pipeline_kit.adapters.mapping import draft_mapping

HEADER = ["deal_id", "owner", "team", "amount", "created_at", "stage", "status", "closed_at"]


def _write(folder: Path, rows: list[list[str]], header: list[str], name: str = "deals.csv"):
    folder.mkdir(parents=True, exist_ok=True)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows([header, *rows])
    (folder / name).write_text(text.getvalue(), encoding="utf-8")
    return folder


# deal, stage, status, closed_at, snapshot (created 2024-01-02 for all)
SNAPSHOTS = [
    ("D1", "Prospecting", "open", "", "2024-01-07"),
    ("D1", "Proposal", "open", "", "2024-01-14"),
    ("D1", "Won", "won", "2024-01-18", "2024-01-21"),
    ("D2", "Prospecting", "open", "", "2024-01-07"),
    ("D2", "Lost", "lost", "2024-01-09", "2024-01-14"),
    ("D3", "Prospecting", "open", "", "2024-01-07"),
    ("D3", "Proposal", "open", "", "2024-01-14"),
    ("D3", "Proposal", "open", "", "2024-01-21"),
]


def _rows(snapshots=SNAPSHOTS, created="2024-01-02"):
    return [
        [d, "Ann", "EMEA", "1000", created, s, st_, c, snap] for d, s, st_, c, snap in snapshots
    ]


def test_each_deals_latest_snapshot_is_kept_and_the_rest_excluded(tmp_path):
    ds = pk.load(_write(tmp_path / "d", _rows(), [*HEADER, "snapshot_date"]))
    # by hand: D1's row of 01-21, D2's of 01-14, D3's of 01-21; 5 earlier rows
    got = {r["deal_id"]: (r["stage"], str(r["status"])) for r in ds.deals.iter_rows(named=True)}
    assert got == {"D1": ("Won", "won"), "D2": ("Lost", "lost"), "D3": ("Proposal", "open")}
    counts = ds.counts.filter(pl.col("table") == "deals").row(0, named=True)
    assert (counts["read"], counts["valid"], counts["quarantined"], counts["excluded"]) == (
        8,
        3,
        0,
        5,
    )
    assert set(ds.excluded["reason"]) == {"earlier_snapshot"}
    assert sorted(ds.excluded["source_row"]) == [2, 3, 5, 7, 8]
    assert any("the deals are snapshots" in n and "3 snapshot date(s)" in n for n in ds.notes)


def test_the_stage_history_is_derived_from_the_snapshots(tmp_path):
    ds = pk.load(_write(tmp_path / "d", _rows(), [*HEADER, "snapshot_date"]))
    assert ds.stage_history_approximate
    got = {
        (r["deal_id"], r["stage"], r["entered_at"]) for r in ds.stage_history.iter_rows(named=True)
    }
    d = dt.date.fromisoformat
    # the first stage on created_at; a stage change on the snapshot showing it; a closing
    # stage on closed_at when it falls after the snapshot before (D1: 01-18 in 01-14..01-21;
    # D2: 01-09 in 01-07..01-14)
    assert got == {
        ("D1", "Prospecting", d("2024-01-02")),
        ("D1", "Proposal", d("2024-01-14")),
        ("D1", "Won", d("2024-01-18")),
        ("D2", "Prospecting", d("2024-01-02")),
        ("D2", "Lost", d("2024-01-09")),
        ("D3", "Prospecting", d("2024-01-02")),
        ("D3", "Proposal", d("2024-01-14")),
    }
    assert any("derived from the snapshots" in n and "7 day(s)" in n for n in ds.notes)


def test_a_stage_history_given_is_kept_and_not_derived(tmp_path):
    folder = _write(tmp_path / "d", _rows(), [*HEADER, "snapshot_date"])
    history = [["D1", "Prospecting", "2024-01-02"], ["D1", "Won", "2024-01-18"]]
    _write(folder, history, ["deal_id", "stage", "entered_at"], "stage_history.csv")
    ds = pk.load(folder)
    assert not ds.stage_history_approximate
    assert ds.stage_history.height == 2
    assert ds.deals.height == 3


def test_two_rows_of_a_deal_in_one_snapshot_are_still_a_duplicate(tmp_path):
    rows = _rows([*SNAPSHOTS, ("D3", "Negotiation", "open", "", "2024-01-21")])
    ds = pk.load(_write(tmp_path / "d", rows, [*HEADER, "snapshot_date"]))
    assert sorted(ds.deals["deal_id"]) == ["D1", "D2"]
    deals = ds.quarantine.filter(pl.col("table") == "deals")
    assert deals.height == 2  # both rows of D3's last snapshot
    assert deals["rules"].list.contains("primary_key").all()
    # (and D3's derived history, of a deal that is not valid, as for any history row)
    assert ds.quarantine.filter(pl.col("table") == "stage_history").height == 3


def test_an_open_deal_that_left_the_snapshots_is_said(tmp_path):
    rows = _rows([s for s in SNAPSHOTS if s[4] != "2024-01-21" or s[0] != "D3"])
    ds = pk.load(_write(tmp_path / "d", rows, [*HEADER, "as_of"]))
    assert str(ds.deals.filter(pl.col("deal_id") == "D3")["status"][0]) == "open"
    said = [n for n in ds.notes if "not in the last" in n]
    assert len(said) == 1 and "'D3'" in said[0] and "2024-01-21" in said[0]


def test_unreadable_snapshot_dates_leave_the_rows_as_they_were(tmp_path):
    rows = _rows()
    rows[0][-1] = "last week"
    ds = pk.load(_write(tmp_path / "d", rows, [*HEADER, "snapshot_date"]))
    assert ds.deals.height == 0  # (every deal in several rows: quarantined as duplicates)
    assert any("'last week'" in n and "not read as snapshots" in n for n in ds.notes)


def test_one_snapshot_is_an_ordinary_deals_table(tmp_path):
    rows = _rows([s for s in SNAPSHOTS if s[4] == "2024-01-21"])
    ds = pk.load(_write(tmp_path / "d", rows, [*HEADER, "snapshot_date"]))
    assert ds.deals.height == 2 and ds.excluded.height == 0
    assert not any("snapshot" in n for n in ds.notes)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["A", "B", "C", "D"]),
            st.sampled_from(["S1", "S2", "S3"]),
            st.integers(0, 3),
        ),
        min_size=2,
        max_size=14,
        unique_by=lambda t: (t[0], t[2]),  # (one row per deal and snapshot)
    )
)
def test_kept_rows_are_each_deals_latest_snapshot_property(tmp_path_factory, drawn):
    base = dt.date(2024, 3, 4)
    rows = [
        [d, "Ann", "EMEA", "10", "2024-03-01", s, "open", "", str(base + dt.timedelta(7 * k))]
        for d, s, k in drawn
    ]
    folder = _write(tmp_path_factory.mktemp("p"), rows, [*HEADER, "snapshot_date"])
    ds = pk.load(folder)
    latest: dict[str, str] = {}
    for r in rows:
        latest[r[0]] = max(latest.get(r[0], r[-1]), r[-1])
    kept = {r["deal_id"]: r["snapshot_date"] for r in ds.deals.iter_rows(named=True)}
    assert kept == latest
    assert ds.deals.height + ds.excluded.height + ds.quarantine.height == len(rows)


@pytest.mark.parametrize("header", ["Snapshot Date", "AS_OF", "report_date"])
def test_the_snapshot_column_is_found_by_its_usual_names(tmp_path, header):
    ds = pk.load(_write(tmp_path / "d", _rows(), [*HEADER, header]))
    assert ds.deals.height == 3


def test_a_mapped_export_of_snapshots_is_read_alike(tmp_path):
    header = [h.replace("_", " ").title() for h in HEADER] + ["Snapshot Date"]
    folder = _write(tmp_path / "d", _rows(), header, "export.csv")
    mapping = {"deals": {"columns": {c: h for c, h in zip(HEADER, header, strict=False)}}}
    ds = pk.load(folder / "export.csv", mapping=mapping)
    _, sentences = draft_mapping(folder / "export.csv")
    assert any("'Snapshot Date' says which snapshot" in s for s in sentences)
    assert sorted(ds.deals["deal_id"]) == ["D1", "D2", "D3"]
    assert ds.excluded.height == 5 and ds.stage_history.height == 7
    assert ds.stage_history_approximate


def test_a_dataframe_of_snapshots_is_read_alike():
    frame = pl.DataFrame(
        [dict(zip([*HEADER, "snapshot_date"], r, strict=True)) for r in _rows()]
    ).with_columns(pl.col("snapshot_date").str.to_date(), pl.col("amount").cast(pl.Float64))
    ds = pk.load({"deals": frame})
    assert sorted(ds.deals["deal_id"]) == ["D1", "D2", "D3"]
    assert ds.excluded.height == 5 and ds.stage_history.height == 7
    assert ds.stage_history_approximate
