"""Ninth session's audit of the intervals (wt-audit9): the win rate by amount's interval.

Each figure is computed here independently (plain Python, scipy) from tiny hand-made data.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeline_kit as pk
from pipeline_kit.stats import weighted_share_design_effect

from .conftest import amount_share_design_effect, modified_wilson, write_dataset


def _effect(amounts: list[float], won: list[bool]) -> float | None:
    frame = pl.DataFrame({"a": amounts, "w": won}, schema={"a": pl.Float64, "w": pl.Boolean})
    return frame.select(weighted_share_design_effect(pl.col("a"), pl.col("w"))).item()


def test_amount_share_design_effect_by_hand() -> None:
    # 1, 1, 2 (won, lost, won): R = 3/4; Kish 3 · 6 / 4² = 9/8; v = 3/2 · (1 · 1/16 + 1 ·
    # 9/16 + 4 · 1/16) / 16 = 21/256, linearised 3 v / (3/4 · 1/4) = 21/16, the larger
    assert _effect([1.0, 1.0, 2.0], [True, False, True]) == pytest.approx(21 / 16)
    # no deal won: the share is 0, only Kish's applies: 2 · (1 + 9) / 4² = 5/4
    assert _effect([1.0, 3.0], [False, False]) == pytest.approx(5 / 4)
    # equal amounts, half won: Kish 1, linearised n / (n - 1) = 4/3
    assert _effect([5.0] * 4, [True, False, True, False]) == pytest.approx(4 / 3)
    # every amount 0: no share, no effect
    assert _effect([0.0, 0.0], [True, False]) is None


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0.5, 1e6), st.booleans()),
        min_size=1,
        max_size=30,
    )
)
def test_amount_share_design_effect_matches_plain_python(deals: list[tuple[float, bool]]) -> None:
    got = _effect([a for a, _ in deals], [w for _, w in deals])
    want = amount_share_design_effect(deals)
    assert got == pytest.approx(want, rel=1e-9)
    assert got >= 1.0


def test_win_rate_by_amount_interval_is_wilson_on_effective_deals(tmp_path) -> None:
    # one team, closed in 2025-Q4: amounts 100 (won), 300 (won), 50 (lost), 1000 (lost),
    # 400 (won) and a lost deal with no amount (left out)
    deals = (
        "deal_id,owner,team,amount,created_at,stage,status,closed_at\n"
        "D1,ann,red,100,2025-09-15,Won,won,2025-10-05\n"
        "D2,ann,red,300,2025-10-01,Won,won,2025-10-31\n"
        "D3,bob,red,50,2025-10-02,Lost,lost,2025-11-01\n"
        "D4,bob,red,1000,2025-08-01,Lost,lost,2025-12-01\n"
        "D5,cat,red,400,2025-10-10,Won,won,2025-12-20\n"
        "D6,cat,red,,2025-10-10,Lost,lost,2025-12-21\n"
    )
    ds = pk.load(write_dataset(tmp_path, deals=deals))
    row = (
        pk.win_rate_alternatives(ds, "2025-Q4")
        .filter(pl.col("definition") == "amount_closed")
        .row(0, named=True)
    )
    amounts = [(100.0, True), (300.0, True), (50.0, False), (1000.0, False), (400.0, True)]
    share = 800 / 1850
    deff = amount_share_design_effect(amounts)
    # by hand: Kish 5 · (1e4 + 9e4 + 2500 + 1e6 + 1.6e5) / 1850² = 1.8444...
    assert pytest.approx(1.844411979547) == 5 * 1_262_500 / 1850**2
    assert deff >= 5 * 1_262_500 / 1850**2
    assert (row["deals"], row["value"]) == (5, pytest.approx(share))
    assert row["design_effect"] == pytest.approx(deff)
    low, high = modified_wilson(share * 5, 5)
    wide_low, wide_high = modified_wilson(share * 5 / deff, 5 / deff)
    assert row["ci_low"] == pytest.approx(min(low, wide_low))
    assert row["ci_high"] == pytest.approx(max(high, wide_high))
    assert row["ci_low"] < share < row["ci_high"]


def test_win_rate_by_amount_with_no_win_has_an_upper_end(tmp_path) -> None:
    # the percentile bootstrap gave 0%-0% here: every resample has no won deal
    deals = (
        "deal_id,owner,team,amount,created_at,stage,status,closed_at\n"
        "D1,ann,red,100,2025-09-15,Lost,lost,2025-10-05\n"
        "D2,ann,red,300,2025-10-01,Lost,lost,2025-10-31\n"
        "D3,bob,red,50,2025-10-02,Lost,lost,2025-11-01\n"
    )
    ds = pk.load(write_dataset(tmp_path, deals=deals))
    row = (
        pk.win_rate_alternatives(ds, "2025-Q4")
        .filter(pl.col("definition") == "amount_closed")
        .row(0, named=True)
    )
    kish = 3 * (100**2 + 300**2 + 50**2) / 450**2
    assert row["design_effect"] == pytest.approx(kish)
    # Wilson's upper end with no success on 3 / kish deals: z² / (m + z²)
    z2 = 1.959963984540054**2
    assert (row["value"], row["ci_low"]) == (0.0, 0.0)
    assert row["ci_high"] == pytest.approx(z2 / (3 / kish + z2))


def test_mix_adjusted_interval_is_wilson_on_the_effective_deals(tmp_path) -> None:
    # team A: stratum X 3 deals (0 won: too sparse, borrows the organisation's 20/40), Y 30
    # (9 won); team B: X 37 (20 won), Y 10 (1 won). Weights 40/80 = 0.5 each. A's adjusted
    # rate 0.5 · 0.5 + 0.5 · 0.3 = 0.40 on n_eff = 1 / (0.25 / 40 + 0.25 / 30) deals; B's
    # 0.5 · 20/37 + 0.5 · 0.1 on 1 / (0.25 / 37 + 0.25 / 10)
    cells = [("A", "X", 3, 0), ("A", "Y", 30, 9), ("B", "X", 37, 20), ("B", "Y", 10, 1)]
    rows, i = [], 0
    for team, source, n, won in cells:
        for j in range(n):
            status = "won" if j < won else "lost"
            rows.append(
                f"D{i},o{team},{team},100,2025-10-01,{status.title()},{status},2025-11-01,{source}"
            )
            i += 1
    header = "deal_id,owner,team,amount,created_at,stage,status,closed_at,lead_source\n"
    ds = pk.load(write_dataset(tmp_path, deals=header + "\n".join(rows) + "\n"))
    got = {r["team"]: r for r in pk.mix_adjusted_win_rate(ds, "2025-Q4").iter_rows(named=True)}
    for team, rate, n_eff in (
        ("A", 0.40, 1 / (0.25 / 40 + 0.25 / 30)),
        ("B", 0.5 * 20 / 37 + 0.05, 1 / (0.25 / 37 + 0.25 / 10)),
    ):
        low, high = modified_wilson(rate * n_eff, n_eff)
        assert got[team]["adjusted"] == pytest.approx(rate)
        assert (got[team]["ci_low"], got[team]["ci_high"]) == (
            pytest.approx(low),
            pytest.approx(high),
        )


def _exact_spearman_p(x: list[float], y: list[float]) -> float:
    """Two-sided exact permutation p of Spearman's rho, in plain Python (mid-ranks)."""
    from itertools import permutations

    def ranks(v: list[float]) -> list[float]:
        order = sorted(v)
        return [order.index(a) + (order.count(a) - 1) / 2 + 1 for a in v]

    def rho(a: list[float], b: list[float]) -> float:
        ma, mb = sum(a) / len(a), sum(b) / len(b)
        num = sum((p - ma) * (q - mb) for p, q in zip(a, b, strict=True))
        den = (sum((p - ma) ** 2 for p in a) * sum((q - mb) ** 2 for q in b)) ** 0.5
        return num / den

    rx, ry = ranks(x), ranks(y)
    observed = abs(rho(rx, ry))
    null = [abs(rho(rx, [ry[i] for i in order])) for order in permutations(range(len(x)))]
    return sum(r >= observed - 1e-12 for r in null) / len(null)


