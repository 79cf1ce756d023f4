"""The pushdown prototype agrees with the kit's metrics, on polars and inside DuckDB."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.pushdown import flow_counts, flow_metrics
from tests.conftest import SAMPLE

duckdb = pytest.importorskip("duckdb", reason="duckdb (pipeline_kit[db]) is not installed")
pytest.importorskip("narwhals", reason="narwhals (pipeline_kit[engines]) is not installed")


@pytest.fixture(scope="module")
def duck(sample):
    """The sample's valid deals as a DuckDB table (typed as the kit typed them)."""
    con = duckdb.connect()
    deals = sample.deals.select(
        "deal_id",
        "team",
        "owner",
        "amount",
        "created_at",
        "closed_at",
        pl.col("status").cast(pl.String),
    )
    con.register("deals_frame", deals.to_arrow())
    con.sql("CREATE TABLE deals AS SELECT * FROM deals_frame")
    yield con
    con.close()


@pytest.mark.parametrize("by", [None, "team", ["team", "owner"]])
@pytest.mark.parametrize("period", ["2025-Q4", "2025-H1"])
def test_agrees_with_the_kit(sample, duck, by, period):
    groups = [by] if isinstance(by, str) else list(by or [])
    expected_rate = pk.win_rate(sample, period, by=by)
    expected_flow = pk.deal_flow(sample, period, by=by)
    expected_total = pk.won_deal_size(sample, period, by=by)
    for deals in (sample.lazy("deals"), duck.table("deals")):
        got = flow_metrics(deals, period, by=by)
        flow_cols = [*groups, "created", "won", "lost"]
        assert got.select(flow_cols).equals(expected_flow.select(flow_cols))
        rate_cols = [*groups, "won", "lost", "n", "win_rate", "ci_low", "ci_high"]
        closed = got.filter(pl.col("n") > 0).select(rate_cols)
        want = expected_rate.filter(pl.col("n") > 0).select(rate_cols)
        assert closed.height == want.height > 0
        for column in ("won", "lost", "n"):
            assert closed[column].equals(want[column])
        for column in ("win_rate", "ci_low", "ci_high"):
            assert (closed[column] - want[column]).abs().max() < 1e-12
        if groups:
            assert closed.select(groups).equals(want.select(groups))
        totals = expected_total.filter(pl.col("n") > 0)["total"]
        got_totals = got.filter(pl.col("won") > 0)["won_amount"]
        assert got_totals.to_list() == pytest.approx(totals.to_list(), rel=1e-12)


def test_hand_counted_rows():
    """Four deals written by hand: 3 created in Q4, one won and one lost in Q4."""
    deals = pl.DataFrame(
        {
            "team": ["A", "A", "A", "B"],
            "status": ["won", "lost", "open", "won"],
            "amount": [100.0, 40.0, 999.0, 70.0],
            "created_at": [
                dt.date(2025, 9, 1),
                dt.date(2025, 10, 5),
                dt.date(2025, 11, 1),
                dt.date(2025, 12, 1),
            ],
            "closed_at": [dt.date(2025, 10, 1), dt.date(2025, 12, 31), None, dt.date(2026, 1, 2)],
        }
    )
    got = flow_metrics(deals, "2025-Q4", by="team")
    # A: created 2 (Oct 5, Nov 1), won 1 (100), lost 1; B: created 1, won in 2026 (not Q4)
    assert got.select("team", "created", "won", "lost", "won_amount", "n").rows() == [
        ("A", 2, 1, 1, 100.0, 2),
        ("B", 1, 0, 0, 0.0, 0),
    ]
    assert got["win_rate"].to_list() == [0.5, None]
    con = duckdb.connect()
    con.register("d", deals.to_arrow())
    lazy = flow_counts(con.table("d"), dt.date(2025, 10, 1), dt.date(2025, 12, 31), ["team"])
    assert lazy.collect("polars").to_native().select("created").to_series().to_list() == [2, 1]


def test_reads_a_duckdb_file_without_loading(tmp_path, sample):
    """The relation of a DuckDB file: the deals never come into Python."""
    file = tmp_path / "crm.db"
    con = duckdb.connect(str(file))
    con.sql(f"CREATE TABLE deals AS SELECT * FROM read_csv_auto('{SAMPLE}/deals.csv')")
    got = flow_metrics(con.table("deals"), "2025-Q4", by="team")
    con.close()
    want = pk.win_rate(sample, "2025-Q4", by="team")
    assert (
        got.filter(pl.col("n") > 0)
        .select("team", "won", "lost")
        .equals(want.select("team", "won", "lost"))
    )
