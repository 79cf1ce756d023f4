"""Intervals used by the metrics, as polars expressions (vectorised over groups).

* Proportions: the Wilson score interval. Unlike the textbook Wald interval it stays inside
  [0, 1] and keeps close to its nominal coverage for small n and rates near 0 or 1.
* Means: the Student-t interval ``mean ± t(1-α/2, n-1) · sd / √n``. Amounts and durations are
  skewed, so reports show the median beside the mean.

Quantiles come from :mod:`scipy.stats`; the tests check every interval against scipy's own
``binomtest(...).proportion_ci(method="wilson")`` and ``stats.t.interval``.
"""

from __future__ import annotations

import warnings

import numpy as np
import polars as pl
from scipy import stats

__all__ = ["MIN_N", "kaplan_meier_median", "mean_interval", "wilson_interval"]

MIN_N = 20
"""Below this many observations a figure is shown with its interval but flagged
``enough_data = False`` and reports say "not enough data" instead of drawing conclusions."""


def _z(confidence: float) -> float:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    return float(stats.norm.ppf(0.5 + confidence / 2))


def wilson_interval(
    successes: str | pl.Expr, trials: str | pl.Expr, confidence: float = 0.95
) -> tuple[pl.Expr, pl.Expr]:
    """Wilson score interval for ``successes / trials`` (null where trials is 0).

    ``centre = (p + z²/2n) / (1 + z²/n)``, ``half = z/(1 + z²/n) · √(p(1-p)/n + z²/4n²)``.

    >>> df = pl.DataFrame({"k": [4], "n": [10]})
    >>> lo, hi = wilson_interval("k", "n")
    >>> df.select(lo.round(4), hi.round(4)).row(0)
    (0.1682, 0.6873)
    """
    k = pl.col(successes) if isinstance(successes, str) else successes
    n = pl.col(trials) if isinstance(trials, str) else trials
    z = _z(confidence)
    n_safe = pl.when(n > 0).then(n.cast(pl.Float64))
    p = k / n_safe
    denom = 1 + z**2 / n_safe
    centre = (p + z**2 / (2 * n_safe)) / denom
    half = z / denom * (p * (1 - p) / n_safe + z**2 / (4 * n_safe**2)).sqrt()
    return (centre - half).clip(0, 1), (centre + half).clip(0, 1)


def _t_quantile(n: pl.Series, confidence: float) -> pl.Series:
    df = n.cast(pl.Float64).to_numpy() - 1
    with np.errstate(invalid="ignore"):
        q = stats.t.ppf(0.5 + confidence / 2, np.where(df >= 1, df, np.nan))
    return pl.Series(q, dtype=pl.Float64)


def mean_interval(mean: str, sd: str, n: str, confidence: float = 0.95) -> tuple[pl.Expr, pl.Expr]:
    """Student-t interval ``mean ± t · sd/√n`` (null where n < 2)."""
    _z(confidence)  # validates the level
    t = pl.col(n).map_batches(lambda s: _t_quantile(s, confidence), return_dtype=pl.Float64)
    half = (t * pl.col(sd) / pl.col(n).cast(pl.Float64).sqrt()).fill_nan(None)
    return pl.col(mean) - half, pl.col(mean) + half


def kaplan_meier_median(
    durations: np.ndarray, observed: np.ndarray, confidence: float = 0.95
) -> tuple[float | None, float | None, float | None]:
    """Kaplan-Meier median with its confidence interval: ``(median, low, high)``.

    ``observed`` is true for events (a deal that closed) and false for censored durations (a
    deal still open: its duration is at least the value given). The median is the first time
    the survival curve ``S(t)`` falls to 0.5 or below; its interval is read off the pointwise
    log-log band of ``S`` (the times where the band's upper and lower edges cross 0.5, as
    lifelines does). ``None`` where the curve or the band never reaches 0.5.
    """
    durations = np.asarray(durations, dtype=float)
    observed = np.asarray(observed, dtype=bool)
    if durations.size == 0 or not observed.any():
        return None, None, None
    data = stats.CensoredData(uncensored=durations[observed], right=durations[~observed])
    sf = stats.ecdf(data).sf
    with warnings.catch_warnings():  # undefined where S(t) is 0 or 1: those points are NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        band = sf.confidence_interval(confidence, method="log-log")

    def first_below_half(times: np.ndarray, probs: np.ndarray) -> float | None:
        hit = np.flatnonzero(np.nan_to_num(probs, nan=1.0) <= 0.5)
        return float(times[hit[0]]) if hit.size else None

    return (
        first_below_half(sf.quantiles, sf.probabilities),
        first_below_half(band.low.quantiles, band.low.probabilities),
        first_below_half(band.high.quantiles, band.high.probabilities),
    )
