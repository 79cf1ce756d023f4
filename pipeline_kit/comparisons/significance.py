"""The statistical tests of :func:`~pipeline_kit.comparisons.compare`, one row per test.

Each builder takes a group's sample, the rest of the organisation's and the group's trailing
quarters' (see :data:`Samples`) and returns one :class:`ComparisonRow` per kind of benchmark
that exists: ``external`` (the benchmarks table), ``rest_of_org`` and ``trailing``. A test
runs only with at least ``min_n`` observations on each side; otherwise the row carries the
estimate and no p-value. The tests themselves come from :mod:`pipeline_kit.stats` (scipy).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipeline_kit import stats
from pipeline_kit.comparisons.benchmarks import Reference, external_reference
from pipeline_kit.i18n import N_

__all__ = [
    "FEW_CLOSED_WARNING",
    "RAO_SCOTT",
    "ROBUST_TO_ACCOUNTS",
    "TREATED_AS_EXACT",
    "ComparisonRow",
    "RowBuilder",
    "Samples",
    "cycle_rows",
    "sample_design_effect",
    "size_rows",
    "wilson_bounds",
    "win_rate_rows",
]

REST_OF_ORG = "the rest of the organisation"

Samples = tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame | None]
"""A group's observations, the rest of the organisation's, and the group's in its trailing
quarters (None when the period has no trailing quarters)."""


@dataclass
class ComparisonRow:
    """One test of one group's figure against one benchmark, before the q-values."""

    metric: str
    group: str
    kind: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    benchmark: float | None
    test: str
    statistic: float | None
    p_value: float | None
    n: int
    n_benchmark: int | None
    benchmark_label: str
    warning: str | None = None
    keep_warning: bool = False
    """Keep ``warning`` on every tested row, not only on a difference the verdict calls."""
    sign: float | None = None
    """The direction the test itself measured (> 0: the group's figure is larger, or its
    cycle longer; < 0: smaller, shorter), where it is not the sign of ``estimate -
    benchmark``: a log-rank or Brunner-Munzel difference, or a median not reached."""


RowBuilder = Callable[[Samples, str, pl.DataFrame, int, str], list[ComparisonRow]]
"""``builder(samples, group, benchmarks, min_n, trailing_label)``: the rows of one metric."""


def wilson_bounds(won: int, n: int, deff: float | None = None) -> tuple[float | None, float | None]:
    """The 95% Wilson interval of ``won / n`` on ``n / deff`` deals, as :func:`win_rate`'s.

    :func:`pipeline_kit.stats.clustered_wilson_interval` (the plain Wilson interval where
    ``deff`` is None or 1). ``(None, None)`` when ``n`` is 0.
    """
    if n == 0:
        return None, None
    low, high = stats.clustered_wilson_interval(
        pl.lit(won, pl.Int64), pl.lit(n, pl.Int64), pl.lit(deff, pl.Float64)
    )
    bounds = pl.select(low.alias("low"), high.alias("high")).row(0)
    return float(bounds[0]), float(bounds[1])


RAO_SCOTT = ", counts divided by the design effect (Rao-Scott)"
"""The end of a win-rate test's name when deals clustered in accounts shrank its counts."""


def sample_design_effect(sample: pl.DataFrame) -> float | None:
    """The design effect of a win-rate sample's deals in their accounts, as :func:`win_rate`'s.

    :func:`pipeline_kit.stats.accounts_design_effect` over the sample's ``_deal_id``,
    ``_account_id`` and ``won`` columns; None when it has none of them, no deals, or no deal
    with an account id.
    """
    if "_account_id" not in sample.columns or sample.height == 0:
        return None
    deals = sample.lazy().select(
        pl.col("_deal_id").alias("deal_id"), pl.col("_account_id").alias("account_id"), "won"
    )
    value = stats.accounts_design_effect(deals, [], pl.col("won")).collect().item()
    return None if value is None else float(value)


