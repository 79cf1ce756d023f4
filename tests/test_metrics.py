"""Metrics: (a) hand-computed fixture, (b) independent plain-Python / scipy computation over the
sample data, (c) hypothesis properties. Expected values never come from the code under test."""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections import Counter, defaultdict

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline_kit as pk
from pipeline_kit.adapters.base import RawDataset, RawTable
from pipeline_kit.loading import validate_raw

from .conftest import (
    SAMPLE,
    account_design_effects,
    design_effect_by_hand,
    modified_wilson,
    read_rows,
    wilson_ci,
)

Q4 = pk.Period.parse("2025-Q4")

# ----------------------------------------------------------------------------- (a) by hand
# Fixture (conftest.DEALS_CSV / HISTORY_CSV), period 2025-Q4 = 2025-10-01..2025-12-31:
# closed in Q4: D1 won (red), D2 won (red), D3 lost (red), D4 lost (blue, on 12-31).
# D5 closes 2026-01-01 and D8 on 2025-09-30: outside. Created in Q4: D2 D3 D5 D6 D7.


def test_win_rate_by_hand(tiny):
    overall = pk.win_rate(tiny, "2025-Q4").row(0, named=True)
    assert (overall["won"], overall["lost"], overall["n"]) == (2, 2, 4)
    assert overall["win_rate"] == 0.5
    # Wilson 2/4, z = 1.959964: centre 0.5, half-width 0.349961 (0.150039 to 0.849961); with
    # 2 successes and 2 failures both sides take Garwood's Poisson bound:
    # chi2(0.025; 4) = 0.484419, / (2 * 4) = 0.060552, and 1 - 0.060552 = 0.939448
    assert overall["ci_low"] == pytest.approx(0.060552, abs=1e-6)
    assert overall["ci_high"] == pytest.approx(0.939448, abs=1e-6)
    assert overall["enough_data"] is False
    by_team = {r["team"]: r for r in pk.win_rate(tiny, "2025-Q4", by="team").iter_rows(named=True)}
    assert (by_team["red"]["won"], by_team["red"]["n"]) == (2, 3)
    assert (by_team["blue"]["won"], by_team["blue"]["n"]) == (0, 1)
    assert by_team["blue"]["win_rate"] == 0.0


def test_deal_flow_by_hand(tiny):
    flow = {r["team"]: r for r in pk.deal_flow(tiny, "2025-Q4", by="team").iter_rows(named=True)}
    assert (flow["red"]["created"], flow["red"]["won"], flow["red"]["lost"]) == (3, 2, 1)
    assert (flow["blue"]["created"], flow["blue"]["won"], flow["blue"]["lost"]) == (2, 0, 1)


def test_won_deal_size_by_hand(tiny):
    row = pk.won_deal_size(tiny, "2025-Q4").row(0, named=True)
    assert (row["n"], row["mean"], row["median"], row["total"]) == (2, 200.0, 200.0, 400.0)
    # Two amounts bound nothing (the log-normal interval of 100 and 300 reaches 10^42): no
    # interval, and not enough data
    assert (row["ci_low"], row["ci_high"], row["enough_data"]) == (None, None, False)


def test_cycle_length_by_hand(tiny):
    row = pk.cycle_length(tiny, "2025-Q4").row(0, named=True)
    # D1 20 days, D2 30, D3 30, D4 152 (2025-08-01 -> 2025-12-31)
    assert row["n"] == 4
    assert row["mean"] == 58.0
    assert row["median"] == 30.0
    won = pk.cycle_length(tiny, "2025-Q4", outcome="won").row(0, named=True)
    assert (won["n"], won["mean"]) == (2, 25.0)


