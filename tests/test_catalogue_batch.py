"""Close rate, win-rate alternatives, velocity, win/loss, stalled/slipped deals, waterfall,
coverage: hand-computed fixture, independent computation over the sample, properties."""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline_kit as pk

from .conftest import DEALS_CSV, HISTORY_CSV, SAMPLE, STAGES_CSV, read_rows, write_dataset
from .test_metrics import _dataset, deals_frames

# Fixture (conftest): see test_metrics.py for the Q4 figures. Outcomes of cohorts are read at
# the last date in the data, 2026-01-01 (D5 is won that day).


def test_close_rate_by_hand(tiny):
    row = pk.close_rate(tiny, "2025-Q4").row(0, named=True)
    # created in Q4: D2 won, D3 lost, D5 won (2026-01-01), D6 and D7 open
    assert (row["created"], row["won"], row["lost"], row["open"]) == (5, 2, 1, 2)
    assert row["close_rate"] == 0.4 and row["incomplete"]
    by_team = {
        r["team"]: r["close_rate"]
        for r in pk.close_rate(tiny, "2025-Q4", by="team").iter_rows(named=True)
    }
    assert by_team == {"blue": 0.5, "red": pytest.approx(1 / 3)}
    early = pk.close_rate(tiny, "2025-Q4", as_of="2025-12-31").row(0, named=True)
    assert (early["won"], early["open"]) == (1, 3)  # D5 not won yet


def test_win_rate_alternatives_by_hand(tiny):
    alt = {
        r["definition"]: r for r in pk.win_rate_alternatives(tiny, "2025-Q4").iter_rows(named=True)
    }
    assert alt["count_closed"]["value"] == 0.5
    # won D1 100 + D2 300 = 400; lost D3 50 + D4 1000
    assert alt["amount_closed"]["value"] == pytest.approx(400 / 1450)
    assert alt["created_cohort"]["value"] == 0.4
    assert alt["stale_as_lost"]["value"] == 0.5  # nothing open for 180+ days at 12-31
    stale60 = pk.win_rate_alternatives(tiny, "2025-Q4", stale_days=60)
    # created before 2025-11-01 and open at 12-31: D5 -> counted as lost
    assert stale60.filter(pl.col("definition") == "stale_as_lost")["value"][0] == 0.4


def test_velocity_by_hand(tiny):
    row = pk.velocity(tiny, "2025-Q4").row(0, named=True)
    # open at 12-31 in Proposal or later: D5, D6; win rate 2/4; avg won 200; won cycle (20+30)/2
    assert (row["open_qualified"], row["win_rate"], row["avg_won_deal_size"]) == (2, 0.5, 200.0)
    assert row["avg_cycle_days_won"] == 25.0
    assert row["velocity_per_day"] == pytest.approx(2 * 0.5 * 200 / 25)
    assert row["velocity_per_period"] == pytest.approx(8.0 * 92)
    everything = pk.velocity(tiny, "2025-Q4", qualified_from="Prospecting")
    assert everything["open_qualified"][0] == 3
    with pytest.raises(ValueError, match="unknown stage"):
        pk.velocity(tiny, "2025-Q4", qualified_from="Nope")


def test_win_loss_without_reasons_by_hand(tiny):
    reasons = pk.lost_reasons(tiny, "2025-Q4")
    assert reasons.select("lost_reason", "lost", "n", "share").row(0) == ("(not given)", 2, 2, 1.0)
    comp = pk.competitor_win_rates(tiny, "2025-Q4").row(0, named=True)
    assert (comp["competitor"], comp["won"], comp["lost"]) == ("(none recorded)", 2, 2)


