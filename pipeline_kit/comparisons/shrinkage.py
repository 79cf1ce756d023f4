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
      :func:`pipeline_kit.win_rate` gives: with ``account_id``, on ``n / design_effect``
      deals, ``design_effect`` being the rep's deals' in their accounts, null without
      accounts): where *this rep's* rate lies, from their own deals only. It covered a
      star's (0.70 among reps at 0.30) or a laggard's (0.05) true rate 0.95-0.97 of the time
      in simulation (``bench/coverage.py``; independent deals).
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
    * ``p_value``: Fisher's exact test with Lancaster's mid-p
      (:func:`pipeline_kit.stats.fisher_mid_p_test`) of the rep's won / closed deals against
      the other reps' deals (every closed deal of the period in the organisation that is not
      the rep's), as :func:`pipeline_kit.compare` tests a team against the rest; where the
      deals have an ``account_id``, both sides' counts are first divided by their design
      effects (Rao-Scott; one intraclass correlation pooled over the rep's accounts and the
      others', :func:`pipeline_kit.stats.pooled_design_effects`). The exact binomial test
      against the organisation's rate, used before, counted the rep's own deals in the rate
      they were tested against: with every rep at one rate it rejected 1.3% (3 reps) to 3.8%
      (40 reps) of the time at 5%, and 7.4-7.8% with deals clustered in accounts (ICC 0.3);
      this test 4.8-5.2% in both (``bench/coverage.py --cmp8-only``). ``q_value``:
      Benjamini-Hochberg over the reps returned; ``flag`` is "above" / "below" only when
      ``q < 0.05``, in the direction of the rep's rate from the other reps'. This, not the
      shrunk interval, says whether a rep differs from the other reps. (The funnel limits
      stay at the organisation's rate: a chart of where a rep at that rate would fall, not
      this test.)

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
    p, others = _against_the_other_reps(ds, closed, scope, by, reps, everyone)
    q = stats.benjamini_hochberg(p)
    rate = k / n
    flag = np.where(q < 0.05, np.where(rate > others, "above", "below"), "")
    if "account_id" in ds.schema("deals"):  # (as win_rate by owner: deals in accounts)
        mine = closed.filter(scope) if scope is not None else closed
        effect = stats.accounts_design_effect(mine, [by], pl.col("status").eq("won")).collect()
        reps = reps.join(effect, on=by, how="left", maintain_order="left")
    else:
        reps = reps.with_columns(pl.lit(None, pl.Float64).alias("design_effect"))
    own_low, own_high = stats.clustered_wilson_interval("won", "n", "design_effect", confidence)
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


def _against_the_other_reps(
    ds: Dataset,
    closed: pl.LazyFrame,
    scope: pl.Expr | None,
    by: str,
    reps: pl.DataFrame,
    everyone: pl.DataFrame,
) -> tuple[np.ndarray, np.ndarray]:
    """Each rep's p-value: Fisher's mid-p of their won / closed against the other reps' deals.

    Returns the p-values and the other reps' win rates (NaN where no other rep closed a deal).

    The other reps' deals are every closed deal of the period in the organisation that is not
    the rep's (in or out of ``scope``). Where the deals have an ``account_id``, both sides'
    counts are divided by their design effects first (Rao-Scott, as :func:`pipeline_kit.compare`'s
    test against the rest: :func:`pipeline_kit.stats.pooled_design_effects` over the rep's
    accounts and the other reps', then :func:`pipeline_kit.stats.effective_counts`).
    """
    own_all = reps.select(by).join(
        everyone, on=by, how="left", nulls_equal=True, maintain_order="left"
    )
    k, n = reps["won"].to_numpy(), reps["n"].to_numpy()
    k_rest = int(everyone["won"].sum()) - own_all["won"].fill_null(0).to_numpy()
    n_rest = int(everyone["n"].sum()) - own_all["n"].fill_null(0).to_numpy()
    sides = _account_sides(ds, closed, scope, by, reps)
    p = np.empty(reps.height)
    for i in range(reps.height):  # one test per rep (a rep is one row, not one deal)
        t1 = t2 = None
        if sides is not None and n_rest[i] > 0:
            t1, t2 = stats.pooled_design_effects(sides[i])
        p[i] = stats.fisher_mid_p_test(
            *stats.effective_counts(int(k[i]), int(n[i]), t1),
            *stats.effective_counts(int(k_rest[i]), int(n_rest[i]), t2),
        )[1]
    with np.errstate(divide="ignore", invalid="ignore"):
        return p, k_rest / n_rest


def _account_sides(
    ds: Dataset, closed: pl.LazyFrame, scope: pl.Expr | None, by: str, reps: pl.DataFrame
) -> list[list[tuple[np.ndarray, np.ndarray]]] | None:
    """Per rep, the accounts' deals ``m_j`` and won deals ``k_j``: the rep's, the other reps'.

    A deal without an account is its own (as :func:`pipeline_kit.win_rate`'s design effect);
    an account whose deals several reps closed counts on each side with the deals of that
    side. None where the deals have no ``account_id`` or none of the period's closed deals
    has one (nothing is known of the clustering: independent deals).
    """
    if "account_id" not in ds.schema("deals"):
        return None
    account = pl.coalesce(pl.col("account_id"), pl.lit("\x00deal ") + pl.col("deal_id"))

    def per_account(frame: pl.LazyFrame) -> pl.DataFrame:
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
