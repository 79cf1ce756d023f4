"""A blank amount keeps the deal (finding P10 / exports "blank amount", repro c16).

Count figures (win rate, cycle, flow, close rate) count every deal; amount figures leave the
deals without an amount out and say how many in ``without_amount``. Every expected value
below is worked out by hand from the fixture (before the fix the three closed deals without
an amount were quarantined: win rate 1/2, cycle (20 + 10) / 2 = 15 days).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline_kit as pk
from pipeline_kit.pushdown import flow_metrics

from .conftest import write_dataset

STAGES = """stage,order,probability,is_won,is_lost
Prospecting,1,0.1,false,false
Proposal,2,0.5,false,false
Won,3,1,true,false
Lost,4,0,false,true
"""

# 2025-Q4: five closed deals, 2 won and 3 lost, three of them (W2, L2, L3) without an amount;
# three open deals at 2025-12-31, one (O2) without an amount. Days created -> closed:
# W1 20, W2 30, L1 10, L2 30, L3 60.
DEALS = """deal_id,owner,team,amount,created_at,stage,status,closed_at,expected_close
W1,ann,red,500,2025-10-01,Won,won,2025-10-21,
W2,ann,red,,2025-10-05,Won,won,2025-11-04,
L1,bob,red,200,2025-10-01,Lost,lost,2025-10-11,
L2,bob,red,,2025-10-02,Lost,lost,2025-11-01,
L3,bob,red,  ,2025-10-03,Lost,lost,2025-12-02,
O1,ann,red,1000,2025-11-01,Proposal,open,,2026-01-15
O2,bob,red,,2025-11-02,Proposal,open,,2026-02-01
O3,ann,red,300,2025-12-01,Prospecting,open,,
"""

TARGETS = """team,period_start,period_end,target
red,2026-01-01,2026-03-31,4000
"""


@pytest.fixture
def mixed(tmp_path: Path) -> pk.Dataset:
    folder = write_dataset(tmp_path / "mixed", deals=DEALS, stages=STAGES, targets=TARGETS)
    return pk.load(folder)


def test_blank_amounts_keep_their_deals_with_a_note(mixed):
    assert mixed.quarantine.height == 0
    assert mixed.deals.height == 8
    blank = mixed.deals.filter(pl.col("amount").is_null())["deal_id"].sort().to_list()
    assert blank == ["L2", "L3", "O2", "W2"]  # (L3's cell is spaces: blank too)
    note = [n for n in mixed.notes if "have no amount" in n]
    assert note == [
        "4 deal(s) have no amount (1 won, 2 lost, 1 open): counted in rates and cycles, left "
        "out of amount figures (each amount figure gives how many it left out in "
        "without_amount)."
    ]
    assert note[0] in mixed.report()


def test_an_unreadable_or_negative_amount_is_still_quarantined(tmp_path):
    deals = DEALS.replace("W1,ann,red,500", "W1,ann,red,n. a.").replace(
        "L1,bob,red,200", "L1,bob,red,-5"
    )
    ds = pk.load(write_dataset(tmp_path / "bad", deals=deals, stages=STAGES))
    rules = dict(zip(ds.quarantine["source_row"], ds.quarantine["rules"].to_list(), strict=True))
    assert rules == {2: ["amount|dtype"], 4: ["amount|min"]}
    assert ds.deals.height == 6


def test_a_deals_file_without_the_amount_column_loads_with_amount_figures_unknown(tmp_path):
    lines = [",".join(line.split(",")[:3] + line.split(",")[4:]) for line in DEALS.splitlines()]
    ds = pk.load(write_dataset(tmp_path / "none", deals="\n".join(lines) + "\n", stages=STAGES))
    assert ds.deals.height == 8 and not ds.has_amounts
    assert "deals.amount" in ds.absent_columns
    assert any("has no amount column" in str(n) for n in ds.notes)
    # counts as the rows say (W1, W2 won; L1-L3 lost), every amount figure unknown, not 0
    wr = pk.win_rate(ds, "2025-Q4").row(0, named=True)
    assert (wr["won"], wr["n"]) == (2, 5)
    size = pk.won_deal_size(ds, "2025-Q4").row(0, named=True)
    assert (size["n"], size["without_amount"], size["total"]) == (0, 2, None)
    pipe = pk.open_pipeline(ds, "2025-12-31")
    proposal = pipe.filter(pl.col("stage") == "Proposal").row(0, named=True)
    assert (proposal["open_deals"], proposal["open_value"]) == (2, None)
    long = pk.metrics_long(ds, "2025-Q4")
    for metric in ("bookings", "open_value", "weighted_pipeline"):
        assert long.filter(pl.col("metric") == metric)["value"].to_list() == [None]
    with pytest.raises(ValueError, match="needs amounts"):
        pk.forecast(ds, "2026-Q1", as_of="2025-12-31")


def test_count_figures_count_every_deal(mixed):
    wr = pk.win_rate(mixed, "2025-Q4").row(0, named=True)
    assert (wr["won"], wr["lost"], wr["n"], wr["win_rate"]) == (2, 3, 5, 0.4)
    flow = pk.deal_flow(mixed, "2025-Q4").row(0, named=True)
    assert (flow["created"], flow["won"], flow["lost"]) == (8, 2, 3)
    cycle = pk.cycle_length(mixed, "2025-Q4").row(0, named=True)
    assert (cycle["n"], cycle["mean"]) == (5, (20 + 30 + 10 + 30 + 60) / 5)
    pushed = flow_metrics(mixed.deals, "2025-Q4").row(0, named=True)
    assert (pushed["won"], pushed["n"], pushed["won_amount"], pushed["without_amount"]) == (
        2,
        5,
        500.0,
        1,
    )


def test_won_deal_size_and_bookings_leave_them_out_and_say_so(mixed):
    size = pk.won_deal_size(mixed, "2025-Q4").row(0, named=True)
    assert (size["n"], size["mean"], size["total"], size["without_amount"]) == (1, 500.0, 500.0, 1)
    booked = pk.bookings_vs_target(mixed, "2025-Q4").row(0, named=True)
    assert (booked["bookings"], booked["won_deals"], booked["without_amount"]) == (500.0, 2, 1)
    velocity = pk.velocity(mixed, "2025-Q4").row(0, named=True)
    assert (velocity["won"], velocity["avg_won_deal_size"], velocity["without_amount"]) == (
        2,
        500.0,
        1,
    )
    assert velocity["win_rate"] == 0.4


def test_win_rate_by_amount_is_over_the_deals_with_an_amount(mixed):
    alt = pk.win_rate_alternatives(mixed, "2025-Q4")
    rows = {r["definition"]: r for r in alt.iter_rows(named=True)}
    by_amount = rows["amount_closed"]
    assert (by_amount["numerator"], by_amount["denominator"], by_amount["deals"]) == (
        500.0,
        700.0,
        2,
    )
    assert by_amount["without_amount"] == 3
    assert by_amount["value"] == pytest.approx(500 / 700)
    assert by_amount["ci_low"] is not None  # (the bootstrap no longer meets NaN)
    assert rows["count_closed"]["without_amount"] == 0
    assert rows["count_closed"]["value"] == 0.4


def test_pipeline_values_leave_them_out_and_say_so(mixed):
    pipe = pk.open_pipeline(mixed, "2025-12-31")
    rows = {r["stage"]: r for r in pipe.iter_rows(named=True)}
    proposal, prospecting = rows["Proposal"], rows["Prospecting"]
    assert (proposal["open_deals"], proposal["open_value"], proposal["without_amount"]) == (
        2,
        1000.0,
        1,
    )
    assert proposal["weighted_value"] == 500.0
    assert (prospecting["open_deals"], prospecting["open_value"]) == (1, 300.0)
    assert prospecting["without_amount"] == 0
    coverage = pk.pipeline_coverage(mixed, "2025-Q4").row(0, named=True)
    # due in 2026-Q1: O1 (1000) and O2 (no amount); target 4000
    assert (coverage["due_deals"], coverage["due_value"], coverage["without_amount"]) == (
        2,
        1000.0,
        1,
    )
    assert coverage["coverage"] == 0.25
    waterfall = pk.pipeline_waterfall(mixed, "2025-Q4").row(0, named=True)
    assert (waterfall["created"], waterfall["created_deals"]) == (2000.0, 8)
    assert (waterfall["won"], waterfall["lost"], waterfall["end"]) == (500.0, 200.0, 1300.0)
    assert waterfall["without_amount"] == 4


def test_lost_value_leaves_them_out_and_says_so(mixed):
    lost = pk.lost_reasons(mixed, "2025-Q4").row(0, named=True)
    assert (lost["lost"], lost["n"], lost["lost_value"], lost["without_amount"]) == (
        3,
        3,
        200.0,
        2,
    )


def test_period_over_period_counts_won_deals_and_flags_amount_figures(mixed):
    pop = pk.period_over_period(mixed, "2025-Q4")
    rows = {r["figure"]: r for r in pop.iter_rows(named=True)}
    assert (rows["deals_won"]["value"], rows["deals_won"]["n"]) == (2.0, 2)
    assert rows["deals_won"]["without_amount"] == 0
    assert (rows["bookings"]["value"], rows["bookings"]["without_amount"]) == (500.0, 1)
    assert (rows["avg_won_deal_size"]["n"], rows["avg_won_deal_size"]["without_amount"]) == (1, 1)
    assert rows["open_pipeline_value"]["value"] == 1300.0
    assert rows["open_pipeline_value"]["without_amount"] == 1
    assert rows["win_rate"]["value"] == 0.4


def test_quarterly_bookings_and_pipeline_vs_target_say_so(mixed):
    trend = pk.quarterly_trend(mixed, "bookings", end="2025-Q4", quarters=1).row(0, named=True)
    assert (trend["bookings"], trend["n"], trend["without_amount"]) == (500.0, 1, 1)
    pvt = pk.pipeline_vs_target(mixed, "2026-Q1", quarters=1).row(0, named=True)
    # open at 2025-12-31: O1 1000, O2 (none), O3 300; nothing won in 2026-Q1
    assert (pvt["open_deals"], pvt["open_value"], pvt["without_amount"]) == (3, 1300.0, 1)
    assert pvt["coverage"] == 1300 / 4000


def test_needed_for_target_rests_on_the_won_amounts(mixed):
    need = pk.needed_for_target(mixed, "2026-Q1").row(0, named=True)
    assert (need["won"], need["lost"], need["avg_won_deal"], need["without_amount"]) == (
        2,
        3,
        500.0,
        1,
    )
    assert need["won_deals_needed"] == 4000 / 500
    assert need["deals_needed"] == pytest.approx(4000 / 500 / 0.4)


def test_forecast_bookings_stay_finite_and_say_so(mixed):
    fc = pk.forecast(mixed, "2026-Q1", as_of="2025-12-31", draws=200, past_periods=1)
    row = fc.summary.row(0, named=True)
    assert row["without_amount"] == 1  # O2, open at as_of
    assert row["open_amount"] == 1300.0
    assert all(v == v for v in fc.samples["bookings"].to_list())  # no NaN


# ----------------------------------------------------------------------------- property

_DAY0 = dt.date(2025, 10, 1)


def _frame(rows: list[tuple[str, float | None, int, int]]) -> pl.DataFrame:
    """Deals from (status, amount, created day offset, cycle days) in 2025-Q4."""
    return pl.DataFrame(
        {
            "deal_id": [f"D{i}" for i in range(len(rows))],
            "owner": ["ann"] * len(rows),
            "team": ["red"] * len(rows),
            "amount": [r[1] for r in rows],
            "created_at": [_DAY0 + dt.timedelta(days=r[2]) for r in rows],
            "stage": [{"won": "Won", "lost": "Lost", "open": "Proposal"}[r[0]] for r in rows],
            "status": [r[0] for r in rows],
            "closed_at": [
                None if r[0] == "open" else _DAY0 + dt.timedelta(days=r[2] + r[3]) for r in rows
            ],
        },
        schema_overrides={"amount": pl.Float64, "closed_at": pl.Date},
    )


_DEAL = st.tuples(
    st.sampled_from(["won", "lost", "open"]),
    st.integers(0, 10_000).map(float),
    st.integers(0, 40),
    st.integers(0, 40),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.lists(_DEAL, min_size=1, max_size=12),
    blank=st.lists(_DEAL.map(lambda d: (d[0], None, d[2], d[3])), min_size=1, max_size=6),
)
def test_deals_without_amounts_change_counts_only(base, blank):
    stages = pl.read_csv(STAGES.encode())
    before = pk.load({"deals": _frame(base), "stages": stages})
    after = pk.load({"deals": _frame(base + blank), "stages": stages})
    assert after.deals.height == len(base) + len(blank)
    # amount figures: unchanged; without_amount: the won (open) deals added without one
    size0, size1 = (pk.won_deal_size(d, "2025-Q4").row(0, named=True) for d in (before, after))
    for column in ("n", "mean", "median", "ci_low", "ci_high"):
        assert size0[column] == size1[column]
    assert size1["without_amount"] == sum(s == "won" for s, *_ in blank)
    # the sum: unchanged, but unknown (not 0) when won deals came in and none has an amount
    unknown = size1["n"] == 0 and size1["without_amount"] > 0
    assert size1["total"] == (None if unknown else size0["total"])
    open0, open1 = (
        pk.open_pipeline(d, "2025-12-31").filter(pl.col("stage") == "Proposal").row(0, named=True)
        for d in (before, after)
    )
    assert open1["without_amount"] == sum(s == "open" for s, *_ in blank)
    unknown = open1["open_deals"] > 0 and open1["without_amount"] == open1["open_deals"]
    assert open1["open_value"] == (None if unknown else open0["open_value"])
    # count figures: as plain Python over all rows says
    rows = base + blank
    won = sum(s == "won" for s, *_ in rows)
    closed = sum(s != "open" for s, *_ in rows)
    wr = pk.win_rate(after, "2025-Q4").row(0, named=True)
    assert (wr["won"], wr["n"]) == (won, closed)
    assert wr["win_rate"] == (won / closed if closed else None)
    assert open1["open_deals"] == sum(s == "open" for s, *_ in rows)


# ----------------------------------------------------------------------------- reports


def test_report_sentences_and_tables_say_what_their_amounts_left_out(mixed):
    from pipeline_kit.org_report import OrgReport
    from pipeline_kit.team_report import TeamReport

    team = TeamReport(mixed, "red", "2025-Q4")
    summary = team.summary().data
    # open at 2025-12-31: O1 1000, O2 (none), O3 300; won: W1 500, W2 (none)
    assert "**3 open deals** worth **\\$1,300**" in summary
    assert "(1 deal(s) without an amount left out)" in summary
    assert "bookings \\$500 (1 deal(s) without an amount left out)" in summary
    headline = team._headline()
    assert "**Bookings $500** from 1 won deal(s) (1 deal(s) without an amount left out)" in (
        headline
    )
    # due in 2026-Q1: O1 (1000) and O2 (none)
    assert "$1,000 in 2 deal(s) (1 deal(s) without an amount left out)" in headline
    table = team.pipeline_table().data
    assert "Amounts leave out 1 deal(s) without an amount" in table
    org = OrgReport(mixed, "2025-Q4")
    assert "Amounts leave out 1 deal(s) without an amount" in org.team_table().data
    # bookings: W2; due next quarter: O2
    assert "Amounts leave out 2 deal(s) without an amount" in org.targets_table().data


def test_reports_without_blank_amounts_say_nothing_more(tmp_path):
    deals = DEALS
    for blank, filled in (
        ("W2,ann,red,,", "W2,ann,red,70,"),
        ("O2,bob,red,,", "O2,bob,red,9,"),
        ("L2,bob,red,,", "L2,bob,red,1,"),
        ("L3,bob,red,  ,", "L3,bob,red,2,"),
    ):
        deals = deals.replace(blank, filled)
    ds = pk.load(write_dataset(tmp_path / "full", deals=deals, stages=STAGES, targets=TARGETS))
    from pipeline_kit.team_report import TeamReport

    team = TeamReport(ds, "red", "2025-Q4")
    assert "without an amount" not in team.summary().data + team._headline()
    assert not [n for n in ds.notes if "have no amount" in n]


def test_a_nan_amount_in_a_typed_frame_is_blank():
    # NaN is how pandas (and Parquet written from it) leaves a number empty: the deal is kept
    # without an amount, not quarantined as "implausibly large" (NaN > 10^15 for polars)
    deals = pl.read_csv(DEALS.encode(), schema_overrides={"amount": pl.Float64})
    deals = deals.with_columns(pl.col("amount").fill_null(float("nan")))
    ds = pk.load({"deals": deals, "stages": pl.read_csv(STAGES.encode())})
    assert ds.quarantine.height == 0
    assert ds.deals["amount"].null_count() == 4
    assert pk.won_deal_size(ds, "2025-Q4")["without_amount"].to_list() == [1]


def test_the_long_format_says_how_many_deals_each_amount_figure_left_out(mixed):
    """metrics_long's without_amount: the fixture's counts (by hand, see DEALS), empty for
    figures that do not weigh amounts."""
    long = pk.metrics_long(mixed, "2025-Q4", as_of="2025-12-31")
    assert long.columns[:7] == [
        "metric",
        "value",
        "n",
        "ci_low",
        "ci_high",
        "without_amount",
        "detail",
    ]

    def left_out(metric: str, detail: str | None = None) -> list[int | None]:
        rows = long.filter(pl.col("metric") == metric)
        if detail is not None:
            rows = rows.filter(pl.col("detail") == detail)
        return rows["without_amount"].to_list()

    # won in 2025-Q4: W1 (500) and W2 (none)
    assert left_out("bookings") == left_out("avg_won_deal_size") == [1]
    assert left_out("median_won_deal_size") == left_out("velocity_per_day") == [1]
    # closed: W2, L2, L3 have none; open at 2025-12-31: O2 (Proposal)
    assert left_out("win_rate_by_amount") == [3]
    assert left_out("open_value") == left_out("weighted_pipeline") == [1]
    assert left_out("open_value_by_stage", "Proposal") == [1]
    assert left_out("open_value_by_stage", "Prospecting") == [0]
    # the waterfall's buckets hold W2, L2, L3, O2: one count for every bucket
    assert set(left_out("pipeline_waterfall")) == {4}
    # figures that count deals, not amounts
    for metric in (
        "win_rate",
        "deals_won",
        "open_deals",
        "cycle_length_days",
        "win_rate_created_cohort",
        "lost_reason_share",
    ):
        assert set(left_out(metric)) == {None}, metric
