"""Figures over time: period over period (QoQ, YoY) and the quarterly trend's intervals.

Expected values come from the sample's CSV rows read with plain Python and from scipy's own
Wilson interval and Poisson distribution, never from the functions under test.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import polars as pl
import pytest
from scipy import special, stats

import pipeline_kit as pk
from pipeline_kit.metrics.trend import previous_period, year_before
from pipeline_kit.periods import Period
from tests.conftest import (
    SAMPLE,
    account_design_effects,
    clustered_wilson_ci,
    read_rows,
    wilson_ci,
)

DEALS = read_rows(Path(SAMPLE) / "deals.csv")
DEALS_WON_Q3 = [
    d["deal_id"]
    for d in DEALS
    if d["status"] == "won" and "2025-07-01" <= d["closed_at"][:10] <= "2025-09-30"
]


def _day(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text[:10]) if text else None


def _closed(team: str, start: str, end: str) -> list[dict[str, str]]:
    lo, hi = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    return [
        d
        for d in DEALS
        if d["team"] == team and d["status"] in ("won", "lost") and lo <= _day(d["closed_at"]) <= hi  # type: ignore[operator]
    ]


def _wilson(k: int, n: int) -> tuple[float, float]:
    return wilson_ci(k, n)


def test_period_over_period_against_the_csv_rows(sample: pk.Dataset) -> None:
    team = "EMEA"
    quarters = {
        "": ("2025-10-01", "2025-12-31"),
        "previous_": ("2025-07-01", "2025-09-30"),
        "year_ago_": ("2024-10-01", "2024-12-31"),
    }
    got = pk.period_over_period(sample, "2025-Q4", by="team").filter(team=team)
    rows = {r["figure"]: r for r in got.iter_rows(named=True)}
    assert list(rows) == [
        "win_rate",
        "deals_won",
        "bookings",
        "avg_won_deal_size",
        "cycle_length_days",
        "open_pipeline_value",
    ]
    expected = {}
    deffs = []
    for side, (start, end) in quarters.items():
        closed = _closed(team, start, end)
        won = [d for d in closed if d["status"] == "won"]
        rate = len(won) / len(closed)
        # the win rate's interval allows for deals of one account clustering (Kish's design
        # effect of the quarter's closed deals in their accounts)
        deff = account_design_effects(closed, lambda d: team)[team]
        deffs.append(deff)
        interval = clustered_wilson_ci(len(won), len(closed), deff)
        expected[side] = (rate, interval, len(closed))
        wr, size = rows["win_rate"], rows["bookings"]
        assert wr[f"{side}n"] == len(closed)
        assert wr[f"{side}value"] == pytest.approx(rate)
        assert (wr[f"{side}ci_low"], wr[f"{side}ci_high"]) == pytest.approx(interval, abs=1e-9)
        assert rows["deals_won"][f"{side}value"] == len(won)
        assert size[f"{side}value"] == pytest.approx(sum(float(d["amount"]) for d in won))
        assert rows["avg_won_deal_size"][f"{side}value"] == pytest.approx(
            sum(float(d["amount"]) for d in won) / len(won)
        )
        days = [(_day(d["closed_at"]) - _day(d["created_at"])).days for d in closed]  # type: ignore[operator]
        assert rows["cycle_length_days"][f"{side}value"] == pytest.approx(sum(days) / len(days))
        snapshot = dt.date.fromisoformat(end)
        open_then = [
            d
            for d in DEALS
            if d["team"] == team
            and _day(d["created_at"]) <= snapshot  # type: ignore[operator]
            and (not d["closed_at"] or _day(d["closed_at"]) > snapshot)  # type: ignore[operator]
        ]
        assert rows["open_pipeline_value"][f"{side}n"] == len(open_then)
        assert rows["open_pipeline_value"][f"{side}value"] == pytest.approx(
            sum(float(d["amount"]) for d in open_then)
        )
    assert max(deffs) > 1  # (EMEA's 2025-Q4 deals cluster a little: the widening is tested)
    # Newcombe (1998, method 10) from the two Wilson intervals, written out here
    wr = rows["win_rate"]
    for side, name in (("previous_", "change_vs_previous"), ("year_ago_", "change_vs_year_ago")):
        (p1, (l1, u1), _), (p2, (l2, u2), _) = expected[""], expected[side]
        assert wr[name] == pytest.approx(p1 - p2)
        assert wr[f"{name}_ci_low"] == pytest.approx(p1 - p2 - math.hypot(p1 - l1, u2 - p2))
        assert wr[f"{name}_ci_high"] == pytest.approx(p1 - p2 + math.hypot(u1 - p1, p2 - l2))
        assert wr[f"relative_{name}"] is None  # a rate changes in points, not percent
    bookings = rows["bookings"]
    assert bookings["relative_change_vs_year_ago"] == pytest.approx(
        bookings["value"] / bookings["year_ago_value"] - 1
    )
    assert bookings["change_vs_previous_ci_low"] is None  # a total: no interval claimed
    assert (wr["period"], wr["previous_period"], wr["year_ago_period"]) == (
        "2025-Q4",
        "2025-Q3",
        "2024-Q4",
    )


def test_a_quarter_to_date_is_compared_with_quarters_to_the_same_day(sample: pk.Dataset) -> None:
    got = pk.period_over_period(sample, "2025-Q4", as_of="2025-11-15").row(0, named=True)
    assert got["figure"] == "win_rate"
    assert (got["period"], got["previous_period"], got["year_ago_period"]) == (
        "2025-10-01..2025-11-15",
        "2025-07-01..2025-08-15",
        "2024-10-01..2024-11-15",
    )
    for side, (start, end) in {
        "": ("2025-10-01", "2025-11-15"),
        "previous_": ("2025-07-01", "2025-08-15"),
        "year_ago_": ("2024-10-01", "2024-11-15"),
    }.items():
        closed = [d for team in {d["team"] for d in DEALS} for d in _closed(team, start, end)]
        assert got[f"{side}n"] == len(closed)


def test_previous_and_year_earlier_periods_of_every_kind() -> None:
    cases = {
        "2025-Q1": ("2024-Q4", "2024-Q1"),
        "2025-01": ("2024-12", "2024-01"),
        "2025-07": ("2025-06", "2024-07"),
        "2025-H1": ("2024-H2", "2024-H1"),
        "2025-H2": ("2025-H1", "2024-H2"),
        "2025": ("2024", "2024"),
        "2024-02-20..2024-02-29": ("2024-02-10..2024-02-19", "2023-02-20..2023-02-28"),
    }
    for label, (previous, year_ago) in cases.items():
        period = Period.parse(label)
        assert previous_period(period).label == previous, label
        assert year_before(period).label == year_ago, label


def test_period_over_period_refuses_the_whole_export(sample: pk.Dataset) -> None:
    with pytest.raises(ValueError, match="dated period"):
        pk.period_over_period(sample, "all")


def test_every_trend_metric_has_an_interval_over_eight_quarters(sample: pk.Dataset) -> None:
    from pipeline_kit.metrics.trend import TREND_METRICS

    assert {"win_rate", "deals_won", "deals_created", "bookings"} <= set(TREND_METRICS)
    for metric in TREND_METRICS:
        trend = pk.quarterly_trend(sample, metric, end="2025-Q4")
        assert trend["period"].to_list() == [
            f"{y}-Q{q}" for y in (2024, 2025) for q in (1, 2, 3, 4)
        ], metric
        assert trend["ci_low"].null_count() == 0 and trend["ci_high"].null_count() == 0, metric
        assert (trend["ci_low"] <= trend["estimate"]).all(), metric
        assert (trend["estimate"] <= trend["ci_high"]).all(), metric


def test_counts_and_bookings_trends_against_the_csv_rows(sample: pk.Dataset) -> None:
    won = [
        d
        for d in DEALS
        if d["status"] == "won" and "2025-07-01" <= d["closed_at"][:10] <= "2025-09-30"
    ]
    row = (
        pk.quarterly_trend(sample, "deals_won", end="2025-Q4")
        .filter(period="2025-Q3")
        .row(0, named=True)
    )
    k = len(won)
    assert row["estimate"] == k
    # exact Poisson limits: P(X >= k | low) = 2.5% and P(X <= k | high) = 2.5%
    assert stats.poisson.sf(k - 1, row["ci_low"]) == pytest.approx(0.025, abs=1e-6)
    assert stats.poisson.cdf(k, row["ci_high"]) == pytest.approx(0.025, abs=1e-6)
    amounts = [float(d["amount"]) for d in won]
    total = sum(amounts)
    row = (
        pk.quarterly_trend(sample, "bookings", end="2025-Q4")
        .filter(period="2025-Q3")
        .row(0, named=True)
    )
    assert row["estimate"] == pytest.approx(total)
    # bookings = k x mean: the Garwood limits of k (scipy's chi2) and the mean's interval from
    # its definition (tests/test_stats.py's _by_hand: bootstrap-t widened to the log-normal
    # generalized interval), combined on the log scale (MOVER)
    from tests.test_stats import _by_hand

    mean = total / k
    mean_low, mean_high = _by_hand(amounts)
    k_low, k_high = stats.chi2.ppf(0.025, 2 * k) / 2, stats.chi2.ppf(0.975, 2 * k + 2) / 2
    down = math.hypot(math.log(k / k_low), math.log(mean / mean_low))
    up = math.hypot(math.log(k_high / k), math.log(mean_high / mean))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        (total * math.exp(-down), total * math.exp(up)), rel=0.03
    )
    # on the log scale: longer above the total than below it (amounts are right-skewed)
    assert row["ci_high"] - total > total - row["ci_low"]


def test_bookings_interval_is_missing_below_two_won_deals(sample: pk.Dataset) -> None:
    from pipeline_kit.metrics.trend import _bookings

    one = sample.filter_deals(pl.col("deal_id") == DEALS_WON_Q3[0])
    got = _bookings(one, Period.parse("2025-Q3")).row(0, named=True)
    assert (got["n"], got["ci_low"], got["ci_high"]) == (1, None, None)


TARGETS = read_rows(Path(SAMPLE) / "targets.csv")


def test_pipeline_against_target_at_each_quarter_start(sample: pk.Dataset) -> None:
    got = pk.pipeline_vs_target(sample, "2025-Q4", by="team").filter(team="EMEA")
    assert got["period"].to_list() == [f"{y}-Q{q}" for y in (2024, 2025) for q in (1, 2, 3, 4)]
    row = got.filter(period="2025-Q4").row(0, named=True)
    day = dt.date(2025, 9, 30)  # the end of the day before the quarter starts
    open_then = [
        d
        for d in DEALS
        if d["team"] == "EMEA"
        and _day(d["created_at"]) <= day  # type: ignore[operator]
        and (not d["closed_at"] or _day(d["closed_at"]) > day)  # type: ignore[operator]
    ]
    due = [d for d in open_then if "2025-10-01" <= d["expected_close"][:10] <= "2025-12-31"]
    won = [
        d
        for d in DEALS
        if d["team"] == "EMEA"
        and d["status"] == "won"
        and "2025-10-01" <= d["closed_at"][:10] <= "2025-12-31"
    ]
    target = sum(
        float(t["target"])
        for t in TARGETS
        if t["team"] == "EMEA"
        and t["period_start"] <= "2025-12-31"
        and t["period_end"] >= "2025-10-01"
    )
    open_value = sum(float(d["amount"]) for d in open_then)
    booked = sum(float(d["amount"]) for d in won)
    assert row["as_of"] == day
    assert (row["open_deals"], row["due_deals"]) == (len(open_then), len(due))
    assert row["open_value"] == pytest.approx(open_value)
    assert row["due_value"] == pytest.approx(sum(float(d["amount"]) for d in due))
    assert row["target"] == pytest.approx(target)
    assert row["coverage"] == pytest.approx(open_value / target)
    assert row["bookings"] == pytest.approx(booked)
    assert row["attainment"] == pytest.approx(booked / target)
    assert row["pipeline_per_booking"] == pytest.approx(open_value / booked)
    with pytest.raises(ValueError, match="team targets"):
        pk.pipeline_vs_target(sample, "2025-Q4", by="region")


def test_seasonality_by_calendar_month_against_the_csv_rows(sample: pk.Dataset) -> None:
    got = pk.seasonality(sample, "2025-Q4", by="team").filter(team="EMEA")
    assert got["month"].to_list() == list(range(1, 13))
    # the sample runs from 2023-10-01: the window is 2023-10 to 2025-12, so October to
    # December occur three times and the other months twice
    assert got["window"][0] == "2023-10..2025-12"
    assert got["months"].to_list() == [2] * 9 + [3] * 3
    emea = [d for d in DEALS if d["team"] == "EMEA"]
    created = [sum(int(d["created_at"][5:7]) == m for d in emea) for m in range(1, 13)]
    won = [
        sum(
            d["status"] == "won"
            and d["closed_at"]
            and int(d["closed_at"][5:7]) == m
            and d["closed_at"][:7] <= "2025-12"
            for d in emea
        )
        for m in range(1, 13)
    ]
    assert got["created"].to_list() == created
    assert got["won"].to_list() == won
    average = sum(created) / 27
    for r, k, months in zip(got.iter_rows(named=True), created, got["months"], strict=True):
        assert r["created_per_month"] == pytest.approx(k / months)
        assert r["created_index"] == pytest.approx(k / months / average)
        # exact Poisson limits of the month's total, divided by the months
        low, high = r["created_ci_low"] * months, r["created_ci_high"] * months
        assert stats.poisson.sf(k - 1, low) == pytest.approx(0.025, abs=1e-6)
        assert stats.poisson.cdf(k, high) == pytest.approx(0.025, abs=1e-6)


HISTORY = read_rows(Path(SAMPLE) / "stage_history.csv")
STAGES = {s["stage"]: s for s in read_rows(Path(SAMPLE) / "stages.csv")}


def test_lost_reasons_by_the_stage_lost_from_against_the_csv_rows(sample: pk.Dataset) -> None:
    lost = [
        d
        for d in DEALS
        if d["team"] == "EMEA"
        and d["status"] == "lost"
        and "2025-10-01" <= d["closed_at"][:10] <= "2025-12-31"
    ]
    ids = {d["deal_id"]: d for d in lost}
    last: dict[str, tuple[str, int, str]] = {}
    for h in HISTORY:
        deal = ids.get(h["deal_id"])
        stage = STAGES[h["stage"]]
        if deal is None or stage["is_won"] == "true" or stage["is_lost"] == "true":
            continue
        if h["entered_at"][:10] > deal["closed_at"][:10]:
            continue
        key = (h["entered_at"], int(stage["order"]), h["stage"])
        if h["deal_id"] not in last or key > last[h["deal_id"]]:
            last[h["deal_id"]] = key
    expected: dict[tuple[str, str], int] = {}
    for deal_id, d in ids.items():
        stage = last[deal_id][2] if deal_id in last else "(unknown)"
        reason = d["lost_reason"] or "(not given)"
        expected[(stage, reason)] = expected.get((stage, reason), 0) + 1
    got = pk.lost_reasons_by_stage(sample, "2025-Q4", by="team").filter(team="EMEA")
    assert {
        (r["lost_from_stage"], r["lost_reason"]): r["lost"] for r in got.iter_rows(named=True)
    } == expected
    per_stage = {s: sum(v for (t, _), v in expected.items() if t == s) for s, _ in expected}
    for r in got.iter_rows(named=True):
        n = per_stage[r["lost_from_stage"]]
        assert r["n"] == n and r["share"] == pytest.approx(r["lost"] / n)
        assert (r["ci_low"], r["ci_high"]) == pytest.approx(_wilson(r["lost"], n), abs=1e-9)
    assert got["stage_order"].is_sorted()  # funnel order


def _quarter_cohorts(tmp_path: Path, advanced_now: int) -> pk.Dataset:
    """Nine quarters, 10 deals entering Prospecting in each: 8 of 10 advance to Proposal in
    the first eight (then win), ``advanced_now`` of 10 in the last; the others are lost."""
    from tests.conftest import quarterly_cohorts

    return quarterly_cohorts(tmp_path / f"cohorts{advanced_now}", [8] * 8 + [advanced_now], 10)


def test_a_planted_drop_in_conversion_is_flagged_by_the_p_chart(tmp_path: Path) -> None:
    # past: 64 of 80 advanced, centre 0.8. The limits for n = 10: the counts beyond which a
    # quarter converting like the past (beta-binomial, 64 + 1/2 and 16 + 1/2, written out
    # here with log-Beta functions) lies with probability at most Φ(-3) = 0.135% on each side
    def pmf(k: int) -> float:
        log_beta = special.betaln(k + 64.5, 10 - k + 16.5) - special.betaln(64.5, 16.5)
        return math.comb(10, k) * math.exp(log_beta)

    tail = stats.norm.sf(3)
    cdf = [sum(pmf(j) for j in range(k + 1)) for k in range(11)]
    k_low = min(k for k in range(11) if cdf[k] >= tail)  # P(X < k_low) < tail
    k_high = min(k for k in range(11) if 1 - cdf[k] <= tail)  # P(X > k_high) <= tail
    dropped = _quarter_cohorts(tmp_path, advanced_now=2)
    row = (
        pk.stage_conversion_control(dropped, "2025-Q4", as_of="2025-12-31")
        .filter(stage="Prospecting")
        .row(0, named=True)
    )
    assert (row["advanced"], row["n"], row["past_quarters"]) == (2, 10, 8)
    assert (row["past_advanced"], row["past_n"]) == (64, 80)
    assert row["centre"] == pytest.approx(0.8)
    assert (row["lcl"], row["ucl"]) == pytest.approx((k_low / 10, k_high / 10))
    assert (k_low, k_high) == (3, 10)  # the normal-theory limits were 0.42 to 1
    assert row["signal"] == "below"
    usual = _quarter_cohorts(tmp_path, advanced_now=7)  # 0.7: inside 0.3 to 1
    control = pk.stage_conversion_control(usual, "2025-Q4", as_of="2025-12-31")
    assert control["signal"].to_list() == ["within", "within"]  # Prospecting, Proposal
    # read on the data's last day (2025-10-30, 62 days before the quarter's end), every past
    # cohort is read 62 days before its own end: the deals lost after that day are pending
    young = pk.stage_conversion_control(usual, "2025-Q4").row(0, named=True)
    assert young["past_n"] < 80 and young["n"] == 10


def test_what_the_target_takes_against_the_csv_rows(sample: pk.Dataset) -> None:
    row = pk.needed_for_target(sample, "2025-Q4", by="team").filter(team="EMEA").row(0, named=True)
    assert row["rates_from"] == "2024-Q4..2025-Q3"
    start, end = "2024-10-01", "2025-09-30"
    emea = [d for d in DEALS if d["team"] == "EMEA"]
    closed = [
        d for d in emea if d["status"] in ("won", "lost") and start <= d["closed_at"][:10] <= end
    ]
    won = [float(d["amount"]) for d in closed if d["status"] == "won"]
    lost = len(closed) - len(won)
    leads = [
        lead
        for lead in read_rows(Path(SAMPLE) / "leads.csv")
        if lead["team"] == "EMEA" and start <= lead["created_at"][:10] <= end
    ]
    converted = [
        lead for lead in leads if lead["converted_at"] and lead["converted_at"][:10] <= end
    ]
    closed_ids = {d["deal_id"] for d in closed}
    activities = [
        a for a in read_rows(Path(SAMPLE) / "activities.csv") if a["deal_id"] in closed_ids
    ]
    target = sum(
        float(t["target"])
        for t in TARGETS
        if t["team"] == "EMEA"
        and t["period_start"] <= "2025-12-31"
        and t["period_end"] >= "2025-10-01"
    )
    mean = sum(won) / len(won)
    won_needed = target / mean
    deals_needed = won_needed / (len(won) / len(closed))
    assert (row["won"], row["lost"], row["target"]) == (len(won), lost, target)
    assert (row["leads_created"], row["leads_converted"]) == (len(leads), len(converted))
    assert row["activities"] == len(activities)
    assert row["won_deals_needed"] == pytest.approx(won_needed)
    assert row["deals_needed"] == pytest.approx(deals_needed)
    assert row["leads_needed"] == pytest.approx(deals_needed / (len(converted) / len(leads)))
    assert row["activities_needed"] == pytest.approx(won_needed * len(activities) / len(won))
    # the simulated interval of target / mean against the delta method, written out here:
    # se(T / A) = T / A² · sd / √n
    sd = math.sqrt(sum((a - mean) ** 2 for a in won) / (len(won) - 1))
    half = 1.959964 * target / mean**2 * sd / math.sqrt(len(won))
    low, high = row["won_deals_needed_ci_low"], row["won_deals_needed_ci_high"]
    assert low < won_needed < high
    assert high - low == pytest.approx(2 * half, rel=0.2)
    # the period itself: what EMEA did in 2025-Q4
    q4 = [d for d in emea if d["status"] in ("won", "lost") and d["closed_at"][:7] >= "2025-10"]
    assert row["deals_closed_actual"] == len(q4)
    assert row["won_deals_actual"] == sum(d["status"] == "won" for d in q4)


def test_deal_lists_add_up_to_their_counts(sample: pk.Dataset) -> None:
    emea = sample.filter_deals(pl.col("team") == "EMEA")
    rows = [d for d in DEALS if d["team"] == "EMEA"]
    for kind in ("won", "lost"):
        got = pk.deal_list(emea, "2025-Q4", kind=kind)
        expected = [
            d
            for d in rows
            if d["status"] == kind and "2025-10-01" <= d["closed_at"][:10] <= "2025-12-31"
        ]
        assert sorted(got["deal_id"]) == sorted(d["deal_id"] for d in expected)
        assert got["amount"].is_sorted(descending=True)  # the largest first
    day = dt.date(2025, 12, 31)
    open_then = [
        d
        for d in rows
        if _day(d["created_at"]) <= day  # type: ignore[operator]
        and (not d["closed_at"] or _day(d["closed_at"]) > day)  # type: ignore[operator]
    ]
    got = pk.deal_list(emea, "2025-Q4", kind="open")
    assert sorted(got["deal_id"]) == sorted(d["deal_id"] for d in open_then)
    assert got["stage_order"].is_sorted()  # by stage
    slipped = [
        d for d in open_then if d["expected_close"] and d["expected_close"][:10] < "2025-12-31"
    ]
    got = pk.deal_list(emea, "2025-Q4", kind="slipped")
    assert sorted(got["deal_id"]) == sorted(d["deal_id"] for d in slipped)
    assert got["detail"][0].endswith("days past the expected close")
    stalled = pk.deal_list(emea, "2025-Q4", kind="stalled", by="region")
    assert stalled.columns[:4] == ["deal_id", "owner", "team", "region"]
    assert stalled.height == pk.stalled_deals(emea, "2025-12-31")["stalled"].sum()
    with pytest.raises(ValueError, match="kind must be one of"):
        pk.deal_list(emea, "2025-Q4", kind="stuck")


def test_lead_response_trend_is_the_km_median_of_each_quarter(sample: pk.Dataset) -> None:
    leads = [
        lead
        for lead in read_rows(Path(SAMPLE) / "leads.csv")
        if "2025-07-01" <= lead["created_at"][:10] <= "2025-09-30"
    ]

    def at(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text)

    hours = sorted(
        (at(lead["first_response_at"]) - at(lead["created_at"])).total_seconds() / 3600
        for lead in leads
        if lead["first_response_at"]
    )
    row = (
        pk.quarterly_trend(sample, "lead_response_hours", end="2025-Q4")
        .filter(period="2025-Q3")
        .row(0, named=True)
    )
    assert row["n"] == len(leads)
    # never-contacted leads are censored after every response, so the Kaplan-Meier median
    # is the order statistic where half of all leads had been answered
    half = math.ceil(len(leads) / 2)
    assert hours[half - 1] <= row["estimate"] <= hours[half]
    assert row["ci_low"] <= row["estimate"] <= row["ci_high"]


def test_content_unused_for_six_months_on_a_hand_fixture(tmp_path: Path) -> None:
    from tests.conftest import DEALS_CSV, HISTORY_CSV, STAGES_CSV, write_dataset

    usage = (
        "content_id,deal_id,used_at,title\n"
        "C1,D1,2025-03-01,Deck\n"
        "C1,D4,2025-06-30,Deck\n"  # exactly six months before 2025-12-31: unused
        "C2,D3,2025-07-01,Case study\n"  # a day later: used
        "C2,D5,2025-02-01,Case study\n"
        "C3,D6,2026-01-05,Price list\n"  # only used after as_of: not listed
    )
    ds = pk.load(
        write_dataset(
            tmp_path / "content",
            deals=DEALS_CSV,
            stages=STAGES_CSV,
            stage_history=HISTORY_CSV,
            collateral_usage=usage,
        )
    )
    got = pk.unused_content(ds, "2025-12-31")
    assert got.select("content_id", "uses", "days_since_used", "unused").rows() == [
        ("C1", 2, 184, True),
        ("C2", 2, 183, False),
    ]
    # by team (D1, D3 red; D4, D5 blue): blue last used C2 on 2025-02-01
    by_team = pk.unused_content(ds, "2025-12-31", by="team")
    assert by_team.select("team", "content_id", "unused").rows() == [
        ("blue", "C2", True),  # the longest unused first
        ("blue", "C1", True),
        ("red", "C1", True),
        ("red", "C2", False),
    ]
    long = pk.metrics_long(ds, "2025-Q4", by="team", metrics=["content_unused"])
    assert long.select("team", "value", "n").rows() == [("blue", 2.0, 2), ("red", 1.0, 2)]


# ------------------------------------------------------------------ organisation summary


def test_org_targets_table_against_the_csv_rows(sample: pk.Dataset) -> None:
    targets = read_rows(Path(SAMPLE) / "targets.csv")
    text = pk.OrgReport(sample, "2025-Q4").targets_table().data
    for team in sorted({d["team"] for d in DEALS}):
        won = [
            float(d["amount"])
            for d in _closed(team, "2025-10-01", "2025-12-31")
            if d["status"] == "won"
        ]
        target = sum(
            float(t["target"])
            for t in targets
            if t["team"] == team and t["period_start"] == "2025-10-01"
        )
        row = next(line for line in text.splitlines() if line.startswith(f"| {team} |"))
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[3] == f"{round(100 * sum(won) / target)}%", team  # attainment
    # one money form down the table: a million somewhere, so every amount is compact
    assert "\\$1.85M" in text and "\\$637.6K" in text and "\\$637,600" not in text


def test_org_alerts_name_the_cohorts_checked_and_list_a_planted_drop(
    sample: pk.Dataset, tmp_path: Path
) -> None:
    quiet = pk.OrgReport(sample, "2025-Q4").conversion_alerts().data
    checked = pk.stage_conversion_control(sample, "2025-Q4", by="team").filter(
        pl.col("signal") != "no baseline"
    )
    assert f"({checked.height} team-stage cohorts checked" in quiet
    dropped = _quarter_cohorts(tmp_path, advanced_now=2)
    text = pk.OrgReport(dropped, "2025-Q4", as_of="2025-12-31").conversion_alerts().data
    assert "**1 of 2 team-stage cohorts outside their control limits**" in text
    assert "| Prospecting | 20.0% (2 of 10) |" in text and "**below**" in text


def test_org_bookings_trend_has_a_band_per_team(sample: pk.Dataset) -> None:
    chart = pk.OrgReport(sample, "2025-Q4").bookings_trend_chart().to_dict()
    rows = next(iter(chart["datasets"].values()))
    emea = {r["period"]: r for r in rows if r["team"] == "EMEA"}
    won = [
        float(d["amount"])
        for d in _closed("EMEA", "2025-10-01", "2025-12-31")
        if d["status"] == "won"
    ]
    assert emea["2025-Q4"]["estimate"] == pytest.approx(sum(won))
    assert emea["2025-Q4"]["ci_low"] < sum(won) < emea["2025-Q4"]["ci_high"]
    assert len(emea) == 8


@pytest.mark.parametrize(
    ("first_day", "year_ago_cells"),
    [("2024-11-15", "kept"), ("2025-02-01", "dashed")],
)
def test_period_over_period_table_says_when_the_data_starts_inside_an_earlier_period(
    tmp_path: Path, first_day: str, year_ago_cells: str
) -> None:
    """2025-Q4 against 2025-Q3 (covered) and 2024-Q4: the data starts inside 2024-Q4 (its
    cells are kept, a sentence says so) or after it ended (its cells and changes are –)."""
    from tests.conftest import STAGES_CSV, write_dataset

    deals = "deal_id,owner,team,amount,created_at,stage,status,closed_at\n" + "".join(
        f"D{i},ann,red,100,{created},Won,won,{closed}\n"
        for i, (created, closed) in enumerate(
            [(first_day, "2025-03-01"), ("2025-07-01", "2025-08-01"), ("2025-10-01", "2025-11-01")]
        )
    )
    ds = pk.load(write_dataset(tmp_path / first_day, deals=deals, stages=STAGES_CSV))
    text = pk.TeamReport(ds, "red", "2025-Q4").period_over_period_table().data
    assert (
        f"The data starts on {first_day}, after 2024-Q4 began: a period wholly before it shows "
        f"–, and one it starts inside holds only its part from {first_day} on, so a change "
        "against it is not like for like."
    ) in text
    deals_won = next(line for line in text.splitlines() if line.startswith("| Deals won"))
    cells = [c.strip() for c in deals_won.strip("|").split("|")]
    # figure, 2025-Q4, 2025-Q3, 2024-Q4, change on 2025-Q3, change on 2024-Q4
    assert cells[1:3] == ["1", "1"]
    if year_ago_cells == "dashed":
        assert (cells[3], cells[5]) == ("–", "–")
    else:
        assert cells[3] == "0"


def _control_rows(limits: list[tuple[str, float, float, int]]) -> pl.DataFrame:
    """stage_conversion_control rows: (stage, lcl, ucl, past quarters); all within limits."""
    return pl.DataFrame(
        {
            "stage": [s for s, *_ in limits],
            "stage_order": list(range(1, len(limits) + 1)),
            "advanced": [6] * len(limits),
            "n": [10] * len(limits),
            "conversion": [0.6] * len(limits),
            "past_quarters": [q for *_, q in limits],
            "past_advanced": [18] * len(limits),
            "past_n": [30] * len(limits),
            "centre": [0.6] * len(limits),
            "between_sd": [0.08] * len(limits),
            "lcl": [float(lo) for _, lo, _, _ in limits],
            "ucl": [float(hi) for _, _, hi, _ in limits],
            "signal": ["within"] * len(limits),
            "incomplete": [False] * len(limits),
        }
    )


def test_conversion_alerts_say_when_the_limits_span_everything(
    sample: pk.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Limits of 0% to 100% (3 past quarters, a swing) can flag nothing: the text says so."""
    from pipeline_kit.report_data import TeamData
    from pipeline_kit.trend_sections import conversion_alerts

    data = TeamData.of(sample, "EMEA", "2025-Q4")
    blind = "The limits of Engaging span 0% to 100%: with 3 past quarter(s) and the swing "
    monkeypatch.setattr(
        TeamData, "stage_conversion_control", lambda self: _control_rows([("Engaging", 0, 1, 3)])
    )
    text = conversion_alerts(data).data
    assert text.startswith("No stage can be judged against its own past yet. " + blind)
    monkeypatch.setattr(
        TeamData,
        "stage_conversion_control",
        lambda self: _control_rows([("Engaging", 0, 1, 3), ("Proposal", 0.31, 0.83, 8)]),
    )
    text = conversion_alerts(data).data
    assert text.startswith(
        "No stage converted outside its control limits: the changes are within what the "
        "team's own past makes ordinary. " + blind
    )
    monkeypatch.setattr(
        TeamData,
        "stage_conversion_control",
        lambda self: _control_rows([("Proposal", 0.31, 0.83, 8)]),
    )
    assert "span 0% to 100%" not in conversion_alerts(data).data


