"""Rep win rates that survive small n: empirical-Bayes shrinkage towards the organisation.

Also funnel-plot control limits.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from pipeline_kit import stats
from pipeline_kit.dataset import Dataset
from pipeline_kit.metrics._common import as_period, check_by, closed_in
from pipeline_kit.periods import Period

__all__ = ["funnel_limits_curve", "rep_win_rates"]


def rep_win_rates(
    ds: Dataset,
    period: str | Period,
    *,
    by: str = "owner",
    scope: pl.Expr | None = None,
    confidence: float = 0.95,
) -> pl.DataFrame:
    """Rep win rates: each rep's own interval, a shrunk rate to rank on, funnel limits.

    Each rep's closed deals of the period (won or lost).

    * ``rate = won / n``, the rep's own win rate, and ``ci_low`` / ``ci_high`` its 95%
      interval (the kit's modified Wilson, :func:`pipeline_kit.stats.wilson_interval`, as
      :func:`pipeline_kit.win_rate` gives): where *this rep's* rate lies, from their own
      deals only. It covered a star's (0.70 among reps at 0.30) or a laggard's (0.05) true
      rate 0.95-0.97 of the time in simulation (``bench/coverage.py``).
    * ``shrunk`` = posterior mean under a Beta(a, b) prior fitted by maximum likelihood
      (beta-binomial) to *every* rep of the dataset: ``(won + a) / (n + a + b)``, the
      better estimate to *rank* reps on (a rep with 4 deals moves most of the way to the
      organisation's rate; one with 80 keeps most of their own). ``shrunk_ci_low`` /
      ``shrunk_ci_high`` is its posterior interval: an empirical-Bayes interval that holds
      the true rates of about 95% of the reps *on average over the reps* when rep rates
      spread like a Beta around the organisation's (Morris 1983), not any one rep's: it
      held a star's or a laggard's true rate 23-40% of the time, because it pulls them to
      the middle. Read it as where a typical rep with this record stands, not as this rep's
      rate (it was ``ci_low`` / ``ci_high`` before the sixth session). The prior counts for
      at most as many deals as the average rep closed (``a + b <= mean n``): its centre,
      the organisation's rate, is itself estimated, and a prior that pretends otherwise (the
      maximum-likelihood fit runs to complete pooling when reps differ little) gave
      intervals that covered the reps' true rates 35-70% of the time in simulation.
    * funnel limits: the range of win rates a rep with this many closed deals would show 95%
      (``funnel_low95``/``high95``) and 99.8% of the time if they won at the organisation's
      rate (``org_rate``: every rep's deals).
    * ``p_value``: exact binomial test against the organisation's rate, ``q_value`` Benjamini-
      Hochberg over the reps returned; ``flag`` is "above" / "below" only when ``q < 0.05``.
      This, not the shrunk interval, says whether a rep differs from the organisation.

    ``scope`` (an expression over deals, e.g. ``pl.col("team") == "EMEA"``) returns the reps
    of those deals only, shrunk towards the whole organisation with the prior fitted on it:
    a team's five reps are too few to fit a prior of their own.
    """
    period = as_period(period, ds)
    check_by(ds, "deals", [by])
    closed = ds.lazy("deals").filter(closed_in(period))

    def per_rep(frame: pl.LazyFrame) -> pl.DataFrame:
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
    if reps.height == 0:
        return reps
    k_all, n_all = everyone["won"].to_numpy(), everyone["n"].to_numpy()
    org = k_all.sum() / n_all.sum()
    from scipy import stats as sps

    a, b = stats.fit_beta_binomial(k_all, n_all)
    strength = float(n_all.mean())
    if a + b > strength:  # an honest prior: no more deals than an average rep's record
        a, b = a * strength / (a + b), b * strength / (a + b)
    k, n = reps["won"].to_numpy(), reps["n"].to_numpy()
    tail = (1 - confidence) / 2
    post_low = np.asarray(sps.beta.ppf(tail, k + a, n - k + b), dtype=float)
    post_high = np.asarray(sps.beta.isf(tail, k + a, n - k + b), dtype=float)
    low95, high95 = stats.funnel_limits(org, n, 0.95)
    low998, high998 = stats.funnel_limits(org, n, 0.998)
    p = np.array([stats.binomial_test(ki, ni, org) for ki, ni in zip(k, n, strict=True)])
    q = stats.benjamini_hochberg(p)
    rate = k / n
    flag = np.where(q < 0.05, np.where(rate > org, "above", "below"), "")
    own_low, own_high = stats.wilson_interval("won", "n", confidence)
    return reps.with_columns(
        pl.Series("rate", rate),
        own_low.alias("ci_low"),
        own_high.alias("ci_high"),
        pl.Series("shrunk", (k + a) / (n + a + b)),
        pl.Series("shrunk_ci_low", post_low),
        pl.Series("shrunk_ci_high", post_high),
        pl.lit(float(org)).alias("org_rate"),
        pl.Series("funnel_low95", low95),
        pl.Series("funnel_high95", high95),
        pl.Series("funnel_low998", low998),
        pl.Series("funnel_high998", high998),
        pl.Series("p_value", p),
        pl.Series("q_value", q),
        pl.Series("flag", flag),
        pl.lit(a).alias("prior_a"),
        pl.lit(b).alias("prior_b"),
    )


def funnel_limits_curve(org_rate: float, max_n: int, points: int = 60) -> pl.DataFrame:
    """Funnel-plot control limits on a grid of sample sizes 1..``max_n`` (for charts).

    Columns ``n``, ``low95``, ``high95``, ``low998``, ``high998``.
    """
    n = np.unique(np.geomspace(1, max(max_n, 2), points).round().astype(int))
    low95, high95 = stats.funnel_limits(org_rate, n, 0.95)
    low998, high998 = stats.funnel_limits(org_rate, n, 0.998)
    return pl.DataFrame(
        {"n": n, "low95": low95, "high95": high95, "low998": low998, "high998": high998}
    )
