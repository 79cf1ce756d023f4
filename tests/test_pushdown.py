"""The pushdown prototype agrees with the kit's metrics, on polars and inside DuckDB."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.pushdown import flow_counts, flow_metrics
from tests.conftest import SAMPLE, clustered_wilson_ci, wilson_ci

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
        "account_id",
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
        # the design effect of the deals in their accounts, from the engine's sums
        got_deff = got.filter(pl.col("n") > 0)["design_effect"]
        want_deff = expected_rate.filter(pl.col("n") > 0)["design_effect"]
        assert want_deff.null_count() == 0 and (got_deff - want_deff).abs().max() < 1e-12
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


def test_design_effect_of_hand_written_accounts():
    """red: accounts A (2 won), B (2 lost), C (1 won) and a lost deal without an account: m =
    2, 2, 1, 1, k = 2, 0, 1, 0, N = 6, K = 4, p̄ = 1/2, MSB = 6 · 1/4 / 3 = 0.5, MSW = 0,
    ICC = 1, deff = 1 + (10 / 6 - 1) = 5/3. blue: two deals in two accounts: deff 1. green:
    no account ids: null (the plain interval). The same on polars and in DuckDB."""
    rows = [
        ("red", "A", "won"),
        ("red", "A", "won"),
        ("red", "B", "lost"),
        ("red", "B", "lost"),
        ("red", "C", "won"),
        ("red", None, "lost"),
        ("blue", "X", "won"),
        ("blue", "Y", "lost"),
        ("green", None, "won"),
        ("green", None, "lost"),
    ]
    deals = pl.DataFrame(
        {
            "team": [r[0] for r in rows],
            "account_id": [r[1] for r in rows],
            "status": [r[2] for r in rows],
            "amount": [1.0] * len(rows),
            "created_at": [dt.date(2025, 10, 1)] * len(rows),
            "closed_at": [dt.date(2025, 11, 1)] * len(rows),
        }
    )
    con = duckdb.connect()
    con.register("d", deals.to_arrow())
    for source in (deals, con.table("d")):
        got = flow_metrics(source, "2025-Q4", by="team").sort("team")
        assert got["design_effect"].to_list() == pytest.approx([1.0, None, 5 / 3])
        red = got.row(2, named=True)
        assert (red["ci_low"], red["ci_high"]) == pytest.approx(clustered_wilson_ci(3, 6, 5 / 3))
        assert got.row(1, named=True)["ci_low"] == pytest.approx(wilson_ci(1, 2)[0])
    # without an account_id column at all: null, the plain interval
    plain = flow_metrics(deals.drop("account_id"), "2025-Q4", by="team")
    assert plain["design_effect"].is_null().all()


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
