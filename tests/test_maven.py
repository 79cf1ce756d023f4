"""The Maven adapter against the figures published for this export."""

from __future__ import annotations

import polars as pl
import pytest

import pipeline_kit as pk

ALL = "2016-01-01..2017-12-31"


def test_published_overall_figures(maven):
    wr = pk.win_rate(maven, ALL).row(0, named=True)
    assert (wr["won"], wr["n"]) == (4_238, 6_711)
    assert round(wr["win_rate"] * 100, 2) == 63.15
    size = pk.won_deal_size(maven, ALL).row(0, named=True)
    assert round(size["mean"], 2) == 2_360.91


def test_published_win_rate_by_regional_office(maven):
    got = {
        r["team"]: round(r["win_rate"] * 100, 2)
        for r in pk.win_rate(maven, "2017", by="team").iter_rows(named=True)
    }
    assert got == {"West": 63.94, "East": 63.02, "Central": 62.56}


def test_published_cycle_length(maven):
    assert round(pk.cycle_length(maven, ALL)["mean"][0], 2) == 47.99


def test_inconsistencies_are_reported_not_hidden(maven):
    counts = maven.counts.filter(pl.col("table") == "deals").row(0, named=True)
    assert (counts["read"], counts["valid"], counts["quarantined"]) == (8_800, 8_300, 500)
    problems = maven.problems()
    missing = problems.filter(pl.col("rule") == "created_at|nullability").row(0, named=True)
    assert missing["rows"] == 500 and "Prospecting" in missing["fix"]
    notes = " ".join(maven.notes)
    assert "GTXPro" in notes and "technolgy" in notes and "list price" in notes
    assert maven.stage_history_approximate
    # manager and agent are available for by=
    assert set(pk.win_rate(maven, "2017", by="manager")["manager"]) >= {"Dustin Brinkmann"}
    assert pk.win_rate(maven, "2017", by="owner").height == 30


def test_no_deal_counted_open_and_closed(maven):
    snapshot = pk.open_pipeline(maven, "2017-12-31")
    assert set(snapshot["stage"]) == {"Prospecting", "Engaging"}
    assert snapshot["open_deals"].sum() == maven.deals.filter(pl.col("status") == "open").height


def test_missing_maven_file_is_explained(tmp_path):
    with pytest.raises(pk.DataError, match=r"sales_pipeline\.csv is missing"):
        pk.load(tmp_path, source="maven")


@pytest.mark.parametrize(
    ("quarter", "published"),
    [("2017-Q1", 82.07), ("2017-Q2", 61.71), ("2017-Q3", 61.41), ("2017-Q4", 60.25)],
)
def test_published_win_rate_by_close_quarter(maven, quarter, published):
    assert round(pk.win_rate(maven, quarter)["win_rate"][0] * 100, 2) == published


def test_every_catalogue_metric_that_fits_the_maven_columns(maven):
    long = pk.metrics_long(maven, "2017-Q4", by="team")
    # no targets, no expected_close, no lost reasons: those metrics are absent or say so
    assert {"win_rate", "stage_conversion", "cycle_length_km_days", "pipeline_waterfall"} <= set(
        long["metric"]
    )
    assert "pipeline_coverage" not in set(long["metric"])
