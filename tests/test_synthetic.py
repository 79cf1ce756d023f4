"""The synthetic generator: deterministic, realistic structure, committed copy up to date."""

from __future__ import annotations

import datetime as dt

import polars as pl

import pipeline_kit as pk
from pipeline_kit import synthetic


def test_deterministic_for_a_seed():
    a, b = synthetic.generate(800, seed=3), synthetic.generate(800, seed=3)
    assert all(a[t].equals(b[t]) for t in a)
    assert not a["deals"].equals(synthetic.generate(800, seed=4)["deals"])


def test_committed_sample_is_the_generator_output(sample):
    tables = synthetic.generate(5_000, seed=7)
    assert {t: f.height for t, f in tables.items()} == {t: sample.tables[t].height for t in tables}
    fresh = tables["deals"]
    assert sample.deals["deal_id"].to_list() == fresh["deal_id"].to_list()
    assert sample.deals["status"].to_list() == fresh["status"].to_list()


def test_structure(sample):
    deals, hist = sample.deals, sample.stage_history
    assert deals["team"].n_unique() >= 4 and deals["owner"].n_unique() >= 20
    assert 6 <= sample.stages.height <= 7
    assert deals["created_at"].min() >= synthetic.START
    assert deals["closed_at"].max() <= synthetic.END
    quarters = deals.select(pl.col("closed_at").dt.truncate("3mo")).drop_nulls().unique().height
    assert quarters >= 8
    order = dict(zip(sample.stages["stage"], sample.stages["order"], strict=True))
    moves = (
        hist.with_columns(pl.col("stage").replace_strict(order).alias("k"))
        .sort("deal_id", "entered_at")
        .with_columns(pl.col("k").diff().over("deal_id").alias("step"))
    )
    open_moves = moves.filter(pl.col("k") <= 5)
    assert open_moves.filter(pl.col("step") >= 2).height > 0, "no skipped stages"
    assert moves.filter(pl.col("step") < 0, pl.col("k") <= 5).height > 0, "no backward moves"
    for col in ("lost_reason", "competitor", "deal_type", "lead_source", "industry", "region"):
        assert deals[col].drop_nulls().n_unique() >= 2, col
    leads = sample.leads
    assert leads["first_response_at"].null_count() > 0  # never-contacted leads
    assert sample.customers["end_date"].null_count() < sample.customers.height  # churn
    for table in ("activities", "marketing_spend", "targets", "collateral_usage", "benchmarks"):
        assert sample.tables[table].height > 0, table


def test_planted_team_differences(sample):
    wr = {
        r["team"]: r["win_rate"]
        for r in pk.win_rate(sample, "2024-01-01..2025-12-31", by="team").iter_rows(named=True)
    }
    assert wr["Enterprise"] < wr["Mid-Market"] < wr["SMB"]
    small = pk.win_rate(sample, "2025-Q4", by="team").filter(pl.col("team") == "Partners")
    assert not small["enough_data"][0]


def test_scales_without_row_loops():
    start = dt.datetime.now()
    tables = synthetic.generate(200_000, seed=1)
    assert tables["deals"].height == 200_000
    assert tables["stage_history"].height > 600_000
    assert (
        dt.datetime.now() - start
    ).total_seconds() < 120  # generous: a smoke check, not a benchmark
