"""Interval helpers of pipeline_kit.stats against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from pipeline_kit.stats import (
    _GRID,
    grid_quantiles,
    km_curve,
    product_interval,
    skewed_mean_draws,
    skewed_mean_interval,
    wilson_interval,
)

from .conftest import wilson_ci


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


def _by_hand(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """The documented interval, from its definition: the bootstrap-t (999 resamples, numpy
    seed 0, an index matrix; never below 0) widened, when the logs of 5 or more positive values
    pass Shapiro-Wilk, to the (delta-)log-normal generalized interval, here from 400,000 pivot
    draws of its own (the kit draws 20,000: to about 3%)."""
    x = np.array(values)
    n, a = len(values), (1 - level) / 2
    mean, se = x.mean(), x.std(ddof=1) / math.sqrt(n)
    rows = x[np.random.default_rng(0).integers(0, n, size=(999, n))]
    sds = rows.std(axis=1, ddof=1)
    t_star = (rows.mean(axis=1)[sds > 0] - mean) / (sds[sds > 0] / math.sqrt(n))
    low, high = mean - np.quantile(t_star, 1 - a) * se, mean - np.quantile(t_star, a) * se
    low = max(low, 0.0)
    positive = [v for v in values if v > 0]
    logs = [math.log(v) for v in positive]
    if len(positive) >= 5 and stats.shapiro(logs).pvalue > 0.05:
        m, s2 = len(logs), float(np.var(logs, ddof=1))
        rng = np.random.default_rng(99)
        z, u = rng.standard_normal(400_000), rng.chisquare(m - 1, 400_000)
        pivot = np.exp(np.mean(logs) - z * np.sqrt(s2 / m * (m - 1) / u) + s2 * (m - 1) / (2 * u))
        if m < n:  # zeros: times the share of positive values, Beta(m + 1/2, n - m + 1/2)
            pivot = pivot * rng.beta(m + 0.5, n - m + 0.5, 400_000)
        g_low, g_high = np.quantile(pivot, [a, 1 - a])
        low, high = min(low, g_low), max(high, g_high)
    return float(low), float(high)


@pytest.mark.parametrize(
    "values",
    [
        [1200.0, 2500.0, 3100.0, 4000.0, 5200.0, 7300.0, 9800.0, 15000.0],  # log-normal looking
        [0.0, 0.0, 900.0, 2500.0, 3100.0, 4000.0, 7300.0, 9800.0, 25000.0],  # with zeros
        [10.0, 11, 12, 13, 1000, 1001, 1002, 1003, 1004, 1005],  # two clusters: bootstrap only
    ],
)
def test_skewed_mean_interval_by_its_definition(values):
    low, high = skewed_mean_interval(np.array(values))
    assert (low, high) == pytest.approx(_by_hand(values), rel=0.03)


def test_skewed_mean_interval_of_amounts_never_starts_below_zero():
    """The audit's 8 won deals: the bootstrap-t alone gave a low end of -5,764."""
    rng = np.random.default_rng(3)
    for _ in range(200):
        values = rng.lognormal(8, 2.5, 8)
        low, high = skewed_mean_interval(values)
        assert 0 <= low <= values.mean() <= high


def test_skewed_mean_interval_edge_cases():
    assert skewed_mean_interval(np.array([5.0])) == (None, None)
    assert skewed_mean_interval(np.array([5.0, 5.0, 5.0])) == (None, None)
    assert skewed_mean_interval(np.array([5.0, 7.0])) == (None, None)
    # zeros among the amounts (or durations): seeded, reproducible
    values = np.array([0.0, 1, 2, 3, 4, 5, 6, 50, 80, 200])
    first = skewed_mean_interval(values)
    assert first == skewed_mean_interval(values)
    assert first[0] < values.mean() < first[1]