def test_open_pipeline_by_hand(tiny):
    end = pk.open_pipeline(tiny, "2025-12-31")
    rows = {r["stage"]: r for r in end.iter_rows(named=True)}
    # open at 12-31: D5 (closes 2026-01-01, Proposal since 11-15), D6 (Proposal), D7 (Prospecting);
    # D4 closed on 12-31 itself, so it is not open at the end of that day
    assert (rows["Prospecting"]["open_deals"], rows["Prospecting"]["open_value"]) == (1, 80.0)
    assert (rows["Proposal"]["open_deals"], rows["Proposal"]["open_value"]) == (2, 600.0)
    assert rows["Proposal"]["weighted_value"] == pytest.approx(300.0)
    assert end["stage"].to_list() == ["Prospecting", "Proposal"]  # pipeline order, no closed stages
    mid = {r["stage"]: r for r in pk.open_pipeline(tiny, "2025-10-15").iter_rows(named=True)}
    # D2, D5 in Prospecting; D4 moved back to Prospecting on 10-01; D3 reached Proposal on 10-15
    assert (mid["Prospecting"]["open_deals"], mid["Prospecting"]["open_value"]) == (3, 1700.0)
    assert (mid["Proposal"]["open_deals"], mid["Proposal"]["open_value"]) == (1, 50.0)


def test_open_pipeline_defaults_to_period_end_and_needs_a_date(tiny):
    by_period = pk.open_pipeline(tiny, period="2025-Q4")
    assert by_period["as_of"][0] == dt.date(2025, 12, 31)
    with pytest.raises(ValueError):
        pk.open_pipeline(tiny)


def test_groups_with_no_rows_read_as_n_zero(tiny):
    row = pk.win_rate(tiny, "2020-Q1").row(0, named=True)
    assert row["n"] == 0 and row["win_rate"] is None and row["ci_low"] is None
    assert pk.win_rate(tiny, "2020-Q1", by="team").height == 0
    assert pk.won_deal_size(tiny, "2020-Q1")["n"][0] == 0


def test_unknown_group_column_is_a_clear_error(tiny):
    with pytest.raises(pk.DataError, match="cannot group by"):
        pk.win_rate(tiny, Q4, by="colour")


# ----------------------------------------------------------------------------- (b) independent


def _date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


@pytest.fixture(scope="module")
def sample_rows():
    return read_rows(SAMPLE / "deals.csv")


