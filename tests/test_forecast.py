"""The bookings forecast, its baselines, backtest and calibration.

Expected values are worked out by hand (the tiny fixture below) or computed independently in
plain Python over rows; the Monte Carlo figures are compared with their exact expectations
within a tolerance of several standard errors.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import pipeline_kit as pk
from pipeline_kit.forecasting._state import shift_months
from pipeline_kit.forecasting.backtest import _scores, checkpoint_days
from pipeline_kit.forecasting.baselines import baseline_forecasts
from pipeline_kit.forecasting.model import forecast_windows
from pipeline_kit.periods import Period
from pipeline_kit.synthetic import generate
from tests.conftest import SAMPLE
from tests.shapes import SHAPES, write_shape

D = dt.date

STAGES = pl.DataFrame(
    {
        "stage": ["Prospecting", "Proposal", "Won", "Lost"],
        "order": [1, 2, 3, 4],
        "probability": [0.1, 0.5, 1.0, 0.0],
        "is_won": [False, False, True, False],
        "is_lost": [False, False, False, True],
    }
)


def _tiny(extra: tuple[tuple, ...] = ()) -> pk.Dataset:
    """Forecast of 2025-Q3 made at 2025-06-30 (the day before it starts).

    The one earlier period is 2025-Q2; its same point is 2025-03-31 (and a week later,
    2025-04-07; a week earlier is before the data). P1-P4 were open in Prospecting on both days;
    P1-P3 were won inside the window (by 2025-06-30), P4 lost: 3 of 4. N1 was created after
    2025-03-31 and won inside Q2: one new deal of 200. At 2025-06-30, C1 (Prospecting, 1000)
    and C2 (Proposal, 500: no past example in Proposal) are open. ``extra``: more closed
    deals, rows as below (created in Prospecting, then straight to their last stage).
    """
    rows = [
        # deal_id, amount, created, stage, status, closed
        ("P1", 100.0, D(2025, 3, 25), "Won", "won", D(2025, 5, 15)),
        ("P2", 100.0, D(2025, 3, 25), "Won", "won", D(2025, 6, 10)),
        ("P3", 100.0, D(2025, 3, 25), "Won", "won", D(2025, 6, 25)),
        ("P4", 100.0, D(2025, 3, 25), "Lost", "lost", D(2025, 5, 1)),
        ("N1", 200.0, D(2025, 4, 10), "Won", "won", D(2025, 5, 20)),
        ("C1", 1000.0, D(2025, 6, 1), "Prospecting", "open", None),
        ("C2", 500.0, D(2025, 6, 2), "Proposal", "open", None),
        *extra,
    ]
    deals = pl.DataFrame(
        rows,
        schema=["deal_id", "amount", "created_at", "stage", "status", "closed_at"],
        orient="row",
    ).with_columns(pl.lit("ann").alias("owner"), pl.lit("red").alias("team"))
    history = pl.concat(
        [
            deals.select("deal_id", pl.lit("Prospecting").alias("stage"), pl.col("created_at")),
            deals.filter(pl.col("closed_at").is_not_null()).select(
                "deal_id", "stage", pl.col("closed_at").alias("created_at")
            ),
            pl.DataFrame(
                {"deal_id": ["C2"], "stage": ["Proposal"], "created_at": [D(2025, 6, 20)]}
            ),
        ]
    ).rename({"created_at": "entered_at"})
    targets = pl.DataFrame(
        {
            "team": ["red"],
            "period_start": [D(2025, 7, 1)],
            "period_end": [D(2025, 9, 30)],
            "target": [1000.0],
        }
    )
    return pk.load({"deals": deals, "stage_history": history, "stages": STAGES, "targets": targets})


def test_hand_computed_fixture():
    ds = _tiny()
    f = pk.forecast(ds, "2025-Q3", as_of="2025-06-30", draws=40_000, seed=3, past_periods=1)
    row = f.summary.row(0, named=True)
    assert row["won_to_date"] == 0.0
    assert row["open_deals"] == 2 and row["open_amount"] == 1500.0
    assert row["past_periods"] == 1 and row["examples"] == 4
    assert row["target"] == 1000.0
    # C1: three Beta levels (stage, stage x age, stage x age x size), each with n = 4, w = 3:
    # top (3 + 0.5) / (4 + 1) = 0.7; then (10 x 0.7 + 3) / 14 = 0.714286; then
    # (10 x 0.714286 + 3) / 14 = 0.724490. C2: no example, Jeffreys mean 0.5 at every level.
    p = dict(zip(f.deals["deal_id"], f.deals["p_win_in_period"], strict=True))
    assert p["C1"] == pytest.approx(0.724490, abs=0.01)
    assert p["C2"] == pytest.approx(0.5, abs=0.01)
    # stage-only org rate of C1's stage: 3 / 4; C2's stage has none
    rates = dict(zip(f.deals["deal_id"], f.deals["stage_rate_in_period"], strict=True))
    assert rates["C1"] == 0.75 and np.isnan(rates["C2"])
    # new deals: one in the single past window; rate ~ Gamma(1 + 0.5, 1), mean 1.5 x 200
    assert row["expected_from_new"] == pytest.approx(300.0, abs=12)
    assert row["expected_from_open"] == pytest.approx(724.49 + 250.0, abs=12)
    assert row["mean"] == pytest.approx(1274.49, abs=20)
    assert row["p10"] <= row["p50"] <= row["p90"]
    assert 0 < row["p_reach_target"] < 1


def test_windows_end_by_as_of_and_on_the_past_periods_last_day():
    w = forecast_windows(Period.parse("2025-Q4"), D(2025, 10, 31), D(2023, 10, 28), 8)
    past = w.past
    assert past["window_last"].max() <= D(2025, 10, 31)
    ends = {shift_months(D(2025, 12, 31), -3 * k) for k in range(1, 9)}
    assert set(past["window_last"].to_list()) <= ends
    main = past.filter(pl.col("main"))["snapshot"].to_list()
    assert main == sorted(shift_months(D(2025, 10, 31), -3 * k) for k in range(1, 9))
    assert w.periods == 8
    # a week before the oldest (2023-10-24) is before the data's first day (2023-10-28)
    assert D(2023, 10, 24) not in past["snapshot"].to_list()
    assert D(2023, 11, 7) in past["snapshot"].to_list()


def test_a_day_a_week_early_needs_its_deals_open_until_the_main_days_gap():
    # 2025-Q4 forecast on 2025-09-16, two periods back (one back, 2025-Q3, had not ended):
    # 2025-03-16 (main), 03-09 and 03-23; every window opens on 2025-04-01. The main day's
    # deals have 15 days to close before it (as today's have 14), the day a week early 22:
    # its deals must still be open on the main day; the day a week late has 8: none drops.
    w = forecast_windows(Period.parse("2025-Q4"), D(2025, 9, 16), D(2024, 1, 1), 2)
    rows = {r[0]: r[1:] for r in w.past.select("snapshot", "window_first", "open_through").rows()}
    assert rows[D(2025, 3, 16)] == (D(2025, 4, 1), D(2025, 3, 16))
    assert rows[D(2025, 3, 9)] == (D(2025, 4, 1), D(2025, 3, 16))
    assert rows[D(2025, 3, 23)] == (D(2025, 4, 1), D(2025, 3, 23))
    # a month into the quarter every window opens the day after its past day: none drops
    w = forecast_windows(Period.parse("2025-Q4"), D(2025, 10, 31), D(2024, 1, 1), 1)
    assert w.past.filter(pl.col("snapshot") != pl.col("open_through")).height == 0
    # at the quarter's start the day a week early keeps the deals open on the main day
    w = forecast_windows(Period.parse("2025-Q4"), D(2025, 9, 30), D(2024, 1, 1), 1)
    rows = {r[0]: r[1:] for r in w.past.select("snapshot", "window_first", "open_through").rows()}
    assert rows[D(2025, 6, 23)] == (D(2025, 7, 1), D(2025, 6, 30))
    assert rows[D(2025, 6, 30)] == (D(2025, 7, 1), D(2025, 6, 30))
    assert rows[D(2025, 7, 7)] == (D(2025, 7, 8), D(2025, 7, 7))


def test_a_deal_signed_before_a_week_early_days_window_is_no_example():
    # _tiny() with G1, created 2025-03-20 (so 2025-03-24, a week before the past day
    # 2025-03-31, is in the data) and won on 2025-03-28: open on 03-24, closed before its
    # window (2025-04-01 ..) opens. A forecast made the day before 2025-Q3 has no such days
    # (its window opens the next day), so G1 is no example; P1-P4 (3 won of 4) are the
    # examples as in test_hand_computed_fixture, and C1's chance is the same 0.724490.
    ds = _tiny((("G1", 100.0, D(2025, 3, 20), "Won", "won", D(2025, 3, 28)),))
    f = pk.forecast(ds, "2025-Q3", as_of="2025-06-30", draws=40_000, seed=3, past_periods=1)
    assert f.summary["examples"][0] == 4
    p = dict(zip(f.deals["deal_id"], f.deals["p_win_in_period"], strict=True))
    assert p["C1"] == pytest.approx(0.724490, abs=0.01)


def test_the_organisation_is_its_teams_summed_draw_by_draw(sample):
    from pipeline_kit.forecasting.model import simulated_groups

    assert simulated_groups(sample, []) == ["team"]
    assert simulated_groups(sample, ["team"]) == ["team"]
    assert simulated_groups(sample, ["owner"]) == ["owner", "team"]
    assert simulated_groups(_tiny(), []) == []  # one team: nothing to split
    org = pk.forecast(sample, "2025-Q4", as_of="2025-10-31", draws=300, seed=5)
    teams = pk.forecast(sample, "2025-Q4", as_of="2025-10-31", by="team", draws=300, seed=5)
    summed = teams.samples.group_by("draw").agg(pl.col("bookings").sum()).sort("draw")
    assert org.samples["bookings"].to_list() == pytest.approx(summed["bookings"].to_list())
    # the quantiles are those of the summed draws (plain NumPy over them)
    p10, p50, p90 = np.quantile(summed["bookings"].to_numpy(), [0.1, 0.5, 0.9])
    row = org.summary.row(0, named=True)
    assert (row["p10"], row["p50"], row["p90"]) == pytest.approx((p10, p50, p90))
    assert org.summary["examples"][0] == pytest.approx(teams.summary["examples"].sum(), rel=0.05)


def _as_known_on(ds: pk.Dataset, day: dt.date) -> dict[str, pl.DataFrame]:
    """The export as it would have been taken at the end of ``day``."""
    history = ds.stage_history.filter(pl.col("entered_at") <= day)
    last_stage = history.sort("entered_at").group_by("deal_id").agg(pl.col("stage").last())
    deals = (
        ds.deals.filter(pl.col("created_at") <= day)
        .join(last_stage.rename({"stage": "stage_then"}), on="deal_id", how="left")
        .with_columns(
            pl.when(pl.col("closed_at") > day)
            .then(pl.lit("open"))
            .otherwise(pl.col("status"))
            .alias("status"),
            pl.when(pl.col("closed_at") > day)
            .then(pl.col("stage_then"))
            .otherwise(pl.col("stage"))
            .alias("stage"),
            pl.when(pl.col("closed_at") <= day).then(pl.col("closed_at")).alias("closed_at"),
        )
        .drop("stage_then", "source_row")
    )
    return {
        "deals": deals,
        "stage_history": history.drop("source_row"),
        "stages": ds.stages.drop("source_row"),
        "targets": ds.targets.drop("source_row"),
    }


def test_nothing_after_as_of_is_used(sample):
    """The forecast from the full export equals the forecast from the export as it was on
    as_of (future deals removed, later closes and stage changes undone)."""
    day = D(2025, 10, 31)
    then = pk.load(_as_known_on(sample, day))
    for by in (None, "team"):
        a = pk.forecast(sample, "2025-Q4", as_of=day, by=by, draws=300, seed=5)
        b = pk.forecast(then, "2025-Q4", as_of=day, by=by, draws=300, seed=5)
        assert a.summary.equals(b.summary)
        assert a.samples.equals(b.samples)


def test_same_seed_same_figures_other_seed_other_draws(sample):
    a = pk.forecast(sample, "2025-Q4", as_of="2025-11-15", draws=200, seed=1)
    b = pk.forecast(sample, "2025-Q4", as_of="2025-11-15", draws=200, seed=1)
    c = pk.forecast(sample, "2025-Q4", as_of="2025-11-15", draws=200, seed=2)
    assert a.samples.equals(b.samples)
    assert not a.samples.equals(c.samples)


def test_team_parts_add_up_to_the_organisation(sample):
    org = pk.forecast(sample, "2025-Q4", as_of="2025-10-31", draws=200)
    teams = pk.forecast(sample, "2025-Q4", as_of="2025-10-31", by="team", draws=200)
    for column in ("won_to_date", "open_deals", "open_amount"):
        assert teams.summary[column].sum() == pytest.approx(org.summary[column][0])
    # the won-to-date figure, independently: won deals closed 2025-10-01 .. 2025-10-31
    won = sum(
        amount
        for amount, status, closed in sample.deals.select("amount", "status", "closed_at").rows()
        if status == "won" and closed is not None and D(2025, 10, 1) <= closed <= D(2025, 10, 31)
    )
    assert org.summary["won_to_date"][0] == pytest.approx(won)


def test_quantiles_and_markdown(sample):
    f = pk.forecast(sample, "2025-Q4", as_of="2025-10-31", by="team", draws=400)
    q = f.quantiles([0.05, 0.5, 0.95])
    assert q.columns == ["team", "q5", "q50", "q95"]
    assert (q["q5"] <= q["q50"]).all() and (q["q50"] <= q["q95"]).all()
    assert "Bookings forecast for 2025-Q4" in f._repr_markdown_()


def test_refuses_what_it_cannot_forecast(sample):
    with pytest.raises(ValueError, match="bookings are known"):
        pk.forecast(sample, "2025-Q3", as_of="2025-10-31")


def test_forecast_without_any_earlier_period_says_so():
    ds = _tiny()
    f = pk.forecast(ds, "2025-Q2", as_of="2025-04-30", draws=100)
    row = f.summary.row(0, named=True)
    assert row["past_periods"] == 0
    assert "no earlier period" in row["note"]
    assert row["p10"] == row["p90"] == row["won_to_date"]


def _plain_baselines(ds: pk.Dataset, day: dt.date) -> dict[str, float]:
    """crm_weighted and stage_rate at ``day`` for 2025-Q4, in plain Python over rows."""
    deals = ds.deals.rows(named=True)
    history = sorted(ds.stage_history.rows(named=True), key=lambda r: r["entered_at"])
    prob = {r["stage"]: r["probability"] for r in ds.stages.rows(named=True)}
    won = sum(
        d["amount"]
        for d in deals
        if d["status"] == "won" and D(2025, 10, 1) <= d["closed_at"] <= day
    )
    stage_then: dict[str, str] = {}
    for h in history:
        if h["entered_at"] <= day:
            stage_then[h["deal_id"]] = h["stage"]
    visited: dict[str, set[str]] = {}
    for h in history:
        if h["entered_at"] <= day:
            visited.setdefault(h["stage"], set()).add(h["deal_id"])
    closed = {
        d["deal_id"]: d["status"] == "won"
        for d in deals
        if d["status"] in ("won", "lost") and d["closed_at"] <= day
    }
    rate = {}
    for stage, ids in visited.items():
        outcomes = [closed[i] for i in ids if i in closed]
        rate[stage] = sum(outcomes) / len(outcomes) if outcomes else 0.0
    crm = emp = 0.0
    for d in deals:
        if d["created_at"] <= day and (d["closed_at"] is None or d["closed_at"] > day):
            stage = stage_then[d["deal_id"]]
            crm += d["amount"] * prob[stage]
            emp += d["amount"] * rate.get(stage, 0.0)
    return {"crm_weighted": won + crm, "stage_rate": won + emp}


def test_baselines_against_plain_python(sample):
    day = D(2025, 11, 15)
    frame = baseline_forecasts(sample, "2025-Q4", day)
    got = dict(zip(frame["baseline"], frame["point"], strict=True))
    expected = _plain_baselines(sample, day)
    assert got["crm_weighted"] == pytest.approx(expected["crm_weighted"])
    assert got["stage_rate"] == pytest.approx(expected["stage_rate"])

    # run rate = 2025-Q3's bookings; same period last year = 2024-Q4's
    def booked(a: dt.date, b: dt.date) -> float:
        return sum(
            amount
            for amount, status, closed in sample.deals.select(
                "amount", "status", "closed_at"
            ).rows()
            if status == "won" and a <= closed <= b
        )

    assert got["run_rate"] == pytest.approx(booked(D(2025, 7, 1), D(2025, 9, 30)))
    assert got["same_period_last_year"] == pytest.approx(booked(D(2024, 10, 1), D(2024, 12, 31)))
    pacing = booked(D(2025, 10, 1), day) + booked(D(2024, 11, 16), D(2024, 12, 31))
    assert got["pacing_last_year"] == pytest.approx(pacing)


def test_crps_and_pinball_by_hand():
    # ensemble {0, 1, 2}, outcome 1: E|X - y| = 2/3, E|X - X'| / 2 = (8/9) / 2 -> CRPS = 2/9
    s = _scores(np.array([1.0]), np.array([[0.0, 1.0, 2.0]]))
    assert s["crps"][0] == pytest.approx(2 / 9)
    # a single-number forecast: CRPS is the absolute error
    s = _scores(np.array([10.0]), np.array([[7.0, 7.0, 7.0, 7.0]]))
    assert s["crps"][0] == pytest.approx(3.0)
    assert s["pinball_50"][0] == pytest.approx(0.5 * 3.0)
    assert s["pinball_90"][0] == pytest.approx(0.9 * 3.0)
    assert s["pinball_10"][0] == pytest.approx(0.1 * 3.0)
    assert s["pit"][0] == 1.0 and not s["in_80"][0]


def test_checkpoints():
    q = Period.parse("2025-Q1")
    assert [d for _, d in checkpoint_days(q, "start")] == [D(2024, 12, 31)]
    assert [d for _, d in checkpoint_days(q, "monthly")] == [
        D(2024, 12, 31),
        D(2025, 1, 31),
        D(2025, 2, 28),
    ]
    weekly = checkpoint_days(q, "weekly")
    assert weekly[1] == ("week 1", D(2025, 1, 7))
    assert all(d < D(2025, 3, 25) for _, d in weekly)
    with pytest.raises(ValueError, match="checkpoints"):
        checkpoint_days(q, "daily")


def test_backtest_scores_every_forecast(sample):
    bt = pk.backtest_forecast(sample, periods=["2025-Q3", "2025-Q4"], draws=300)
    model = bt.forecasts.filter(pl.col("method") == "model")
    assert model.height == 6  # two quarters x three checkpoints
    assert model["as_of"].max() < D(2025, 12, 31)
    assert model["pit"].is_between(0, 1).all()
    assert (model["crps"] >= 0).all()
    # actuals, independently
    booked = {
        label: sum(
            amount
            for amount, status, closed in sample.deals.select(
                "amount", "status", "closed_at"
            ).rows()
            if status == "won" and p.start <= closed <= p.end
        )
        for label, p in (("2025-Q3", Period.parse("2025-Q3")), ("2025-Q4", Period.parse("2025-Q4")))
    }
    for label, actual in model.select("period", "actual").rows():
        assert actual == pytest.approx(booked[label])
    summary = bt.summary()
    assert {"model", "crm_weighted", "stage_rate"} <= set(summary["method"])
    assert bt.pit_histogram()["forecasts"].sum() == 6
    deals = bt.deals
    assert {"won_in_period", "won_eventually", "p_win_in_period"} <= set(deals.columns)


def test_calibration_stage_table_against_the_generators_truth():
    """The observed win rate of each stage lies within its interval of the average true
    probability of the same deals (the generator's own, never read by the kit)."""
    tables = generate(4000, seed=11, truth=True)
    truth = tables.pop("truth")
    ds = pk.load(tables)
    cal = pk.probability_calibration(ds)
    closed = ds.deals.filter(pl.col("status") != "open").select("deal_id")
    visited = ds.stage_history.select("deal_id", "stage").unique().join(closed, on="deal_id")
    expected = (
        visited.join(truth, on=["deal_id", "stage"])
        .group_by("stage")
        .agg(pl.col("p_win_eventually").mean().alias("truth"))
    )
    joined = cal.stages.join(expected, on="stage")
    assert joined.height == 5
    for row in joined.iter_rows(named=True):
        slack = 0.03  # deals cut at 14 moves and closed-by-export selection
        assert row["ci_low"] - slack <= row["truth"] <= row["ci_high"] + slack, row


def test_calibration_scores_by_hand():
    bt = pk.forecasting.Backtest(
        [],
        pl.DataFrame(),
        pl.DataFrame(
            {
                "stage": ["Proposal", "Prospecting", "Proposal", "Prospecting"],
                "p_win_in_period": [0.9, 0.1, 0.5, 0.5],
                "won_in_period": [True, False, True, False],
                "stage_rate_in_period": [0.5, 0.5, 0.5, 0.5],
                "crm_probability": [0.8, 0.2, 0.5, None],
                "won_eventually": [True, False, None, False],
            }
        ),
    )
    cal = pk.probability_calibration(_tiny(), bt, bins=2)
    model = cal.scores.filter(pl.col("source") == "model").row(0, named=True)
    # Brier (0.01 + 0.01 + 0.25 + 0.25) / 4 = 0.13; reference 0.25; skill 1 - 0.13/0.25 = 0.48
    assert model["brier"] == pytest.approx(0.13)
    assert model["brier_skill"] == pytest.approx(0.48)
    # bins [0, .5): p 0.1, y 0 -> |0 - 0.1|; [.5, 1]: p .9 .5 .5, y 1 1 0 -> |2/3 - 19/30|
    assert model["ece"] == pytest.approx((1 * 0.1 + 3 * abs(2 / 3 - 19 / 30)) / 4)
    # per stage: Proposal p .9 .5, y 1 1 -> (0.01 + 0.25) / 2; Prospecting .1 .5, y 0 0
    by_stage = cal.scores_by_stage.filter(pl.col("source") == "model")
    assert by_stage["stage"].to_list() == ["Prospecting", "Proposal"]  # pipeline order
    assert by_stage["brier"].to_list() == pytest.approx([(0.01 + 0.25) / 2, (0.01 + 0.25) / 2])
    crm = cal.scores.filter(pl.col("source") == "crm").row(0, named=True)
    assert crm["predictions"] == 2  # the open deal and the one without a probability left out
    assert crm["brier"] == pytest.approx((0.04 + 0.04) / 2)


@settings(max_examples=15, deadline=None)
@given(
    day=st.dates(min_value=D(2025, 7, 1), max_value=D(2025, 12, 30)),
    seed=st.integers(0, 1000),
)
def test_properties(sample, day, seed):
    assume(day != Period.quarter_of(day).end)
    f = pk.forecast(sample, Period.quarter_of(day), as_of=day, by="team", draws=200, seed=seed)
    s = f.summary
    assert (s["p10"] <= s["p50"]).all() and (s["p50"] <= s["p90"]).all()
    assert (s["p10"] >= s["won_to_date"] - 1e-9).all()
    assert s["p_reach_target"].drop_nulls().is_between(0, 1).all()
    assert f.deals["p_win_in_period"].is_between(0, 1).all()
    assert (f.samples["bookings"] >= 0).all()


def test_cli_forecast_and_backtest(tmp_path, capsys):
    from pipeline_kit.cli import main

    out = tmp_path / "f.csv"
    code = main(
        [
            "forecast",
            "--data",
            str(SAMPLE),
            "--no-cache",
            "--as-of",
            "2025-11-15",
            "--by",
            "team",
            "--draws",
            "300",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    frame = pl.read_csv(out)
    assert frame.height == 5 and {"team", "p10", "p50", "p90", "p_reach_target"} <= set(
        frame.columns
    )
    assert "forecast of 2025-Q4 as of 2025-11-15" in capsys.readouterr().out
    code = main(
        [
            "backtest",
            "--data",
            str(SAMPLE),
            "--no-cache",
            "--periods",
            "2025-Q4",
            "--checkpoints",
            "start",
            "--draws",
            "200",
            "--out",
            str(tmp_path / "b.csv"),
        ]
    )
    assert code == 0
    for name in ("b.csv", "b_summary.csv", "b_skill.csv", "b_calibration.csv"):
        assert (tmp_path / name).exists()


def test_cli_says_why_it_cannot_forecast(tmp_path, capsys):
    from pipeline_kit.cli import main

    code = main(
        [
            "forecast",
            "--data",
            str(SAMPLE),
            "--no-cache",
            "--period",
            "2025-Q3",
            "--as-of",
            "2025-10-31",
            "--out",
            str(tmp_path / "f.csv"),
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert "bookings are known" in err and "Traceback" not in err


def test_charts_render_and_say_when_empty(sample):
    from pipeline_kit import charts

    f = pk.forecast(sample, "2025-Q4", as_of="2025-11-15", by="team", draws=200)
    bt = pk.backtest_forecast(sample, periods=["2025-Q3", "2025-Q4"], draws=200)
    cal = pk.probability_calibration(sample, bt)
    built = [
        charts.forecast_chart(f.summary, "team"),
        charts.backtest_chart(bt.forecasts),
        charts.pit_histogram(bt.pit_histogram()),
        charts.reliability_diagram(cal.reliability),
    ]
    for chart in built:
        svg = charts.to_svg(chart)
        assert svg.startswith("<svg") and "No " not in svg.split("</title>")[0]
    assert "Enterprise" in charts.to_svg(built[0])
    empty = [
        charts.forecast_chart(f.summary.clear(), "team"),
        charts.backtest_chart(bt.forecasts.clear()),
        charts.pit_histogram(bt.pit_histogram().clear()),
        charts.reliability_diagram(cal.reliability.clear()),
    ]
    for chart in empty:
        assert chart.to_dict()["mark"]["type"] == "text"


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_every_export_shape(shape, tmp_path):
    """Every export shape gets a forecast, a (possibly empty) backtest and a calibration,
    or one clear sentence when it has no dates."""
    ds = pk.load(write_shape(shape, tmp_path / "d"))
    if ds.undated:
        with pytest.raises(ValueError, match="needs dated deals"):
            pk.forecast(ds, "current")
        with pytest.raises(ValueError, match="needs dated deals"):
            pk.backtest_forecast(ds)
        return
    f = pk.forecast(ds, "current", by="team", draws=200)
    assert f.summary.height >= 1
    assert (f.summary["p10"] <= f.summary["p90"]).all()
    bt = pk.backtest_forecast(ds, checkpoints="start", draws=100)
    cal = pk.probability_calibration(ds, bt)
    assert set(bt.summary().columns) >= {"method", "coverage_80"}
    # the model is scored exactly when the backtest made deal-level predictions
    assert ("model" in cal.scores["source"].to_list()) == (not bt.deals.is_empty())


def test_every_forecast_figure_has_a_card_explain_finds():
    from pipeline_kit.forecasting.cards import FORECAST_CARDS, REPORT_FORECAST_CARDS

    assert set(REPORT_FORECAST_CARDS) <= set(FORECAST_CARDS)
    for name, card in FORECAST_CARDS.items():
        assert pk.explain(name) is card
        assert card.reading and card.formula
        assert card.function in (
            "pipeline_kit.forecast",
            "pipeline_kit.backtest_forecast",
            "pipeline_kit.probability_calibration",
        )
        assert callable(getattr(pk, card.function.removeprefix("pipeline_kit.")))
    with pytest.raises(KeyError, match="forecast_bookings"):
        pk.explain("no_such_figure")


def _backtest_rows(outcomes: list[tuple[float, float, float]]) -> pl.DataFrame:
    """Quarter-start forecasts (p10, p90, actual), one per past quarter, as the backtest gives."""
    return pl.DataFrame(
        {
            "checkpoint": ["start"] * len(outcomes),
            "p10": [o[0] for o in outcomes],
            "p90": [o[1] for o in outcomes],
            "actual": [o[2] for o in outcomes],
        }
    ).with_columns(in_80=pl.col("actual").is_between(pl.col("p10"), pl.col("p90")))


def test_track_record_verdict_needs_four_quarters_and_says_the_side_of_the_misses():
    from pipeline_kit.forecasting.sections import track_record_verdict
    from pipeline_kit.formatting import Formatter

    f = Formatter("en")
    two_high = _backtest_rows([(100, 200, 80), (100, 200, 90)])  # booked below P10 twice
    assert track_record_verdict(two_high, f) == (
        "2 past quarter(s) are too few to tell how far the range can be trusted (it takes 4). "
        "In each, what was booked fell below the range: it ran high."
    )
    mixed = _backtest_rows([(100, 200, 80), (100, 200, 150), (100, 200, 250)])
    assert track_record_verdict(mixed, f).endswith("(it takes 4).")
    # 1 of 6 held: P(X <= 1 | 6, 0.8) = 0.2^6 + 6 * 0.8 * 0.2^5 = 0.0016 < 0.05; 4 misses low
    six = _backtest_rows([(100, 200, 150)] + [(100, 200, 50)] * 4 + [(100, 200, 300)])
    assert track_record_verdict(six, f) == (
        "The 80% range held what was booked in only 1 of 6 past quarters (forecast at the "
        "quarter's start), fewer than 8 in 10 beyond chance (exact binomial test, 5%); most "
        "misses were below the range: it ran high. Read the range as narrower than the real "
        "uncertainty."
    )
    # 4 of 6 held: P(X <= 4 | 6, 0.8) = 1 - 0.8^6 - 6 * 0.8^5 * 0.2 = 0.345: within chance
    within = _backtest_rows([(100, 200, 150)] * 4 + [(100, 200, 50), (100, 200, 300)])
    assert track_record_verdict(within, f) == (
        "The 80% range held what was booked in 4 of 6 past quarters (forecast at the quarter's "
        "start): within chance of 8 in 10."
    )
    # 20 of 20: P(X = 20 | 20, 0.8) = 0.8^20 = 0.0115 < 0.05: wider than needed
    wide = _backtest_rows([(0, 1000, 150)] * 20)
    assert "more than 8 in 10 beyond chance" in track_record_verdict(wide, f)
    # the report's own unfinished quarter (no actual yet) is not scored
    pending = pl.concat([within, _backtest_rows([(100, 200, 0)]).with_columns(actual=None)])
    assert track_record_verdict(pending, f) == track_record_verdict(within, f)


def test_a_forecast_on_no_complete_earlier_quarter_is_called_indicative():
    """The Pipedrive fixture's deals start in 2025-Q1: the 2025-Q2 forecast made on
    2025-03-31 has no complete earlier quarter; the sample's 2026-Q1 one has several."""
    import datetime as _dt
    from pathlib import Path

    from pipeline_kit.forecasting.sections import ForecastSection

    ds = pk.load(Path(__file__).parent / "fixtures" / "pipedrive_export")
    first = (
        ForecastSection(ds, Period.parse("2025-Q1"), _dt.date(2025, 3, 31), team="All")
        .outlook_table()
        .data.splitlines()[0]
    )
    assert "*Indicative only:* it rests on 0 complete earlier quarter(s) and " in first
    assert first.endswith("(the track record below needs 2 quarters to learn from).")
    sample = pk.load(SAMPLE)
    steady = ForecastSection(sample, Period.parse("2025-Q4"), _dt.date(2025, 12, 31), team="EMEA")
    assert "Indicative only" not in steady.outlook_table().data