def test_skewed_mean_interval_needs_five_positive_values():
    """Seven won amounts of which three are 0: the four positive ones carry all the spread,
    and such samples (5-10 values, 10-50% zeros) were covered 69-83% of the time by an
    interval labelled 95% (second audit, P11): no interval, as below 5 values. Five positive
    values among seven give one again; negative values are not amounts, the rule is off."""
    few = np.array([0.0, 0.0, 0.0, 1000.0, 2000.0, 3000.0, 4000.0])
    assert skewed_mean_interval(few) == (None, None)
    assert skewed_mean_draws(few, 100, np.random.default_rng(0)) is None
    five = np.array([0.0, 0.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0])
    low, high = skewed_mean_interval(five)
    assert low is not None and high is not None and low <= five.mean() <= high
    signed = np.array([-5.0, 0.0, 0.0, 0.0, 3.0, 4.0])
    assert skewed_mean_interval(signed)[0] is not None


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(1.0, 1e6), min_size=0, max_size=4), st.integers(1, 12))
def test_skewed_mean_interval_is_none_with_fewer_than_five_positive_values(positive, zeros):
    values = np.array(positive + [0.0] * zeros)
    assert skewed_mean_interval(values) == (None, None)


def test_km_median_test_on_the_log_log_scale_by_hand():
    from pipeline_kit.stats import km_median_test

    # 1..10 days, all closed; at 3.5 days S = 0.7. Greenwood: var = 0.7^2 * (1/(10*9) +
    # 1/(9*8) + 1/(8*7)) = 0.021, se = 0.144914; log-log se = se / |0.7 ln 0.7| = 0.580418;
    # z = (ln ln 2 - ln(-ln 0.7)) / 0.580418 = (-0.366513 + 1.030930) / 0.580418 = 1.14472
    z, p = km_median_test(np.arange(1, 11.0), np.ones(10, bool), 3.5)
    assert z == pytest.approx(1.14472, abs=1e-4)
    assert p == pytest.approx(2 * stats.norm.sf(1.14472), abs=1e-4)


def test_median_interval_is_the_binomial_order_statistics():
    from pipeline_kit.stats import median_interval

    # n = 20: j = binom.ppf(0.025, 20, 0.5) = 6, k = 20 - 6 + 1 = 15 -> (x(6), x(15));
    # coverage 1 - 2 P(X <= 5) = 1 - 2 * 0.0207 = 0.9586 >= 0.95 whatever the distribution
    assert median_interval(np.arange(1.0, 21.0)) == (6.0, 15.0)
    assert 1 - 2 * stats.binom.cdf(5, 20, 0.5) == pytest.approx(0.9586, abs=1e-4)
    # the whole range of n values covers 1 - 2 / 2^n: 93.75% at n = 5, below 95%: no interval;
    # at n = 6, 96.9%: the range (j = binom.ppf(0.025, 6, 0.5) = 0 -> 1)
    assert median_interval(np.array([5.0, 1, 4, 2, 3])) == (None, None)
    assert median_interval(np.array([6.0, 1, 4, 2, 3, 5])) == (1.0, 6.0)
    assert median_interval(np.array([300.0, 100.0])) == (None, None)
    assert median_interval(np.array([1.0])) == (None, None)


def test_median_won_deal_size_carries_its_interval_in_the_long_format(sample):
    import polars as pl

    import pipeline_kit as pk

    long = pk.metrics_long(sample, "2025-Q4", metrics=["median_won_deal_size"])
    row = long.row(0, named=True)
    assert row["ci_low"] <= row["value"] <= row["ci_high"]
    won = (
        sample.deals.filter(
            (pl.col("status") == "won")
            & pl.col("closed_at").dt.quarter().eq(4)
            & pl.col("closed_at").dt.year().eq(2025)
        )["amount"]
        .sort()
        .to_list()
    )
    n = len(won)
    j = int(stats.binom.ppf(0.025, n, 0.5))
    assert (row["ci_low"], row["ci_high"]) == (won[j - 1], won[n - j])


def test_the_docstring_examples_of_stats_run():
    import doctest

    import pipeline_kit.stats as module

    result = doctest.testmod(module)
    assert result.attempted >= 8 and result.failed == 0


