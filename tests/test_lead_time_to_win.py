"""lead_time_to_win: hand-computed fixture, an independent plain-Python Kaplan-Meier, and the
marketing-funnel export (leads and won deals only)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline_kit as pk

from .conftest import write_dataset

STAGES = "stage,order,is_won,is_lost\nOpen,1,false,false\nWon,2,true,false\nLost,3,false,true\n"
DEALS = """deal_id,owner,team,amount,created_at,stage,status,closed_at
D1,a,t,1,2025-01-02,Won,won,2025-01-11
D2,a,t,1,2025-01-02,Won,won,2025-01-31
D3,a,t,1,2025-01-02,Lost,lost,2025-01-20
"""
LEADS = """lead_id,created_at,source,deal_id
L1,2025-01-01 09:00,web,D1
L2,2025-01-01 10:00,web,D2
L3,2025-01-01 11:00,event,
L4,2025-01-01 12:00,event,D3
"""


def test_hand_computed_fixture(tmp_path):
    ds = pk.load(write_dataset(tmp_path / "d", deals=DEALS, stages=STAGES, leads=LEADS))
    row = pk.lead_time_to_win(ds, "2025-Q1", as_of="2025-04-11").row(0, named=True)
    # L1 won after 10 days, L2 after 30; L3 (no deal) and L4 (lost) censored at 100 days.
    # KM: S(10) = 3/4, S(30) = 3/4 * 2/3 = 1/2 -> median 30 days, won within 90 days = 1/2
    assert (row["n"], row["won"], row["not_won"]) == (4, 2, 2)
    assert row["median_days"] == 30
    assert row["won_within"] == pytest.approx(0.5)
    assert row["won_within_ci_low"] < 0.5 < row["won_within_ci_high"]
    by_source = pk.lead_time_to_win(ds, "2025-Q1", by="source", as_of="2025-04-11")
    got = dict(zip(by_source["source"], by_source["won_within"], strict=True))
    # web: both won within 30 days; event: none won
    assert got == {"event": 0.0, "web": 1.0}


def _km_won_within(days: list[float], won: list[bool], horizon: float) -> float:
    """Plain-Python Kaplan-Meier: 1 - S(horizon)."""
    survival = 1.0
    for t in sorted({d for d, w in zip(days, won, strict=True) if w}):
        if t > horizon:
            break
        at_risk = sum(d >= t for d in days)
        events = sum(d == t and w for d, w in zip(days, won, strict=True))
        survival *= 1 - events / at_risk
    return 1 - survival


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    st.lists(
        st.tuples(st.integers(0, 80), st.sampled_from(["won", "lost", None])),
        min_size=1,
        max_size=25,
    )
)
def test_matches_an_independent_kaplan_meier(tmp_path_factory, leads):
    folder = tmp_path_factory.mktemp("km")
    start = dt.date(2025, 1, 1)
    deal_rows, lead_rows, days, won = [], [], [], []
    for i, (wait, outcome) in enumerate(leads):
        deal = ""
        if outcome is not None:
            closed = start + dt.timedelta(days=wait)
            stage = "Won" if outcome == "won" else "Lost"
            deal_rows.append(f"D{i},a,t,1,{start},{stage},{outcome},{closed}")
            deal = f"D{i}"
        lead_rows.append(f"L{i},{start} 08:00,web,{deal}")
        days.append(float(wait) if outcome == "won" else 100.0)  # as_of is day 100
        won.append(outcome == "won")
    write_dataset(
        folder,
        deals=DEALS.splitlines()[0] + "\n" + "\n".join(deal_rows) + "\n",
        stages=STAGES,
        leads="lead_id,created_at,source,deal_id\n" + "\n".join(lead_rows) + "\n",
    )
    if not deal_rows:
        return
    ds = pk.load(folder)
    row = pk.lead_time_to_win(
        ds, "2025-Q1", as_of=start + dt.timedelta(days=100), within_days=60
    ).row(0, named=True)
    assert row["won"] == sum(won)
    assert row["won_within"] == pytest.approx(_km_won_within(days, won, 60))


def test_marketing_funnel_export_gets_time_to_win_in_the_long_format(tmp_path):
    from .shapes import write_shape

    ds = pk.load(write_shape("leads_and_won", tmp_path / "d"))
    long = pk.metrics_long(ds, "2025-Q2", metrics=["lead_time_to_win_days"])
    assert long["metric"].to_list() == ["lead_time_to_win_days"]
    assert (
        long["n"][0]
        == ds.leads.filter(
            pl.col("created_at").dt.date().is_between(dt.date(2025, 4, 1), dt.date(2025, 6, 30))
        ).height
    )
