"""The rep flag's tests, all reps at once, against the loop over reps they replaced.

``_reference_p_values`` is the eighth session's ``_against_the_other_reps`` (one Python pass per
rep: the rep's accounts, the other reps' accounts by subtraction from the totals, the scalar
``pooled_design_effects``, ``effective_counts`` and ``fisher_mid_p_test``), kept here
unchanged as the independent reference: the vectorised code must give the same p-values
and design effects (1e-12 relative) on the sample and on small generated datasets.
"""

from __future__ import annotations

from math import comb

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline_kit as pk
from pipeline_kit import stats
from pipeline_kit.comparisons.shrinkage import _rep_design_effects
from pipeline_kit.metrics._common import as_period, closed_in

from .conftest import pooled_design_effects_by_hand

REL = 1e-12


def _reference_sides(ds, closed, scope, by, reps):
    """Per rep, the accounts' ``m_j``, ``k_j``: the rep's (in scope), the other reps'."""
    if "account_id" not in ds.schema("deals"):
        return None
    account = pl.coalesce(pl.col("account_id"), pl.lit("\x00deal ") + pl.col("deal_id"))

    def per_account(frame):
        return (
            frame.group_by(by, account.alias("_account"))
            .agg(
                pl.len().alias("m"),
                pl.col("status").eq("won").sum().alias("k"),
                pl.col("account_id").is_not_null().any().alias("known"),
            )
            .collect()
        )

    every = per_account(closed)
    if not every["known"].any():
        return None
    codes = every["_account"].rank("dense").cast(pl.Int64).to_numpy() - 1
    size = int(codes.max()) + 1
    total_m = np.bincount(codes, every["m"].to_numpy(), size)
    total_k = np.bincount(codes, every["k"].to_numpy(), size)
    own = per_account(closed.filter(scope)) if scope is not None else every
    rows_all = every.with_row_index("_i").group_by(by).agg("_i")
    rows_own = own.with_row_index("_i").group_by(by).agg("_i")
    of_all = {r[by]: np.asarray(r["_i"], int) for r in rows_all.iter_rows(named=True)}
    of_own = {r[by]: np.asarray(r["_i"], int) for r in rows_own.iter_rows(named=True)}
    m_all, k_all = every["m"].to_numpy(), every["k"].to_numpy()
    m_own, k_own = own["m"].to_numpy(), own["k"].to_numpy()
    sides = []
    for rep in reps[by].to_list():
        mine = of_all.get(rep, np.array([], int))
        rest_m, rest_k = total_m.copy(), total_k.copy()
        rest_m[codes[mine]] -= m_all[mine]
        rest_k[codes[mine]] -= k_all[mine]
        keep = rest_m > 0
        here = of_own.get(rep, np.array([], int))
        sides.append([(m_own[here], k_own[here]), (rest_m[keep], rest_k[keep])])
    return sides


def _reference(ds, period, scope=None, by="owner"):
    """The reps (as rep_win_rates orders them), each one's p-value and pooled design effects
    (NaN where none), one rep at a time as the eighth session computed them."""
    closed = ds.lazy("deals").filter(closed_in(as_period(period, ds)))

    def per_rep(frame):
        return (
            frame.group_by(by)
            .agg(
                pl.col("status").eq("won").sum().cast(pl.Int64).alias("won"),
                pl.len().cast(pl.Int64).alias("n"),
            )
            .sort(by)
            .collect()
        )

    everyone = per_rep(closed)
    reps = per_rep(closed.filter(scope)) if scope is not None else everyone
    own_all = reps.select(by).join(
        everyone, on=by, how="left", nulls_equal=True, maintain_order="left"
    )
    k, n = reps["won"].to_numpy(), reps["n"].to_numpy()
    k_rest = int(everyone["won"].sum()) - own_all["won"].fill_null(0).to_numpy()
    n_rest = int(everyone["n"].sum()) - own_all["n"].fill_null(0).to_numpy()
    sides = _reference_sides(ds, closed, scope, by, reps)
    p = np.empty(reps.height)
    effects = np.full((reps.height, 2), np.nan)
    for i in range(reps.height):
        t1 = t2 = None
        if sides is not None and n_rest[i] > 0:
            t1, t2 = stats.pooled_design_effects(sides[i])
            effects[i] = t1, t2
        p[i] = stats.fisher_mid_p_test(
            *stats.effective_counts(int(k[i]), int(n[i]), t1),
            *stats.effective_counts(int(k_rest[i]), int(n_rest[i]), t2),
        )[1]
    return reps, p, effects, sides


