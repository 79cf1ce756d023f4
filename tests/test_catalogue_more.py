"""Leads, revenue, activity and collateral metrics: hand-computed fixture, independent
computation over the sample, properties."""

from __future__ import annotations

import math

import polars as pl
import pytest
from scipy import stats

import pipeline_kit as pk

from .conftest import (
    DEALS_CSV,
    HISTORY_CSV,
    SAMPLE,
    STAGES_CSV,
    read_rows,
    wilson_ci,
    write_dataset,
)

LEADS = """lead_id,created_at,source,team,owner,qualified_at,first_response_at,converted_at,deal_id
L1,2025-10-01 09:00,Inbound,red,ann,2025-10-02 09:00,2025-10-01 10:00,2025-10-05 09:00,D2
L2,2025-10-02 09:00,Inbound,red,ann,,2025-10-02 13:00,,
L3,2025-10-03 09:00,Event,blue,cat,2025-10-04 09:00,,,
L4,2025-11-01 09:00,Event,blue,cat,2025-11-02 09:00,2025-11-01 11:00,2025-11-03 09:00,D6
L5,2025-09-30 09:00,Inbound,red,ann,,2025-09-30 09:30,,
"""
CUSTOMERS = """account_id,start_date,end_date,mrr,team
A1,2025-01-01,,100,red
A2,2025-02-01,2025-11-15,200,red
A3,2025-03-01,2025-09-30,300,blue
A4,2025-10-15,,400,blue
A5,2025-06-01,,100,blue
"""
SPEND = """period_start,amount,channel,team
2025-10-01,1000,Paid search,red
2025-11-01,500,Events,blue
2025-09-01,999,Paid search,red
"""
TARGETS = """team,period_start,period_end,target
red,2025-10-01,2025-12-31,800
blue,2025-10-01,2025-12-31,2000
red,2025-07-01,2025-09-30,5
"""
ACTIVITIES = """activity_id,owner,type,occurred_at,deal_id
X1,ann,call,2025-10-02 10:00,D2
X2,ann,email,2025-10-20 10:00,D2
X3,ann,call,2025-09-20 10:00,D1
X4,bob,meeting,2025-10-05 10:00,D3
X5,cat,call,2025-11-20 10:00,D6
"""
COLLATERAL = """content_id,deal_id,used_at,title
C1,D3,2025-10-20,Deck
C1,D1,2025-09-25,Deck
"""


@pytest.fixture
def full(tmp_path) -> pk.Dataset:
    return pk.load(
        write_dataset(
            tmp_path / "full",
            deals=DEALS_CSV,
            stages=STAGES_CSV,
            stage_history=HISTORY_CSV,
            leads=LEADS,
            customers=CUSTOMERS,
            marketing_spend=SPEND,
            targets=TARGETS,
            activities=ACTIVITIES,
            collateral_usage=COLLATERAL,
        )
    )


# ----------------------------------------------------------------------------- by hand


def test_lead_funnel_by_hand(full):
    row = pk.lead_funnel(full, "2025-Q4").row(0, named=True)
    # Q4 leads L1-L4: qualified L1 L3 L4; converted L1 L4; won L1 (its deal D2 won 10-31)
    assert (row["created"], row["qualified"], row["converted"], row["won"]) == (4, 3, 2, 1)
    assert (row["qualified_rate"], row["conversion_rate"], row["lead_win_rate"]) == (
        0.75,
        0.5,
        0.25,
    )
    assert row["incomplete"]  # read 1 day after the period ended


def test_lead_response_by_hand(full):
    row = pk.lead_response_time(full, "2025-Q4").row(0, named=True)
    # answered after 1 h (L1), 4 h (L2), 2 h (L4); L3 never (censored): S(2 h) = 2/4 -> 2 h
    assert (row["n"], row["responded"], row["never_contacted"]) == (4, 3, 1)
    assert row["median_hours"] == pytest.approx(2.0)
    assert row["within"] == 0.25  # L1 within the hour
    by = {
        r["source"]: r["median_hours"]
        for r in pk.lead_response_time(full, "2025-Q4", by="source").iter_rows(named=True)
    }
    assert by["Inbound"] == pytest.approx(1.0)


def test_churn_and_retention_by_hand(full):
    row = pk.churn(full, "2025-Q4").row(0, named=True)
    # active at 10-01: A1, A2, A5 (A3 ended 09-30, A4 starts 10-15); A2 churns 11-15
    assert (row["active_at_start"], row["churned"], row["churn_rate"]) == (
        3,
        1,
        pytest.approx(1 / 3),
    )
    assert row["mrr_churn_rate"] == pytest.approx(200 / 400)
    months = 92 / (365.25 / 12)
    assert row["monthly_churn_rate"] == pytest.approx(1 - (2 / 3) ** (1 / months))
    by_team = {
        r["team"]: r["churn_rate"]
        for r in pk.churn(full, "2025-Q4", by="team").iter_rows(named=True)
    }
    assert by_team == {"blue": 0.0, "red": 0.5}
    # 2025 starters: 78c 213e 214c 287e 365c -> S(213) = 3/4, S(287) = 3/8 -> median 287 days
    ret = pk.customer_retention(full, "2025").row(0, named=True)
    assert (ret["n"], ret["churned"], ret["median_days"]) == (5, 2, 287.0)