@pytest.mark.parametrize("by", ["team", "owner", "lead_source"])
def test_win_rate_matches_plain_python_and_scipy(sample, sample_rows, by):
    won, total = Counter(), Counter()
    accounts: dict[str, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    for r in sample_rows:
        closed = _date(r["closed_at"])
        if r["status"] in ("won", "lost") and closed and Q4.start <= closed <= Q4.end:
            total[r[by]] += 1
            won[r[by]] += r["status"] == "won"
            account = r["account_id"] or "deal " + r["deal_id"]  # no account: a deal alone
            accounts[r[by]][account].append(r["status"] == "won")
    got = pk.win_rate(sample, "2025-Q4", by=by)
    assert got.height == len(total)
    for row in got.iter_rows(named=True):
        key = row[by]
        assert (row["won"], row["n"]) == (won[key], total[key])
        # deals of one account are not independent: Wilson on n / design effect deals, never
        # narrower than the plain interval
        deff = design_effect_by_hand(accounts[key])
        assert row["design_effect"] == pytest.approx(deff, abs=1e-9)
        low, high = wilson_ci(won[key], total[key])
        wide_low, wide_high = modified_wilson(won[key] / deff, total[key] / deff)
        assert row["ci_low"] == pytest.approx(min(low, wide_low), abs=1e-9)
        assert row["ci_high"] == pytest.approx(max(high, wide_high), abs=1e-9)
        assert row["enough_data"] == (total[key] >= 20)
    assert (got["design_effect"] > 1).any()  # the sample's accounts do cluster a little


def _skewed_mean_interval_by_hand(values: list[float]) -> tuple[float, float]:
    """The documented interval, from its definition (tests/test_stats.py's ``_by_hand``)."""
    from tests.test_stats import _by_hand

    return _by_hand(values)


def test_deal_size_and_cycle_match_plain_python(sample, sample_rows):
    amounts, cycles = defaultdict(list), defaultdict(list)
    for r in sample_rows:
        closed = _date(r["closed_at"])
        if closed and Q4.start <= closed <= Q4.end and r["status"] in ("won", "lost"):
            cycles[r["team"]].append((closed - _date(r["created_at"])).days)
            if r["status"] == "won":
                amounts[r["team"]].append(float(r["amount"]))
    size = {r["team"]: r for r in pk.won_deal_size(sample, Q4, by="team").iter_rows(named=True)}
    cyc = {r["team"]: r for r in pk.cycle_length(sample, Q4, by="team").iter_rows(named=True)}
    for team, values in amounts.items():
        assert size[team]["n"] == len(values)
        assert size[team]["mean"] == pytest.approx(statistics.fmean(values))
        assert size[team]["median"] == pytest.approx(statistics.median(values))
        assert size[team]["total"] == pytest.approx(sum(values))
        if len(values) == 2:  # two values bound nothing
            assert (size[team]["ci_low"], size[team]["ci_high"]) == (None, None)
        if len(values) > 2:
            lo, hi = _skewed_mean_interval_by_hand(values)
            assert (size[team]["ci_low"], size[team]["ci_high"]) == (
                pytest.approx(lo, rel=0.03),
                pytest.approx(hi, rel=0.03),
            )
    for team, values in cycles.items():
        assert cyc[team]["n"] == len(values)
        assert cyc[team]["mean"] == pytest.approx(statistics.fmean(values))
        assert cyc[team]["median"] == pytest.approx(statistics.median(values))


@pytest.mark.parametrize("as_of", ["2024-06-30", "2025-03-15", "2025-12-31"])
def test_open_pipeline_matches_a_replay_of_stage_history(sample, sample_rows, as_of):
    day = dt.date.fromisoformat(as_of)
    order = {r["stage"]: int(r["order"]) for r in read_rows(SAMPLE / "stages.csv")}
    last_stage: dict[str, tuple[dt.date, int, str]] = {}
    for h in read_rows(SAMPLE / "stage_history.csv"):
        entered = _date(h["entered_at"])
        key = (entered, order[h["stage"]], h["stage"])
        if entered <= day and (h["deal_id"] not in last_stage or key > last_stage[h["deal_id"]]):
            last_stage[h["deal_id"]] = key
    count, value = Counter(), Counter()
    for r in sample_rows:
        closed = _date(r["closed_at"])
        if _date(r["created_at"]) <= day and (closed is None or closed > day):
            stage = last_stage[r["deal_id"]][2]
            count[(r["team"], stage)] += 1
            value[(r["team"], stage)] += float(r["amount"])
    got = pk.open_pipeline(sample, as_of, by="team")
    for row in got.iter_rows(named=True):
        key = (row["team"], row["stage"])
        assert row["open_deals"] == count[key]
        assert row["open_value"] == pytest.approx(value[key])
    assert got["open_deals"].sum() == sum(count.values())


def test_metrics_long_format(sample):
    long = pk.metrics_long(sample, "2025-Q4", by=["team"])
    assert long.columns[:8] == [
        "metric",
        "team",
        "value",
        "n",
        "ci_low",
        "ci_high",
        "without_amount",
        "detail",
    ]
    assert set(long["metric"]) == set(pk.metric_names())
    wr = long.filter(pl.col("metric") == "win_rate").sort("team")
    direct = pk.win_rate(sample, "2025-Q4", by="team").sort("team")
    assert wr["value"].to_list() == direct["win_rate"].to_list()
    assert wr["n"].to_list() == direct["n"].to_list()
    assert (
        long.filter(pl.col("metric") == "deals_won")["ci_low"].null_count()
        == long.filter(pl.col("metric") == "deals_won").height
    )
    with pytest.raises(KeyError, match="unknown metric"):
        pk.metrics_long(sample, "2025-Q4", metrics=["magic"])


def test_every_metric_has_a_definition_card():
    for name in pk.metric_names():
        card = pk.explain(name)
        assert card.formula and card.time_basis and card.counts and card.interval
        assert card.reading, f"{name} has no 'how to read it' note"
        assert name in card.to_markdown()
        assert "How to read it: " + card.reading in card.to_markdown()
    with pytest.raises(KeyError):
        pk.explain("nope")


# ----------------------------------------------------------------------------- (c) properties

_day = st.dates(min_value=dt.date(2024, 1, 1), max_value=dt.date(2025, 12, 31))


@st.composite
def deals_frames(draw):
    n = draw(st.integers(min_value=0, max_value=40))
    rows = []
    for i in range(n):
        created = draw(_day)
        status = draw(st.sampled_from(["open", "won", "lost"]))
        closed = None
        if status != "open":
            closed = created + dt.timedelta(days=draw(st.integers(0, 200)))
        stage = {"won": "Won", "lost": "Lost"}.get(status) or draw(
            st.sampled_from(["Prospecting", "Proposal"])
        )
        rows.append(
            {
                "deal_id": f"D{i}",
                "owner": draw(st.sampled_from(["a", "b", "c"])),
                "team": draw(st.sampled_from(["x", "y"])),
                "amount": str(draw(st.integers(0, 10_000))),
                "created_at": created.isoformat(),
                "stage": stage,
                "status": status,
                "closed_at": closed.isoformat() if closed else None,
            }
        )
    schema = {
        c: pl.String
        for c in [
            "deal_id",
            "owner",
            "team",
            "amount",
            "created_at",
            "stage",
            "status",
            "closed_at",
        ]
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def _dataset(deals: pl.DataFrame) -> pk.Dataset:
    frame = deals.with_row_index("source_row", offset=2).with_columns(
        pl.col("source_row").cast(pl.Int64)
    )
    raw = RawDataset("canonical", SAMPLE, {"deals": RawTable("deals", frame, "deals.csv")}, "test")
    return validate_raw(raw)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deals_frames(), st.sampled_from(["2024-Q3", "2025-Q1", "2025", "2024-06"]))
def test_rate_and_count_invariants(deals, period):
    ds = _dataset(deals)
    overall = pk.win_rate(ds, period).row(0, named=True)
    by_team = pk.win_rate(ds, period, by="team")
    assert by_team["n"].sum() == overall["n"]  # groups add up to the total
    assert by_team["won"].sum() == overall["won"]
    for row in [overall, *by_team.iter_rows(named=True)]:
        if row["n"]:
            assert 0 <= row["ci_low"] <= row["win_rate"] <= row["ci_high"] <= 1
    flow = pk.deal_flow(ds, period, by="owner")
    assert flow["won"].sum() == overall["won"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deals_frames(), _day)
def test_no_deal_is_both_open_and_closed(deals, as_of):
    ds = _dataset(deals)
    d = ds.deals
    open_total = pk.open_pipeline(ds, as_of)["open_deals"].sum()
    closed_by = d.filter(pl.col("closed_at") <= as_of).height
    created_by = d.filter(pl.col("created_at") <= as_of).height
    assert open_total + closed_by == created_by
    by_team = pk.open_pipeline(ds, as_of, by="team")
    assert by_team["open_deals"].sum() == open_total


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deals_frames())
def test_as_of_the_last_date_equals_the_current_state(deals):
    ds = _dataset(deals)
    if not ds.usable:
        return
    snapshot = pk.open_pipeline(ds, ds.last_date)
    current = Counter(ds.deals.filter(pl.col("status") == "open")["stage"].to_list())
    got = {r["stage"]: r["open_deals"] for r in snapshot.iter_rows(named=True) if r["open_deals"]}
    assert got == dict(current)


