"""Churn reasons, the churn trend, calls per deal by industry and their report sections.

Expected figures of the tiny fixtures are worked out by hand in the comments; the sample checks
recount the CSV rows in plain Python.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline_kit as pk
from pipeline_kit.errors import DataError
from pipeline_kit.report_data import TeamData
from pipeline_kit.report_workbook import team_workbook_frames
from tests.conftest import SAMPLE, STAGES_CSV, read_rows, wilson_ci, write_dataset

Q4 = "2025-Q4"  # 2025-10-01 .. 2025-12-31

DEALS_CSV = """deal_id,owner,team,amount,created_at,stage,status,closed_at
D1,ann,red,100,2025-09-15,Won,won,2025-10-05
D2,bob,blue,100,2025-09-15,Won,won,2025-10-05
"""

CUSTOMERS_CSV = """account_id,start_date,end_date,mrr,team,churn_reason
C1,2024-01-01,2025-10-15,100,red,Price
C2,2024-02-01,2025-11-20,200,red, Price
C3,2024-03-01,2025-12-31,50,red,
C4,2024-04-01,2025-10-01,400,red,Competitor
C5,2024-05-01,,300,red,
C6,2025-10-05,2025-11-01,999,red,Price
C7,2024-01-01,2025-09-30,70,red,Price
C8,2024-01-01,2025-11-11,80,blue,Unknown
C9,2024-01-01,2026-01-01,60,blue,Price
C10,2024-06-01,2025-12-01,,blue,Budget
"""
# Churned in Q4 among customers active at its start (started before 2025-10-01, not ended
# before it): C1 Price 100, C2 Price 200 (" Price" trimmed), C3 unknown 50 (empty),
# C4 Competitor 400 (ends on the first day), C8 unknown 80 (written "Unknown"), C10 Budget
# (no MRR). Not counted: C5 (still active), C6 (started in the quarter), C7 (ended before it),
# C9 (ends after it). So n = 6 of the 8 active at the start (C1-C5, C8-C10).


def _wilson(k: int, n: int) -> tuple[float, float]:
    return wilson_ci(k, n)


@pytest.fixture(scope="module")
def churn_ds(tmp_path_factory: pytest.TempPathFactory) -> pk.Dataset:
    folder = tmp_path_factory.mktemp("churn")
    return pk.load(
        write_dataset(folder, deals=DEALS_CSV, stages=STAGES_CSV, customers=CUSTOMERS_CSV)
    )


def test_churn_reasons_by_hand(churn_ds: pk.Dataset) -> None:
    got = pk.churn_reasons(churn_ds, Q4)
    # Price 2 and unknown 2 first (ties by name: "Price" < "unknown"), then Budget, Competitor
    assert got.select("churn_reason", "churned", "n", "mrr_lost").rows() == [
        ("Price", 2, 6, 300.0),
        ("unknown", 2, 6, 130.0),
        ("Budget", 1, 6, 0.0),
        ("Competitor", 1, 6, 400.0),
    ]
    assert got["share"].to_list() == pytest.approx([2 / 6, 2 / 6, 1 / 6, 1 / 6])
    low, high = _wilson(2, 6)
    assert got["ci_low"][0] == pytest.approx(low) and got["ci_high"][0] == pytest.approx(high)
    low, high = _wilson(1, 6)
    assert got["ci_low"][3] == pytest.approx(low) and got["ci_high"][3] == pytest.approx(high)
    assert not got["enough_data"].any()  # 6 < 20
    assert pk.churn(churn_ds, Q4)["churned"][0] == 6  # the same accounts as churn counts


def test_churn_reasons_by_team_by_hand(churn_ds: pk.Dataset) -> None:
    got = pk.churn_reasons(churn_ds, Q4, by="team")
    # blue: C8 unknown 80, C10 Budget (no MRR); red: C1+C2 Price, C4 Competitor, C3 unknown
    assert got.select("team", "churn_reason", "churned", "n", "mrr_lost").rows() == [
        ("blue", "Budget", 1, 2, 0.0),
        ("blue", "unknown", 1, 2, 80.0),
        ("red", "Price", 2, 4, 300.0),
        ("red", "Competitor", 1, 4, 400.0),
        ("red", "unknown", 1, 4, 50.0),
    ]
    with pytest.raises(ValueError, match="per team"):
        pk.churn_reasons(churn_ds, Q4, by="owner")


def test_churn_trend_by_hand(churn_ds: pk.Dataset) -> None:
    trend = pk.quarterly_trend(churn_ds, "churn_rate", end=Q4, quarters=2)
    # Q3: active at 2025-07-01 = C1-C5, C7-C10 (9); churned in Q3: C7 (2025-09-30). Q4: 6 of 8.
    assert trend.select("period", "n", "churned").rows() == [("2025-Q3", 9, 1), ("2025-Q4", 8, 6)]
    assert trend["estimate"].to_list() == pytest.approx([1 / 9, 6 / 8])
    low, high = _wilson(6, 8)
    assert trend["ci_low"][1] == pytest.approx(low) and trend["ci_high"][1] == pytest.approx(high)


def test_without_the_churn_reason_column_every_churned_account_is_unknown(
    tmp_path: Path,
) -> None:
    without = "\n".join(line.rsplit(",", 1)[0] for line in CUSTOMERS_CSV.splitlines()) + "\n"
    ds = pk.load(write_dataset(tmp_path, deals=DEALS_CSV, stages=STAGES_CSV, customers=without))
    got = pk.churn_reasons(ds, Q4)
    assert got.select("churn_reason", "churned", "n", "mrr_lost").rows() == [
        ("unknown", 6, 6, 830.0)  # 100 + 200 + 50 + 400 + 80, C10 has no MRR
    ]
    assert got["share"][0] == 1.0


def test_without_customers_the_metric_names_the_missing_table(tmp_path: Path) -> None:
    ds = pk.load(write_dataset(tmp_path, deals=DEALS_CSV, stages=STAGES_CSV))
    with pytest.raises(DataError, match="customers"):
        pk.churn_reasons(ds, Q4)


# ----------------------------------------------------------------------------- calls

CALL_DEALS_CSV = """deal_id,owner,team,amount,created_at,stage,status,closed_at,industry
E1,ann,red,100,2025-09-01,Won,won,2025-10-05,Retail
E2,ann,red,100,2025-09-01,Lost,lost,2025-10-06,Retail
E3,bob,red,100,2025-09-01,Won,won,2025-11-05,Retail
E4,bob,blue,100,2025-09-01,Lost,lost,2025-12-05,Health
E5,bob,blue,100,2025-09-01,Won,won,2025-09-05,Health
E6,cat,blue,100,2025-09-01,Proposal,open,,Health
E7,cat,blue,100,2025-09-01,Won,won,2025-12-10,
E8,cat,blue,100,2025-09-01,Won,won,2025-12-11,
"""
ACTIVITIES_CSV = """activity_id,owner,type,occurred_at,deal_id
A1,ann,call,2025-09-02 10:00,E1
A2,ann,Call,2025-09-03 10:00,E1
A3,ann,CALL ,2025-10-01 10:00,E1
A4,ann,email,2025-10-02 10:00,E1
A5,ann,call,2025-10-03 10:00,E2
A6,bob,call,2025-08-01 10:00,E3
A7,bob,meeting,2025-10-04 10:00,E4
A8,bob,call,2025-10-05 10:00,E4
A9,bob,call,2025-10-06 10:00,E4
A10,bob,call,2025-09-01 10:00,E5
A11,cat,call,2025-10-07 10:00,E6
A12,cat,call,2025-10-08 10:00,
"""
# Closed in Q4: Retail E1 won (calls A1-A3: "Call" and "CALL " count), E2 lost (A5), E3 won
# (A6, made before the quarter: counts); Health E4 lost (A8, A9; the meeting does not count);
# no industry E7, E8 won, no calls. E5 closed in Q3, E6 is open, A12 has no deal.


@pytest.fixture(scope="module")
def calls_ds(tmp_path_factory: pytest.TempPathFactory) -> pk.Dataset:
    folder = tmp_path_factory.mktemp("calls")
    return pk.load(
        write_dataset(folder, deals=CALL_DEALS_CSV, stages=STAGES_CSV, activities=ACTIVITIES_CSV)
    )


def test_calls_per_deal_by_industry_by_hand(calls_ds: pk.Dataset) -> None:
    got = pk.calls_per_deal_by_industry(calls_ds, Q4)
    columns = ["industry", "closed_deals", "won_deals", "lost_deals", "calls"]
    columns += ["calls_on_won", "calls_on_lost", "n"]
    assert got.select(columns).rows() == [
        ("Health", 1, 0, 1, 2, 0, 2, 1),
        ("Retail", 3, 2, 1, 5, 4, 1, 3),
        ("unknown", 2, 2, 0, 0, 0, 0, 2),
    ]
    assert got["calls_per_deal"].to_list() == pytest.approx([2.0, 5 / 3, 0.0])
    assert got["calls_per_won_deal"].to_list() == [None, 2.0, 0.0]
    assert got["calls_per_lost_deal"].to_list() == [2.0, 1.0, None]
    # 1, 3 and 2 closed deals: no interval below 8 (at 5-7 deals it covered 0.69-0.92)
    assert got["ci_low"].null_count() == 3 and got["ci_high"].null_count() == 3
    assert not got["enough_data"].any()


def test_calls_per_deal_by_industry_by_team(calls_ds: pk.Dataset) -> None:
    got = pk.calls_per_deal_by_industry(calls_ds, Q4, by="team")
    assert got.select("team", "industry", "closed_deals", "calls").rows() == [
        ("blue", "Health", 1, 2),
        ("blue", "unknown", 2, 0),
        ("red", "Retail", 3, 5),
    ]
    with pytest.raises(DataError, match="cannot group by"):
        pk.calls_per_deal_by_industry(calls_ds, Q4, by="segment")


def _calls_on(ids: list[str]) -> pl.DataFrame:
    """One call by ann on 2025-10-01 per entry of ``ids`` (a deal id, repeated per call)."""
    return pl.DataFrame(
        {
            "activity_id": [f"A{i}" for i in range(len(ids))],
            "owner": "ann",
            "type": "call",
            "occurred_at": "2025-10-01 09:00",
            "deal_id": ids,
        },
        schema_overrides={"deal_id": pl.String},
    )


def _industry(counts: list[int]) -> pk.Dataset:
    """Deals closed in 2025-Q4 in one industry, ``counts[i]`` calls logged on deal i."""
    deals = pl.DataFrame(
        {
            "deal_id": [f"E{i}" for i in range(len(counts))],
            "owner": "ann",
            "team": "red",
            "amount": "100",
            "created_at": "2025-09-01",
            "stage": "Won",
            "status": "won",
            "closed_at": "2025-10-15",
            "industry": "Retail",
        }
    )
    ids = [f"E{i}" for i, c in enumerate(counts) for _ in range(c)]
    activities = _calls_on(ids)
    return pk.load({"deals": deals, "activities": activities})


def test_calls_interval_is_the_skewed_mean_interval_of_the_per_deal_counts() -> None:
    """A few deals get most calls: the interval is the bootstrap-t of the per-deal counts
    (widened to the delta-log-normal one where they look log-normal), as its definition
    computes it in plain numpy (tests/test_stats.py)."""
    from tests.test_stats import _by_hand

    counts = [0, 1, 1, 2, 2, 3, 4, 6, 9, 14]
    row = pk.calls_per_deal_by_industry(_industry(counts), Q4).row(0, named=True)
    assert row["calls_per_deal"] == pytest.approx(4.2)
    low, high = _by_hand([float(c) for c in counts])
    assert (row["ci_low"], row["ci_high"]) == (
        pytest.approx(low, rel=0.03),
        pytest.approx(high, rel=0.03),
    )
    assert row["ci_low"] < 4.2 < row["ci_high"]


@pytest.mark.parametrize(
    "counts",
    [
        [0, 1, 2, 3, 5, 8, 13],  # 7 deals: below 8
        [0] * 10,  # no call at all: every count equal
        [0, 0, 0, 0, 0, 0, 1, 2, 5, 9],  # 10 deals, 4 with a call
    ],
)
def test_no_calls_interval_below_8_deals_or_5_deals_with_a_call(counts: list[int]) -> None:
    row = pk.calls_per_deal_by_industry(_industry(counts), Q4).row(0, named=True)
    assert row["calls_per_deal"] == pytest.approx(sum(counts) / len(counts))
    assert row["ci_low"] is None and row["ci_high"] is None


def test_without_industry_or_activities_a_clear_error(tmp_path: Path) -> None:
    no_industry = "\n".join(line.rsplit(",", 1)[0] for line in CALL_DEALS_CSV.splitlines())
    ds = pk.load(
        write_dataset(
            tmp_path / "a", deals=no_industry + "\n", stages=STAGES_CSV, activities=ACTIVITIES_CSV
        )
    )
    with pytest.raises(DataError, match="industry"):
        pk.calls_per_deal_by_industry(ds, Q4)
    ds = pk.load(write_dataset(tmp_path / "b", deals=CALL_DEALS_CSV, stages=STAGES_CSV))
    with pytest.raises(DataError, match="activities"):
        pk.calls_per_deal_by_industry(ds, Q4)


# ----------------------------------------------------------------------------- on the sample


def test_churn_reasons_on_the_sample_against_the_csv_rows(sample: pk.Dataset) -> None:
    start, end = "2025-10-01", "2025-12-31"
    counts: Counter[tuple[str, str]] = Counter()
    mrr: defaultdict[tuple[str, str], float] = defaultdict(float)
    for row in read_rows(SAMPLE / "customers.csv"):
        if row["start_date"] < start and row["end_date"] and start <= row["end_date"] <= end:
            key = (row["team"], row["churn_reason"].strip() or "unknown")
            counts[key] += 1
            mrr[key] += float(row["mrr"] or 0)
    got = pk.churn_reasons(sample, Q4, by="team")
    assert {(r[0], r[1]): r[2] for r in got.select("team", "churn_reason", "churned").rows()} == (
        dict(counts)
    )
    for team, reason, lost in got.select("team", "churn_reason", "mrr_lost").rows():
        assert lost == pytest.approx(mrr[(team, reason)])
    assert len({r for _, r in counts}) > 3  # the sample shows several reasons


def test_calls_by_industry_on_the_sample_against_the_csv_rows(sample: pk.Dataset) -> None:
    calls: Counter[str] = Counter(
        a["deal_id"]
        for a in read_rows(SAMPLE / "activities.csv")
        if a["type"].strip().lower() == "call" and a["deal_id"]
    )
    closed: defaultdict[str, list[tuple[bool, int]]] = defaultdict(list)
    for d in read_rows(SAMPLE / "deals.csv"):
        if d["status"] in ("won", "lost") and "2025-10-01" <= d["closed_at"][:10] <= "2025-12-31":
            closed[d["industry"] or "unknown"].append((d["status"] == "won", calls[d["deal_id"]]))
    got = pk.calls_per_deal_by_industry(sample, Q4)
    assert got["industry"].to_list() == sorted(closed)
    for r in got.iter_rows(named=True):
        deals = closed[r["industry"]]
        won = [c for w, c in deals if w]
        assert r["closed_deals"] == len(deals) and r["won_deals"] == len(won)
        assert r["calls"] == sum(c for _, c in deals)
        assert r["calls_per_won_deal"] == pytest.approx(sum(won) / len(won))
        assert r["ci_low"] < r["calls_per_deal"] < r["ci_high"]


def test_churn_rate_trend_on_the_sample(sample: pk.Dataset) -> None:
    trend = pk.quarterly_trend(sample, "churn_rate", end=Q4, by="team")
    q4 = trend.filter(pl.col("period") == Q4).drop("period", "period_start", "estimate")
    assert q4.equals(pk.churn(sample, Q4, by="team"))
    assert trend.filter(pl.col("team") == "EMEA").height == 8


# ----------------------------------------------------------------------------- properties

_REASONS = st.sampled_from(["Price", "Budget", "", " price ", "unknown", None])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(0, 700),  # start, days after 2024-06-01
            st.one_of(st.none(), st.integers(0, 700)),  # days from start to end
            _REASONS,
            st.sampled_from(["red", "blue"]),
            st.one_of(st.none(), st.floats(0, 1e4)),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_reason_counts_add_up_to_the_churned_accounts(rows: list[tuple]) -> None:
    first = dt.date(2024, 6, 1)
    customers = pl.DataFrame(
        {
            "account_id": [f"C{i}" for i in range(len(rows))],
            "start_date": [first + dt.timedelta(days=r[0]) for r in rows],
            "end_date": [
                None if r[1] is None else first + dt.timedelta(days=r[0] + r[1]) for r in rows
            ],
            "churn_reason": [r[2] for r in rows],
            "team": [r[3] for r in rows],
            "mrr": [r[4] for r in rows],
        },
        schema_overrides={"churn_reason": pl.String, "mrr": pl.Float64},
    )
    deals = pl.read_csv(DEALS_CSV.encode(), infer_schema=False)
    ds = pk.load({"deals": deals, "customers": customers})
    for by in (None, "team"):
        reasons = pk.churn_reasons(ds, Q4, by=by)
        churned = pk.churn(ds, Q4, by=by)
        keys = [by] if by else []
        per_group = (
            reasons.group_by(keys).agg(pl.col("churned").sum(), pl.col("share").sum())
            if by
            else reasons.select(pl.col("churned").sum(), pl.col("share").sum())
        )
        expected = churned.filter(pl.col("churned") > 0).select(*keys, "churned")
        assert per_group.sort(keys).select(*keys, "churned").equals(expected.sort(keys)) or (
            reasons.height == 0 and expected.height == 0
        )
        if reasons.height:
            assert per_group["share"].to_list() == pytest.approx([1.0] * per_group.height)
            assert (reasons["ci_low"] <= reasons["share"]).all()
            assert (reasons["share"] <= reasons["ci_high"]).all()
            assert reasons["churn_reason"].is_in(["Price", "Budget", "price", "unknown"]).all()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["won", "lost"]),
            st.sampled_from(["Retail", "Health", None]),
            st.integers(0, 12),  # calls logged on the deal
        ),
        min_size=1,
        max_size=25,
    )
)
def test_calls_per_deal_is_never_negative_and_inside_its_interval(rows: list[tuple]) -> None:
    deals = pl.DataFrame(
        {
            "deal_id": [f"E{i}" for i in range(len(rows))],
            "owner": "ann",
            "team": "red",
            "amount": "100",
            "created_at": "2025-09-01",
            "stage": ["Won" if r[0] == "won" else "Lost" for r in rows],
            "status": [r[0] for r in rows],
            "closed_at": "2025-10-15",
            "industry": [r[1] for r in rows],
        },
        schema_overrides={"industry": pl.String},
    )
    ids = [f"E{i}" for i, r in enumerate(rows) for _ in range(r[2])]
    activities = _calls_on(ids)
    tables = {"deals": deals, "activities": activities}
    if all(r[1] is None for r in rows):
        with pytest.raises(DataError):
            pk.calls_per_deal_by_industry(pk.load(tables), Q4)
        return
    got = pk.calls_per_deal_by_industry(pk.load(tables), Q4)
    assert got["closed_deals"].sum() == len(rows) and got["calls"].sum() == len(ids)
    assert (got["calls_per_deal"] >= 0).all()
    with_ci = got.filter(pl.col("ci_low").is_not_null())
    assert (with_ci["ci_low"] >= 0).all()
    assert (with_ci["ci_low"] <= with_ci["calls_per_deal"]).all()
    assert (with_ci["calls_per_deal"] <= with_ci["ci_high"]).all()
    assert got.filter(pl.col("n") < 8)["ci_low"].null_count() == got.filter(pl.col("n") < 8).height


# ----------------------------------------------------------------------------- the report


def _without(sample: pk.Dataset, *drop: str, **replace: pl.DataFrame) -> pk.Dataset:
    tables = {
        name: replace.get(name, frame).drop("source_row", strict=False)
        for name, frame in sample.tables.items()
        if name not in drop
    }
    return pk.load(tables)


def _text(chart: object) -> str:
    return json.dumps(chart.to_dict(), ensure_ascii=False)  # type: ignore[attr-defined]


def test_report_sections_on_the_sample(sample: pk.Dataset) -> None:
    report = pk.TeamReport(sample, "SMB", Q4)
    reasons = report.churn_reasons_table().data
    assert "| Churn reason | Accounts | Share of churned (95% CI) | MRR lost |" in reasons
    assert "| Price | 11 |" in reasons and "unknown (no reason recorded)" in reasons
    trend = report.churn_trend_chart()
    assert "Customer churn rate by quarter: SMB" in _text(trend)
    calls = report.calls_by_industry_table().data
    assert "| Industry | Closed deals | Calls | Calls per deal (95% CI) |" in calls
    assert "| Retail |" in calls
    leads = report.lead_response_trend_chart()
    assert "Median lead response time by quarter (hours): SMB" in _text(leads)
    methodology = report.methodology().data
    assert "churn_reason_share" in methodology and "calls_per_closed_deal" in methodology


def test_report_sections_are_translated(sample: pk.Dataset) -> None:
    report = pk.TeamReport(sample, "SMB", Q4, lang="zh-Hans")
    assert "流失原因" in report.churn_reasons_table().data
    assert "每个商机的通话数" in report.calls_by_industry_table().data
    assert "各季度客户流失率" in _text(report.churn_trend_chart())
    malay = pk.TeamReport(sample, "SMB", Q4, lang="ms")
    assert "Sebab berhenti" in malay.churn_reasons_table().data


def test_report_sections_without_the_tables_or_columns(sample: pk.Dataset) -> None:
    no_tables = _without(sample, "customers", "activities", "leads")
    report = pk.TeamReport(no_tables, "SMB", Q4)
    # the section's first part says which file to provide; these add nothing
    for section in (
        report.churn_reasons_table(),
        report.churn_trend_chart(),
        report.calls_by_industry_table(),
        report.lead_response_trend_chart(),
    ):
        assert section.data == ""
    assert "Provide customers.csv" in report.churn_section().data
    bare = _without(
        sample,
        customers=sample.customers.drop("churn_reason"),
        deals=sample.deals.drop("industry"),
    )
    report = pk.TeamReport(bare, "SMB", Q4)
    assert "No churn reason is recorded for the 25 accounts" in report.churn_reasons_table().data
    assert report.calls_by_industry_table().data.startswith(
        "No calls by industry: the deals carry no industry"
    )


def test_the_workbook_has_the_new_tables(sample: pk.Dataset) -> None:
    frames = team_workbook_frames(TeamData.of(sample, "SMB", Q4))
    reasons, calls = frames["Churn reasons"], frames["Calls by industry"]
    assert isinstance(reasons, pl.DataFrame) and isinstance(calls, pl.DataFrame)
    assert reasons["churned"].sum() == 25
    assert set(calls["industry"]) == set(sample.deals["industry"].drop_nulls())
