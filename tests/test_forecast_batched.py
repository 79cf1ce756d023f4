"""The backtest's shared snapshots give the figures of forecasts computed one at a time.

:func:`pk.backtest_forecast` computes the deals open on every day its forecasts and baselines
read in one query (:class:`Snapshots`); :func:`pk.forecast` and :func:`baseline_forecasts`
called alone still query each day themselves (:func:`open_deals_on`). They are the reference:
the backtest's rows must equal theirs bit for bit.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pipeline_kit as pk
from pipeline_kit.forecasting._state import Snapshots, open_deals_on
from pipeline_kit.forecasting.backtest import checkpoint_days
from pipeline_kit.forecasting.baselines import baseline_forecasts
from pipeline_kit.periods import Period

D = dt.date


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("snapshot", "deal_id")


@pytest.mark.parametrize("groups", [[], ["team"]])
def test_snapshots_are_the_deals_open_on_each_day(sample, groups):
    days = [D(2024, 3, 31), D(2024, 6, 30), D(2025, 9, 30), D(2025, 10, 7), D(2025, 11, 30)]
    before = sample.first_date - dt.timedelta(days=10)  # nothing open yet
    known = Snapshots(sample, [*days, before], groups)
    for wanted in ([days[0]], days[1:3], days, [before], []):
        alone = open_deals_on(sample, wanted, groups).collect()
        shared = known.on(wanted).collect()
        assert shared.columns == alone.columns
        assert_frame_equal(_sorted(shared), _sorted(alone), check_exact=True)
    assert known.on([before]).collect().height == 0
    with pytest.raises(ValueError, match="not computed"):
        known.on([D(2024, 1, 1)])


@pytest.mark.parametrize("by", [None, "team"])
def test_backtest_rows_equal_forecasts_made_one_at_a_time(sample, by):
    draws, seed = 200, 7
    periods = ["2025-Q3", "2025-Q4"]
    bt = pk.backtest_forecast(sample, periods=periods, by=by, draws=draws, seed=seed)
    groups = [by] if by else []
    plan = [
        (Period.parse(p), label, day)
        for p in periods
        for label, day in checkpoint_days(Period.parse(p), "monthly")
    ]
    assert len(plan) == 6
    for i, (period, label, day) in enumerate(plan):
        alone = pk.forecast(sample, period, as_of=day, by=by, draws=draws, seed=seed + i)
        rows = bt.forecasts.filter(
            (pl.col("period") == period.label) & (pl.col("checkpoint") == label)
        )
        model = rows.filter(pl.col("method") == "model")
        keys = alone.summary.select(groups) if groups else None
        if keys is not None:
            assert model.select(groups).equals(keys)
        bookings = alone.samples["bookings"].to_numpy().reshape(model.height, draws)
        p10, p50, p90 = np.quantile(bookings, [0.1, 0.5, 0.9], axis=1)
        assert model["p10"].to_list() == p10.tolist()
        assert model["p50"].to_list() == p50.tolist()
        assert model["p90"].to_list() == p90.tolist()
        deals = bt.deals.filter((pl.col("period") == period.label) & (pl.col("as_of") == day))
        assert_frame_equal(deals.select(alone.deals.columns), alone.deals, check_exact=True)
        points = baseline_forecasts(sample, period, day, by=by, keys=keys)
        baselines = rows.filter(pl.col("method") != "model")
        for name, point in points.select("baseline", "point").rows():
            got = baselines.filter(pl.col("method") == name)["point"].to_list()
            expected = points.filter(pl.col("baseline") == name)["point"].to_list()
            assert got == expected, (name, point)


@pytest.mark.parametrize("seed", range(6))
def test_add_rows_is_add_at_bit_for_bit(seed):
    """The forecast sums each deal's draws into its group with ``add_rows``; ``np.add.at``
    (sequential, in the rows' order) is the reference: the same floats, bit for bit."""
    from pipeline_kit.forecasting.model import add_rows

    rng = np.random.default_rng(seed)
    groups, deals, draws = int(rng.integers(1, 30)), int(rng.integers(0, 2500)), 300
    keys = rng.integers(0, groups, deals)
    rows = (rng.random((deals, draws)) < 0.4) * rng.lognormal(9, 2.5, deals)[:, None]
    rows[: deals // 10] *= -1.0  # negative amounts and -0.0 too
    start = np.where(rng.random((groups, draws)) < 0.5, 0.0, rng.lognormal(12, 1, (groups, draws)))
    expected, got = start.copy(), start.copy()
    np.add.at(expected, keys, rows)
    add_rows(got, keys, rows)
    assert expected.tobytes() == got.tobytes()