def test_weighted_pipeline_is_unknown_without_probabilities(tmp_path):
    from .conftest import DEALS_CSV, write_dataset

    ds = pk.load(write_dataset(tmp_path / "noprob", deals=DEALS_CSV))
    long = pk.metrics_long(ds, "2025-Q4", metrics=["weighted_pipeline", "open_value"])
    totals = {
        r["metric"]: r["value"]
        for r in long.filter(pl.col("detail").is_null()).iter_rows(named=True)
    }
    assert totals["weighted_pipeline"] is None  # not 0
    assert totals["open_value"] == 680.0  # D5 400 + D6 200 + D7 80


def test_money_and_percent_formatting():
    from pipeline_kit.formatting import fmt_days, fmt_money, fmt_pct

    assert fmt_money(21986.2) == "$21,986"
    assert fmt_money(1_234_567) == "$1.23M"
    assert fmt_money(-5) == "-$5"
    assert fmt_money(None) == fmt_pct(float("nan")) == fmt_days(None) == "–"
    assert fmt_pct(0.25) == "25.0%" and fmt_pct(0.25, 0) == "25%"


def test_velocity_needs_enough_won_deals_not_only_closed_ones(tiny):
    """Closed in 2025-Q4: D1, D2 won, D3, D4 lost (4 closed, 2 won). The mean won amount and
    cycle rest on the 2 won deals: min_n = 3 is met by the closed deals, not the won ones."""
    row = pk.velocity(tiny, "2025-Q4", min_n=3).row(0, named=True)
    assert (row["n"], row["won"], row["enough_data"]) == (4, 2, False)
    assert pk.velocity(tiny, "2025-Q4", min_n=2).row(0, named=True)["enough_data"] is True


