"""Interval helpers of pipeline_kit.stats against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from pipeline_kit.stats import km_curve, skewed_mean_interval


def test_km_band_has_no_spread_where_the_curve_is_flat_at_1_or_0():
    # censored at 1 and 2 days, then events at 3, 10, 20, 30: S = 1 until day 3, 0 after 30
    durations = np.array([1, 2, 3, 10, 20, 30.0])
    observed = np.array([False, False, True, True, True, True])
    curve = km_curve(durations, observed)
    before = curve.filter(curve["days"] < 3)
    assert before["low"].to_list() == [1.0, 1.0, 1.0] == before["high"].to_list()
    last = curve.row(-1, named=True)
    assert (last["still_open"], last["low"], last["high"]) == (0.0, 0.0, 0.0)
    # S(3) = 1 - 1/4 = 0.75 (4 at risk), with a real band around it
    row = curve.filter(curve["days"] == 3).row(0, named=True)
    assert row["still_open"] == pytest.approx(0.75)
    assert 0 < row["low"] < 0.75 < row["high"] < 1


def test_cox_interval_for_log_normal_looking_amounts():
    values = [1200.0, 2500.0, 3100.0, 4000.0, 5200.0, 7300.0, 9800.0, 15000.0]
    logs = [math.log(v) for v in values]
    assert stats.shapiro(logs).pvalue > 0.05  # log-normal looking: Cox's interval
    n, mean = len(logs), sum(logs) / len(logs)
    s2 = sum((y - mean) ** 2 for y in logs) / (n - 1)
    half = stats.t.ppf(0.975, n - 1) * math.sqrt(s2 / n + s2**2 / (2 * (n - 1)))
    low, high = skewed_mean_interval(np.array(values))
    assert (low, high) == (
        pytest.approx(math.exp(mean + s2 / 2 - half)),
        pytest.approx(math.exp(mean + s2 / 2 + half)),
    )


def test_skewed_mean_interval_edge_cases():
    assert skewed_mean_interval(np.array([5.0])) == (None, None)
    assert skewed_mean_interval(np.array([5.0, 5.0, 5.0])) == (None, None)
    # a zero amount (or duration) has no logarithm: the bootstrap, seeded, reproducible
    values = np.array([0.0, 1, 2, 3, 4, 5, 6, 50, 80, 200])
    first = skewed_mean_interval(values)
    assert first == skewed_mean_interval(values)
    assert first[0] < values.mean() < first[1]
