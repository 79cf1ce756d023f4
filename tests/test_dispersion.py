"""Over-dispersion: p-chart limits that allow for quarter-to-quarter swings (P5 of the
intervals audit).

Expected values are worked out by hand from the documented formulas; the beta-binomial
quantiles come from scipy directly, not from the kit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import pipeline_kit as pk
from pipeline_kit.stats import dispersed_p_chart_limits, p_chart_limits
from tests.conftest import quarterly_cohorts

TAIL = stats.norm.sf(3)


def _limits_by_hand(m: float, variance: float, n: int) -> tuple[float, float]:
    """The tail quantiles of beta-binomial(n) whose Beta has mean m and this variance."""
    s = m * (1 - m) / variance - 1
    a, b = m * s, (1 - m) * s
    return stats.betabinom.ppf(TAIL, n, a, b) / n, stats.betabinom.isf(TAIL, n, a, b) / n


def test_steady_quarters_give_the_pooled_limits() -> None:
    # 30 of 100 every quarter: Σ n_i (p_i - p̄)² = 0, so τ² = max(0, -7 · 0.21 / ...) = 0
    k, n = np.full((1, 8), 30), np.full((1, 8), 100)
    low, high, tau = dispersed_p_chart_limits(k, n, np.array([100]))
    pooled = stats.betabinom(100, 240.5, 560.5)
    assert tau.tolist() == [0.0]
    assert (low[0], high[0]) == (pooled.ppf(TAIL) / 100, pooled.isf(TAIL) / 100)
    assert (low[0], high[0]) == tuple(x[0] for x in p_chart_limits(240, 800, np.array([100])))


def test_swinging_quarters_widen_the_limits_by_hand() -> None:
    # 25 and 35 of 100 in turn: p̄ = 0.3, Σ n_i (p_i - p̄)² = 8 · 100 · 0.05² = 2,
    # (Q - 1) p̄ (1 - p̄) = 7 · 0.21 = 1.47, N - Σ n_i² / N = 800 - 80000/800 = 700
    k = np.array([[25, 35] * 4])
    n = np.full((1, 8), 100)
    low, high, tau = dispersed_p_chart_limits(k, n, np.array([100]))
    tau2 = (2 - 1.47) / 700
    assert tau[0] == pytest.approx(np.sqrt(tau2), rel=1e-12)
    m = 240.5 / 801
    c = (stats.t.isf(TAIL, 6) / stats.norm.isf(TAIL)) ** 2  # Q - 2 = 6 degrees of freedom
    variance = m * (1 - m) / 802 + tau2 * (c + 8 * 100**2 / 800**2)
    assert (low[0], high[0]) == pytest.approx(_limits_by_hand(m, variance, 100))
    pooled_low, pooled_high = p_chart_limits(240, 800, np.array([100]))
    assert low[0] < pooled_low[0] and high[0] > pooled_high[0]


def test_too_few_quarters_or_no_deals() -> None:
    # two past quarters: no swing can be estimated, the pooled limits; no trials now: NaN
    k = np.array([[20, 40, 0], [20, 40, 30]])
    n = np.array([[100, 100, 0], [100, 100, 100]])
    low, high, tau = dispersed_p_chart_limits(k, n, np.array([100, 0]))
    assert np.isnan(tau).tolist() == [True, True]
    assert (low[0], high[0]) == tuple(x[0] for x in p_chart_limits(60, 200, np.array([100])))
    assert np.isnan([low[1], high[1]]).all()


def test_a_swing_no_beta_can_hold_gives_the_whole_range() -> None:
    # 0 of 50, 50 of 50 in turn: τ² ≈ p̄ (1 - p̄), times c > 1: wider than any Beta of mean 1/2
    low, high, _ = dispersed_p_chart_limits(
        np.array([[0, 50, 0, 50]]), np.full((1, 4), 50), np.array([50])
    )
    assert (low[0], high[0]) == (0.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 60), st.integers(1, 60)), min_size=3, max_size=8),
    st.integers(1, 80),
)
def test_never_narrower_than_the_pooled_limits(quarters: list[tuple[int, int]], now: int) -> None:
    k = np.array([[min(a, b) for a, b in quarters]])
    n = np.array([[b for _, b in quarters]])
    low, high, tau = dispersed_p_chart_limits(k, n, np.array([now]))
    pooled_low, pooled_high = p_chart_limits(k.sum(), n.sum(), np.array([now]))
    assert tau[0] >= 0
    assert low[0] <= pooled_low[0] and high[0] >= pooled_high[0]


@settings(max_examples=80, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 60), st.integers(1, 60)), min_size=3, max_size=8),
)
def test_swing_used_only_when_cochrans_q_exceeds_its_chi2_median(
    quarters: list[tuple[int, int]],
) -> None:
    # audit A3 asked for τ² only when Q > the χ²(Q - 1) median; the moment estimate is
    # already 0 unless Q > Q - 1, which is above that median. Q by hand in plain Python.
    k = [min(a, b) for a, b in quarters]
    n = [b for _, b in quarters]
    p_bar = sum(k) / sum(n)
    _, _, tau = dispersed_p_chart_limits(np.array([k]), np.array([n]), np.array([50]))
    if p_bar in (0.0, 1.0):
        assert tau[0] == 0.0
        return
    q = sum(ni * (ki / ni - p_bar) ** 2 for ki, ni in zip(k, n, strict=True))
    q /= p_bar * (1 - p_bar)
    if tau[0] > 0:
        assert q > stats.chi2.median(len(k) - 1)
    if q > len(k) - 1 + 1e-9:
        assert tau[0] > 0


def test_steady_quarters_by_hand_cochrans_q_below_the_median() -> None:
    # 28, 32, 30, 30 of 100 in four quarters: p̄ = 0.3, Σ n_i (p_i - p̄)² = 100 · 2 · 0.02² =
    # 0.08, Q = 0.08 / 0.21 = 0.381 < χ²₃ median 2.366: no swing, the pooled limits exactly
    k, n = np.array([[28, 32, 30, 30]]), np.full((1, 4), 100)
    low, high, tau = dispersed_p_chart_limits(k, n, np.array([100]))
    assert stats.chi2.median(3) > 0.08 / 0.21
    pooled = stats.betabinom(100, 120.5, 280.5)
    assert tau.tolist() == [0.0]
    assert (low[0], high[0]) == (pooled.ppf(TAIL) / 100, pooled.isf(TAIL) / 100)


def test_stage_conversion_control_allows_for_the_past_swing(tmp_path: Path) -> None:
    # past quarters: 12 and 28 of 40 in turn (0.3 / 0.7), now 8 of 40 (0.2).
    # p̄ = 0.5; Σ n_i (p_i - p̄)² = 8 · 40 · 0.04 = 12.8; 7 · 0.25 = 1.75;
    # N - Σ n_i² / N = 320 - 8 · 1600 / 320 = 280; τ² = 11.05 / 280
    ds = quarterly_cohorts(tmp_path / "swing", [12, 28] * 4 + [8], 40)
    row = (
        pk.stage_conversion_control(ds, "2025-Q4", as_of="2025-12-31")
        .filter(stage="Prospecting")
        .row(0, named=True)
    )
    assert (row["advanced"], row["n"], row["past_advanced"], row["past_n"]) == (8, 40, 160, 320)
    tau2 = 11.05 / 280
    assert row["between_sd"] == pytest.approx(np.sqrt(tau2))
    m = 160.5 / 321
    c = (stats.t.isf(TAIL, 6) / stats.norm.isf(TAIL)) ** 2
    variance = m * (1 - m) / 322 + tau2 * (c + 8 * 40**2 / 320**2)
    assert (row["lcl"], row["ucl"]) == pytest.approx(_limits_by_hand(m, variance, 40))
    assert row["signal"] == "within"
    # the pooled limits (what the chart drew before) call 0.2 a drop: beta-binomial
    # (40, 160.5, 160.5) puts less than 0.135% on 8 of 40 or fewer
    assert stats.betabinom.cdf(8, 40, 160.5, 160.5) < TAIL


def _reps(tmp_path: Path, records: dict[str, tuple[int, int]]) -> pk.Dataset:
    """One closed deal per row: each rep's (won, closed) in 2025-Q4."""
    from tests.conftest import write_dataset

    rows = ["deal_id,owner,team,amount,created_at,stage,status,closed_at"]
    for rep, (won, closed) in records.items():
        for i in range(closed):
            outcome = "Won,won" if i < won else "Lost,lost"
            rows.append(f"{rep}{i},{rep},red,100,2025-10-01,{outcome},2025-11-01")
    return pk.load(write_dataset(tmp_path / "reps", deals="\n".join(rows) + "\n"))