def test_org_conversion_alerts_count_the_limits_that_span_everything(
    sample: pk.Dataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two team-stage cohorts checked, one with limits of 0% to 100%: the sentence says 1."""
    import pipeline_kit.org_report as org

    rows = _control_rows([("Engaging", 0, 1, 3), ("Proposal", 0.31, 0.83, 8)])
    monkeypatch.setattr(
        org, "stage_conversion_control", lambda *a, **k: rows.with_columns(team=pl.lit("red"))
    )
    text = org.OrgReport(sample, "2025-Q4").conversion_alerts().data
    assert text == (
        "No team's stage converted outside its control limits in 2025-Q4 (2 team-stage "
        "cohorts checked against their own past quarters). 1 of them have limits from 0% to "
        "100% (too few past quarters for the swing between them), which nothing can fall "
        "outside."
    )


def test_period_over_period_table_hides_the_win_rate_a_lost_only_export_cannot_have(
    tmp_path: Path,
) -> None:
    """Every deal lost: the report shows no win rate anywhere (it would read 0% by
    construction), so the table of earlier periods has no win-rate row either."""
    from tests.conftest import STAGES_CSV, write_dataset

    deals = "deal_id,owner,team,amount,created_at,stage,status,closed_at\n" + "".join(
        f"L{i},ann,red,100,2025-{m:02d}-01,Lost,lost,2025-{m:02d}-20\n"
        for i, m in enumerate([4, 5, 7, 8, 10, 11])
    )
    ds = pk.load(write_dataset(tmp_path / "lost", deals=deals, stages=STAGES_CSV))
    text = pk.TeamReport(ds, "red", "2025-Q4").period_over_period_table().data
    assert not any(line.startswith("| Win rate") for line in text.splitlines())
    assert "No win rate: this export has no won deals (lost deals only)" in text
    assert any(line.startswith("| Deals won") for line in text.splitlines())


def _monthly_deals(counts: dict[tuple[int, int], int]) -> pk.Dataset:
    """Deals created on the 1st of each (year, month), ``counts`` of them, all open."""
    rows = [
        (f"D{y}{m:02d}{i:03d}", dt.date(y, m, 1)) for (y, m), k in counts.items() for i in range(k)
    ]
    frame = pl.DataFrame(
        {
            "deal_id": [r[0] for r in rows],
            "created_at": [r[1] for r in rows],
            "status": ["open"] * len(rows),
            "stage": ["Qualified"] * len(rows),
            "amount": [100.0] * len(rows),
        }
    )
    return pk.load({"deals": frame})


def test_seasonality_widens_for_months_that_vary_more_than_poisson() -> None:
    """Two years of months, July in the first year 5 and in the second 45: the Pearson
    dispersion pooled over the calendar months (numpy by hand) and the scaled Garwood interval
    at the t-adjusted level (scipy's chi2, t and normal), never the kit's functions."""
    import numpy as np

    first = {m: 10 + m for m in range(1, 13)}
    second = {m: 12 + m for m in range(1, 13)}
    first[7], second[7] = 5, 45
    counts = {(2023, m): k for m, k in first.items()} | {(2024, m): k for m, k in second.items()}
    ds = _monthly_deals(counts)
    got = pk.seasonality(ds, "2024-Q4")
    assert got["months"].to_list() == [2] * 12
    y = np.array([[first[m], second[m]] for m in range(1, 13)], dtype=float)
    mean = y.mean(axis=1)
    phi = float((((y - mean[:, None]) ** 2).sum(axis=1) / mean).sum() / 12)
    assert phi > 1
    assert got["created_dispersion"].to_list() == pytest.approx([phi] * 12)
    t = stats.t.ppf(0.975, 12)
    alpha = 2 * stats.norm.sf(t)
    for r, total in zip(got.iter_rows(named=True), y.sum(axis=1), strict=True):
        low = phi * stats.chi2.ppf(alpha / 2, 2 * total / phi) / 2 / 2
        high = phi * stats.chi2.ppf(1 - alpha / 2, 2 * total / phi + 2) / 2 / 2
        assert r["created_ci_low"] == pytest.approx(low, rel=1e-9)
        assert r["created_ci_high"] == pytest.approx(high, rel=1e-9)
        assert r["note"] == ""
    # the Poisson interval of the same total is narrower
    july = got.filter(pl.col("month") == 7).row(0, named=True)
    assert (
        july["created_ci_high"] - july["created_ci_low"]
        > (stats.chi2.ppf(0.975, 102) / 2 - stats.chi2.ppf(0.025, 100) / 2) / 2
    )


def test_seasonality_with_poisson_like_months_keeps_the_exact_interval() -> None:
    """Equal months (dispersion 0, floored at 1): Garwood's interval at 95% exactly."""
    counts = {(y, m): 20 for y in (2023, 2024) for m in range(1, 13)}
    got = pk.seasonality(_monthly_deals(counts), "2024-Q4")
    assert got["created_dispersion"].to_list() == pytest.approx([0.0] * 12)
    r = got.row(0, named=True)
    assert stats.poisson.sf(39, r["created_ci_low"] * 2) == pytest.approx(0.025, abs=1e-6)
    assert stats.poisson.cdf(40, r["created_ci_high"] * 2) == pytest.approx(0.025, abs=1e-6)


def test_seasonality_says_when_a_year_of_months_cannot_show_dispersion() -> None:
    """One year: no dispersion estimable; the Poisson interval and the note saying so."""
    counts = {(2024, m): 5 + m for m in range(1, 13)}
    got = pk.seasonality(_monthly_deals(counts), "2024-Q4")
    assert got["months"].to_list() == [1] * 12
    assert got["created_dispersion"].null_count() == 12
    assert set(got["note"]) == {pk.metrics.trend.SEASONALITY_NOTE}
    r = got.filter(pl.col("month") == 3).row(0, named=True)
    assert stats.poisson.sf(7, r["created_ci_low"]) == pytest.approx(0.025, abs=1e-6)