def _check_against_reference(ds, period, scope=None):
    reps_ref, p_ref, effects_ref, _ = _reference(ds, period, scope)
    out = pk.rep_win_rates(ds, period, scope=scope)
    if reps_ref.height == 0:
        assert out.height == 0
        return out
    assert out["owner"].to_list() == reps_ref["owner"].to_list()
    assert out["p_value"].to_numpy() == pytest.approx(p_ref, rel=REL, abs=0)
    closed = ds.lazy("deals").filter(closed_in(as_period(period, ds)))
    effects = _rep_design_effects(ds, closed, scope, "owner", reps_ref)
    if np.isnan(effects_ref).all():  # no accounts known, or no other rep anywhere
        assert effects is None or reps_ref.height == 1 or np.isnan(effects_ref).all()
    else:
        assert effects is not None
        got = np.stack(effects, axis=-1)
        tested = ~np.isnan(effects_ref[:, 0])
        assert got[tested] == pytest.approx(effects_ref[tested], rel=REL, abs=0)
    return out


@pytest.mark.parametrize("period", ["2025", "2025-Q4"])
def test_the_rep_flag_equals_the_loop_over_reps_on_the_sample(sample, period):
    _check_against_reference(sample, period)
    for team in sample.teams:
        _check_against_reference(sample, period, pl.col("team") == team)


def test_without_account_ids_the_rep_flag_tests_the_counts_as_they_are(sample):
    no_accounts = pk.load({"deals": sample.deals.drop("account_id")})
    out = _check_against_reference(no_accounts, "2025")
    closed = no_accounts.lazy("deals").filter(closed_in(as_period("2025", no_accounts)))
    assert _rep_design_effects(no_accounts, closed, None, "owner", out) is None


# deals: (rep, account or None, won, in scope)
_DEAL = st.tuples(
    st.sampled_from(["ann", "bob", "cat", "dev", "eve"]),
    st.one_of(st.none(), st.sampled_from(["A", "B", "C", "D"])),
    st.booleans(),
    st.booleans(),
)


def _dataset(deals: list[tuple[str, str | None, bool, bool]]) -> pk.Dataset:
    frame = pl.DataFrame(
        {
            "deal_id": [f"d{i}" for i in range(len(deals))],
            "owner": [d[0] for d in deals],
            "team": ["red" if d[3] else "blue" for d in deals],
            "amount": [100.0] * len(deals),
            "created_at": ["2025-10-01"] * len(deals),
            "stage": ["Won" if d[2] else "Lost" for d in deals],
            "status": ["won" if d[2] else "lost" for d in deals],
            "closed_at": ["2025-11-01"] * len(deals),
            "account_id": [d[1] for d in deals],
        },
        schema_overrides={"account_id": pl.String},
    )
    return pk.load({"deals": frame})


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_DEAL, min_size=1, max_size=40))
def test_the_rep_flag_equals_the_loop_over_reps_on_small_datasets(deals):
    """Reps with 0, 1 or many accounts, a rep with one deal, every deal in one account, an
    account shared by reps, deals without an account; scoped to a team or not."""
    ds = _dataset(deals)
    _check_against_reference(ds, "2025-Q4")
    _check_against_reference(ds, "2025-Q4", pl.col("team") == "red")


@pytest.mark.parametrize(
    "deals",
    [
        [("ann", "A", True, True)],  # one rep, one deal: no other rep to test against
        [("ann", "A", True, True), ("bob", "A", False, True)] * 3,  # one shared account
        [("ann", "A", i % 2 == 0, True) for i in range(6)] + [("bob", "B", False, True)],
        [("ann", None, True, True), ("bob", None, False, True), ("cat", None, True, False)],
        [("ann", "A", True, True)] * 4 + [("bob", "A", True, True)] * 4,  # every deal won
    ],
)
def test_the_rep_flag_equals_the_loop_over_reps_in_corner_cases(deals):
    ds = _dataset(deals)
    _check_against_reference(ds, "2025-Q4")
    _check_against_reference(ds, "2025-Q4", pl.col("team") == "red")