def test_collateral_lift_interval_is_newcombes(sample):
    import polars as pl

    import pipeline_kit as pk

    f = pk.collateral_win_rates(sample, "2025-Q4").row(0, named=True)
    d = f["users_win_rate"] - f["peers_win_rate"]
    low = d - math.hypot(
        f["users_win_rate"] - f["users_win_rate_ci_low"],
        f["peers_win_rate_ci_high"] - f["peers_win_rate"],
    )
    high = d + math.hypot(
        f["users_win_rate_ci_high"] - f["users_win_rate"],
        f["peers_win_rate"] - f["peers_win_rate_ci_low"],
    )
    assert (f["ci_low"], f["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    long = pk.metrics_long(sample, "2025-Q4", metrics=["collateral_win_rate_lift"])
    assert long.filter(pl.col("ci_low").is_null()).height == 0


def test_product_interval_is_mover_on_the_log_scale_by_hand():
    # 12 won deals (Garwood limits from scipy's chi2) times a mean of 3.0 in [2.0, 5.0]
    k = 12
    k_low, k_high = stats.chi2.ppf(0.025, 2 * k) / 2, stats.chi2.ppf(0.975, 2 * k + 2) / 2
    frame = pl.DataFrame(
        {
            "a": [12.0, 12.0, 0.0, 12.0],
            "la": [k_low, 0.0, 0.0, k_low],
            "ha": [k_high, k_high, 3.7, k_high],
            "b": [3.0, 3.0, 3.0, 3.0],
            "lb": [2.0, 2.0, 2.0, -1.0],
            "hb": [5.0, 5.0, 5.0, None],
        }
    )
    low, high = product_interval("a", "la", "ha", "b", "lb", "hb")
    got = frame.select(low.alias("low"), high.alias("high")).rows()
    down = math.sqrt(math.log(12 / k_low) ** 2 + math.log(3 / 2) ** 2)
    up = math.sqrt(math.log(k_high / 12) ** 2 + math.log(5 / 3) ** 2)
    assert got[0] == pytest.approx((36 * math.exp(-down), 36 * math.exp(up)), rel=1e-12)
    assert got[1][0] == 0.0  # a low end of 0 for one factor: 0 for the product
    assert got[2] == (None, None)  # no positive estimate: no interval
    assert got[3] == (0.0, None)  # a negative low end counts as 0; a missing high end stays so


def test_skewed_mean_draws_reproduce_the_skewed_mean_interval():
    """Draws of the plausible mean: their 2.5% and 97.5% quantiles are the interval's ends
    (other random streams, so to about 3%), for log-normal amounts and for two clusters."""
    rng = np.random.default_rng(5)
    lognormal = rng.lognormal(0, 1.5, 25)
    bimodal = np.concatenate([np.full(15, 10.0), np.full(15, 1000.0)]) + np.arange(30.0)
    assert stats.shapiro(np.log(lognormal)).pvalue > 0.05
    assert stats.shapiro(np.log(bimodal)).pvalue < 0.05
    for values in (lognormal, bimodal):
        draws = skewed_mean_draws(values, 200_000, np.random.default_rng(0))
        expected = _by_hand(list(values))
        assert tuple(np.quantile(draws, [0.025, 0.975])) == pytest.approx(expected, rel=0.03)
    assert skewed_mean_draws(np.array([5.0]), 10, rng) is None
    assert skewed_mean_draws(np.array([5.0, 5.0]), 10, rng) is None
    assert skewed_mean_draws(np.array([5.0, 7.0]), 10, rng) is None  # two values bound nothing


@pytest.mark.parametrize("n", [1, 5, 20, 51, 120])
def test_the_rate_interval_is_modified_wilson_for_every_count(n):
    k = np.arange(n + 1)
    low, high = wilson_interval("k", "n")
    got = pl.DataFrame({"k": k, "n": np.full(n + 1, n)}).select(low.alias("l"), high.alias("h"))
    for count, (lo, hi) in zip(k, got.rows(), strict=True):
        assert (lo, hi) == pytest.approx(wilson_ci(int(count), n), abs=1e-12), count


def test_the_rate_interval_covers_near_0_and_1():
    # exact coverage (binomial probabilities of the counts whose interval holds p) over p in
    # 0.5%..99.5% at n = 20: plain Wilson falls to 0.86 (p = 0.007); the kit stays >= 0.92
    n, k = 20, np.arange(21)
    low, high = wilson_interval("k", "n")
    ci = pl.DataFrame({"k": k, "n": np.full(21, n)}).select(low.alias("l"), high.alias("h"))
    lo, hi = ci["l"].to_numpy(), ci["h"].to_numpy()
    worst = min(
        float(stats.binom.pmf(k, n, p)[(lo <= p) & (p <= hi)].sum())
        for p in np.linspace(0.005, 0.995, 199)
    )
    assert worst >= 0.92


def test_wilson_bounds_hold_the_estimate_exactly_at_the_edges():
    """No successes: the lower bound is 0, not 2.8e-17 (rounding, at n = 7, 9, 12, ...); all
    successes: the upper bound is 1. The interval always holds k / n."""
    n = list(range(1, 61))
    frame = pl.DataFrame({"k": [0] * 60 + n + [m // 3 for m in n], "n": n * 3})
    low, high = wilson_interval("k", "n")
    out = frame.with_columns(
        low.alias("low"), high.alias("high"), (pl.col("k") / pl.col("n")).alias("p")
    )
    assert set(out.filter(pl.col("k") == 0)["low"]) == {0.0}
    assert set(out.filter(pl.col("k") == pl.col("n"))["high"]) == {1.0}
    assert out.select(
        ((pl.col("low") <= pl.col("p")) & (pl.col("p") <= pl.col("high"))).all()
    ).item()


def test_fisher_mid_p_size_is_near_five_percent_but_not_below_it_everywhere():
    """The exact size of the mid-p test at 5%, 20 deals against 200 both at a rate p: the sum
    over every (k1, k2) of binomial probabilities where p <= 0.05. At p = 0.53 it is 5.85%
    (second audit, P13): the docstring said "within Monte-Carlo error of 5% at most"; at a
    rare rate (0.02) it is below 5%. The p-values come from an independent hypergeometric
    sum (scipy), not from the function."""
    from pipeline_kit.stats import fisher_mid_p_test

    def mid_p(k1: int, n1: int, k2: int, n2: int) -> float:
        big, won = n1 + n2, k1 + k2
        x = np.arange(max(0, n1 - (big - won)), min(won, n1) + 1)
        pmf = stats.hypergeom.pmf(x, big, won, n1)
        obs = stats.hypergeom.pmf(k1, big, won, n1)
        same = np.isclose(pmf, obs, rtol=1e-7, atol=0)
        return float(pmf[(pmf < obs) & ~same].sum() + 0.5 * pmf[same].sum())

    n1, n2 = 20, 200
    reject = np.array([[mid_p(a, n1, b, n2) <= 0.05 for b in range(n2 + 1)] for a in range(n1 + 1)])
    assert reject[7, 40] == (fisher_mid_p_test(7, n1, 40, n2)[1] <= 0.05)

    def size(p: float) -> float:
        return float(
            stats.binom.pmf(np.arange(n1 + 1), n1, p)
            @ reject
            @ stats.binom.pmf(np.arange(n2 + 1), n2, p)
        )

    assert 0.057 < size(0.53) < 0.060
    assert size(0.02) < 0.05
    doc = " ".join((fisher_mid_p_test.__doc__ or "").split())
    assert "5.85%" in doc and "within Monte-Carlo error of 5% at most" not in doc


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.floats(-1e6, 1e6) | st.sampled_from([0.0, 1.0, 2.0, np.inf]), min_size=1, max_size=60
    ),
    st.lists(st.floats(0, 1), min_size=1, max_size=20),
)
def test_grid_quantiles_are_numpys_quantiles_bit_for_bit(values, probabilities):
    """One sort and numpy's own index and interpolation formulas: the same numbers as
    np.quantile (ties, infinities, probabilities 0 and 1), for both methods the skewed-mean
    interval uses, at its grid and at any probabilities."""
    x = np.array(values)
    for q in (np.array(probabilities), _GRID, 1 - _GRID):
        for method in ("linear", "inverted_cdf"):
            with np.errstate(invalid="ignore"):
                want = np.quantile(x, q, method=method)
                got = grid_quantiles(x, q, method)
            assert np.array_equal(got, want, equal_nan=True), (method, q)
