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
    accounts and the other reps', then :func:`pipeline_kit.stats.effective_counts`). Every
    rep at once: the design effects from per-rep sums (:func:`_rep_design_effects`), the
    tests by :func:`pipeline_kit.stats.fisher_mid_p_values`.
    """
    own_all = reps.select(by).join(
        everyone, on=by, how="left", nulls_equal=True, maintain_order="left"
    )
    k, n = reps["won"].to_numpy(), reps["n"].to_numpy()
    k_rest = int(everyone["won"].sum()) - own_all["won"].fill_null(0).to_numpy()
    n_rest = int(everyone["n"].sum()) - own_all["n"].fill_null(0).to_numpy()
    effects = _rep_design_effects(ds, closed, scope, by, reps)
    t1 = t2 = np.full(reps.height, np.nan)  # (NaN: counts as they are)
    if effects is not None:
        t1, t2 = (np.where(n_rest > 0, e, np.nan) for e in effects)
    p = stats.fisher_mid_p_values(
        *stats.effective_counts_array(k, n, t1), *stats.effective_counts_array(k_rest, n_rest, t2)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return p, k_rest / n_rest


def _rep_design_effects(
    ds: Dataset, closed: pl.LazyFrame, scope: pl.Expr | None, by: str, reps: pl.DataFrame
) -> tuple[np.ndarray, np.ndarray] | None:
    """Per rep (``reps``' order), the design effects of their deals and of the other reps'.

    One ICC pooled over the rep's accounts and the other reps'
    (:func:`pipeline_kit.stats.pooled_design_effects_of_sums`). A deal without an account is
    its own (as :func:`pipeline_kit.win_rate`'s design effect); an account whose deals several
    reps closed counts on each side with the deals of that side. The rep's side is their
    deals in ``scope``; the other reps' side is every closed deal of the period that is not
    the rep's. Its sums come without a pass over the accounts per rep: the whole period's
    sums over the accounts (``n = Σ M_a``, ``K``, ``Σ M_a²``, ``Σ W_a``, ``Σ W_a² / M_a``
    for account a's ``M_a`` deals, ``W_a`` won) less, over the rep's own accounts only, what
    the account adds with the rep's deals and without them (``M_a - m_a`` deals, an account
    left empty counting for nothing). Float sums are running sums in sorted order (the same
    bits in any row order). None where the deals have no ``account_id`` or none of the
    period's closed deals has one (nothing is known of the clustering: independent deals).
    """
    if "account_id" not in ds.schema("deals"):
        return None
    account = pl.coalesce(pl.col("account_id"), pl.lit("\x00deal ") + pl.col("deal_id"))

    def per_account(frame: pl.LazyFrame) -> pl.LazyFrame:
        return frame.group_by(by, account.alias("_account")).agg(
            pl.len().cast(pl.Int64).alias("m"),
            pl.col("status").eq("won").sum().cast(pl.Int64).alias("k"),
            pl.col("account_id").is_not_null().any().alias("known"),
        )

    every = per_account(closed).collect()
    if not every["known"].any():
        return None

    def running(values: pl.Expr) -> pl.Expr:  # a float sum that keeps its bits in any order
        return values.sort().cum_sum().last().fill_null(0.0)

    def sums(m: pl.Expr, k: pl.Expr) -> list[pl.Expr]:  # a side's n, clusters, Σ m², Σ k, Σ k²/m
        return [
            m.sum().alias("n"),
            m.count().alias("clusters"),
            (m * m).sum().alias("squares"),
            k.sum().alias("won"),
            running(k.cast(pl.Float64) ** 2 / m).alias("within"),
        ]

    names = ["n", "clusters", "squares", "won", "within"]
    own = per_account(closed.filter(scope)).collect() if scope is not None else every
    mine = reps.select(by).join(
        own.group_by(by).agg(sums(pl.col("m"), pl.col("k"))),
        on=by,
        how="left",
        nulls_equal=True,
        maintain_order="left",
    )
    accounts = every.group_by("_account").agg(
        pl.col("m").sum().alias("M"), pl.col("k").sum().alias("W")
    )
    m_a, w_a = accounts["M"].to_numpy(), accounts["W"].to_numpy()
    whole = [
        m_a.sum(),
        m_a.size,
        (m_a * m_a).sum(),
        w_a.sum(),
        float(np.sort(w_a.astype(float) ** 2 / m_a).sum()),  # (in sorted order: same bits)
    ]
    rest_m, rest_k = pl.col("M") - pl.col("m"), pl.col("W") - pl.col("k")
    left = rest_m > 0
    # what each rep's accounts add to the whole's sums, less what they add without the rep
    change = (
        every.join(accounts, on="_account")
        .group_by(by)
        .agg(
            pl.col("m").sum().alias("n"),
            (~left).sum().cast(pl.Int64).alias("clusters"),
            (pl.col("M") * pl.col("M") - rest_m * rest_m).sum().alias("squares"),
            pl.col("k").sum().alias("won"),
            running(
                pl.col("W").cast(pl.Float64) ** 2 / pl.col("M")
                - pl.when(left).then(rest_k.cast(pl.Float64) ** 2 / rest_m).otherwise(0.0)
            ).alias("within"),
        )
    )
    change = reps.select(by).join(
        change, on=by, how="left", nulls_equal=True, maintain_order="left"
    )
    rest = [whole[i] - change[name].fill_null(0).to_numpy() for i, name in enumerate(names)]
    sides = [np.stack([mine[name].to_numpy(), rest[i]], axis=-1) for i, name in enumerate(names)]
    effects = stats.pooled_design_effects_of_sums(*sides)
    return effects[:, 0], effects[:, 1]


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