def test_cac_clv_bookings_by_hand(full):
    acq = pk.cac(full, "2025-Q4").row(0, named=True)
    assert (acq["spend"], acq["new_customers"], acq["cac"]) == (1500.0, 1, 1500.0)
    by_team = {
        r["team"]: r["cac"] for r in pk.cac(full, "2025-Q4", by="team").iter_rows(named=True)
    }
    assert by_team == {"blue": 500.0, "red": None}
    value = pk.clv(full, "2025-Q4").row(0, named=True)
    monthly = 1 - (2 / 3) ** (1 / (92 / (365.25 / 12)))
    assert value["clv"] == pytest.approx((400 / 3) / monthly)
    assert value["clv_cac"] == pytest.approx((400 / 3) / monthly / 1500)
    book = {
        r["team"]: r
        for r in pk.bookings_vs_target(full, "2025-Q4", by="team").iter_rows(named=True)
    }
    assert (book["red"]["bookings"], book["red"]["target"], book["red"]["attainment"]) == (
        400.0,
        800.0,
        0.5,
    )
    assert (book["blue"]["bookings"], book["blue"]["attainment"]) == (0.0, 0.0)
    assert book["red"]["bookings_other"] == 400.0  # no deal_type in this export


def test_activities_by_hand(full):
    reps = {
        r["owner"]: r
        for r in pk.activities_per_rep(full, "2025-Q4", by="owner").iter_rows(named=True)
    }
    assert (reps["ann"]["calls"], reps["ann"]["emails"], reps["ann"]["activities"]) == (1, 1, 2)
    # ann won D1 and D2 in Q4; all three activities on them count (X3 was in September)
    assert (reps["ann"]["won_deals"], reps["ann"]["per_won_deal"]) == (2, 1.5)
    assert reps["bob"]["per_won_deal"] is None
    teams = {
        r["team"]: r["activities"]
        for r in pk.activities_per_rep(full, "2025-Q4", by="team").iter_rows(named=True)
    }
    assert teams == {"red": 2, "blue": 2}  # bob's team is blue (2 of his 3 deals)
    everyone = pk.activities_per_rep(full, "2025-Q4")  # by=None: the whole organisation
    assert everyone.height == 1 and everyone["activities"][0] == 4


def test_collateral_by_hand(full):
    row = pk.collateral_win_rates(full, "2025-Q4").row(0, named=True)
    # used in Proposal (order 2) by D1 (won) and D3 (lost); closed Q4 peers that reached
    # Proposal without it: D4 (lost); D2 went Prospecting -> Won and is no peer
    assert (row["stage_order"], row["users_n"], row["users_won"]) == (2, 2, 1)
    assert (row["peers_n"], row["peers_won"]) == (1, 0)
    assert row["naive_win_rate_without"] == 0.5 and row["difference"] == 0.5


def test_team_level_metrics_refuse_other_groupings(full):
    for fn in (pk.churn, pk.cac):
        with pytest.raises(ValueError, match="team"):
            fn(full, "2025-Q4", by="owner")


# ----------------------------------------------------------------------------- independent


def test_lead_funnel_and_churn_match_plain_python(sample):
    leads = read_rows(SAMPLE / "leads.csv")
    deals = {r["deal_id"]: r for r in read_rows(SAMPLE / "deals.csv")}
    cohort = [r for r in leads if "2025-04-01" <= r["created_at"][:10] <= "2025-06-30"]
    won = sum(1 for r in cohort if r["deal_id"] and deals[r["deal_id"]]["status"] == "won")
    row = pk.lead_funnel(sample, "2025-Q2").row(0, named=True)
    assert row["created"] == len(cohort)
    assert row["qualified"] == sum(1 for r in cohort if r["qualified_at"])
    assert row["converted"] == sum(1 for r in cohort if r["converted_at"])
    assert row["won"] == won
    low, high = wilson_ci(won, len(cohort))
    assert (row["lead_win_rate_ci_low"], row["lead_win_rate_ci_high"]) == (
        pytest.approx(low),
        pytest.approx(high),
    )

    customers = read_rows(SAMPLE / "customers.csv")
    start, end = "2025-04-01", "2025-06-30"
    active = [
        c
        for c in customers
        if c["start_date"] < start and (not c["end_date"] or c["end_date"] >= start)
    ]
    churned = [c for c in active if c["end_date"] and start <= c["end_date"] <= end]
    got = pk.churn(sample, "2025-Q2").row(0, named=True)
    assert (got["active_at_start"], got["churned"]) == (len(active), len(churned))


