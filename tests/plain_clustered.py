"""Plain-Python versions of the clustered tests' pieces, for the tests to check the kit against.

One deal (or one pair) at a time, no numpy: what `stats.score_design_effect`,
`stats.effective_clusters`, `stats.logrank_scores`, `stats.superiority_scores` and
`stats.deflated_p` compute, written from their formulas.
"""

from __future__ import annotations

import math

from scipy import stats as sps


def design_effect(scores: list[float], clusters: list[str]) -> float:
    sums: dict[str, float] = {}
    for s, c in zip(scores, clusters, strict=True):
        sums[c] = sums.get(c, 0.0) + s
    g, n = len(sums), len(scores)
    independent = sum(s * s for s in scores)
    if g < 2 or n < 2 or independent <= 0:
        return 1.0
    robust = g / (g - 1) * sum(v * v for v in sums.values())
    return max(1.0, robust / (n / (n - 1) * independent))


def effective_clusters(scores: list[float], clusters: list[str]) -> float:
    """(sum of w)^2 / sum of w^2, w = each account's sum of squared scores."""
    w: dict[str, float] = {}
    for s, c in zip(scores, clusters, strict=True):
        w[c] = w.get(c, 0.0) + s * s
    return sum(w.values()) ** 2 / sum(x * x for x in w.values()) if any(w.values()) else 0.0


def logrank_scores(t: list[float], d: list[bool], x: list[int]) -> list[float]:
    """Cox score residuals at beta = 0, one deal at a time (Breslow ties)."""
    times = sorted({ti for ti, di in zip(t, d, strict=True) if di})
    at = {}
    for tk in times:
        risk = [j for j in range(len(t)) if t[j] >= tk]
        events = sum(1 for j in range(len(t)) if t[j] == tk and d[j])
        share = sum(x[j] for j in risk) / len(risk)
        at[tk] = (events / len(risk), share)
    out = []
    for j in range(len(t)):
        r = (x[j] - at[t[j]][1]) if d[j] else 0.0
        for tk in times:
            if tk <= t[j]:
                hazard, share = at[tk]
                r -= hazard * (x[j] - share)
        out.append(r)
    return out


def superiority_scores(a: list[float], b: list[float]) -> list[float]:
    """The Hajek terms of P(A > B) + 1/2 P(A = B): a's values first, then b's."""

    def placement(v: float, among: list[float]) -> float:
        return (sum(u < v for u in among) + 0.5 * sum(u == v for u in among)) / len(among)

    estimate = sum(placement(v, b) for v in a) / len(a)
    return [(placement(v, b) - estimate) / len(a) for v in a] + [
        -(placement(v, a) - (1 - estimate)) / len(b) for v in b
    ]


def clustered_p(p: float, scores: list[float], clusters: list[str]) -> float:
    """``p`` with the statistic divided by the design effect's root, on Student's t."""
    deff = design_effect(scores, clusters)
    if deff <= 1:
        return p
    df = max(effective_clusters(scores, clusters) - 1, 1.0)
    z = sps.norm.isf(p / 2) / math.sqrt(deff)
    return float(2 * sps.t.sf(z, df))