def test_stalled_deals_by_hand(tiny):
    # completed visits by 12-31: Prospecting 5 13 30 30 31 36 91 91 -> p90 = 91;
    # Proposal 15 17 30 -> p90 = 17 + 0.8 * 13 = 27.4. Open: D5 Proposal 46 days, D6 Proposal
    # 30 days (both stalled), D7 Prospecting 11 days.
    out = pk.stalled_deals(tiny, "2025-12-31", min_reference=1)
    rows = {r["deal_id"]: r for r in out.iter_rows(named=True)}
    assert set(rows) == {"D5", "D6", "D7"}
    assert rows["D5"]["threshold_days"] == pytest.approx(27.4)
    assert rows["D7"]["threshold_days"] == pytest.approx(91.0)
    assert (rows["D5"]["days_in_stage"], rows["D6"]["days_in_stage"]) == (46, 30)
    assert out.filter("stalled")["deal_id"].to_list() == ["D5", "D6"]
    # with the default minimum of 20 reference visits nothing can be judged here
    assert not pk.stalled_deals(tiny, "2025-12-31")["stalled"].any()


def test_waterfall_by_hand(tiny):
    row = pk.pipeline_waterfall(tiny, "2025-Q4").row(0, named=True)
    # start: D1 100 + D4 1000; created 300+50+400+200+80; won 100+300; lost 50+1000; end 680
    assert (row["start"], row["created"], row["won"], row["lost"], row["end"]) == (
        1100.0,
        1030.0,
        400.0,
        1050.0,
        680.0,
    )
    assert (row["start_deals"], row["created_deals"], row["end_deals"]) == (2, 5, 3)
    assert row["moved"] == 0


def test_coverage_by_hand(tmp_path):
    deals = DEALS_CSV.replace("closed_at\n", "closed_at,expected_close\n")
    lines = deals.splitlines()
    due = {"D5": "2026-01-10", "D6": "2026-02-15", "D7": "2026-04-01"}
    lines = [lines[0]] + [line + "," + due.get(line.split(",")[0], "") for line in lines[1:]]
    targets = (
        "team,period_start,period_end,target\nred,2026-01-01,2026-03-31,1000\n"
        "blue,2026-01-01,2026-03-31,500\nblue,2025-10-01,2025-12-31,999\n"
    )
    ds = pk.load(
        write_dataset(
            tmp_path / "cov",
            deals="\n".join(lines) + "\n",
            stages=STAGES_CSV,
            stage_history=HISTORY_CSV,
            targets=targets,
        )
    )
    total = pk.pipeline_coverage(ds, "2025-Q4").row(0, named=True)
    # due in 2026-Q1: D5 400 + D6 200 (D7 is due in Q2); targets 1000 + 500
    assert (total["due_deals"], total["due_value"], total["target"]) == (2, 600.0, 1500.0)
    assert total["coverage"] == pytest.approx(0.4) and total["next_period"] == "2026-Q1"
    by_team = {
        r["team"]: r for r in pk.pipeline_coverage(ds, "2025-Q4", by="team").iter_rows(named=True)
    }
    assert by_team["red"]["coverage"] == 0.0
    assert by_team["blue"]["coverage"] == pytest.approx(1.2)
    assert by_team["blue"]["weighted_coverage"] == pytest.approx(0.6)  # both in Proposal (0.5)
    with pytest.raises(ValueError, match="team"):
        pk.pipeline_coverage(ds, "2025-Q4", by="owner")
    slipped = pk.slipped_deals(ds, "2026-01-31")
    assert slipped["deal_id"].to_list() == ["D6"] or slipped["deal_id"].to_list() == []
    assert pk.slipped_deals(ds, "2026-03-01")["deal_id"].to_list() == ["D6"]  # D5 closed 01-01


# ----------------------------------------------------------------------------- independent