def test_velocity_docstring_does_not_deny_its_interval():
    """The docstring said "A composite of estimates: no interval" above the paragraph on its
    ``ci_low`` / ``ci_high`` (added in the sixth session): one figure, one description."""
    doc = " ".join((pk.velocity.__doc__ or "").split())
    assert "estimates: no interval" not in doc
    assert "ci_low" in doc and "MOVER" in doc


def test_velocity_interval_is_mover_over_its_factors(sample):
    """velocity's interval, recomputed in plain Python: MOVER (Zou & Donner 2008) on the log
    scale over the win rate's Wilson interval (plain Wilson: every team has 29 or more won
    and lost deals, where the modification does not apply; widened by the design effect of
    the team's deals in their accounts as win_rate's), the average won deal's interval
    and the inverse of the average won cycle's, times the exact open count."""

    v = pk.velocity(sample, "2025-Q4", by="team")
    size = pk.won_deal_size(sample, "2025-Q4", by="team")
    cycle = pk.cycle_length(sample, "2025-Q4", by="team", outcome="won")
    z = 1.959963984540054
    closed = [
        r
        for r in read_rows(SAMPLE / "deals.csv")
        if r["status"] in ("won", "lost") and "2025-10-01" <= r["closed_at"] <= "2025-12-31"
    ]
    deffs = account_design_effects(closed, lambda r: r["team"])
    assert max(deffs.values()) > 1  # (some teams' deals cluster: the widening is tested)
    for row in v.filter(pl.col("won") >= 20).iter_rows(named=True):
        team = row["team"]
        a = size.filter(pl.col("team") == team).row(0, named=True)
        c = cycle.filter(pl.col("team") == team).row(0, named=True)
        k, n = row["won"], row["n"]
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        # on n / design_effect deals where the team's deals cluster in accounts, never narrower
        deff = deffs[team]
        wide_low, wide_high = modified_wilson(k / deff, n / deff)
        factors = [  # (estimate, low, high)
            (p, min(centre - half, wide_low), max(centre + half, wide_high)),
            (a["mean"], a["ci_low"], a["ci_high"]),
            (1 / c["mean"], 1 / c["ci_high"], 1 / c["ci_low"]),
        ]
        down = math.sqrt(sum(math.log(e / lo) ** 2 for e, lo, _ in factors))
        up = math.sqrt(sum(math.log(hi / e) ** 2 for e, _, hi in factors))
        estimate = row["open_qualified"] * math.prod(e for e, _, _ in factors)
        assert estimate == pytest.approx(row["velocity_per_day"], rel=1e-9)
        assert row["ci_low"] == pytest.approx(estimate * math.exp(-down), rel=1e-9)
        assert row["ci_high"] == pytest.approx(estimate * math.exp(up), rel=1e-9)
    # fewer than 5 won deals: the average won deal has no interval, nor has velocity
    few = v.filter(pl.col("won") < 5)
    assert few.height and few["ci_low"].is_null().all()