def test_calls_vs_closes_matches_scipy(sample):
    reps = pk.calls_vs_closes(sample, "2025")
    result = reps.row(0, named=True)  # by=None: one correlation, on every row
    calls: dict[str, int] = {}
    for a in read_rows(SAMPLE / "activities.csv"):
        if a["type"] == "call" and a["occurred_at"].startswith("2025"):
            calls[a["owner"]] = calls.get(a["owner"], 0) + 1
    won: dict[str, int] = {}
    for d in read_rows(SAMPLE / "deals.csv"):
        if d["status"] == "won" and d["closed_at"].startswith("2025"):
            won[d["owner"]] = won.get(d["owner"], 0) + 1
    owners = sorted(set(calls) | set(won))
    expected = stats.spearmanr([calls.get(o, 0) for o in owners], [won.get(o, 0) for o in owners])
    assert result["n"] == len(owners) == reps.height
    assert reps["rho"].n_unique() == 1
    assert result["rho"] == pytest.approx(expected.statistic)
    assert result["p_value"] == pytest.approx(expected.pvalue)


def test_response_time_shows_the_planted_team_order(sample):
    med = {
        r["team"]: r["median_hours"]
        for r in pk.lead_response_time(sample, "2025", by="team").iter_rows(named=True)
    }
    assert med["SMB"] < med["Mid-Market"] < med["Enterprise"]


def test_all_metrics_with_by_team(sample):
    long = pk.metrics_long(sample, "2025-Q4", by="team")
    assert set(long["metric"]) == set(pk.metric_names())
    assert (
        long.filter(pl.col("unit") == "share", pl.col("value").is_not_null())["value"]
        .is_between(-1, 1)
        .all()
    )
    owner = pk.metrics_long(sample, "2025-Q4", by="owner")
    # team-level metrics (targets, spend, churn) are left out rather than mis-grouped
    assert "cac" not in set(owner["metric"]) and "win_rate" in set(owner["metric"])


def test_monthly_churn_rate_by_hand(tmp_path):
    # 3 customers active on 2025-10-01, one of them leaves on 2025-11-15: quarterly churn 1/3;
    # 2025-Q4 has 92 days = 92 / (365.25 / 12) = 3.0226 months, so the monthly rate is
    # 1 - (2/3)^(1/3.0226) = 1 - exp(-0.405465 / 3.0226) = 1 - 0.874463 = 0.125537
    from .conftest import STAGES_CSV, write_dataset

    folder = write_dataset(
        tmp_path / "d",
        deals="deal_id,owner,team,amount,created_at,stage,status,closed_at\n"
        "D1,a,red,1,2025-01-01,Won,won,2025-02-01\n",
        stages=STAGES_CSV,
        customers="account_id,start_date,end_date,mrr,team\n"
        "A1,2025-01-01,,100,red\nA2,2025-02-01,2025-11-15,100,red\nA3,2025-03-01,,100,red\n",
    )
    row = pk.churn(pk.load(folder), "2025-Q4").row(0, named=True)
    assert (row["active_at_start"], row["churned"]) == (3, 1)
    assert row["churn_rate"] == pytest.approx(1 / 3)
    assert row["monthly_churn_rate"] == pytest.approx(0.125537, abs=1e-5)
    assert not math.isnan(row["monthly_churn_rate"])


def test_every_unit_has_a_report_format():
    from pipeline_kit.formatting import FORMAT as _FORMAT

    assert {card.unit for card in pk.metrics.CATALOGUE.values()} <= set(_FORMAT)
    assert _FORMAT["difference"](-0.0952) == "-9.5 pts"


def test_bookings_per_rep_against_rep_quotas(tmp_path):
    targets = (
        "team,period_start,period_end,target,owner\n"
        + "".join(line + ",\n" for line in TARGETS.splitlines()[1:])
        + "red,2025-10-01,2025-12-31,250,ann\n"
    )
    ds = pk.load(write_dataset(tmp_path / "q", deals=DEALS_CSV, stages=STAGES_CSV, targets=targets))
    reps = {
        r["owner"]: r
        for r in pk.bookings_vs_target(ds, "2025-Q4", by="owner").iter_rows(named=True)
    }
    # ann won D1 (100) and D2 (300) in Q4 against a 250 quota; bob and cat have no quota
    assert (reps["ann"]["bookings"], reps["ann"]["target"]) == (400.0, 250.0)
    assert reps["ann"]["attainment"] == pytest.approx(1.6)
    with pytest.raises(ValueError, match="per team or per rep"):
        pk.bookings_vs_target(ds, "2025-Q4", by="region")