def _plain_mid_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Lancaster's mid-p of Fisher's test from binomial coefficients, in plain Python."""
    total, won = n1 + n2, k1 + k2
    support = range(max(0, n1 - (total - won)), min(won, n1) + 1)
    probs = [comb(won, x) * comb(total - won, n1 - x) / comb(total, n1) for x in support]
    if len(probs) == 1:
        return 1.0
    seen = comb(won, k1) * comb(total - won, n1 - k1) / comb(total, n1)
    less = sum(q for q in probs if q < seen * (1 - 1e-7))
    same = sum(q for q in probs if abs(q - seen) <= seen * 1e-7)
    return min(1.0, less + same / 2)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 60), st.integers(0, 200), st.floats(0, 1), st.floats(0, 1)),
        min_size=1,
        max_size=12,
    )
)
def test_fisher_mid_p_values_is_the_scalar_test_table_by_table(tables):
    n1 = np.array([t[0] for t in tables])
    n2 = np.array([t[1] for t in tables])
    k1 = np.round(n1 * np.array([t[2] for t in tables])).astype(int)
    k2 = np.round(n2 * np.array([t[3] for t in tables])).astype(int)
    got = stats.fisher_mid_p_values(k1, n1, k2, n2)
    for i in range(len(tables)):
        args = int(k1[i]), int(n1[i]), int(k2[i]), int(n2[i])
        assert got[i] == pytest.approx(stats.fisher_mid_p_test(*args)[1], rel=REL, abs=0)
        assert got[i] == pytest.approx(_plain_mid_p(*args), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 500), st.integers(0, 500), st.floats(0.5, 6.0) | st.just(np.nan)),
        min_size=1,
        max_size=10,
    )
)
def test_effective_counts_array_is_the_rounding_written_out(rows):
    """``ñ = max(1, round(n / deff))``, ``k̃ = round(k ñ / n)`` (halves up); the counts as they
    are where deff is NaN, at most 1, or n is 0."""
    k = np.array([min(a, b) for a, b, _ in rows])
    n = np.array([max(a, b) for a, b, _ in rows])
    d = np.array([r[2] for r in rows])
    got_k, got_n = stats.effective_counts_array(k, n, d)
    for i in range(len(rows)):
        if np.isnan(d[i]) or d[i] <= 1 or n[i] == 0:
            want = int(k[i]), int(n[i])
        else:
            n_eff = max(1, int(np.floor(n[i] / d[i] + 0.5)))
            want = int(np.floor(k[i] * n_eff / n[i] + 0.5)), n_eff
        assert (got_k[i], got_n[i]) == want
        assert (
            stats.effective_counts(int(k[i]), int(n[i]), None if np.isnan(d[i]) else d[i]) == want
        )


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.lists(st.lists(st.booleans(), min_size=1, max_size=5), min_size=1, max_size=6),
            min_size=2,
            max_size=2,
        ),
        min_size=1,
        max_size=4,
    )
)
def test_pooled_design_effects_of_sums_matches_the_anova_by_hand(comparisons):
    """Several comparisons at once (each: two sides of accounts of 0/1 outcomes) against the
    ANOVA written out in plain Python for each."""
    sums = np.zeros((5, len(comparisons), 2))
    for c, sides in enumerate(comparisons):
        for s, side in enumerate(sides):
            m = np.array([len(a) for a in side], float)
            k = np.array([sum(a) for a in side], float)
            sums[:, c, s] = m.sum(), m.size, (m * m).sum(), k.sum(), (k * k / m).sum()
    got = stats.pooled_design_effects_of_sums(*sums)
    for c, sides in enumerate(comparisons):
        by_hand = [{f"a{j}": a for j, a in enumerate(side)} for side in sides]
        assert got[c].tolist() == pytest.approx(pooled_design_effects_by_hand(by_hand), abs=1e-12)