def test_rep_interval_is_the_reps_own_and_the_shrunk_one_is_named(tmp_path: Path) -> None:
    from tests.conftest import wilson_ci

    # a star: 9 of 10 among reps at 5 of 20 and 6 of 20
    ds = _reps(tmp_path, {"ann": (9, 10), "bob": (5, 20), "cat": (6, 20)})
    reps = pk.rep_win_rates(ds, "2025-Q4").sort("owner")
    star = reps.row(0, named=True)
    assert star["rate"] == pytest.approx(0.9)
    # ci_low / ci_high: the rep's own 95% interval of 9 of 10 (one failure: Garwood's upper
    # bound 1 - χ²(0.025; 2) / 20 = 1 - 0.0506 / 20 = 0.99873)
    assert (star["ci_low"], star["ci_high"]) == pytest.approx(wilson_ci(9, 10))
    assert star["ci_high"] == pytest.approx(1 - stats.chi2.ppf(0.025, 2) / 20)
    for row, (k, n) in zip(reps.iter_rows(named=True), [(9, 10), (5, 20), (6, 20)], strict=True):
        assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson_ci(k, n))
        # shrunk_ci_*: the Beta(k + a, n - k + b) posterior interval of the shrunk rate
        a, b = row["prior_a"], row["prior_b"]
        assert row["shrunk"] == pytest.approx((k + a) / (n + a + b))
        assert (row["shrunk_ci_low"], row["shrunk_ci_high"]) == pytest.approx(
            (stats.beta.ppf(0.025, k + a, n - k + b), stats.beta.isf(0.025, k + a, n - k + b))
        )
    # the shrunk interval pulls the star to the middle, below their own rate's interval centre
    assert star["shrunk_ci_high"] < star["ci_high"] and star["shrunk"] < star["rate"]


