"""Independent plain-Python computations over the sample for the metrics not covered elsewhere,
and properties of the whole long format on random data."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline_kit as pk

from .conftest import SAMPLE, read_rows
from .test_conversion_durations import _plain_km_median
from .test_metrics import _dataset, deals_frames

START, END = "2025-07-01", "2025-09-30"  # 2025-Q3


def _d(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text[:10]) if text else None


@pytest.fixture(scope="module")
def deals():
    return read_rows(SAMPLE / "deals.csv")


def _closed_q3(rows):
    return [r for r in rows if r["closed_at"] and START <= r["closed_at"] <= END]


def test_lost_reasons_and_competitors(sample, deals):
    lost = [r for r in _closed_q3(deals) if r["status"] == "lost"]
    reasons = Counter(r["lost_reason"] or "(not given)" for r in lost)
    got = {r["lost_reason"]: r for r in pk.lost_reasons(sample, "2025-Q3").iter_rows(named=True)}
    assert {k: v["lost"] for k, v in got.items()} == dict(reasons)
    assert sum(v["share"] for v in got.values()) == pytest.approx(1.0)
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in _closed_q3(deals):
        per[r["competitor"] or "(none recorded)"][r["status"] == "lost"] += 1
    comp = {
        r["competitor"]: r for r in pk.competitor_win_rates(sample, "2025-Q3").iter_rows(named=True)
    }
    for name, (won, lost_n) in per.items():
        assert (comp[name]["won"], comp[name]["lost"]) == (won, lost_n)


def test_velocity_factors(sample, deals):
    closed = [r for r in _closed_q3(deals) if r["team"] == "SMB"]
    won = [r for r in closed if r["status"] == "won"]
    row = (
        pk.velocity(sample, "2025-Q3", by="team").filter(pl.col("team") == "SMB").row(0, named=True)
    )
    assert row["win_rate"] == pytest.approx(len(won) / len(closed))
    assert row["avg_won_deal_size"] == pytest.approx(
        sum(float(r["amount"]) for r in won) / len(won)
    )
    cycle = sum((_d(r["closed_at"]) - _d(r["created_at"])).days for r in won) / len(won)
    assert row["avg_cycle_days_won"] == pytest.approx(cycle)
    assert row["velocity_per_day"] == pytest.approx(
        row["open_qualified"] * row["win_rate"] * row["avg_won_deal_size"] / cycle
    )


def test_slipped_and_coverage(sample, deals):
    day = _d(END)
    open_q = [
        r
        for r in deals
        if _d(r["created_at"]) <= day and (not r["closed_at"] or _d(r["closed_at"]) > day)
    ]
    slipped = {
        r["deal_id"] for r in open_q if r["expected_close"] and _d(r["expected_close"]) < day
    }
    assert set(pk.slipped_deals(sample, day)["deal_id"]) == slipped
    due = [
        r
        for r in open_q
        if r["expected_close"] and "2025-10-01" <= r["expected_close"] <= "2025-12-31"
    ]
    target = sum(
        float(t["target"])
        for t in read_rows(SAMPLE / "targets.csv")
        if t["period_start"] == "2025-10-01"
    )
    cov = pk.pipeline_coverage(sample, "2025-Q3").row(0, named=True)
    assert cov["due_deals"] == len(due)
    assert cov["coverage"] == pytest.approx(sum(float(r["amount"]) for r in due) / target)


def test_bookings_cac_and_activities(sample, deals):
    won = [r for r in _closed_q3(deals) if r["status"] == "won"]
    bookings = defaultdict(float)
    for r in won:
        bookings[r["team"]] += float(r["amount"])
    got = {
        r["team"]: r
        for r in pk.bookings_vs_target(sample, "2025-Q3", by="team").iter_rows(named=True)
    }
    for team, value in bookings.items():
        assert got[team]["bookings"] == pytest.approx(value)
    spend = sum(
        float(s["amount"])
        for s in read_rows(SAMPLE / "marketing_spend.csv")
        if START <= s["period_start"] <= END
    )
    new = sum(1 for c in read_rows(SAMPLE / "customers.csv") if START <= c["start_date"] <= END)
    acq = pk.cac(sample, "2025-Q3").row(0, named=True)
    assert acq["cac"] == pytest.approx(spend / new)
    calls = Counter(
        a["owner"]
        for a in read_rows(SAMPLE / "activities.csv")
        if a["type"] == "call" and START <= a["occurred_at"][:10] <= END
    )
    reps = {
        r["owner"]: r["calls"]
        for r in pk.activities_per_rep(sample, "2025-Q3", by="owner").iter_rows(named=True)
    }
    assert {k: v for k, v in reps.items() if v} == dict(calls)


def test_time_in_stage_and_retention_match_plain_km(sample, deals):
    last = dt.date(2025, 12, 31)
    order = {r["stage"]: int(r["order"]) for r in read_rows(SAMPLE / "stages.csv")}
    moves: dict[str, list[tuple[dt.date, int, str]]] = defaultdict(list)
    for h in read_rows(SAMPLE / "stage_history.csv"):
        moves[h["deal_id"]].append((_d(h["entered_at"]), order[h["stage"]], h["stage"]))
    visits: dict[str, tuple[list[float], list[bool]]] = defaultdict(lambda: ([], []))
    for path in moves.values():
        path.sort()
        for i, (entered, _, stage) in enumerate(path):
            if stage.startswith("Closed") or not START <= str(entered) <= END:
                continue
            left = path[i + 1][0] if i + 1 < len(path) else None
            visits[stage][0].append(((left or last) - entered).days)
            visits[stage][1].append(left is not None)
    got = {r["stage"]: r for r in pk.time_in_stage_km(sample, "2025-Q3").iter_rows(named=True)}
    for stage, (days, events) in visits.items():
        assert got[stage]["n"] == len(days)
        assert got[stage]["median_days"] == _plain_km_median(days, events)
    cohort = [
        c
        for c in read_rows(SAMPLE / "customers.csv")
        if "2024-01-01" <= c["start_date"] <= "2024-06-30"
    ]
    days = [((_d(c["end_date"]) or last) - _d(c["start_date"])).days for c in cohort]
    events = [bool(c["end_date"]) for c in cohort]
    assert pk.customer_retention(sample, "2024-H1")["median_days"][0] == _plain_km_median(
        days, events
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deals_frames(), st.sampled_from(["2024-Q3", "2025-Q1", "2025"]))
def test_long_format_invariants(deals, period):
    ds = _dataset(deals)
    total = pk.metrics_long(ds, period)
    by_team = pk.metrics_long(ds, period, by="team")
    shares = by_team.filter(pl.col("unit") == "share", pl.col("value").is_not_null())
    assert shares["value"].is_between(0, 1).all()
    with_ci = by_team.filter(pl.col("ci_low").is_not_null())
    assert (with_ci["ci_low"] <= with_ci["ci_high"]).all()
    for metric in ("deals_created", "deals_won", "deals_lost", "open_deals"):
        whole = total.filter(pl.col("metric") == metric, pl.col("detail").is_null())["value"].sum()
        parts = by_team.filter(pl.col("metric") == metric, pl.col("detail").is_null())[
            "value"
        ].sum()
        assert parts == whole, metric