def _account_counts(sample: pl.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """A win-rate sample's accounts: their deals ``m_j`` and won deals ``k_j``.

    A deal without an account is its own; None when no deal of the sample has an account id.
    """
    if "_account_id" not in sample.columns or sample["_account_id"].is_null().all():
        return None
    account = pl.coalesce(pl.col("_account_id"), pl.lit("\x00deal ") + pl.col("_deal_id"))
    per = sample.group_by(account.alias("_a")).agg(pl.len().alias("m"), pl.col("won").sum())
    return per["m"].to_numpy(), per["won"].to_numpy()


ROBUST_TO_ACCOUNTS = ", statistic divided by the accounts' design effect (robust variance)"
"""The end of a cycle or deal-size test's name when deals clustered in accounts widened it."""


def _has_accounts(sample: pl.DataFrame) -> bool:
    """Whether some deal of the sample has an account id."""
    return "_account_id" in sample.columns and not sample["_account_id"].is_null().all()


def _account_keys(sample: pl.DataFrame) -> np.ndarray:
    """Each deal's account; a deal without one (or a sample without accounts) is its own."""
    deal = pl.lit("\x00deal ") + pl.col("_deal_id")
    key = pl.coalesce(pl.col("_account_id"), deal) if "_account_id" in sample.columns else deal
    return sample.select(key).to_series().to_numpy()


def _superiority_scores(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """:func:`pipeline_kit.stats.superiority_scores` of both samples, in one array."""
    return np.concatenate(stats.superiority_scores(x, y))


def _clustered(
    p: float | None,
    cur: pl.DataFrame,
    other: pl.DataFrame,
    scores: Callable[..., np.ndarray],
    *args: np.ndarray,
) -> tuple[float | None, float]:
    """``p`` with its statistic divided by the square root of the samples' design effect.

    :func:`pipeline_kit.stats.score_design_effect` of the test's per-deal ``scores(*args)``
    (both samples, ``cur`` first) in the deals' accounts; ``(p, 1.0)`` where neither sample
    has accounts or ``p`` is None (the scores are then not computed). Returns the p-value and
    the design effect.
    """
    if p is None or not (_has_accounts(cur) or _has_accounts(other)):
        return p, 1.0
    values = scores(*args)
    keys_all = np.concatenate([_account_keys(cur), _account_keys(other)])
    deff = stats.score_design_effect(values, keys_all)
    # Student's t on the accounts the robust variance rests on, less one
    df = max(stats.effective_clusters(values, keys_all) - 1, 1.0)
    return stats.deflated_p(p, deff, df), deff


def win_rate_rows(
    samples: Samples,
    group: str,
    bench: pl.DataFrame,
    min_n: int,
    trailing_label: str,
    spread: tuple[float, int] | None = None,
) -> list[ComparisonRow]:
    """Win rate (``won`` flags of closed deals) with its Wilson interval and its tests.

    Deals of one account tend to be won or lost together. Where the samples carry
    ``_account_id`` (and ``_deal_id``), each side's design effect (:func:`sample_design_effect`)
    widens the group's interval exactly as :func:`pipeline_kit.win_rate` does, and every test
    takes each side's counts divided by its design effect (Rao & Scott 1992, *Biometrics*
    48:577-585: :func:`pipeline_kit.stats.effective_counts` for the exact tests, the divided
    counts themselves for the z-tests); the test's name then ends with :data:`RAO_SCOTT`.
    Against the rest and the trailing quarters both sides' design effects come from one
    intraclass correlation pooled over the two (:func:`pipeline_kit.stats.pooled_design_effects`:
    a team's dozen accounts alone give an unsteady one); against an external value, the
    group's own (the interval's). Fisher's mid-p test of a team of 30-60 deals in accounts of
    about 2.5 deals against the rest called a team with the rest's rate different 7-13% of
    the time at 5% with an intraclass correlation of 0.1-0.3; on the divided counts 4-6%
    (``bench/coverage.py --clustered-only``). The benchmark's own deals (a two-sample
    external test) are taken as independent.

    Fisher's tests report Lancaster's mid-p (:func:`pipeline_kit.stats.fisher_mid_p_test`):
    the plain exact test kept its size at 0.019-0.042 for teams of 20-60 deals, losing power.

    Against the external value: Fisher's exact test against its ``round(value · n)`` of ``n``
    deals where the benchmark row states ``n``; else, where it states a 95% interval
    ``low``-``high``, :func:`pipeline_kit.stats.rate_vs_uncertain_benchmark_test`; else the
    exact binomial test, the benchmark treated as exact (and said so). A benchmark that is
    itself an estimate from 100-400 deals, tested as exact, was "different" from a team with
    the same true rate 10-25% of the time at 5%. Fisher's test against the rest.
    Against the trailing quarters, where the trailing sample has a ``_quarter`` column and
    ``spread`` (the between-quarter spread of win rates and its degrees of freedom,
    :func:`pipeline_kit.stats.period_spread`) is given, as :func:`compare` does:
    :func:`pipeline_kit.stats.trailing_rate_test`, which allows for win rates moving from
    quarter to quarter for common causes (Fisher's test on the pooled quarters called a
    stable team different 14-36% of the time at 200 deals a quarter when they do); else
    Fisher's test on the pooled quarters.
    """
    cur, rest, trail = samples
    k, n = int(cur["won"].sum()), cur.height
    est = k / n if n else None
    deff = sample_design_effect(cur)
    low, high = wilson_bounds(k, n, deff)
    d1 = 1.0 if deff is None else deff
    k_eff, n_eff = stats.effective_counts(k, n, deff)
    rows = []
    ref = external_reference(bench, "win_rate", group)
    if ref is not None:
        tested = n >= min_n
        if ref.n is not None:  # the benchmark is k_b won of n_b: a two-sample test
            k_b = round(ref.value * ref.n)
            test, n_b = "Fisher's exact test (mid-p) against the benchmark's deals", ref.n
            statistic, p = (
                stats.fisher_mid_p_test(k_eff, n_eff, k_b, ref.n) if tested else (None, None)
            )
        elif ref.low is not None and ref.high is not None:
            test, n_b, statistic = (
                "test against the benchmark and its 95% interval (MOVER)",
                None,
                k,
            )
            p = (
                stats.rate_vs_uncertain_benchmark_test(k / d1, n / d1, ref.value, ref.low, ref.high)
                if tested
                else None
            )
        else:
            test, n_b, statistic = f"exact binomial test {TREATED_AS_EXACT}", None, k
            p = stats.binomial_test(k_eff, n_eff, ref.value) if tested else None
        if d1 > 1:
            test += RAO_SCOTT
        rows.append(
            ComparisonRow(
                "win_rate",
                group,
                "external",
                est,
                low,
                high,
                ref.value,
                test,
                statistic,
                p,
                n,
                n_b,
                _benchmark_label(ref),
            )
        )
    for kind, other, label in (
        ("rest_of_org", rest, REST_OF_ORG),
        ("trailing", trail, trailing_label),
    ):
        if other is None:
            continue
        k2, n2 = int(other["won"].sum()), other.height
        ok = n >= min_n and n2 >= min_n
        # the tests' design effects: one ICC pooled over both sides where both have accounts
        t1, t2 = deff, sample_design_effect(other)
        sides = _account_counts(cur), _account_counts(other)
        if sides[0] is not None and sides[1] is not None:
            t1, t2 = stats.pooled_design_effects([sides[0], sides[1]])
        d1t, d2 = (1.0 if d is None else d for d in (t1, t2))
        test = "Fisher's exact test (mid-p)"
        if kind == "trailing" and spread is not None and "_quarter" in other.columns:
            test = TRAILING_RATE_TEST
            quarters = (  # (in order: divided counts add up the same way in every run)
                other.group_by("_quarter")
                .agg(pl.col("won").sum().alias("k"), pl.len().alias("n"))
                .sort("_quarter")
            )
            statistic, p = (
                stats.trailing_rate_test(
                    k / d1t,
                    n / d1t,
                    quarters["k"].to_numpy() / d2,
                    quarters["n"].to_numpy() / d2,
                    *spread,
                )
                if ok
                else (None, None)
            )
        else:
            statistic, p = (
                stats.fisher_mid_p_test(
                    *stats.effective_counts(k, n, t1), *stats.effective_counts(k2, n2, t2)
                )
                if ok
                else (None, None)
            )
        if d1t > 1 or d2 > 1:
            test += RAO_SCOTT
        rows.append(
            ComparisonRow(
                "win_rate",
                group,
                kind,
                est,
                low,
                high,
                k2 / n2 if n2 else None,
                test,
                statistic,
                p,
                n,
                n2,
                label,
            )
        )
    return rows


TRAILING_RATE_TEST = "z-test against the past quarters, allowing for their spread"
"""The trailing win-rate test's name (:func:`pipeline_kit.stats.trailing_rate_test`)."""


def cycle_rows(
    samples: Samples, group: str, bench: pl.DataFrame, min_n: int, trailing_label: str
) -> list[ComparisonRow]:
    """Kaplan-Meier median cycle (``days`` and ``event`` of a cohort, open deals censored).

    Against the external value a test of the median: where the benchmark row states its 95%
    interval ``low``-``high`` and the group's median is reached,
    :func:`pipeline_kit.stats.km_median_vs_uncertain_benchmark_test` (a benchmark estimated
    from 100-400 deals, taken as exact, was "different" 6-26% of the time at 5%; with its
    interval 3.4-3.9%); else the log-log z-test of S(benchmark) = 0.5, treated as exact;
    log-rank test against the rest and the trailing quarters. The log-rank test compares the
    whole closing curves, not the medians (with equal medians and different shapes it
    rejected 93-99% of the time), so those verdicts say the deals close faster or slower
    *overall* and take their direction from the log-rank statistic, not from the medians.

    ``n`` counts the deals in the cohort (closed and still open), and a test runs when each
    side's cohort has at least ``min_n`` deals. The gate is on the cohort size, not on the
    closed deals: how many deals closed by ``as_of`` is an outcome, and a test reported only
    when enough deals closed is a selected test (a cohort that passed a 20-closed-deals gate
    had closed unusually fast, and the tests then rejected a true null 8-19% of the time at
    nominal 5%; without the gate they are calibrated, ``bench/coverage.py``). Where fewer
    than ``min_n`` of the deals have closed the row carries :data:`FEW_CLOSED_WARNING`.

    Deals of one account tend to close alike. Where the cohorts carry ``_account_id`` (and
    ``_deal_id``), the log-rank z is divided by the square root of the design effect of its
    per-deal scores in their accounts (:func:`pipeline_kit.stats.logrank_scores`,
    :func:`pipeline_kit.stats.score_design_effect`: the cluster-robust variance of Lin & Wei
    1989 over the independent one, never below 1), and the test's name ends with
    :data:`ROBUST_TO_ACCOUNTS`. Every deal its own account leaves the test as it was.
    """
    cur, rest, trail = samples
    d, e = cur["days"].to_numpy(), cur["event"].to_numpy()
    median, low, high = stats.kaplan_meier_median(d, e)
    events, n = int(e.sum()), int(d.size)
    rows = []
    ref = external_reference(bench, "cycle_length_km_days", group)
    if ref is not None:
        value = ref.value
        test = "Kaplan-Meier z-test of S(benchmark) = 0.5 (log-log)"
        if ref.exact or n >= min_n:
            test += f" {TREATED_AS_EXACT}"
        uncertain = None
        z: float | None
        p: float | None
        if n >= min_n and ref.low is not None and ref.high is not None:
            # the benchmark's interval used; not possible where the group's median is not
            # reached, and the benchmark is then treated as exact (and said so)
            uncertain = stats.km_median_vs_uncertain_benchmark_test(d, e, value, ref.low, ref.high)
        if uncertain is not None:
            test = "test of the median against the benchmark and its 95% interval (MOVER)"
            z, p = uncertain
        else:
            z, p = stats.km_median_test(d, e, value) if n >= min_n else (None, None)
        rows.append(
            ComparisonRow(
                "cycle_length_km_days",
                group,
                "external",
                median,
                low,
                high,
                value,
                test,
                z,
                _finite(p),
                n,
                None,
                # exact only where the exact test ran although the row states an interval
                _benchmark_label(ref, always_exact=uncertain is None and n >= min_n),
                warning=_few_closed(events, n, None, None, min_n) if n >= min_n else None,
                keep_warning=True,
                sign=z,  # z > 0: more than half still open at the benchmark, i.e. longer
            )
        )
    for kind, other, label in (
        ("rest_of_org", rest, REST_OF_ORG),
        ("trailing", trail, trailing_label),
    ):
        if other is None:
            continue
        d2, e2 = other["days"].to_numpy(), other["event"].to_numpy()
        ok = n >= min_n and d2.size >= min_n
        z, p = stats.logrank_test(d, e, d2, e2) if ok else (None, None)
        p, deff = _clustered(
            p,
            cur,
            other,
            stats.logrank_scores,
            np.concatenate([d, d2]),
            np.concatenate([e, e2]),
            np.arange(d.size + d2.size) < d.size,
        )
        if z is not None and deff > 1:
            z /= math.sqrt(deff)
        rows.append(
            ComparisonRow(
                "cycle_length_km_days",
                group,
                kind,
                median,
                low,
                high,
                stats.kaplan_meier_median(d2, e2)[0],
                "log-rank test" + (ROBUST_TO_ACCOUNTS if deff > 1 else ""),
                z,
                _finite(p),
                n,
                int(d2.size),
                label,
                warning=_few_closed(events, n, int(e2.sum()), int(d2.size), min_n) if ok else None,
                keep_warning=True,
                sign=-z
                if z is not None
                else None,  # z > 0: closes faster (more closes than expected)
            )
        )
    return rows


FEW_CLOSED_WARNING = N_(
    "Little information: only {closed} of {deals} deals have closed by the reading date (fewer "
    "than {min_n}), so this cycle comparison is weak evidence either way."
)


def _few_closed(events: int, n: int, events2: int | None, n2: int | None, min_n: int) -> str | None:
    """:data:`FEW_CLOSED_WARNING` for the side with fewer than ``min_n`` closed deals, if any."""
    if events < min_n:
        return FEW_CLOSED_WARNING.format(closed=f"{events:,}", deals=f"{n:,}", min_n=min_n)
    if events2 is not None and n2 is not None and events2 < min_n:
        return FEW_CLOSED_WARNING.format(closed=f"{events2:,}", deals=f"{n2:,}", min_n=min_n)
    return None


TREATED_AS_EXACT = "(benchmark treated as exact)"
"""The end of an external test's name when the benchmark's own uncertainty is not used."""


def _benchmark_label(ref: Reference, always_exact: bool = False) -> str:
    """How a verdict names the external benchmark: its source, and whether it is exact.

    "treated as exact" where the test takes it as known exactly: the row states no ``n`` or
    interval, or the test cannot use them (a cycle median not reached).
    """
    if ref.exact or always_exact:
        return f"the benchmark ({ref.source}; treated as exact)"
    return f"the benchmark ({ref.source})"


def _finite(p: float | None) -> float | None:
    """``p`` or None where the test had nothing to measure (NaN)."""
    return None if p is None or not np.isfinite(p) else float(p)


MEDIAN_MOVER_TESTS = {
    True: "test of the median against the benchmark and its 95% interval (MOVER)",
    False: "test of the median against the benchmark's median of its n deals (MOVER, their "
    "spread taken as the group's)",
}
"""The external won-deal test's name where the row states ``low``-``high`` (True), else ``n``."""


def size_rows(
    samples: Samples, group: str, bench: pl.DataFrame, min_n: int, trailing_label: str
) -> list[ComparisonRow]:
    """Median won deal (``amount`` of won deals) with its interval and tests.

    The interval is ``won_deal_size``'s (:func:`pipeline_kit.stats.median_interval`, order
    statistics): one figure, one interval (a bootstrap BCa one here gave Enterprise
    41,050-60,850 where the report showed 40,400-65,100).

    Against the external value, where the benchmark row states its 95% interval ``low``-
    ``high``, else the ``n`` deals it is the median of:
    :func:`pipeline_kit.stats.median_vs_uncertain_benchmark_test` (MOVER on the two medians;
    with ``n`` alone the benchmark's deals are taken to spread as the group's do, and the test
    is named so), whose ``statistic`` is the signed ``z`` (> 0: the group's median is the
    larger); else the sign test against the value, treated as exact (and said so), whose
    ``statistic`` counts the amounts above it. Treated as exact, a benchmark that was itself
    the median of as many deals as the group's was "different" 13-14% of the time at 5%;
    with its interval stated 1.3-2.2%, with its n 3.5-4.4% (``bench/coverage.py
    --cmp8-only``).

    Brunner-Munzel against the rest and the trailing quarters
    (:func:`pipeline_kit.stats.brunner_munzel_test`: a studentized permutation test where a
    side has fewer than 30 deals or 5 distinct amounts), whose ``statistic`` is the
    probability of superiority ``P(X > Y) + ½ P(X = Y)``. That test is of stochastic order
    ("won deals tend to be larger"), not of medians: Mann-Whitney, used before under a
    verdict naming the median, called a difference 12-14% of the time between equal medians
    with different spreads. A two-sample median test was not used: deal amounts are often
    list prices, and the median of tied amounts jumps between a few values.

    Where the samples carry ``_account_id`` (deals of one account tend to be alike in size),
    the test's statistic is divided by the square root of the design effect of the
    estimate's per-deal terms in their accounts (:func:`pipeline_kit.stats.superiority_scores`,
    :func:`pipeline_kit.stats.score_design_effect`; the clustered area under the curve of
    Obuchowski 1997), the p-value taken back through the normal scale
    (:func:`pipeline_kit.stats.deflated_p`), and the name ends with :data:`ROBUST_TO_ACCOUNTS`.
    """
    cur, rest, trail = samples
    x = cur["amount"].to_numpy()
    n = x.size
    est = float(np.median(x)) if n else None
    low, high = stats.median_interval(x)
    rows = []
    ref = external_reference(bench, "median_won_deal_size", group)
    if ref is not None:
        value = ref.value
        statistic: float | None
        p: float | None
        if not ref.exact:  # the benchmark's interval, else its n: MOVER on the medians
            stated = ref.low is not None and ref.high is not None
            test = MEDIAN_MOVER_TESTS[stated]
            statistic, p = (
                stats.median_vs_uncertain_benchmark_test(
                    x, value, ref.low, ref.high, None if stated else ref.n
                )
                if n >= min_n
                else (None, None)
            )
            sign = statistic
        else:
            above, below = int((x > value).sum()), int((x < value).sum())
            # every amount equal to the benchmark: the sign test has nothing to count, and the
            # median is the benchmark (p = 1), rather than an error
            p = (
                (stats.binomial_test(above, above + below, 0.5) if above + below else 1.0)
                if n >= min_n
                else None
            )
            test, statistic = f"sign test (order-statistic interval) {TREATED_AS_EXACT}", above
            sign = float(above - below)  # the median can equal the benchmark with p small (ties)
        rows.append(
            ComparisonRow(
                "median_won_deal_size",
                group,
                "external",
                est,
                low,
                high,
                value,
                test,
                statistic,
                p,
                n,
                ref.n if test == MEDIAN_MOVER_TESTS[False] else None,
                _benchmark_label(ref),
                sign=sign,
            )
        )
    for kind, other, label in (
        ("rest_of_org", rest, REST_OF_ORG),
        ("trailing", trail, trailing_label),
    ):
        if other is None:
            continue
        y = other["amount"].to_numpy()
        ok = n >= min_n and y.size >= min_n
        superiority, p = stats.brunner_munzel_test(x, y) if ok else (None, None)
        p, deff = _clustered(p, cur, other, _superiority_scores, x, y)
        rows.append(
            ComparisonRow(
                "median_won_deal_size",
                group,
                kind,
                est,
                low,
                high,
                float(np.median(y)) if y.size else None,
                "Brunner-Munzel (statistic: P(larger) + ½ P(tie))"
                + (ROBUST_TO_ACCOUNTS if deff > 1 else ""),
                superiority,
                p,
                n,
                int(y.size),
                label,
                sign=superiority - 0.5 if superiority is not None else None,
            )
        )
    return rows