def _wilson_by_hand(k: float, n: float) -> tuple[float, float]:
    """The plain Wilson score interval, written out (k and n may be effective counts)."""
    z = stats.norm.ppf(0.975)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return centre - half, centre + half


def _accounts(tmp_path: Path, rows: list[tuple[str, str, str]], *, with_accounts: bool = True):
    """Closed deals of 2025-Q4: (team, account, won/lost) each; '' is a deal without one."""
    from tests.conftest import write_dataset

    head = "deal_id,owner,team,amount,created_at,stage,status,closed_at"
    lines = [head + (",account_id" if with_accounts else "")]
    for i, (team, account, status) in enumerate(rows):
        stage = "Won" if status == "won" else "Lost"
        line = f"d{i},ann,{team},100,2025-10-01,{stage},{status},2025-11-01"
        lines.append(line + (f",{account}" if with_accounts else ""))
    return pk.load(write_dataset(tmp_path / f"acc{with_accounts}", deals="\n".join(lines) + "\n"))


CLUSTERED = [
    # red: accounts A (2 won), B (2 lost), C (1 won), and a lost deal without an account
    ("red", "A", "won"),
    ("red", "A", "won"),
    ("red", "B", "lost"),
    ("red", "B", "lost"),
    ("red", "C", "won"),
    ("red", "", "lost"),
    # blue: six deals in six accounts: nothing to cluster
    *[("blue", f"X{i}", "won" if i < 2 else "lost") for i in range(6)],
]


def test_win_rate_interval_widens_by_the_accounts_design_effect(tmp_path: Path) -> None:
    from tests.conftest import wilson_ci

    got = pk.win_rate(_accounts(tmp_path, CLUSTERED), "2025-Q4", by="team").sort("team")
    blue, red = got.row(0, named=True), got.row(1, named=True)
    # red: m = 2, 2, 1, 1 (the deal without an account is its own), k = 2, 0, 1, 0: N = 6,
    # K = 4, p̄ = 1/2, MSB = 6 · 1/4 / 3 = 0.5, MSW = 0, ICC = 1, deff = 1 + (10/6 - 1) = 5/3
    assert red["design_effect"] == pytest.approx(5 / 3)
    wide = _wilson_by_hand(3 / (5 / 3), 6 / (5 / 3))
    plain = wilson_ci(3, 6)
    assert (red["ci_low"], red["ci_high"]) == pytest.approx(
        (min(wide[0], plain[0]), max(wide[1], plain[1]))
    )
    assert red["ci_low"] < plain[0] and red["ci_high"] > plain[1]
    # blue: single-deal accounts, design effect 1: the plain interval
    assert blue["design_effect"] == 1.0
    assert (blue["ci_low"], blue["ci_high"]) == pytest.approx(wilson_ci(2, 6))


def test_without_account_ids_the_interval_is_the_plain_one(tmp_path: Path) -> None:
    from tests.conftest import wilson_ci

    ds = _accounts(tmp_path, CLUSTERED, with_accounts=False)
    got = pk.win_rate(ds, "2025-Q4", by="team").sort("team")
    assert got["design_effect"].is_null().all()
    assert (got["ci_low"][1], got["ci_high"][1]) == pytest.approx(wilson_ci(3, 6))
    closed = pk.close_rate(ds, "2025-Q4", by="team").sort("team")
    assert closed["design_effect"].is_null().all()


def test_close_rate_uses_the_same_design_effect(tmp_path: Path) -> None:
    got = pk.close_rate(_accounts(tmp_path, CLUSTERED), "2025-10-01..2025-12-31", by="team")
    red = got.filter(team="red").row(0, named=True)
    assert (red["won"], red["n"], red["design_effect"]) == (3, 6, pytest.approx(5 / 3))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 6), st.floats(0, 1)), min_size=1, max_size=15))
def test_design_effect_lies_between_1_and_the_mean_cluster_size(
    clusters: list[tuple[int, float]],
) -> None:
    import polars as pl

    from pipeline_kit.stats import design_effect

    m = [size for size, _ in clusters]
    k = [round(size * share) for size, share in clusters]
    deff = pl.DataFrame({"m": m, "k": k}).select(design_effect()).item()
    mean_size = sum(x * x for x in m) / sum(m)  # Σ m² / N: deff at ICC = 1
    assert 1 - 1e-12 <= deff <= mean_size + 1e-12
