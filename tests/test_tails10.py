"""Tenth session (wt-tails10): the Pareto-tail route of the skewed mean interval (A5) and the
stage conversion's design effect pooled over its rows; each against an independent
computation (scipy or plain Python)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import integrate, stats

import pipeline_kit as pk
from pipeline_kit.stats import (
    _pareto_mean_pivot,
    pareto_tailed,
    pooled_accounts_design_effect,
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


def test_skewed_mean_interval_does_not_take_the_pareto_pivot():
    """The route was simulated and not taken (A5 stays open: two clusters of amounts fire
    the check and then have no upper end): Pareto-looking values keep the bootstrap-t /
    log-normal interval, with an upper end."""
    import pipeline_kit.stats as kit

    rng = np.random.default_rng(3)
    mixture = np.concatenate([rng.lognormal(np.log(1e4), 0.5, 15), rng.lognormal(13.8, 0.5, 15)])
    assert pareto_tailed(mixture)  # (what made the route unusable)
    for values in (_pareto_quantiles(2.5, 60), _pareto_quantiles(1.2, 30), mixture):
        low, high = skewed_mean_interval(values)
        assert low is not None and high is not None
        route = kit.pareto_tailed
        kit.pareto_tailed = lambda *_args: False  # type: ignore[assignment]
        try:
            assert skewed_mean_interval(values) == (low, high)
        finally:
            kit.pareto_tailed = route


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


# ----------------------------------------------------------------------------- item 2


def _pooled_by_hand(sides: dict[str, dict[str, list[bool]]]) -> dict[str, float]:
    """Plain Python: one ICC from the one-way ANOVA with accounts nested in the sides, each
    side around its own rate (Donner & Klar 2000, §4.2); deff_s = 1 + (Σ m² / N_s - 1) ICC,
    the ICC rounded to 10 places as the kit rounds it (its last bits vary with row order)."""
    n_total = sum(len(v) for acc in sides.values() for v in acc.values())
    k_total = sum(len(acc) for acc in sides.values())
    free = k_total - len(sides)
    between = within = squares_over_n = 0.0
    for accounts in sides.values():
        n_s = sum(len(v) for v in accounts.values())
        rate = sum(sum(v) for v in accounts.values()) / n_s
        squares_over_n += sum(len(v) ** 2 for v in accounts.values()) / n_s
        for v in accounts.values():
            m, p = len(v), sum(v) / len(v)
            between += m * (p - rate) ** 2
            within += m * p * (1 - p)
    icc = 0.0
    if free >= 1 and n_total > k_total:
        msb, msw = between / free, within / (n_total - k_total)
        m0 = (n_total - squares_over_n) / free
        denominator = msb + (m0 - 1) * msw
        if denominator > 0:
            icc = round(min(max((msb - msw) / denominator, 0.0), 1.0), 10)  # (as the kit)
    return {
        side: 1
        + (sum(len(v) ** 2 for v in acc.values()) / sum(len(v) for v in acc.values()) - 1) * icc
        for side, acc in sides.items()
    }


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.sampled_from(["A", "B", "C", "D", "E", None]),
            st.booleans(),
        ),
        min_size=1,
        max_size=30,
    )
)
def test_pooled_accounts_design_effect_matches_plain_python(rows):
    frame = pl.LazyFrame(
        {
            "g": [r[0] for r in rows],
            "deal_id": [f"d{i}" for i in range(len(rows))],
            "account_id": [r[1] for r in rows],
            "won": [r[2] for r in rows],
        },
        schema={"g": pl.String, "deal_id": pl.String, "account_id": pl.String, "won": pl.Boolean},
    )
    got = dict(pooled_accounts_design_effect(frame, ["g"], pl.col("won")).collect().rows())
    sides: dict[str, dict[str, list[bool]]] = {}
    known: dict[str, bool] = {}
    for i, (g, account, won) in enumerate(rows):
        sides.setdefault(g, {}).setdefault(account or f"own {i}", []).append(won)
        known[g] = known.get(g, False) or account is not None
    expected = _pooled_by_hand(sides)
    assert set(got) == set(sides)
    for g, value in got.items():
        if not known[g]:
            assert value is None
        else:
            assert value == pytest.approx(expected[g], abs=1e-9)
            assert value >= 1


def _two_team_cohorts() -> pk.Dataset:
    """Red: accounts A (2 advanced), B (2 dropped); blue: C (1 advanced, 1 dropped), D (2
    advanced), E (1 dropped); all entering Prospecting in 2025-Q4 and decided by December."""
    plan = [
        ("red", "A", "advanced"),
        ("red", "A", "advanced"),
        ("red", "B", "dropped"),
        ("red", "B", "dropped"),
        ("blue", "C", "advanced"),
        ("blue", "C", "dropped"),
        ("blue", "D", "advanced"),
        ("blue", "D", "advanced"),
        ("blue", "E", "dropped"),
    ]
    deals, history = [], []
    for i, (team, account, kind) in enumerate(plan):
        entered = dt.date(2025, 10, 1) + dt.timedelta(days=i)
        moved = (entered + dt.timedelta(days=5)).isoformat()
        deals.append(
            {
                "deal_id": f"D{i}",
                "owner": "ann",
                "team": team,
                "account_id": account,
                "amount": "100",
                "created_at": str(entered),
                "stage": "Proposal" if kind == "advanced" else "Lost",
                "status": "lost" if kind == "dropped" else "open",
                "closed_at": moved if kind == "dropped" else None,
            }
        )
        history.append({"deal_id": f"D{i}", "stage": "Prospecting", "entered_at": str(entered)})
        stage = "Proposal" if kind == "advanced" else "Lost"
        history.append({"deal_id": f"D{i}", "stage": stage, "entered_at": moved})
    stages = pl.DataFrame(
        {
            "stage": ["Prospecting", "Proposal", "Won", "Lost"],
            "order": ["1", "2", "3", "4"],
            "probability": ["0.1", "0.5", "1", "0"],
            "is_won": ["false", "false", "true", "false"],
            "is_lost": ["false", "false", "false", "true"],
        }
    )
    return pk.load(
        {
            "deals": pl.DataFrame(deals, schema=dict.fromkeys(deals[0], pl.String)),
            "stages": stages,
            "stage_history": pl.DataFrame(history),
        }
    )


def test_stage_conversion_pools_the_icc_over_its_rows():
    """By team, each team's design effect comes from one ICC over both teams (plain Python):
    red alone would give 1 + (2 - 1) · 1 = 2 (its accounts all one way), blue alone its own
    ICC; pooled, red gets 1 + (2 - 1) · ICC and blue 1 + (9/5 - 1) · ICC."""
    from tests.conftest import clustered_wilson_ci

    ds = _two_team_cohorts()
    f = pk.stage_conversion(ds, "2025-Q4", by="team", as_of="2025-12-31")
    rows = {r["team"]: r for r in f.filter(pl.col("stage") == "Prospecting").iter_rows(named=True)}
    expected = _pooled_by_hand(
        {
            "red": {"A": [True, True], "B": [False, False]},
            "blue": {"C": [True, False], "D": [True, True], "E": [False]},
        }
    )
    assert 1 < expected["red"] < 2  # (the pooled ICC is below red's own 1)
    for team, (k, n) in (("red", (2, 4)), ("blue", (3, 5))):
        row = rows[team]
        assert (row["advanced"], row["entered"], row["pending"]) == (k, n, 0)
        assert row["design_effect"] == pytest.approx(expected[team], abs=1e-12)
        low, high = clustered_wilson_ci(k, n, expected[team])
        assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), abs=1e-12)


def test_summary_says_the_average_won_deal_has_no_upper_end():
    """A mean's interval with a lower end and no upper one (its upper end overflows): the
    summary says so instead of "to –"."""
    import pipeline_kit.metrics.deals as deals_module
    from pipeline_kit.team_report import TeamReport

    amounts = 1000 * _pareto_quantiles(1.2, 30)
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
    # (an upper end that overflows, as a Pareto pivot's would: the interval itself no longer
    # takes one, see test_skewed_mean_interval_does_not_take_the_pareto_pivot)
    interval = deals_module.skewed_mean_interval
    deals_module.skewed_mean_interval = lambda values, *a, **k: (interval(values, *a, **k)[0], None)
    try:
        text = TeamReport(ds, "red", "2025-Q4").summary().data
    finally:
        deals_module.skewed_mean_interval = interval
    line = next(x for x in text.splitlines() if "Won deals averaged" in x)
    assert "with no upper end" in line and "to –" not in line
