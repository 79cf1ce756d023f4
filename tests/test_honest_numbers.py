"""Issue 16 items: one name, one meaning. Each test failed on the code before its fix."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.periods import Period


@pytest.mark.parametrize(
    ("label", "start", "end"),
    [
        ("2025-11", dt.date(2025, 12, 1), dt.date(2025, 12, 31)),  # was Dec 1-30
        ("2025-12", dt.date(2026, 1, 1), dt.date(2026, 1, 31)),
        ("2025-H1", dt.date(2025, 7, 1), dt.date(2025, 12, 31)),  # was Jul 1 - Dec 28
        ("2025", dt.date(2026, 1, 1), dt.date(2026, 12, 31)),
        ("2025-Q4", dt.date(2026, 1, 1), dt.date(2026, 3, 31)),
    ],
)
def test_the_next_period_is_a_whole_period_of_the_same_kind(label, start, end):
    nxt = Period.parse(label).following()
    assert (nxt.start, nxt.end) == (start, end)


def test_win_rate_by_amount_counts_deals_not_money(sample):
    long = pk.metrics_long(sample, "2025-Q4", by="team", metrics=["win_rate_by_amount", "win_rate"])
    by_amount = long.filter(pl.col("metric") == "win_rate_by_amount").sort("team")
    counts = long.filter(pl.col("metric") == "win_rate").sort("team")
    # the same closed deals stand behind both figures
    assert by_amount["n"].to_list() == counts["n"].to_list()
    assert by_amount["n"].max() < 1_000


def test_created_cohort_row_says_cohort(sample):
    alt = pk.win_rate_alternatives(sample, "2025-Q4")
    basis = dict(zip(alt["definition"], alt["time_basis"], strict=True))
    assert basis == {
        "amount_closed": "period",
        "count_closed": "period",
        "created_cohort": "cohort",
        "stale_as_lost": "period",
    }
    assert pk.explain("win_rate_created_cohort").basis == "cohort"