def _d(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def test_close_rate_and_waterfall_match_plain_python(sample):
    rows = read_rows(SAMPLE / "deals.csv")
    start, end, last = dt.date(2025, 4, 1), dt.date(2025, 6, 30), dt.date(2025, 12, 31)
    created = Counter(r["team"] for r in rows if start <= _d(r["created_at"]) <= end)
    won = Counter(
        r["team"]
        for r in rows
        if start <= _d(r["created_at"]) <= end
        and r["status"] == "won"
        and _d(r["closed_at"]) <= last
    )
    got = {r["team"]: r for r in pk.close_rate(sample, "2025-Q2", by="team").iter_rows(named=True)}
    for team in created:
        assert (got[team]["created"], got[team]["won"]) == (created[team], won[team])

    def open_value(day):
        return sum(
            float(r["amount"])
            for r in rows
            if _d(r["created_at"]) <= day and (not r["closed_at"] or _d(r["closed_at"]) > day)
        )

    w = pk.pipeline_waterfall(sample, "2025-Q2").row(0, named=True)
    assert w["start"] == pytest.approx(open_value(start - dt.timedelta(days=1)))
    assert w["end"] == pytest.approx(open_value(end))
    assert w["created"] == pytest.approx(
        sum(float(r["amount"]) for r in rows if start <= _d(r["created_at"]) <= end)
    )


def test_stalled_thresholds_match_numpy(sample):
    day = dt.date(2025, 9, 30)
    order = {r["stage"]: int(r["order"]) for r in read_rows(SAMPLE / "stages.csv")}
    per_deal: dict[str, list[tuple[dt.date, int, str]]] = {}
    for h in read_rows(SAMPLE / "stage_history.csv"):
        entered = _d(h["entered_at"])
        if entered <= day:
            per_deal.setdefault(h["deal_id"], []).append((entered, order[h["stage"]], h["stage"]))
    visits: dict[str, list[int]] = {}
    for moves in per_deal.values():
        moves.sort()
        for (a, _, stage), (b, _, _) in itertools.pairwise(moves):
            visits.setdefault(stage, []).append((b - a).days)
    got = pk.stalled_deals(sample, day)
    thresholds = dict(zip(got["stage"], got["threshold_days"], strict=True))
    for stage, threshold in thresholds.items():
        assert threshold == pytest.approx(np.percentile(visits[stage], 90))
    assert got.height == pk.open_pipeline(sample, day)["open_deals"].sum()


def test_every_catalogue_metric_computes_on_the_sample(sample):
    long = pk.metrics_long(sample, "2025-Q4", by="team")
    assert set(long["metric"]) == set(pk.metric_names())
    rates = long.filter(pl.col("unit") == "share", pl.col("value").is_not_null())
    assert rates["value"].is_between(0, 1).all()


# ----------------------------------------------------------------------------- properties


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deals_frames(), st.sampled_from(["2024-Q3", "2025-Q1", "2025-H2", "2024-06"]))
def test_waterfall_identity_and_cohort_counts(deals, period):
    ds = _dataset(deals)
    w = pk.pipeline_waterfall(ds, period, by="team")  # raises if the buckets do not add up
    assert (w["moved"] == 0).all()
    cr = pk.close_rate(ds, period, by="owner")
    assert (cr["won"] + cr["lost"] + cr["open"] == cr["created"]).all()
    total = pk.close_rate(ds, period).row(0, named=True)
    assert cr["created"].sum() == total["created"]
    for row in pk.win_rate_alternatives(ds, period).iter_rows(named=True):
        assert row["value"] is None or 0 <= row["value"] <= 1


def test_stalled_deals_judge_a_team_against_the_organisations_norm(sample):
    """Filtering to a team first gives the same thresholds and verdicts as filtering after."""
    whole = pk.stalled_deals(sample, "2025-12-31").filter(pl.col("team") == "EMEA")
    team = pk.stalled_deals(sample.filter_deals(pl.col("team") == "EMEA"), "2025-12-31")
    columns = ["deal_id", "stage", "days_in_stage", "threshold_days", "stalled"]
    assert team.select(columns).sort("deal_id").equals(whole.select(columns).sort("deal_id"))
    assert team.height > 0