def test_spearman_p_is_exact_for_a_few_reps() -> None:
    from scipy import stats

    from pipeline_kit.stats import spearman_test

    # three reps in the same order: scipy's t approximation says p = 0; exactly 2 of the 6
    # orderings are as extreme
    assert stats.spearmanr([1, 2, 3], [4, 5, 9]).pvalue < 1e-6
    assert spearman_test(np.array([1.0, 2, 3]), np.array([4.0, 5, 9])) == (
        pytest.approx(1.0),
        pytest.approx(1 / 3),
    )
    # ties among the wins (0, 0, 1, 1, 2) and 6 reps
    cases = [
        ([40.0, 35, 52, 38, 61, 44], [0.0, 1, 1, 0, 2, 1]),
        ([12.0, 30, 25, 8, 19], [1.0, 3, 2, 0, 2]),
        ([5.0, 9, 7, 3, 11, 2, 8, 6], [1.0, 1, 0, 0, 2, 0, 1, 3]),
    ]
    for x, y in cases:
        rho, p = spearman_test(np.array(x), np.array(y))
        assert rho == pytest.approx(stats.spearmanr(x, y).statistic)
        assert p == pytest.approx(_exact_spearman_p(x, y))
    # from 9 reps: scipy's p
    x, y = [float(v) for v in range(9)], [3.0, 1, 4, 1, 5, 9, 2, 6, 5]
    assert spearman_test(np.array(x), np.array(y))[1] == pytest.approx(stats.spearmanr(x, y).pvalue)
