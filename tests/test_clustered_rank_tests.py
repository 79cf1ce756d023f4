"""pk.compare's cycle (log-rank) and deal-size (Brunner-Munzel) tests when deals share accounts.

The tests divide their statistic by the square root of a design effect: the cluster-robust
variance of their per-deal scores over the variance with the deals independent
(`stats.score_design_effect`). Each piece is checked against a hand-worked fixture and
against plain Python over the rows; the size is measured in `bench/coverage.py --clu11-only`.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

import pipeline_kit as pk
from pipeline_kit import stats
from pipeline_kit.comparisons.significance import ROBUST_TO_ACCOUNTS

from . import plain_clustered as plain

# ----------------------------------------------------------------------------- the pieces


def test_score_design_effect_by_hand():
    # sums per account: A = 1 + 1 = 2, B = -2; robust 2/(2-1) * (4 + 4) = 16; independent
    # 4/3 * (1 + 1 + 1 + 1) = 16/3: 3
    assert stats.score_design_effect(
        np.array([1.0, 1, -1, -1]), np.array(["A", "A", "B", "B"])
    ) == pytest.approx(3.0)
    # scores of one account cancelling: robust below independent, floored at 1
    assert stats.score_design_effect(np.array([1.0, -1, 1, -1]), np.array(list("AABB"))) == 1.0


@settings(max_examples=60)
@given(
    st.lists(
        st.tuples(st.floats(-5, 5, allow_nan=False), st.integers(0, 6)), min_size=1, max_size=40
    )
)
def test_score_design_effect_matches_plain_python(rows):
    scores = [s for s, _ in rows]
    clusters = [f"c{c}" for _, c in rows]
    got = stats.score_design_effect(np.array(scores), np.array(clusters))
    assert got == pytest.approx(plain.design_effect(scores, clusters), rel=1e-9, abs=1e-12)
    assert got >= 1.0
    # every deal its own account: exactly 1, whatever order the accounts sort in (a design
    # effect of 1 + 1e-16 would refer the test to Student's t instead of leaving it as it was)
    assert stats.score_design_effect(np.array(scores), np.arange(len(scores))) == 1.0
    backwards = np.array([f"k{len(scores) - i:03d}" for i in range(len(scores))])
    assert stats.score_design_effect(np.array(scores), backwards) == 1.0


@settings(max_examples=60)
@given(
    st.lists(st.tuples(st.integers(1, 12), st.booleans(), st.booleans()), min_size=2, max_size=30)
)
def test_logrank_scores_match_plain_python_and_sum_to_observed_less_expected(rows):
    t = [float(a) for a, _, _ in rows]
    d = [b for _, b, _ in rows]
    x = [int(c) for _, _, c in rows]
    got = stats.logrank_scores(np.array(t), np.array(d), np.array(x, dtype=bool))
    assert got == pytest.approx(plain.logrank_scores(t, d, x), abs=1e-9)
    # O_a - E_a: a's closings less the expected ones at each closing time
    observed = sum(1 for ti, di, xi in zip(t, d, x, strict=True) if di and xi)
    expected = 0.0
    for tk in sorted({ti for ti, di in zip(t, d, strict=True) if di}):
        risk = [j for j in range(len(t)) if t[j] >= tk]
        events = sum(1 for j in range(len(t)) if t[j] == tk and d[j])
        expected += events * sum(x[j] for j in risk) / len(risk)
    assert got.sum() == pytest.approx(observed - expected, abs=1e-9)


def test_logrank_scores_by_hand():
    # a closes on day 1, b on day 2: a scores (1 - 1/2) - 1/2 (1 - 1/2) = 1/4, b 0 - 1/2 (0 - 1/2)
    got = stats.logrank_scores(np.array([1.0, 2]), np.array([True, True]), np.array([True, False]))
    assert got.tolist() == [0.25, 0.25]


@settings(max_examples=60)
@given(
    st.lists(st.integers(0, 6), min_size=1, max_size=25),
    st.lists(st.integers(0, 6), min_size=1, max_size=25),
)
def test_superiority_scores_match_plain_python(a, b):
    sa, sb = stats.superiority_scores(np.array(a, float), np.array(b, float))

    def placement(v: int, among: list[int]) -> float:
        return (sum(u < v for u in among) + 0.5 * sum(u == v for u in among)) / len(among)

    estimate = sum(placement(v, b) for v in a) / len(a)
    assert sa == pytest.approx([(placement(v, b) - estimate) / len(a) for v in a], abs=1e-12)
    assert sb == pytest.approx([-(placement(v, a) - (1 - estimate)) / len(b) for v in b], abs=1e-12)
    # the estimate is Mann-Whitney's U / (n_a n_b)
    u = sps.mannwhitneyu(a, b).statistic if len(set(a) | set(b)) > 1 else len(a) * len(b) / 2
    assert estimate == pytest.approx(u / (len(a) * len(b)))
    assert sa.sum() == pytest.approx(0, abs=1e-12) and sb.sum() == pytest.approx(0, abs=1e-12)


def test_deflated_p_by_hand():
    # z = 1.95996 / 2 = 0.97998; 2 (1 - Phi(0.97998)) = 0.32708
    assert stats.deflated_p(0.05, 4.0) == pytest.approx(0.32708, abs=5e-5)
    assert stats.deflated_p(0.05, 1.0) == 0.05
    assert stats.deflated_p(0.0, 2.0) == 0.0


# ----------------------------------------------------------------------------- in pk.compare


def _organisation(rng: np.random.Generator, clustered: bool) -> pk.Dataset:
    """Two teams, 60 deals each in 2025-Q4, in accounts of 3 that share their cycle and size."""
    rows = []
    for team in ("red", "blue"):
        for a in range(20):
            level = rng.normal()
            for k in range(3):
                i = len(rows)
                days = 1 + int(rng.exponential(30 * math.exp(level)))
                won = rng.random() < 0.4
                created = np.datetime64("2025-10-01") + int(rng.integers(0, 60))
                shut = created + days
                closed = shut <= np.datetime64("2025-12-31")
                rows.append(
                    {
                        "deal_id": f"d{i}",
                        "owner": "o",
                        "team": team,
                        "account_id": f"{team}{a}" if clustered else f"{team}{a}-{k}",
                        "amount": f"{math.exp(9 + level + rng.normal()):.2f}",
                        "created_at": str(created),
                        "stage": ("Won" if won else "Lost") if closed else "Open",
                        "status": ("won" if won else "lost") if closed else "open",
                        "closed_at": str(shut) if closed else None,
                    }
                )
    return pk.load({"deals": pl.DataFrame(rows)})


def _rows(ds: pk.Dataset) -> pl.DataFrame:
    return pk.compare(ds, "2025-Q4", trailing_quarters=0, mix=None).filter(
        pl.col("metric").is_in(["cycle_length_km_days", "median_won_deal_size"]),
        pl.col("kind") == "rest_of_org",
    )


def test_deals_in_shared_accounts_widen_the_cycle_and_size_tests():
    ds = _organisation(np.random.default_rng(3), clustered=True)
    got = _rows(ds)
    blind = _rows(pk.load({"deals": ds.deals.drop("account_id")}))
    assert got.height == blind.height == 4
    widened = 0
    for now, before in zip(got.iter_rows(named=True), blind.iter_rows(named=True), strict=True):
        if now["test"] == before["test"] + ROBUST_TO_ACCOUNTS:  # a design effect above 1
            widened += 1
            assert now["p_value"] > before["p_value"]
        else:  # the accounts' scores cancel: the test as it was
            assert (now["test"], now["p_value"]) == (before["test"], before["p_value"])
    # the cycles of an account's three deals move together: both cycle rows are widened
    assert widened >= 2
    assert (
        got.filter(pl.col("metric") == "cycle_length_km_days")["test"]
        .str.ends_with(ROBUST_TO_ACCOUNTS)
        .all()
    )


def test_every_deal_its_own_account_changes_nothing():
    ds = _organisation(np.random.default_rng(3), clustered=False)
    got = _rows(ds)
    blind = _rows(pk.load({"deals": ds.deals.drop("account_id")}))
    assert got.select("test", "p_value").equals(blind.select("test", "p_value"))
