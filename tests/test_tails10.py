"""Tenth session (wt-tails10): the Pareto-tail route of the skewed mean interval (A5), against
an independent computation (scipy or plain Python)."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from scipy import integrate, stats

import pipeline_kit as pk
from pipeline_kit.stats import (
    _pareto_mean_pivot,
    pareto_tailed,
    skewed_mean_interval,
)

# ----------------------------------------------------------------------------- A5


def _pareto_quantiles(alpha: float, m: int) -> np.ndarray:
    """m Pareto(alpha) values at the probabilities (i - 1/2) / m: untied, Pareto-shaped."""
    return (1 - (np.arange(1, m + 1) - 0.5) / m) ** (-1 / alpha)


def _likelihood_check_by_scipy(values: np.ndarray) -> bool:
    """Do the logarithms fit a shifted exponential better than a normal (scipy's MLE fits)?"""
    y = np.log(values)
    loc, scale = stats.expon.fit(y)  # (MLE: loc = min, scale = mean - min)
    exponential = stats.expon.logpdf(y, loc, scale).sum()
    mu, sd = stats.norm.fit(y)  # (MLE: divisor m)
    return bool(exponential > stats.norm.logpdf(y, mu, sd).sum())


def test_pareto_tailed_on_pareto_and_log_normal_quantiles():
    """60 Pareto quantiles: untied, the logs exponential, so the likelihood check (scipy)
    favours the Pareto, and from 50 values no Shapiro-Wilk is asked: True. 60 log-normal
    quantiles: the normal fits better: False."""
    pareto = _pareto_quantiles(1.5, 60)
    lognormal = np.exp(stats.norm.ppf((np.arange(1, 61) - 0.5) / 60))
    assert _likelihood_check_by_scipy(pareto) and pareto_tailed(pareto)
    assert not _likelihood_check_by_scipy(lognormal) and not pareto_tailed(lognormal)


def test_pareto_tailed_below_fifty_values_also_asks_shapiro_wilk():
    """30 Pareto quantiles fail Shapiro-Wilk on their logarithms (scipy): True; told the
    logs look log-normal (the kit's own check passed), False; below 20 values never."""
    pareto = _pareto_quantiles(2.0, 30)
    assert stats.shapiro(np.log(pareto)).pvalue <= 0.05
    assert _likelihood_check_by_scipy(pareto)
    assert pareto_tailed(pareto) and pareto_tailed(pareto, lognormal=False)
    assert not pareto_tailed(pareto, lognormal=True)
    assert not pareto_tailed(_pareto_quantiles(2.0, 19))


def test_pareto_tailed_never_fires_on_ties():
    """A tie among the k + 1 = 9 largest of 60 values (k = max(5, ceil(sqrt 60)) = 8), or
    fewer than 80% distinct values: False, however Pareto-shaped."""
    pareto = _pareto_quantiles(1.5, 60)
    top_tie = pareto.copy()
    top_tie[-9] = top_tie[-8]  # (the 9th largest equals the 8th)
    assert not pareto_tailed(top_tie)
    just_below_top = pareto.copy()
    just_below_top[-10] = just_below_top[-11]  # (the 10th and 11th largest: outside the top 9)
    assert pareto_tailed(just_below_top)
    many_ties = pareto.copy()
    many_ties[:26] = np.repeat(pareto[:13], 2)  # (47 distinct of 60 < 48)
    assert np.unique(many_ties).size == 47
    assert not pareto_tailed(many_ties)
    prices = np.random.default_rng(3).choice([1.0, 2.0, 5.0, 10.0], 200)
    assert not pareto_tailed(prices)


def _pivot_cdf_by_scipy(values: np.ndarray, c: float) -> float:
    """P(pivot <= c) by numerical integration: the tail index a ~ Gamma(m - 1, rate T)
    (χ²(2(m - 1)) / 2T), and given a, the mean x_m a / (a - 1) with log x_m = y_min - E /
    (m a), E ~ Exp(1) (χ²(2) / 2), is <= c when E >= m a (y_min - log(c (a - 1) / a));
    a <= 1 gives an infinite mean."""
    y = np.log(values)
    m, low = y.size, y.min()
    total = (y - low).sum()
    density = stats.gamma(m - 1, scale=1 / total).pdf

    def below(a: float) -> float:
        need = m * a * (low - math.log(c * (a - 1) / a))
        return density(a) * (1.0 if need <= 0 else math.exp(-need))

    value, _ = integrate.quad(below, 1, np.inf, limit=200)
    return value


def test_pareto_mean_pivot_matches_its_distribution_by_integration():
    values = _pareto_quantiles(2.5, 40)
    draws = _pareto_mean_pivot(values, values.size, np.random.default_rng(0), draws=200_000)
    for c in (1.4, 1.6, 1.8, 2.2, 3.0):
        assert np.mean(draws <= c) == pytest.approx(_pivot_cdf_by_scipy(values, c), abs=0.004)


def test_skewed_mean_interval_takes_the_pareto_pivot_where_routed():
    """On 60 Pareto(2.5) quantiles (routed), the upper end is at least the pivot's 97.5%
    point (the envelope; by integration) and the lower end at most its 2.5% point."""
    values = _pareto_quantiles(2.5, 60)
    low, high = skewed_mean_interval(values)
    assert high is not None
    assert _pivot_cdf_by_scipy(values, high) >= 0.975 - 0.003
    assert _pivot_cdf_by_scipy(values, low) <= 0.025 + 0.003


def test_skewed_mean_interval_has_no_upper_end_for_a_very_heavy_tail():
    """30 Pareto(1.2) quantiles: the tail index's upper 97.5% point (scipy) is below 1.2 and
    its lower 2.5% point below 1, so no mean is excluded above: no upper end."""
    values = _pareto_quantiles(1.2, 30)
    y = np.log(values)
    total = (y - y.min()).sum()
    assert stats.chi2.ppf(0.025, 2 * 29) / (2 * total) < 1
    assert pareto_tailed(values)
    low, high = skewed_mean_interval(values)
    assert high is None and low is not None and low > 0


def test_unrouted_values_keep_their_interval():
    """Values the check does not route (ties, log-normal) get the ninth session's interval:
    the same with the route switched off."""
    import pipeline_kit.stats as kit

    rng = np.random.default_rng(5)
    samples = [rng.lognormal(0, 1.5, 40), rng.choice([1.0, 2.0, 5.0, 10.0], 60)]
    route = kit.pareto_tailed
    for x in samples:
        assert not route(x[x > 0])
        got = skewed_mean_interval(x)
        kit.pareto_tailed = lambda *_args: False  # type: ignore[assignment]
        try:
            assert skewed_mean_interval(x) == got
        finally:
            kit.pareto_tailed = route


def test_summary_says_the_average_won_deal_has_no_upper_end():
    """30 won deals whose amounts are Pareto quantiles of tail index 1.2: the mean's interval
    has a lower end and no upper one, and the summary says so instead of "to –"."""
    from pipeline_kit.team_report import TeamReport

    amounts = 1000 * _pareto_quantiles(1.2, 30)
    assert skewed_mean_interval(amounts)[1] is None
    n = amounts.size
    deals = pl.DataFrame(
        {
            "deal_id": [f"D{i}" for i in range(n)],
            "owner": "ann",
            "team": "red",
            "amount": [f"{a:.2f}" for a in amounts],
            "created_at": "2025-09-01",
            "stage": "Won",
            "status": "won",
            "closed_at": [f"2025-10-{1 + i % 28:02d}" for i in range(n)],
        }
    )
    ds = pk.load({"deals": deals})
    text = TeamReport(ds, "red", "2025-Q4").summary().data
    line = next(x for x in text.splitlines() if "Won deals averaged" in x)
    assert "with no upper end" in line and "to –" not in line
