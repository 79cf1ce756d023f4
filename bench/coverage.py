"""How often do the kit's 95% intervals contain the truth? A simulation, not a unit test.

Run: ``make bench-coverage`` (or ``python bench/coverage.py``). Prints, for a grid of true
values and sample sizes, the share of simulated samples whose 95% interval contains the true
value, for

* the Wilson interval of a win rate (``pipeline_kit.stats.wilson_interval``), next to the
  textbook Wald interval as a named baseline;
* the Kaplan-Meier median and its interval (``pipeline_kit.stats.kaplan_meier_median``) on
  exponential cycle lengths with random (uniform) censoring;
* the average won deal size (``pipeline_kit.stats.skewed_mean_interval``, as
  ``pk.won_deal_size`` uses it) on log-normal amounts (sigma 1 to 2.5), zero-inflated,
  Pareto and gamma amounts and amounts resampled from the bundled sample's won deals, at
  n = 5 to 200, next to the Student-t interval as the named baseline;
* through the kit's own metric functions, on synthetic datasets whose teams are independent
  draws: the quarterly counts (Garwood) and bookings intervals of ``pk.quarterly_trend``,
  ``pk.period_over_period``'s change intervals, ``pk.needed_for_target``'s simulated
  intervals, ``pk.stage_conversion``'s interval of a cohort read while some of its deals
  are pending, the false-alarm rate of ``pk.stage_conversion_control``'s limits and
  ``pk.churn``'s Wilson interval, the p-chart's false alarms and power when quarters swing
  (``--new-only``; ``--results`` writes these tables into
  ``bench/RESULTS.md``);
* the eighth session's tests against benchmarks (``--cmp8-only``, also at the end of
  ``--compare-only``): the external median won deal, the rep flag, the mean of 5-12 amounts
  by branch and Brunner-Munzel by permutation, each next to the test before;
* the p-chart limits of ``pk.stage_conversion_control`` on steady and swinging quarters,
  next to a Cochran-gated candidate (``--pchart-only``, wt-pchart8);
* the ninth session's audit (``--audit9-only``, ``--quick`` for 100 samples a row): the win
  rate at rates near 0 and 1 (exact), the win rate by amount, the mix-adjusted win rate, the
  mean of 20-200 heavy-tailed amounts next to a Pareto-pivot candidate (not adopted), the KM
  median at 8-30 deals with ties, and Spearman's p of calls against wins (wt-audit9);
* the tenth session's (``--fc10-only``, ``--quick`` for 100 teams a row): ``pk.seasonality``'s
  interval on over-dispersed months and ``pk.clv``'s with ARPA estimated from few, skewed
  accounts, each next to the interval before (wt-fc10).

Nominal coverage is 0.95; a well-behaved interval stays within about 0.93-0.97.
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from pipeline_kit.dataset import Dataset
from pipeline_kit.stats import (
    dispersed_p_chart_limits,
    kaplan_meier_median,
    p_chart_limits,
    poisson_interval,
    skewed_mean_interval,
    wilson_interval,
)


def rate_coverage(p: float, n: int, draws: int, rng: np.random.Generator) -> tuple[float, float]:
    """Coverage of the Wilson and Wald 95% intervals for ``k ~ Binomial(n, p)``."""
    k = rng.binomial(n, p, size=draws)
    frame = pl.DataFrame({"k": k, "n": np.full(draws, n)})
    low, high = wilson_interval("k", "n")
    ci = frame.select(low.alias("low"), high.alias("high"))
    wilson = float(((ci["low"] <= p) & (p <= ci["high"])).mean())
    phat = k / n
    half = 1.959964 * np.sqrt(phat * (1 - phat) / n)
    wald = float(((phat - half <= p) & (p <= phat + half)).mean())
    return wilson, wald


def km_coverage(
    median: float, n: int, censor_max: float, draws: int, rng: np.random.Generator
) -> tuple[float, float, float]:
    """Coverage of the KM median interval; share of draws where the interval is bounded."""
    scale = median / math.log(2)
    hits = bounded = reached = 0
    for _ in range(draws):
        t = rng.exponential(scale, n)
        c = rng.uniform(0, censor_max, n)
        observed = t <= c
        durations = np.minimum(t, c)
        m, low, high = kaplan_meier_median(durations, observed)
        if m is None:
            continue
        reached += 1
        lo = low if low is not None else 0.0
        hi = high if high is not None else math.inf
        bounded += high is not None
        hits += lo <= median <= hi
    return hits / max(reached, 1), bounded / max(reached, 1), reached / draws


def mean_coverage(
    draw, true_mean: float, n: int, draws: int, rng: np.random.Generator
) -> tuple[float, float]:
    """Coverage of the kit's interval for a mean of skewed amounts and of the Student-t one."""
    kit = student = 0
    t = stats.t.ppf(0.975, n - 1)
    for i in range(draws):
        x = draw(rng, n)
        low, high = skewed_mean_interval(x, seed=i)
        # (a high end of None is "not bounded": it covers any mean above the low end)
        kit += low is not None and low <= true_mean <= (math.inf if high is None else high)
        half = t * x.std(ddof=1) / math.sqrt(n)
        student += x.mean() - half <= true_mean <= x.mean() + half
    return kit / draws, student / draws


def zeros_mean_coverage(
    zero_share: float, n: int, draws: int, rng: np.random.Generator
) -> dict[str, float]:
    """The mean interval on a few amounts with zeros (second intervals audit, P11).

    ``n`` log-normal amounts (sigma 1.5), each 0 with probability ``zero_share``. ``kit``:
    coverage of the true mean where the kit gives an interval (5 positive values or more);
    ``shown``: the share of samples with one. Before the rule the samples with fewer than 5
    positive values had an interval too, which covered 69-83%
    (findings/intervals7/check_zero_rule.py).
    """
    true_mean = (1 - zero_share) * math.exp(1.5**2 / 2)
    hit = shown = 0
    for i in range(draws):
        x = rng.lognormal(0, 1.5, n) * (rng.random(n) >= zero_share)
        low, high = skewed_mean_interval(x, seed=i)
        if low is None:
            continue
        shown += 1
        hit += low <= true_mean <= (math.inf if high is None else high)
    return {"kit": hit / shown if shown else float("nan"), "shown": shown / draws, "n": shown}


def rep_coverage(
    spread: float, reps: int, n_range: tuple[int, int], draws: int, rng: np.random.Generator
) -> dict[str, float]:
    """Coverage of the rep win-rate intervals (``pk.rep_win_rates``) of each rep's true rate,
    when true rates spread around 0.33 with standard deviation ``spread`` (a Beta: the case
    shrinkage assumes). ``own``: ``ci_low``/``ci_high`` (the rep's own Wilson); ``shrunk``:
    ``shrunk_ci_low``/``shrunk_ci_high`` (the empirical-Bayes posterior interval)."""

    def truth() -> np.ndarray:
        if spread:
            concentration = 0.33 * 0.67 / spread**2 - 1
            return rng.beta(0.33 * concentration, 0.67 * concentration, reps)
        return np.full(reps, 0.33)

    return rep_scenario_coverage(truth, None, n_range, draws, rng)


def rep_scenario_coverage(
    make_truth: Callable[[], np.ndarray],
    outlying: np.ndarray | None,
    n_range: tuple[int, int],
    draws: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Coverage of ``pk.rep_win_rates``' two intervals over every rep and over the
    ``outlying`` reps (a mask over the reps, e.g. the one star), each organisation's reps
    closing ``n_range`` deals each at the true rates ``make_truth()`` draws.

    Keys: ``own`` / ``shrunk`` (every rep), ``own_outlying`` / ``shrunk_outlying``, and
    ``reps`` / ``outlying_reps`` (how many intervals each share is over).
    """
    import pipeline_kit as pk
    from pipeline_kit.adapters.base import RawDataset, RawTable
    from pipeline_kit.loading import validate_raw

    hits = {"own": 0, "shrunk": 0, "own_outlying": 0, "shrunk_outlying": 0}
    total = outlying_total = 0
    for _ in range(draws):
        truth = make_truth()
        reps = truth.size
        n = rng.integers(n_range[0], n_range[1] + 1, reps)
        won = rng.binomial(n, truth)
        names = [f"r{i:03d}" for i in range(reps)]
        owners = np.repeat(names, n)
        status = np.concatenate(
            [["won"] * w + ["lost"] * (m - w) for w, m in zip(won, n, strict=True)]
        )
        deals = (
            pl.DataFrame(
                {
                    "deal_id": [f"d{i}" for i in range(owners.size)],
                    "owner": owners,
                    "team": "t",
                    "amount": "1",
                    "created_at": "2025-10-01",
                    "stage": np.where(status == "won", "Won", "Lost"),
                    "status": status,
                    "closed_at": "2025-11-01",
                }
            )
            .with_row_index("source_row", offset=2)
            .with_columns(pl.col("source_row").cast(pl.Int64))
        )
        ds = validate_raw(
            RawDataset("sim", Path("."), {"deals": RawTable("deals", deals, "sim")}, "sim")
        )
        rates = pk.rep_win_rates(ds, "2025-Q4").sort("owner")
        assert rates["owner"].to_list() == names
        low, high = rates["ci_low"].to_numpy(), rates["ci_high"].to_numpy()
        own = (low <= truth) & (truth <= high)
        low, high = rates["shrunk_ci_low"].to_numpy(), rates["shrunk_ci_high"].to_numpy()
        shrunk = (low <= truth) & (truth <= high)
        mask = np.zeros(reps, bool) if outlying is None else outlying
        hits["own"] += int(own.sum())
        hits["shrunk"] += int(shrunk.sum())
        hits["own_outlying"] += int(own[mask].sum())
        hits["shrunk_outlying"] += int(shrunk[mask].sum())
        total += reps
        outlying_total += int(mask.sum())
    out = {k: v / total for k, v in hits.items() if "outlying" not in k}
    for k in ("own_outlying", "shrunk_outlying"):
        out[k] = hits[k] / outlying_total if outlying_total else float("nan")
    out["reps"], out["outlying_reps"] = float(total), float(outlying_total)
    return out


def km_test_size(n: int, censor_max: float, draws: int, rng: np.random.Generator) -> float:
    """Share of samples in which the kit's median test rejects the true median at 5%."""
    from pipeline_kit.stats import km_median_test

    rejected = tested = 0
    for _ in range(draws):
        t = rng.exponential(45.0 / math.log(2), n)
        c = rng.uniform(0, censor_max, n)
        _, p = km_median_test(np.minimum(t, c), t <= c, 45.0)
        if np.isfinite(p):
            tested += 1
            rejected += p < 0.05
    return rejected / max(tested, 1)


# ----------------------------------------------------------------------------- trend, target, churn
# Each simulation below builds ONE synthetic Dataset per cell in which every team is an
# independent draw (so one call of the kit's metric, ``by="team"``, gives thousands of
# intervals), then counts the teams whose interval holds the true value.

Q4 = "2025-Q4"


# two open stages (the second is velocity's "qualified"), then won and lost
TWO_OPEN_STAGES = pl.DataFrame(
    {
        "stage": ["Prospecting", "Proposal", "Won", "Lost"],
        "order": [1, 2, 3, 4],
        "probability": [0.1, 0.5, 1.0, 0.0],
        "is_won": ["false", "false", "true", "false"],
        "is_lost": ["false", "false", "false", "true"],
    }
)


def _dataset(**tables: pl.DataFrame) -> Dataset:
    """A validated Dataset from frames (every column as text, as an adapter hands them over)."""
    from pipeline_kit.adapters.base import RawDataset, RawTable
    from pipeline_kit.loading import validate_raw

    raw = {
        name: RawTable(
            name,
            frame.with_columns(pl.all().cast(pl.String))
            .with_row_index("source_row", offset=2)
            .with_columns(pl.col("source_row").cast(pl.Int64)),
            "sim",
        )
        for name, frame in tables.items()
    }
    return validate_raw(RawDataset("sim", Path("."), raw, "sim"))


def _teams(count: int) -> list[str]:
    return [f"t{i:05d}" for i in range(count)]


def _days_into(start: str, days: np.ndarray) -> np.ndarray:
    return (np.datetime64(start) + days.astype("timedelta64[D]")).astype(str)


def _share(hit: pl.Series | np.ndarray) -> float:
    values = np.asarray(hit, dtype=float)
    return float(values.mean()) if values.size else float("nan")


def _mcse(p: float, n: int) -> float:
    """Monte-Carlo standard error of a share ``p`` estimated from ``n`` draws."""
    return math.sqrt(p * (1 - p) / n) if n and np.isfinite(p) else float("nan")


def count_bookings_coverage(
    lam: float, draw_amounts, true_mean: float, teams: int, rng: np.random.Generator
) -> dict[str, float]:
    """Coverage of the trend intervals of ``deals_created``, ``deals_won`` and ``bookings``.

    Each team wins ``N ~ Poisson(lam)`` deals in 2025-Q4 (created and closed in it), amounts
    from ``draw_amounts``; true rates ``lam`` and ``lam · true_mean``. Runs the kit's own
    ``_deals_created``, ``_deals_won`` and ``_bookings`` (what ``quarterly_trend`` calls).
    Teams without a deal are absent from the kit's frames: their count interval is the one
    of 0 (``poisson_interval([0])``). Bookings coverage is over the teams with an interval
    (2+ won deals; ``with_ci`` is that share); ``normal`` is the interval the kit used before,
    ``total ± 1.96 √(sum amount²)``, on the same draws.
    """
    from pipeline_kit.metrics.trend import _bookings, _deals_created, _deals_won
    from pipeline_kit.periods import Period

    n = rng.poisson(lam, teams)
    team = np.repeat(_teams(teams), n)
    amount = np.round(draw_amounts(rng, team.size), 2)
    closed = _days_into("2025-10-01", rng.integers(0, 92, team.size))
    created = _days_into("2025-10-01", rng.integers(0, 92, team.size))
    created = np.minimum(created.astype("datetime64[D]"), closed.astype("datetime64[D]"))
    deals = pl.DataFrame(
        {
            "deal_id": [f"d{i}" for i in range(team.size)],
            "owner": "o",
            "team": team,
            "amount": amount,
            "created_at": created.astype(str),
            "stage": "Won",
            "status": "won",
            "closed_at": closed,
        }
    )
    ds = _dataset(deals=deals)
    quarter = Period.parse(Q4)
    absent = teams - _deals_won(ds, quarter, by="team").height
    zero_low, zero_high = poisson_interval(np.array([0]))
    zero_hit = float(zero_low[0] <= lam <= zero_high[0])
    out: dict[str, float] = {}
    for name, frame in (
        ("created", _deals_created(ds, quarter, by="team")),
        ("won", _deals_won(ds, quarter, by="team")),
    ):
        hits = ((frame["ci_low"] <= lam) & (lam <= frame["ci_high"])).sum()
        out[name] = (hits + absent * zero_hit) / teams
    book = _bookings(ds, quarter, by="team").drop_nulls("ci_low")
    truth = float(lam * true_mean)
    out["bookings"] = _share((book["ci_low"] <= truth) & (truth <= book["ci_high"]))
    out["with_ci"] = book.height / teams
    out["n_ci"] = book.height
    sums = (
        deals.group_by("team")
        .agg(pl.len().alias("n"), pl.col("amount").sum(), (pl.col("amount") ** 2).sum().alias("ss"))
        .filter(pl.col("n") >= 2)
    )
    half = 1.959964 * sums["ss"].sqrt()
    out["normal"] = _share(
        ((sums["amount"] - half).clip(0) <= truth) & (truth <= sums["amount"] + half)
    )
    return out


def pop_coverage(
    p_prev: float,
    p_now: float,
    n: int,
    sigma: float,
    mean_ratio: float,
    teams: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Coverage of ``period_over_period``'s intervals for the change against the previous quarter.

    Every team closes ``n`` deals in each of 2024-Q4, 2025-Q3 and 2025-Q4, won with
    probability ``p_prev`` (the earlier quarters) and ``p_now`` (2025-Q4); won amounts
    log-normal(9, sigma), multiplied by ``mean_ratio`` in 2025-Q4; cycle lengths negative
    binomial (r = 2) with mean 45 days, 60 in 2025-Q4. Truths: ``p_now - p_prev``, the
    difference of the log-normal means, 60 - 45 = 15 days. Runs ``pk.period_over_period``
    (Newcombe for the win rate, MOVER from the skew-aware mean intervals for the two means).
    Coverage over the teams whose change has an interval (a mean needs 2+ values per side).
    """
    import pipeline_kit as pk

    quarters = (("2024-10-01", p_prev, 1.0, 45.0), ("2025-07-01", p_prev, 1.0, 45.0))
    quarters += (("2025-10-01", p_now, mean_ratio, 60.0),)
    frames = []
    names = np.repeat(_teams(teams), n)
    for start, p, ratio, days_mean in quarters:
        won = rng.random(names.size) < p
        closed = rng.integers(0, 92, names.size)
        # negative binomial: mean r (1 - q) / q = days_mean with r = 2
        days = rng.negative_binomial(2, 2 / (2 + days_mean), names.size)
        amount = np.round(np.exp(9 + sigma * rng.standard_normal(names.size)) * ratio, 2)
        frames.append(
            pl.DataFrame(
                {
                    "owner": "o",
                    "team": names,
                    "amount": amount,
                    "created_at": _days_into(start, closed - days),
                    "stage": np.where(won, "Won", "Lost"),
                    "status": np.where(won, "won", "lost"),
                    "closed_at": _days_into(start, closed),
                }
            )
        )
    deals = (
        pl.concat(frames)
        .with_row_index("deal_id")
        .with_columns(pl.format("d{}", "deal_id").alias("deal_id"))
    )
    ds = _dataset(deals=deals)
    f = pk.period_over_period(ds, Q4, by="team")
    mean = math.exp(9 + sigma**2 / 2)
    truths = {
        "win_rate": p_now - p_prev,
        "avg_won_deal_size": mean * mean_ratio - mean,
        "cycle_length_days": 15.0,
    }
    out: dict[str, float] = {}
    for figure, truth in truths.items():
        rows = f.filter(pl.col("figure") == figure).drop_nulls("change_vs_previous_ci_low")
        low, high = rows["change_vs_previous_ci_low"], rows["change_vs_previous_ci_high"]
        out[figure] = _share((low <= truth) & (truth <= high))
        out[f"n_{figure}"] = rows.height
    return out


def needed_coverage(
    n_closed: int, p: float, sigma: float, draws: int, rng: np.random.Generator
) -> dict[str, float]:
    """Coverage of ``needed_for_target``'s simulated intervals (its own ``_simulate``).

    Each draw: ``n_closed`` deals closed in the window, won with probability ``p``, won
    amounts log-normal(0, sigma); ``3 n_closed`` leads converting with probability 0.3; a
    Poisson count of activities, 8 per closed deal. The target is 100 times the true mean
    amount. Truths: won deals ``100``, closed deals ``100 / p``, leads ``100 / p / 0.3``,
    activities ``100 · 8 / p`` (activities per won deal = 8 per closed deal / p).
    """
    from pipeline_kit.metrics.needed import _simulate

    mean = math.exp(sigma**2 / 2)
    truth = {"won_deals": 100.0, "deals": 100 / p, "leads": 100 / p / 0.3, "activities": 800 / p}
    hits = dict.fromkeys(truth, 0)
    defined = dict.fromkeys(truth, 0)
    for i in range(draws):
        won = int(rng.binomial(n_closed, p))
        leads = 3 * n_closed
        row = {
            "target": 100 * mean,
            "won": won,
            "lost": n_closed - won,
            "leads_created": leads,
            "leads_converted": int(rng.binomial(leads, 0.3)),
            "activities": int(rng.poisson(8 * n_closed)),
        }
        out = _simulate(row, rng.lognormal(0, sigma, won), np.random.default_rng(i))
        for need, value in truth.items():
            low, high = out[f"{need}_needed_ci_low"], out[f"{need}_needed_ci_high"]
            if low is not None and high is not None:
                defined[need] += 1
                hits[need] += low <= value <= high
    return {
        **{need: hits[need] / max(defined[need], 1) for need in truth},
        **{f"n_{need}": defined[need] for need in truth},
    }


def control_false_alarms(
    p: float, n: int, teams: int, rng: np.random.Generator, sigmas: float = 3.0
) -> dict[str, float]:
    """False-alarm rate of ``stage_conversion_control``'s p-chart limits when nothing changed.

    Every team has ``n`` deals entering Prospecting in each of the 9 quarters 2023-Q4 to
    2025-Q4; each moves on to Proposal with probability ``p`` (else is lost) within 5 days,
    and a deal in Proposal is won with probability ``p`` (else lost) within 5 more days. The
    same rates every quarter: any ``above`` / ``below`` signal of 2025-Q4 is a false alarm.
    ``exact`` is the expected rate for Prospecting (``n`` deals every quarter) over the
    binomial past and present counts, for the kit's limits: ``E over K0 ~ B(8n, p) of
    P(X outside the limits for centre K0 / 8n)``, ``X ~ B(n, p)``; ``exact_normal`` the same
    for the normal-theory limits ``centre ± 3 √(centre (1 - centre) / n)`` used before.
    """
    from scipy import stats as st

    import pipeline_kit as pk

    starts = [
        np.datetime64(f"{y}-{m:02d}-01")
        for y, m in [(2023, 10)] + [(2024 + (q // 4), (q % 4) * 3 + 1) for q in range(8)]
    ]
    names = np.repeat(_teams(teams), n * len(starts))
    size = names.size
    quarter_start = np.tile(np.repeat(starts, n), teams)
    entered = quarter_start + rng.integers(0, 90, size).astype("timedelta64[D]")
    advanced = rng.random(size) < p
    to_proposal = entered + rng.integers(1, 6, size).astype("timedelta64[D]")
    won = advanced & (rng.random(size) < p)
    closed = to_proposal + rng.integers(1, 6, size).astype("timedelta64[D]")
    closed = np.where(advanced, closed, to_proposal)
    ids = np.array([f"d{i}" for i in range(size)])
    status = np.where(won, "won", "lost")
    deals = pl.DataFrame(
        {
            "deal_id": ids,
            "owner": "o",
            "team": names,
            "amount": "1",
            "created_at": entered.astype(str),
            "stage": np.where(won, "Won", "Lost"),
            "status": status,
            "closed_at": closed.astype(str),
        }
    )
    history = pl.concat(
        [
            pl.DataFrame(
                {"deal_id": ids, "stage": "Prospecting", "entered_at": entered.astype(str)}
            ),
            pl.DataFrame(
                {
                    "deal_id": ids[advanced],
                    "stage": "Proposal",
                    "entered_at": to_proposal[advanced].astype(str),
                }
            ),
            pl.DataFrame(
                {
                    "deal_id": ids,
                    "stage": np.where(won, "Won", "Lost"),
                    "entered_at": closed.astype(str),
                }
            ),
        ]
    )
    ds = _dataset(deals=deals, stages=TWO_OPEN_STAGES, stage_history=history)
    f = pk.stage_conversion_control(ds, Q4, by="team", sigmas=sigmas)
    out: dict[str, float] = {}
    for stage in ("Prospecting", "Proposal"):
        rows = f.filter((pl.col("stage") == stage) & (pl.col("signal") != "no baseline"))
        out[stage] = _share(rows["signal"].is_in(["above", "below"]))
        out[f"n_{stage}"] = rows.height
    # expected rates for Prospecting (n deals every quarter), over the past count K0 ~ B(8n, p)
    k0 = np.arange(8 * n + 1)
    weight = st.binom.pmf(k0, 8 * n, p)
    centre = k0 / (8 * n)
    x = np.arange(n + 1)
    pmf = st.binom.pmf(x, n, p)
    sd = np.sqrt(centre * (1 - centre) / n)  # the normal-theory limits the kit used before
    lcl, ucl = np.clip(centre - sigmas * sd, 0, 1), np.clip(centre + sigmas * sd, 0, 1)
    outside = (x[None, :] / n > ucl[:, None] + 1e-12) | (x[None, :] / n < lcl[:, None] - 1e-12)
    out["exact_normal"] = float(weight @ (outside * pmf[None, :]).sum(axis=1))
    tail = st.norm.sf(sigmas)  # the kit's predictive (beta-binomial) limits
    a, b = k0 + 0.5, 8 * n - k0 + 0.5
    k_low, k_high = st.betabinom.ppf(tail, n, a, b), st.betabinom.isf(tail, n, a, b)
    outside = (x[None, :] > k_high[:, None]) | (x[None, :] < k_low[:, None])
    out["exact"] = float(weight @ (outside * pmf[None, :]).sum(axis=1))
    return out


def dispersion_false_alarms(
    p: float, n: int, tau: float, draws: int, rng: np.random.Generator, shifted: float = 0.2
) -> dict[str, float]:
    """False alarms and power of the p-chart limits when quarters vary (common cause).

    Each of 9 quarters converts ``n`` deals at its own rate, logit-normal around ``p`` with
    standard deviation ``tau`` on the logit scale (τ = 0.15 is about 0.25-0.36 at p = 0.3;
    0.30 about 0.20-0.42); the 9th is charted against the 8 before, as
    ``stage_conversion_control`` does. ``pooled``: :func:`p_chart_limits` on the pooled past
    count (the limits used until the sixth session); ``dispersed``:
    :func:`dispersed_p_chart_limits` on the 8 quarters (the kit's limits). ``power_*``: the
    share of quarters flagged below when the 9th quarter's rate moved to ``shifted`` (same
    logit swing around it).
    """
    logit = math.log(p / (1 - p))
    rates = 1 / (1 + np.exp(-(logit + tau * rng.standard_normal((draws, 9)))))
    k = rng.binomial(n, rates)
    moved = 1 / (
        1 + np.exp(-(math.log(shifted / (1 - shifted)) + tau * rng.standard_normal(draws)))
    )
    k_moved = rng.binomial(n, moved)
    trials = np.full(draws, n)
    past_n = np.full((draws, 8), n)
    out: dict[str, float] = {}
    pooled = p_chart_limits(k[:, :8].sum(axis=1), past_n.sum(axis=1), trials)
    low, high, _ = dispersed_p_chart_limits(k[:, :8], past_n, trials)
    for name, (lcl, ucl) in (("pooled", pooled), ("dispersed", (low, high))):
        x = k[:, 8] / n
        out[name] = float(((x < lcl) | (x > ucl)).mean())
        out[f"power_{name}"] = float((k_moved / n < lcl).mean())
    return out


def _clustered_deals(
    n: int, icc: float, rng: np.random.Generator, p: float = 0.3, prefix: str = "a"
) -> tuple[np.ndarray, list[str]]:
    """``n`` deals (won flags, account ids) in accounts of ``1 + Poisson(1.5)`` deals (about
    2.5) sharing a rate drawn from a Beta with mean ``p`` and intraclass correlation ``icc``
    (independent deals at rate ``p`` when ``icc`` is 0), as the audit's ``sim_tests.py``."""
    sizes: list[int] = []
    while sum(sizes) < n:
        sizes.append(1 + int(rng.poisson(1.5)))
    sizes[-1] -= sum(sizes) - n
    if icc > 0:
        c = 1 / icc - 1
        rates = rng.beta(p * c, (1 - p) * c, len(sizes))
    else:
        rates = np.full(len(sizes), p)
    won = np.concatenate([rng.random(m) < q for m, q in zip(sizes, rates, strict=True)])
    accounts = [f"{prefix}{j}" for j, m in enumerate(sizes) for _ in range(m)]
    return won, accounts


def clustered_win_rate_coverage(
    icc: float, n: int, teams: int, rng: np.random.Generator, p: float = 0.3
) -> dict[str, float]:
    """Coverage of ``pk.win_rate``'s interval when deals come in accounts.

    Each team closes ``n`` deals in 2025-Q4 (:func:`_clustered_deals`). ``kit``:
    ``ci_low``/``ci_high`` (widened by the design effect of the accounts); ``plain``: the
    modified Wilson interval of the same counts (the interval before the seventh session);
    ``kit_width``/``plain_width``: their mean widths; ``deff``: the mean ``design_effect``.
    """
    import pipeline_kit as pk

    team_col, account_col, won_col = [], [], []
    for t in range(teams):
        won, accounts = _clustered_deals(n, icc, rng, p, prefix=f"t{t}a")
        won_col.append(won)
        team_col += [f"t{t:04d}"] * n
        account_col += accounts
    won = np.concatenate(won_col)
    deals = pl.DataFrame(
        {
            "deal_id": [f"d{i}" for i in range(won.size)],
            "owner": "o",
            "team": team_col,
            "amount": "1",
            "created_at": "2025-10-01",
            "stage": np.where(won, "Won", "Lost"),
            "status": np.where(won, "won", "lost"),
            "closed_at": "2025-11-01",
            "account_id": account_col,
        }
    )
    f = pk.win_rate(_dataset(deals=deals), "2025-Q4", by="team")
    low, high = wilson_interval("won", "n")
    plain = f.select(low.alias("low"), high.alias("high"))
    return {
        "kit": _share((f["ci_low"] <= p) & (p <= f["ci_high"])),
        "plain": _share((plain["low"] <= p) & (p <= plain["high"])),
        "kit_width": float((f["ci_high"] - f["ci_low"]).mean()),  # type: ignore[arg-type]
        "plain_width": float((plain["high"] - plain["low"]).mean()),  # type: ignore[arg-type]
        "deff": float(f["design_effect"].mean()),  # type: ignore[arg-type]
        "teams": float(f.height),
    }


def clustered_rest_size(
    icc: float, n1: int, n2: int, draws: int, rng: np.random.Generator, p: float = 0.3
) -> dict[str, float]:
    """Size at 5% of compare's win-rate test of a team against the rest, both at rate ``p``,
    deals in accounts (:func:`_clustered_deals`). ``kit``: the row compare builds (Fisher's
    mid-p on each side's counts divided by its design effect, Rao-Scott); ``old``: Fisher's
    mid-p on the raw counts (the test before the seventh session)."""
    from pipeline_kit.comparisons.significance import win_rate_rows
    from pipeline_kit.stats import fisher_mid_p_test

    bench = pl.DataFrame(schema={"metric": pl.String, "value": pl.Float64, "scope": pl.String})
    kit = old = 0
    for _ in range(draws):
        frames = []
        for side, n in (("t", n1), ("r", n2)):
            won, accounts = _clustered_deals(n, icc, rng, p, prefix=side)
            frames.append(
                pl.DataFrame(
                    {
                        "won": won,
                        "_deal_id": [f"{side}{i}" for i in range(n)],
                        "_account_id": accounts,
                    }
                )
            )
        cur, rest = frames
        (row,) = win_rate_rows((cur, rest, None), "g", bench, 20, "")
        kit += row.p_value is not None and row.p_value <= 0.05
        k1, k2 = int(cur["won"].sum()), int(rest["won"].sum())
        old += fisher_mid_p_test(k1, n1, k2, n2)[1] <= 0.05
    return {"kit": kit / draws, "old": old / draws}


def clustered_tables(args: argparse.Namespace, rng: np.random.Generator) -> list[Table]:
    """Win rates with deals in accounts (``--clustered-only``): the interval's coverage and
    width, and the team-vs-rest test's size, before and after the design effect (audit P8)."""
    return [clustered_coverage_table(args, rng), clustered_size_table(args, rng)]


def clustered_coverage_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """pk.win_rate's coverage and width with deals in accounts, ICC 0 / 0.1 / 0.3."""
    t = Table(
        "Win rate when deals come in accounts (pk.win_rate), 95% interval: coverage of the "
        f"true rate 0.3; {args.teams} teams per row, accounts of about 2.5 deals sharing a "
        "Beta rate with intraclass correlation ICC (ICC 0: independent deals); kit = widened "
        "by the design effect, plain = the modified Wilson of the same counts (the interval "
        "before the seventh session); widths are means",
        [
            "ICC",
            "n",
            "kit",
            "s.e.",
            "plain",
            "s.e. ",
            "kit width",
            "plain width",
            "kit swing",
            "plain swing",
            "mean deff",
        ],
    )
    for icc in (0.0, 0.1, 0.3):
        for n in (30, 60, 200):
            c = clustered_win_rate_coverage(icc, n, args.teams, rng)
            t.add(
                icc,
                n,
                c["kit"],
                _mcse(c["kit"], args.teams),
                c["plain"],
                _mcse(c["plain"], args.teams),
                f"{c['kit_width']:.3f}",
                f"{c['plain_width']:.3f}",
                f"{c['deff']:.3f}",
            )
    return t


def clustered_size_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """The size of pk.compare's team-vs-rest win-rate test with deals in accounts."""
    t = Table(
        "Win rate against the rest of the organisation (pk.compare), deals in accounts of "
        "about 2.5 (as above), both at 0.3: size at 5%; "
        f"{args.compare_draws} draws per row; kit = Fisher's mid-p on counts divided by each "
        "side's design effect (Rao-Scott), old = Fisher's mid-p on the raw counts (before)",
        ["ICC", "n", "kit", "s.e.", "old", "s.e. "],
    )
    for icc in (0.0, 0.1, 0.3):
        for n1, n2 in ((30, 300), (60, 400)):
            c = clustered_rest_size(icc, n1, n2, args.compare_draws, rng)
            t.add(
                icc,
                f"{n1} vs {n2}",
                c["kit"],
                _mcse(c["kit"], args.compare_draws),
                c["old"],
                _mcse(c["old"], args.compare_draws),
            )
    return t


def churn_coverage(rate: float, n: int, teams: int, rng: np.random.Generator) -> float:
    """Coverage of ``pk.churn``'s Wilson interval of the quarter's churn rate.

    Every team has ``n`` customers active at 2025-10-01, each ending in 2025-Q4 with
    probability ``rate`` (truth: ``rate``).
    """
    import pipeline_kit as pk

    names = np.repeat(_teams(teams), n)
    ended = rng.random(names.size) < rate
    end = pl.Series(_days_into("2025-10-01", rng.integers(0, 92, names.size)))
    end = pl.select(pl.when(pl.Series(ended)).then(end)).to_series()
    customers = pl.DataFrame(
        {
            "account_id": [f"c{i}" for i in range(names.size)],
            "start_date": _days_into("2024-01-01", rng.integers(0, 600, names.size)),
            "end_date": end,
            "mrr": "100",
            "team": names,
        }
    )
    deals = pl.DataFrame(
        {
            "deal_id": ["d0"],
            "owner": ["o"],
            "team": ["t00000"],
            "amount": ["1"],
            "created_at": ["2025-10-01"],
            "stage": ["Won"],
            "status": ["won"],
            "closed_at": ["2025-12-31"],
        }
    )
    ds = _dataset(deals=deals, customers=customers)
    f = pk.churn(ds, Q4, by="team", as_of="2025-12-31")
    return _share((f["ci_low"] <= rate) & (rate <= f["ci_high"]))


def stage_conversion_coverage(
    p: float, n: int, read_at: str, teams: int, rng: np.random.Generator
) -> dict[str, float]:
    """Coverage of ``pk.stage_conversion``'s interval of a cohort's eventual conversion.

    Every team has ``n`` deals entering Prospecting in 2025-Q4; each advances to Proposal with
    probability ``p`` after an exponential wait of mean 25 days, else is lost after one of
    mean 8 days (drops come faster than advances, as in CRMs); outcomes are read at
    ``read_at``, when some deals are still pending. Truth: ``p``, the conversion the cohort
    will show once decided. ``decided`` is the Wilson interval on the decided deals alone
    (the kit's interval before it spanned the pending deals' outcomes), the named baseline.
    """
    import pipeline_kit as pk
    from pipeline_kit.stats import wilson_interval

    names = np.repeat(_teams(teams), n)
    size = names.size
    entered = rng.integers(0, 92, size)
    advances = rng.random(size) < p
    wait = np.where(advances, rng.exponential(25, size), rng.exponential(8, size)).astype(int) + 1
    moved = entered + wait
    ids = [f"d{i}" for i in range(size)]
    deals = pl.DataFrame(
        {
            "deal_id": ids,
            "owner": "o",
            "team": names,
            "amount": "100",
            "created_at": _days_into("2025-10-01", entered),
            "stage": np.where(advances, "Proposal", "Lost"),
            "status": np.where(advances, "open", "lost"),
            "closed_at": pl.select(
                pl.when(pl.Series(~advances)).then(pl.Series(_days_into("2025-10-01", moved)))
            ).to_series(),
        }
    )
    history = pl.DataFrame(
        {
            "deal_id": ids + ids,
            "stage": ["Prospecting"] * size + list(np.where(advances, "Proposal", "Lost")),
            "entered_at": list(_days_into("2025-10-01", entered))
            + list(_days_into("2025-10-01", moved)),
        }
    )
    stages = pl.DataFrame(
        {
            "stage": ["Prospecting", "Proposal", "Won", "Lost"],
            "order": ["1", "2", "3", "4"],
            "probability": ["0.1", "0.5", "1", "0"],
            "is_won": ["false", "false", "true", "false"],
            "is_lost": ["false", "false", "false", "true"],
        }
    )
    ds = _dataset(deals=deals, stages=stages, stage_history=history)
    f = pk.stage_conversion(ds, Q4, by="team", as_of=read_at).filter(
        pl.col("stage") == "Prospecting"
    )
    low, high = wilson_interval("advanced", "n")
    decided = f.select(low.alias("lo"), high.alias("hi"))
    return {
        "kit": _share((f["ci_low"] <= p) & (p <= f["ci_high"])),
        "decided": _share((decided["lo"] <= p) & (p <= decided["hi"])),
        "pending": float(f["pending"].sum() / f["entered"].sum()),
        "n": f.height,
    }


def missing_amount_coverage(
    p: float, n: int, miss_won: float, miss_lost: float, teams: int, rng: np.random.Generator
) -> dict[str, float]:
    """Coverage of ``pk.win_rate``'s interval when amounts are missing not at random.

    Every team closes ``n`` deals in 2025-Q4, each won with probability ``p``; a won deal's
    amount is left blank with probability ``miss_won``, a lost one's with ``miss_lost`` (CRMs
    leave it blank mostly on lost deals). Truth: ``p``. ``kit``: the kit's interval, which
    counts the deals without an amount. ``quarantined``: the Wilson interval on the deals
    with an amount alone, what the kit gave before (it quarantined the others), the named
    baseline; ``estimate`` / ``quarantined_estimate``: the mean point estimates.
    """
    import pipeline_kit as pk
    from pipeline_kit.stats import wilson_interval

    names = np.repeat(_teams(teams), n)
    size = names.size
    won = rng.random(size) < p
    blank = rng.random(size) < np.where(won, miss_won, miss_lost)
    created = rng.integers(0, 30, size)
    deals = pl.DataFrame(
        {
            "deal_id": [f"d{i}" for i in range(size)],
            "owner": "o",
            "team": names,
            # a blank cell, as an export leaves it (read as missing, not as 0)
            "amount": np.where(blank, "", "100"),
            "created_at": _days_into("2025-10-01", created),
            "stage": np.where(won, "Won", "Lost"),
            "status": np.where(won, "won", "lost"),
            "closed_at": _days_into("2025-10-01", created + rng.integers(1, 60, size)),
        }
    )
    ds = _dataset(deals=deals)
    f = pk.win_rate(ds, Q4, by="team")
    kept = (
        pl.DataFrame({"team": names, "won": won, "kept": ~blank})
        .filter("kept")
        .group_by("team")
        .agg(pl.col("won").sum().alias("k"), pl.len().alias("m"))
    )
    low, high = wilson_interval("k", "m")
    old = kept.select(low.alias("lo"), high.alias("hi"), (pl.col("k") / pl.col("m")).alias("r"))
    return {
        "kit": _share((f["ci_low"] <= p) & (p <= f["ci_high"])),
        "estimate": float(f["win_rate"].mean()),
        "quarantined": _share((old["lo"] <= p) & (p <= old["hi"])),
        "quarantined_estimate": float(old["r"].mean()),
        "n": f.height,
    }


def velocity_coverage(
    n: int, p: float, sigma: float, link: float, teams: int, rng: np.random.Generator
) -> dict[str, float]:
    """Coverage of ``pk.velocity``'s interval (MOVER over the win rate, the average won deal
    and the inverse average won cycle; the open qualified count exact).

    Every team closes ``n`` deals in 2025-Q4, each won with probability ``p``; a won deal's
    amount is log-normal (median 10,000, ``sigma``) and its cycle ``30 x Gamma(2)`` days
    times ``(amount / 10,000) ** link`` (``link`` > 0: big deals take longer, as they do);
    20 deals sit open in the qualified stage at the period's end. Truth: ``20 x p x E[amount]
    / E[cycle]`` (expectations over the won deals, by simulation for ``link`` > 0). ``n``:
    teams whose interval exists (5 won deals or more).
    """
    import pipeline_kit as pk

    names = np.repeat(_teams(teams), n)
    size = names.size
    won = rng.random(size) < p
    amount = 10_000 * rng.lognormal(0.0, sigma, size)
    cycle = np.maximum(1, np.round(30 * rng.gamma(2.0, 1.0, size) * (amount / 10_000) ** link))
    closed = rng.integers(0, 90, size)  # days into 2025-Q4 (92 days)
    open_names = np.repeat(_teams(teams), 20)
    k = open_names.size
    deals = pl.DataFrame(
        {
            "deal_id": [f"d{i}" for i in range(size)] + [f"o{i}" for i in range(k)],
            "owner": "o",
            "team": np.concatenate([names, open_names]),
            "amount": np.concatenate([amount.round(2), np.full(k, 5_000.0)]),
            "created_at": np.concatenate(
                [_days_into("2025-10-01", closed - cycle), np.full(k, "2025-09-01")]
            ),
            "stage": np.concatenate([np.where(won, "Won", "Lost"), np.full(k, "Proposal")]),
            "status": np.concatenate([np.where(won, "won", "lost"), np.full(k, "open")]),
            "closed_at": np.concatenate([_days_into("2025-10-01", closed), np.full(k, None)]),
        }
    )
    history = deals.filter(pl.col("status") == "open").select(
        "deal_id", "stage", pl.col("created_at").alias("entered_at")
    )
    ds = _dataset(deals=deals, stages=TWO_OPEN_STAGES, stage_history=history)
    f = pk.velocity(ds, Q4, by="team").filter(pl.col("ci_low").is_not_null())
    # E[amount] and E[cycle] of won deals, from a large draw of the same model
    big = 10_000 * rng.lognormal(0.0, sigma, 2_000_000)
    mean_cycle = float(
        np.maximum(1, np.round(30 * rng.gamma(2.0, 1.0, big.size) * (big / 10_000) ** link)).mean()
    )
    truth = 20 * p * float(big.mean()) / mean_cycle
    high = f["ci_high"].fill_null(float("inf"))  # (no upper end: the cycle's reaches 0)
    hit = (f["ci_low"] <= truth) & (truth <= high)
    return {
        "kit": _share(hit),
        "below": _share(high < truth),
        "unbounded": _share(f["ci_high"].is_null()),
        "above": _share(f["ci_low"] > truth),
        "n": f.height,
    }


def quasi_poisson_rate_interval(
    total: str, n: str, sum_sq: str, confidence: float = 0.95
) -> tuple[pl.Expr, pl.Expr]:
    """The calls-per-deal interval before the eighth session (``stats`` had it), kept here as
    the named baseline: quasi-Poisson, ``m · exp(± t(n-1) · √(phi / total))`` with ``m =
    total / n`` and ``phi = max(1, s² / m)``; 0 to ``-ln(α/2) / n`` without any count; null
    below 2 units."""
    alpha = 1 - confidence
    k = pl.col(total).cast(pl.Float64)
    units = pl.col(n).cast(pl.Float64)
    mean = k / units
    variance = (pl.col(sum_sq).cast(pl.Float64) - units * mean**2) / (units - 1)
    phi = pl.max_horizontal(pl.lit(1.0), variance / mean)
    t = pl.col(n).map_batches(
        lambda s: pl.Series(stats.t.ppf(1 - alpha / 2, np.maximum(s.to_numpy() - 1, 1))),
        return_dtype=pl.Float64,
    )
    half = t * (phi / k).sqrt()
    zero_high = float(-np.log(alpha / 2)) / units
    enough = units >= 2
    low = pl.when(enough & (k > 0)).then(mean * (-half).exp()).when(enough).then(pl.lit(0.0))
    high = pl.when(enough & (k > 0)).then(mean * half.exp()).when(enough).then(zero_high)
    return low, high


def calls_coverage(
    mean: float, shape: float | None, n: int, draws: int, rng: np.random.Generator
) -> tuple[float, float, float]:
    """Coverage of calls per closed deal: ``pk.calls_per_deal_by_industry``'s interval
    (``stats.skewed_mean_interval`` of the per-deal counts from 8 deals; over the first 300
    industries, where given), the quasi-Poisson interval used before, and a plain Poisson
    interval of the total.

    Calls per deal are negative binomial with ``mean`` and ``shape`` (variance mean +
    mean² / shape; ``None``: Poisson), ``n`` deals per industry, ``draws`` industries.
    Returns (kit, quasi-Poisson, Poisson).
    """
    from pipeline_kit.metrics.activity import MIN_CALLS_DEALS

    if shape is None:
        counts = rng.poisson(mean, size=(draws, n))
    else:
        counts = rng.negative_binomial(shape, shape / (shape + mean), size=(draws, n))
    frame = pl.DataFrame(
        {"calls": counts.sum(axis=1), "deals": [n] * draws, "ss": (counts**2).sum(axis=1)}
    )
    low, high = quasi_poisson_rate_interval("calls", "deals", "ss")
    quasi = frame.select(((low <= mean) & (high >= mean)).mean()).item()
    total_low, total_high = poisson_interval(frame["calls"].to_numpy())
    plain = float(np.mean((total_low / n <= mean) & (total_high / n >= mean)))
    hits = shown = 0
    for i, x in enumerate(counts[:300] if n >= MIN_CALLS_DEALS else []):
        lo, hi = skewed_mean_interval(x.astype(float), seed=i)
        if lo is not None:
            shown += 1
            hits += lo <= mean and (hi is None or mean <= hi)
    return (hits / shown if shown else math.nan), float(quasi), plain


def wilson_exact_coverage(rate: float, n: int) -> float:
    """The exact coverage of the kit's Wilson interval: the binomial probability of the counts
    whose interval holds ``rate``."""
    from scipy import stats as st

    k = np.arange(n + 1)
    low, high = wilson_interval("k", "n")
    ci = pl.DataFrame({"k": k, "n": np.full(n + 1, n)}).select(low.alias("l"), high.alias("h"))
    holds = (ci["l"].to_numpy() <= rate) & (rate <= ci["h"].to_numpy())
    return float(st.binom.pmf(k, n, rate)[holds].sum())


FORECAST_SCENARIOS = ("base", "lognormal", "pareto", "few_base", "few_lognormal")


def forecast_tables(seed: int, scenario: str) -> dict[str, pl.DataFrame]:
    """The audit's organisations (findings/intervals/sim_forecast.py, table 1.7).

    5,000 deals (``few_*``: 1,000, about 4 wins per team-quarter) over 2022-2025 with seasonal
    creation, quarter-end wins and pushed close dates; ``lognormal`` multiplies each amount by
    a log-normal (sigma 1.5, mean 1), ``pareto`` by a Pareto(1.5) with mean 1.
    """
    import datetime as dt

    from pipeline_kit.synthetic import generate

    n = 1000 if scenario.startswith("few") else 5000
    t = generate(
        n,
        seed,
        start=dt.date(2022, 1, 1),
        end=dt.date(2025, 12, 31),
        seasonality=0.25,
        quarter_end_push=0.3,
        close_date_push=0.5,
    )
    rng = np.random.default_rng(1000 + seed)
    d = t["deals"]
    amt = d["amount"].cast(pl.Float64).to_numpy()
    if scenario.endswith("lognormal"):
        amt = amt * rng.lognormal(-(1.5**2) / 2, 1.5, amt.size)
    elif scenario.endswith("pareto"):
        amt = amt * (1 - rng.random(amt.size)) ** (-1 / 1.5) / 3.0
    t["deals"] = d.with_columns(pl.Series("amount", np.round(amt, 2)).cast(d["amount"].dtype))
    return t


def forecast_coverage(
    scenario: str,
    seeds: list[int],
    draws: int = 2000,
    checkpoints: str = "monthly",
    by: str | None = "team",
) -> pl.DataFrame:
    """Per checkpoint: coverage of pk.forecast's 50/80/90% intervals in its own backtest.

    ``pk.backtest_forecast(by=by, min_past_periods=4)`` on one organisation per seed (12
    quarters x 5 teams per checkpoint; ``by=None``: the organisation's forecasts, 12
    quarters). Columns: ``forecasts``, ``cov_50/80/90`` with their Monte-Carlo 95%
    half-widths ``mc_50/80/90`` (cluster-robust: the teams of one quarter and seed share the
    quarter, so clusters are seed x period), ``below_p10``, ``above_p90``, ``crps`` (mean, in
    money) and ``seconds`` (all backtests).
    """
    import pipeline_kit as pk

    frames, start = [], time.perf_counter()
    for seed in seeds:
        ds = pk.load(forecast_tables(seed, scenario))
        bt = pk.backtest_forecast(
            ds, by=by, draws=draws, min_past_periods=4, seed=seed, checkpoints=checkpoints
        )
        frames.append(
            bt.forecasts.filter(pl.col("method") == "model").with_columns(
                pl.lit(seed).alias("seed")
            )
        )
    seconds = time.perf_counter() - start
    res = pl.concat(frames)
    rows = []
    for (checkpoint,), g in res.group_by("checkpoint", maintain_order=True):
        row: dict[str, object] = {"checkpoint": checkpoint, "forecasts": g.height}
        for level in (50, 80, 90):
            hit = pl.col(f"in_{level}").cast(pl.Float64)
            cov = float(g.select(hit.mean()).item())
            cl = g.group_by("seed", "period").agg(hit.sum().alias("s"), pl.len().alias("m"))
            k = cl.height
            resid = ((cl["s"] - cov * cl["m"]) ** 2).sum()
            se = math.sqrt(resid * k / (k - 1)) / g.height if k > 1 else float("nan")
            row[f"cov_{level}"], row[f"mc_{level}"] = cov, 1.96 * se
        row["below_p10"] = float((g["actual"] < g["p10"]).mean())
        row["above_p90"] = float((g["actual"] > g["p90"]).mean())
        row["crps"] = float(g["crps"].mean())
        row["seconds"] = seconds
        rows.append(row)
    return pl.DataFrame(rows)


RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
MARKERS = ("<!-- coverage: start -->", "<!-- coverage: end -->")


class Table:
    """One result table: printed as aligned text while it fills, written as Markdown."""

    def __init__(self, title: str, header: list[str]) -> None:
        self.title, self.header, self.rows = title, header, []
        self.widths = [max(len(h), 7) for h in header]
        print(f"\n{title}")
        print(" ".join(f"{h:>{w}}" for h, w in zip(header, self.widths, strict=True)))

    def add(self, *cells: object) -> None:
        row = [f"{c:.3f}" if isinstance(c, float) else str(c) for c in cells]
        self.rows.append(row)
        print(" ".join(f"{c:>{w}}" for c, w in zip(row, self.widths, strict=True)), flush=True)

    def markdown(self) -> str:
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.header) + " |"]
        lines.append("|" + "|".join("---:" for _ in self.header) + "|")
        lines += ["| " + " | ".join(row) + " |" for row in self.rows]
        return "\n".join(lines)


# ----------------------------------------------------------------------------- compare's tests
# The size of pk.compare's tests (share of p <= 0.05 when the null is true), each computed by
# the row builder compare() calls (pipeline_kit.comparisons.significance), on the settings of
# the intervals audit (findings/intervals, P4-P7). "old" columns recompute the test the kit
# ran before on the same draws, as the named baseline.


def _weibull_cohort(
    rng: np.random.Generator, n: int, shape: float, median: float, censor_max: float
) -> pl.DataFrame:
    """A cohort of ``n`` deals: integer Weibull days, censored by a uniform reading date."""
    scale = median / math.log(2) ** (1 / shape)
    t = np.ceil(scale * rng.weibull(shape, n))
    c = np.floor(rng.uniform(0, censor_max, n))
    return pl.DataFrame({"days": np.minimum(t, c), "event": t <= c})


def cycle_gate_size(
    n1: int,
    n2: int | None,
    shape: float,
    censor_max: float,
    draws: int,
    rng: np.random.Generator,
    min_n: int = 20,
) -> dict[str, float]:
    """Size of compare's cycle test when both cohorts share one Weibull curve (median 45 d).

    ``n2`` None: the external test against the true median 45; else log-rank against a
    cohort of ``n2``. ``kit``: every draw the kit tests (cohort-size gate); ``old``: the same
    p-values kept only where each side had ``min_n`` closed deals (the events gate used
    before); ``passed``: the share of draws that passed that events gate.
    """
    from pipeline_kit.comparisons.significance import cycle_rows

    bench = pl.DataFrame(
        {"metric": ["cycle_length_km_days"], "value": [45.0], "scope": ["all"], "source": ["x"]}
    )
    kit, old, passed, tested = 0, 0, 0, 0
    for _ in range(draws):
        cur = _weibull_cohort(rng, n1, shape, 45.0, censor_max)
        other = _weibull_cohort(rng, n2, shape, 45.0, censor_max) if n2 else None
        rows = cycle_rows((cur, other if other is not None else cur, None), "g", bench, min_n, "")
        row = rows[0] if n2 is None else rows[1]
        if row.p_value is None:
            continue
        tested += 1
        reject = row.p_value <= 0.05
        kit += reject
        gate = int(cur["event"].sum()) >= min_n and (
            other is None or int(other["event"].sum()) >= min_n
        )
        passed += gate
        old += reject and gate
    return {
        "kit": kit / max(tested, 1),
        "n_kit": tested,
        "old": old / max(passed, 1),
        "n_old": passed,
        "passed": passed / draws,
    }


def size_test_size(
    draw_x: Callable[[np.random.Generator, int], np.ndarray],
    draw_y: Callable[[np.random.Generator, int], np.ndarray],
    n1: int,
    n2: int,
    draws: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Share of draws in which compare's won-deal test against the rest rejects at 5%.

    ``kit``: the row compare builds (Brunner-Munzel); ``old``: Mann-Whitney on the same draws
    (the test before). Both samples are drawn so that P(X > Y) + ½ P(X = Y) = 0.5.
    """
    from pipeline_kit.comparisons.significance import size_rows
    from pipeline_kit.stats import mann_whitney_test

    bench = pl.DataFrame(schema={"metric": pl.String, "value": pl.Float64, "scope": pl.String})
    kit = old = 0
    for _ in range(draws):
        x, y = draw_x(rng, n1), draw_y(rng, n2)
        (row,) = size_rows(
            (pl.DataFrame({"amount": x}), pl.DataFrame({"amount": y}), None), "g", bench, 20, ""
        )
        kit += row.p_value is not None and row.p_value <= 0.05
        old += mann_whitney_test(x, y)[1] <= 0.05
    return {"kit": kit / draws, "old": old / draws}


def trailing_rate_size(
    n: int,
    tau: float,
    shift: float,
    teams: int,
    draws: int,
    rng: np.random.Generator,
    rate: float = 0.3,
) -> dict[str, float]:
    """Rejections of compare's win-rate test against a team's own previous 4 quarters.

    Each of ``teams`` teams closes ``n`` deals a quarter; every quarter's true rate is
    logit-normal around ``rate`` with sd ``tau`` (common-cause variation, nothing changed in
    the long run); the current quarter's logit is moved by ``shift`` (0: the size, else the
    power). The spread is estimated from all the teams' past quarters, as :func:`compare`
    does; team 0 is tested. ``kit``: the row compare builds; ``old``: Fisher's test on the
    pooled past quarters (the test before).
    """
    from pipeline_kit.comparisons.significance import win_rate_rows
    from pipeline_kit.stats import fisher_test, period_spread

    bench = pl.DataFrame(schema={"metric": pl.String, "value": pl.Float64, "scope": pl.String})
    logit = math.log(rate / (1 - rate))
    kit = old = 0
    quarter = np.repeat(np.arange(1, 5, dtype=np.int32), n)
    for _ in range(draws):
        effects = logit + tau * rng.standard_normal((teams, 5))
        effects[:, 4] += shift
        k = rng.binomial(n, 1 / (1 + np.exp(-effects)))
        spread = period_spread(
            k[:, :4].ravel(), np.full(teams * 4, n), np.repeat(np.arange(teams), 4)
        )
        won_past = np.concatenate([np.arange(n) < kq for kq in k[0, :4]])
        cur = pl.DataFrame({"won": np.arange(n) < k[0, 4]})
        trail = pl.DataFrame({"won": won_past, "_quarter": quarter})
        rows = win_rate_rows((cur, cur, trail), "g", bench, 20, "", spread=spread)
        p = rows[1].p_value
        kit += p is not None and p <= 0.05
        old += fisher_test(k[0, 4], n, k[0, :4].sum(), 4 * n)[1] <= 0.05
    return {"kit": kit / draws, "old": old / draws}


def external_rate_size(
    n: int, n_b: int, draws: int, rng: np.random.Generator, rate: float = 0.3
) -> dict[str, float]:
    """Rejections of compare's win-rate test against an external benchmark that is itself an
    estimate: ``k_b`` won of ``n_b`` deals at the team's own true ``rate`` (so the size).

    ``with_n``: the benchmark row states ``n``; ``with_ci``: it states the Wilson 95%
    interval of ``k_b / n_b`` as ``low``-``high``; ``old``: the exact binomial test against
    the value as if exact (the test before, and still the test of a row with neither).
    """
    from pipeline_kit.comparisons.significance import win_rate_rows
    from pipeline_kit.stats import binomial_test

    with_n = with_ci = old = 0
    z = 1.959963984540054
    for _ in range(draws):
        k, k_b = rng.binomial(n, rate), rng.binomial(n_b, rate)
        value = k_b / n_b
        centre = (value + z * z / (2 * n_b)) / (1 + z * z / n_b)
        half = z / (1 + z * z / n_b) * math.sqrt(value * (1 - value) / n_b + z * z / (4 * n_b**2))
        cur = pl.DataFrame({"won": np.arange(n) < k})
        for stated in ("n", "ci"):
            bench = pl.DataFrame(
                {
                    "metric": ["win_rate"],
                    "value": [value],
                    "scope": ["all"],
                    "source": ["survey"],
                    "low": [centre - half if stated == "ci" else None],
                    "high": [centre + half if stated == "ci" else None],
                    "n": [n_b if stated == "n" else None],
                }
            )
            (row,) = win_rate_rows((cur, None, None), "g", bench, 20, "")  # type: ignore[arg-type]
            reject = row.p_value is not None and row.p_value <= 0.05
            with_n += reject and stated == "n"
            with_ci += reject and stated == "ci"
        old += binomial_test(k, n, value) <= 0.05
    return {"with_n": with_n / draws, "with_ci": with_ci / draws, "old": old / draws}


def rest_rate_size(
    rate: float, n1: int, n2: int, draws: int, rng: np.random.Generator
) -> dict[str, float]:
    """Size of compare's win-rate test against the rest, both at ``rate``: ``kit`` (Fisher
    mid-p, the row compare builds), ``old`` (Fisher's exact p, the test before), and the
    milliseconds per kit row."""
    from pipeline_kit.comparisons.significance import win_rate_rows
    from pipeline_kit.stats import fisher_test

    bench = pl.DataFrame(schema={"metric": pl.String, "value": pl.Float64, "scope": pl.String})
    kit = old = 0
    seconds = 0.0
    for _ in range(draws):
        k1, k2 = rng.binomial(n1, rate), rng.binomial(n2, rate)
        cur = pl.DataFrame({"won": np.arange(n1) < k1})
        rest = pl.DataFrame({"won": np.arange(n2) < k2})
        start = time.perf_counter()
        (row,) = win_rate_rows((cur, rest, None), "g", bench, 20, "")
        seconds += time.perf_counter() - start
        kit += row.p_value is not None and row.p_value <= 0.05
        old += fisher_test(k1, n1, k2, n2)[1] <= 0.05
    return {"kit": kit / draws, "old": old / draws, "ms": 1000 * seconds / draws}


def external_cycle_size(
    n: int,
    n_b: int,
    shape: float,
    censor_max: float,
    draws: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Rejections of compare's cycle test against an external median that is itself a
    Kaplan-Meier estimate from ``n_b`` deals of the same process (so the size).

    The benchmark row states that estimate's 95% interval as ``low``-``high``. ``kit``: the
    row compare builds (MOVER where the group's median is reached, else the exact test);
    ``old``: the KM z-test against the estimate as if exact; ``exact``: the share of rows
    that fell back to the exact test. Draws whose benchmark interval is not bounded are
    skipped (a benchmark states both ends).
    """
    from pipeline_kit.comparisons.significance import cycle_rows
    from pipeline_kit.stats import km_median_test

    kit = old = fallback = used = 0
    for _ in range(draws):
        ref = _weibull_cohort(rng, n_b, shape, 45.0, censor_max)
        value, low, high = kaplan_meier_median(ref["days"].to_numpy(), ref["event"].to_numpy())
        if value is None or low is None or high is None:
            continue
        cur = _weibull_cohort(rng, n, shape, 45.0, censor_max)
        bench = pl.DataFrame(
            {
                "metric": ["cycle_length_km_days"],
                "value": [value],
                "scope": ["all"],
                "source": ["x"],
                "low": [low],
                "high": [high],
                "n": [None],
            },
            schema_overrides={"n": pl.Int64},
        )
        (row,) = cycle_rows((cur, None, None), "g", bench, 20, "")  # type: ignore[arg-type]
        if row.p_value is None:
            continue
        used += 1
        kit += row.p_value <= 0.05
        fallback += "treated as exact" in row.test
        p_old = km_median_test(cur["days"].to_numpy(), cur["event"].to_numpy(), value)[1]
        old += bool(np.isfinite(p_old) and p_old <= 0.05)
    return {
        "kit": kit / max(used, 1),
        "old": old / max(used, 1),
        "exact": fallback / max(used, 1),
        "n": used,
    }


def compare_tables(args: argparse.Namespace, rng: np.random.Generator) -> list[Table]:
    """The size tables of pk.compare's tests (``--compare-only``), with MC s.e."""
    tables = []
    t = Table(
        "Cycle comparisons (pk.compare, cycle_length_km_days): size at 5% when nothing "
        f"differs; {args.compare_draws} draws per row; Weibull cycles (median 45 d, integer "
        "days), uniform reading date; kit = gate on cohort size (>= 20 deals each side), old "
        "= the same tests kept only when each side had >= 20 closed deals (the gate before), "
        "passed = share that passed it",
        ["test", "n", "shape", "censor<=", "kit", "s.e.", "old", "s.e. ", "passed"],
    )
    for n1, n2, shape, cmax in (
        (30, 300, 0.7, 200),
        (30, 600, 1.0, 120),
        (80, 300, 0.7, 200),
        (30, None, 0.7, 150),
        (40, None, 1.0, 100),
        (20, None, 1.0, 60),
        (20, None, 0.7, 40),
    ):
        c = cycle_gate_size(n1, n2, shape, cmax, args.compare_draws, rng)
        t.add(
            "log-rank" if n2 else "KM z vs 45",
            f"{n1} vs {n2}" if n2 else str(n1),
            shape,
            cmax,
            c["kit"],
            _mcse(c["kit"], int(c["n_kit"])),
            c["old"],
            _mcse(c["old"], int(c["n_old"])),
            c["passed"],
        )
    tables.append(t)
    t = Table(
        "Won deal size against the rest (pk.compare, median_won_deal_size): size at 5% when "
        "neither group's deals tend to be larger (P(X > Y) + ½ P(X = Y) = 0.5); "
        f"{args.compare_draws} draws per row; kit = Brunner-Munzel, old = Mann-Whitney (the "
        "test before); equal medians with different spreads is where they part",
        ["amounts", "n", "kit", "s.e.", "old", "s.e. "],
    )
    prices = np.array([5e3, 10e3, 25e3, 50e3, 100e3, 250e3])
    weights = np.array([0.35, 0.25, 0.2, 0.1, 0.07, 0.03])

    def lognormal(sigma: float) -> Callable[[np.random.Generator, int], np.ndarray]:
        return lambda r, n: r.lognormal(9, sigma, n)

    def listed(r: np.random.Generator, n: int) -> np.ndarray:
        return r.choice(prices, n, p=weights)

    for label, draw_x, draw_y, n1, n2 in (
        ("LN sigma 1.5 vs 0.7", lognormal(1.5), lognormal(0.7), 30, 300),
        ("LN sigma 1.5 vs 0.7", lognormal(1.5), lognormal(0.7), 60, 400),
        ("LN sigma 0.7 vs 1.5", lognormal(0.7), lognormal(1.5), 30, 300),
        ("LN sigma 0.7 vs 1.5", lognormal(0.7), lognormal(1.5), 20, 20),
        ("LN sigma 1 both", lognormal(1.0), lognormal(1.0), 30, 300),
        ("list prices both", listed, listed, 20, 200),
        ("list prices both", listed, listed, 30, 30),
    ):
        c = size_test_size(draw_x, draw_y, n1, n2, args.compare_draws, rng)
        draws = args.compare_draws
        t.add(
            label,
            f"{n1} vs {n2}",
            c["kit"],
            _mcse(c["kit"], draws),
            c["old"],
            _mcse(c["old"], draws),
        )
    tables.append(t)
    t = Table(
        "Win rate against the rest (pk.compare, rest_of_org): size at 5% when both are at the "
        f"same rate; {args.compare_draws} draws per row; kit = Fisher's test with Lancaster's "
        "mid-p, old = Fisher's exact p (the test before); ms = milliseconds per kit row",
        ["rate", "n", "kit", "s.e.", "old", "s.e. ", "ms"],
    )
    for rate, n1, n2 in (
        (0.05, 20, 200),
        (0.05, 30, 1000),
        (0.05, 60, 400),
        (0.3, 20, 200),
        (0.3, 30, 1000),
        (0.3, 60, 400),
        (0.1, 20, 20),
        (0.5, 20, 30),
    ):
        c = rest_rate_size(rate, n1, n2, args.compare_draws, rng)
        draws = args.compare_draws
        t.add(
            rate,
            f"{n1} vs {n2}",
            c["kit"],
            _mcse(c["kit"], draws),
            c["old"],
            _mcse(c["old"], draws),
            f"{c['ms']:.2f}",
        )
    tables.append(t)
    tables += [trailing_table(args, rng), external_table(args, rng)]
    tables.append(external_cycle_table(args, rng))
    tables += benchmark_test_tables(args, rng)
    return tables


def benchmark_test_tables(args: argparse.Namespace, rng: np.random.Generator) -> list[Table]:
    """The eighth session's size tables (wt-cmp8, ``--cmp8-only``): tests against benchmarks."""
    return [
        external_size_table(args, rng),
        rep_flag_table(args, rng),
        small_mean_table(args, rng),
        brunner_munzel_table(args, rng),
    ]


def external_cycle_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """The external cycle test's size with an estimated benchmark (:func:`external_cycle_size`)."""
    draws = args.compare_draws // 4
    t = Table(
        "Median cycle against an external benchmark that is itself a Kaplan-Meier estimate "
        f"(pk.compare, external): size at 5%; {draws} draws per row; Weibull cycles (median "
        "45 d), uniform reading date; the benchmark row states its 95% interval; kit = MOVER "
        "test where the group's median is reached (else the exact test: share 'exact'), old "
        "= KM z-test against the estimate as if exact (the test before)",
        ["n", "n_b", "shape", "censor<=", "kit", "s.e.", "old", "s.e. ", "exact"],
    )
    for n, n_b, shape, cmax in (
        (60, 100, 1.0, 200),
        (200, 100, 1.0, 200),
        (60, 400, 0.7, 200),
        (40, 200, 1.0, 120),
    ):
        c = external_cycle_size(n, n_b, shape, cmax, draws, rng)
        used = int(c["n"])
        t.add(
            n,
            n_b,
            shape,
            cmax,
            c["kit"],
            _mcse(c["kit"], used),
            c["old"],
            _mcse(c["old"], used),
            c["exact"],
        )
    return t


def trailing_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """The trailing win-rate test's size and power (:func:`trailing_rate_size`)."""
    draws = args.compare_draws // 2
    t = Table(
        "Win rate against the team's own previous 4 quarters (pk.compare, trailing): "
        f"rejections at 5%; {draws} draws per row; every quarter's rate logit-normal around "
        "0.3 with sd tau; shift = the current quarter's logit moved (0: size; 0.65: 0.30 -> "
        "0.45, power); teams = teams whose past quarters give the spread; kit = z-test "
        "allowing for the spread, old = Fisher on the pooled quarters (the test before)",
        ["n/qtr", "tau", "shift", "teams", "kit", "s.e.", "old", "s.e. "],
    )
    for n, tau, shift, teams in (
        *[(n, tau, 0.0, 8) for n in (20, 50, 200) for tau in (0.0, 0.15, 0.3)],
        (200, 0.3, 0.0, 1),
        (200, 0.0, 0.0, 1),
        *[(n, 0.0, 0.65, 8) for n in (20, 50, 200)],
        (200, 0.0, 0.65, 1),
    ):
        c = trailing_rate_size(n, tau, shift, teams, draws, rng)
        t.add(
            n, tau, shift, teams, c["kit"], _mcse(c["kit"], draws), c["old"], _mcse(c["old"], draws)
        )
    return t


def external_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """The external win-rate test's size, the benchmark estimated (:func:`external_rate_size`)."""
    draws = args.compare_draws // 2
    t = Table(
        "Win rate against an external benchmark that is itself an estimate (pk.compare, "
        f"external): size at 5%; {draws} draws per row; team and benchmark deals both won at "
        "0.3; n stated = the benchmark row states its n_b (Fisher mid-p against k_b of n_b), "
        "interval = it states the Wilson 95% interval of k_b / n_b (MOVER test), old = exact "
        "binomial test against k_b / n_b as if exact (the test before; still the test of a "
        "row with neither)",
        ["n", "n_b", "n stated", "interval", "s.e.", "old", "s.e. "],
    )
    for n, n_b in ((60, 100), (200, 100), (60, 400), (200, 400), (30, 1000)):
        c = external_rate_size(n, n_b, draws, rng)
        t.add(
            n,
            n_b,
            c["with_n"],
            c["with_ci"],
            _mcse(max(c["with_n"], c["with_ci"]), draws),
            c["old"],
            _mcse(c["old"], draws),
        )
    return t


def external_size_size(
    n: int,
    n_b: int,
    draws: int,
    rng: np.random.Generator,
    sigma: float = 1.2,
    sigma_b: float | None = None,
    shift: float = 0.0,
) -> dict[str, float]:
    """Rejections of compare's won-deal test against an external median that is itself the
    median of ``n_b`` won deals (log-normal, the same median as the group's ``n``: the size;
    the group's log amounts moved by ``shift``: the power).

    ``with_ci``: the benchmark row states the order-statistic 95% interval of its deals
    (:func:`pipeline_kit.stats.median_interval`) as ``low``-``high``; ``with_n``: it states
    ``n`` = ``n_b`` (the MOVER test then takes the benchmark's deals to spread as the group's;
    ``sigma_b`` other than ``sigma`` draws them with another spread, where that is wrong);
    ``old``: the sign test against the value as if exact (the test before, and still the test
    of a row with neither). Draws whose benchmark interval is not bounded are skipped.
    """
    from pipeline_kit.comparisons.significance import size_rows
    from pipeline_kit.stats import binomial_test, median_interval

    with_ci = with_n = old = used = 0
    for _ in range(draws):
        bench_deals = rng.lognormal(9, sigma if sigma_b is None else sigma_b, n_b)
        value = float(np.median(bench_deals))
        low, high = median_interval(bench_deals)
        if low is None or high is None:
            continue
        used += 1
        x = rng.lognormal(9 + shift, sigma, n)
        cur = pl.DataFrame({"amount": x})
        for stated in ("ci", "n"):
            bench = pl.DataFrame(
                {
                    "metric": ["median_won_deal_size"],
                    "value": [value],
                    "scope": ["all"],
                    "source": ["survey"],
                    "low": [low if stated == "ci" else None],
                    "high": [high if stated == "ci" else None],
                    "n": [n_b if stated == "n" else None],
                },
                schema_overrides={"low": pl.Float64, "high": pl.Float64, "n": pl.Int64},
            )
            (row,) = size_rows((cur, None, None), "g", bench, 20, "")  # type: ignore[arg-type]
            reject = row.p_value is not None and row.p_value <= 0.05
            with_ci += reject and stated == "ci"
            with_n += reject and stated == "n"
        above, below = int((x > value).sum()), int((x < value).sum())
        old += binomial_test(above, above + below, 0.5) <= 0.05
    used = max(used, 1)
    return {"with_ci": with_ci / used, "with_n": with_n / used, "old": old / used, "n": used}


def external_size_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """The external won-deal test's size, the benchmark a median of n_b deals (audit A1)."""
    draws = args.compare_draws
    t = Table(
        "Median won deal against an external benchmark that is itself the median of n_b won "
        f"deals (pk.compare, external): size at 5%; {draws} draws per row; log-normal amounts "
        "(sigma 1.2; sigma_b: the benchmark's deals, same median); interval = the row states "
        "the order-statistic 95% interval of its deals (MOVER), n stated = it states n_b "
        "(MOVER, the benchmark's spread taken as the group's), old = sign test against the "
        "value as if exact (the test before; still the test of a row with neither); shift: "
        "the group's log amounts moved (0: size; else power, 1/4 of the draws)",
        ["n", "n_b", "sigma_b", "shift", "interval", "s.e.", "n stated", "s.e. ", "old", "s.e.  "],
    )
    for n, n_b, sigma_b, shift in (
        (20, 20, 1.2, 0.0),
        (50, 50, 1.2, 0.0),
        (100, 100, 1.2, 0.0),
        (20, 200, 1.2, 0.0),
        (50, 50, 0.6, 0.0),
        (50, 50, 2.4, 0.0),
        (50, 50, 1.2, 0.5),
        (50, 50, 1.2, 0.8),
        (100, 100, 1.2, 0.5),
    ):
        c = external_size_size(
            n, n_b, draws if shift == 0 else draws // 4, rng, 1.2, sigma_b, shift
        )
        used = int(c["n"])
        t.add(
            n,
            n_b,
            sigma_b,
            shift,
            c["with_ci"],
            _mcse(c["with_ci"], used),
            c["with_n"],
            _mcse(c["with_n"], used),
            c["old"],
            _mcse(c["old"], used),
        )
    return t


def rep_flag_size(
    reps: int,
    n_range: tuple[int, int],
    draws: int,
    rng: np.random.Generator,
    icc: float | None = None,
    rate: float = 0.3,
) -> dict[str, float]:
    """Rejections at 5% of ``pk.rep_win_rates``' ``p_value`` when every rep wins at ``rate``.

    Each of ``draws`` organisations has ``reps`` reps closing ``n_range`` deals each; with
    ``icc`` given the deals come with an ``account_id``, in accounts of about 2.5 deals of one
    rep sharing a rate (intraclass correlation ``icc``, :func:`_clustered_deals`). ``kit``:
    the share of reps with ``p_value <= 0.05`` (Fisher mid-p against the other reps' deals,
    counts divided by the design effects where there are accounts); ``old``: the exact
    binomial test against the organisation's rate, the rep's own deals included (the test
    before); ``raw``: Fisher mid-p on the raw counts (no design effect). ``se_*``: Monte-Carlo
    standard errors over the organisations (the reps of one are not independent tests);
    ``ms``: milliseconds per ``rep_win_rates`` call.
    """
    import pipeline_kit as pk
    from pipeline_kit.stats import binomial_test, fisher_mid_p_test

    shares: dict[str, list[float]] = {"kit": [], "old": [], "raw": []}
    seconds = 0.0
    for _ in range(draws):
        n = rng.integers(n_range[0], n_range[1] + 1, reps)
        names = [f"r{i:03d}" for i in range(reps)]
        if icc is None:
            won = [np.arange(m) < rng.binomial(m, rate) for m in n]
            accounts = None
        else:
            drawn = [_clustered_deals(int(m), icc, rng, rate, f"r{i}a") for i, m in enumerate(n)]
            won = [w for w, _ in drawn]
            accounts = [a for _, a in drawn]
        flags = np.concatenate(won)
        owners = np.repeat(names, n)
        status = np.where(flags, "won", "lost")
        columns = {
            "deal_id": [f"d{i}" for i in range(owners.size)],
            "owner": owners,
            "team": "t",
            "amount": "1",
            "created_at": "2025-10-01",
            "stage": np.where(flags, "Won", "Lost"),
            "status": status,
            "closed_at": "2025-11-01",
        }
        if accounts is not None:
            columns["account_id"] = [a for acc in accounts for a in acc]
        ds = _dataset(deals=pl.DataFrame(columns))
        start = time.perf_counter()
        got = pk.rep_win_rates(ds, "2025-Q4").sort("owner")
        seconds += time.perf_counter() - start
        k = np.array([int(w.sum()) for w in won])
        org = k.sum() / n.sum()
        p_old = [binomial_test(int(ki), int(ni), org) for ki, ni in zip(k, n, strict=True)]
        p_raw = [
            fisher_mid_p_test(int(ki), int(ni), int(k.sum() - ki), int(n.sum() - ni))[1]
            for ki, ni in zip(k, n, strict=True)
        ]
        shares["kit"].append(float((got["p_value"].to_numpy() <= 0.05).mean()))
        shares["old"].append(float((np.array(p_old) <= 0.05).mean()))
        shares["raw"].append(float((np.array(p_raw) <= 0.05).mean()))
    out = {key: float(np.mean(v)) for key, v in shares.items()}
    for key, v in shares.items():
        out[f"se_{key}"] = float(np.std(v, ddof=1) / math.sqrt(draws))
    out["ms"] = 1000 * seconds / draws
    return out


def rep_flag_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """The rep flag's size (:func:`rep_flag_size`, audit A7)."""
    draws = args.compare_draws // 2
    t = Table(
        "Rep flag (pk.rep_win_rates p_value): share of reps with p <= 0.05 when every rep wins "
        f"at 0.3; {draws} organisations per row (s.e. over organisations); icc: deals in "
        "accounts of about 2.5 with that intraclass correlation (- : no account_id); kit = "
        "Fisher mid-p against the other reps' deals (Rao-Scott where there are accounts), old "
        "= exact binomial test against the organisation's rate, own deals included (the test "
        "before), raw = Fisher mid-p on raw counts; ms = per rep_win_rates call",
        ["reps", "deals/rep", "icc", "kit", "s.e.", "old", "s.e. ", "raw", "s.e.  ", "ms"],
    )
    for reps, n_range, icc in (
        (3, (20, 100), None),
        (5, (5, 100), None),
        (12, (5, 40), None),
        (40, (5, 100), None),
        (12, (5, 40), 0.0),
        (5, (20, 100), 0.3),
        (12, (5, 40), 0.3),
    ):
        c = rep_flag_size(reps, n_range, draws, rng, icc)
        t.add(
            reps,
            f"{n_range[0]}-{n_range[1]}",
            "-" if icc is None else icc,
            c["kit"],
            c["se_kit"],
            c["old"],
            c["se_old"],
            c["raw"],
            c["se_raw"],
            f"{c['ms']:.1f}",
        )
    return t


def small_mean_coverage(
    draw: Callable[[np.random.Generator, int], np.ndarray],
    true_mean: float,
    n: int,
    draws: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """The mean interval (``stats.skewed_mean_interval``) on 5-12 skewed amounts, by branch.

    ``gate``: the share of samples whose logarithms pass the kit's log-normal check
    (Shapiro-Wilk at 5% on 5 or more positive values, recomputed here), so that the interval
    is the wider of the bootstrap-t and the log-normal one; the others get the bootstrap-t
    alone. ``kit``: coverage where the kit gives an interval, ``shown`` the share it gives
    one; ``cov_pass`` / ``cov_fail``: coverage on the samples that pass / fail the check
    (``n_pass`` / ``n_fail`` of them given an interval).
    """
    hit = {"pass": 0, "fail": 0}
    count = {"pass": 0, "fail": 0}
    gate = 0
    for i in range(draws):
        x = draw(rng, n)
        positive = x[x > 0]
        passed = bool(
            positive.size >= 5
            and np.ptp(positive) > 0
            and stats.shapiro(np.log(positive)).pvalue > 0.05
        )
        gate += passed
        low, high = skewed_mean_interval(x, seed=i)
        if low is None:
            continue
        side = "pass" if passed else "fail"
        count[side] += 1
        hit[side] += low <= true_mean <= (math.inf if high is None else high)
    shown = count["pass"] + count["fail"]
    return {
        "kit": (hit["pass"] + hit["fail"]) / max(shown, 1),
        "shown": shown / draws,
        "gate": gate / draws,
        "cov_pass": hit["pass"] / max(count["pass"], 1),
        "cov_fail": hit["fail"] / max(count["fail"], 1),
        "n_pass": float(count["pass"]),
        "n_fail": float(count["fail"]),
        "n": float(shown),
    }


def small_mean_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """The mean interval on 5-12 amounts by branch (:func:`small_mean_coverage`, audit A5)."""
    draws = args.mean_draws
    t = Table(
        "Mean of 5-12 skewed amounts (stats.skewed_mean_interval): coverage at 95%; "
        f"{draws} samples per row; gate = share whose logarithms pass the log-normal check "
        "(interval = wider of bootstrap-t and log-normal), pass / fail = coverage on those "
        "that pass / fail it (fail: bootstrap-t alone); n>=10 rule = coverage where shown "
        "and share shown if samples failing the check got no interval below 10 values (the "
        "rule considered, not adopted)",
        [
            "amounts",
            "n",
            "kit",
            "s.e.",
            "shown",
            "gate",
            "pass",
            "fail",
            "n fail",
            "rule",
            "shown ",
        ],
    )
    sources = [
        ("Pareto alpha 2.5", (lambda r, n: 1 + r.pareto(2.5, n)), 2.5 / 1.5),
        ("Pareto alpha 3", (lambda r, n: 1 + r.pareto(3.0, n)), 1.5),
        ("log-normal sigma 1.5", (lambda r, n: r.lognormal(0, 1.5, n)), math.exp(1.5**2 / 2)),
        ("log-normal sigma 2.5", (lambda r, n: r.lognormal(0, 2.5, n)), math.exp(2.5**2 / 2)),
        (
            "30% zeros, LN sigma 1.5",
            (lambda r, n: r.lognormal(0, 1.5, n) * (r.random(n) >= 0.3)),
            0.7 * math.exp(1.125),
        ),
    ]
    for label, draw, true_mean in sources:
        for n in (5, 6, 7, 8, 9, 10, 12):
            c = small_mean_coverage(draw, true_mean, n, draws, rng)
            rule_cov, rule_shown = (
                (c["cov_pass"], c["n_pass"] / draws) if n < 10 else (c["kit"], c["shown"])
            )
            t.add(
                label,
                n,
                c["kit"],
                _mcse(c["kit"], int(c["n"])),
                c["shown"],
                c["gate"],
                c["cov_pass"],
                c["cov_fail"],
                int(c["n_fail"]),
                rule_cov,
                rule_shown,
            )
    return t


def brunner_munzel_size(
    draw_x: Callable[[np.random.Generator, int], np.ndarray],
    draw_y: Callable[[np.random.Generator, int], np.ndarray],
    n1: int,
    n2: int,
    draws: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Rejections at 5% of the won-deal test against the rest (``stats.brunner_munzel_test``)
    when neither side's deals tend to be larger (P(X > Y) + ½ P(X = Y) = 0.5).

    ``kit``: the kit's test (the studentized permutation test where a side has fewer than 30
    deals or 5 distinct amounts, up to 1,000 deals in all); ``old``: scipy's Brunner-Munzel
    with its t-approximation (Mann-Whitney where it gives no p-value), the test before;
    ``ms``: milliseconds per kit test.
    """
    from pipeline_kit.stats import brunner_munzel_test

    kit = old = 0
    seconds = 0.0
    for _ in range(draws):
        x, y = draw_x(rng, n1), draw_y(rng, n2)
        start = time.perf_counter()
        kit += brunner_munzel_test(x, y)[1] <= 0.05
        seconds += time.perf_counter() - start
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                p = stats.brunnermunzel(x, y).pvalue
        if not np.isfinite(p):
            p = 1.0 if np.all(np.r_[x, y] == x[0]) else stats.mannwhitneyu(x, y).pvalue
        old += p <= 0.05
    return {"kit": kit / draws, "old": old / draws, "ms": 1000 * seconds / draws}


def brunner_munzel_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """The won-deal test's size with ties and small groups (:func:`brunner_munzel_size`, A8)."""
    t = Table(
        "Won deal size against the rest (stats.brunner_munzel_test): size at 5% when neither "
        "group's deals tend to be larger; kit = studentized permutation test (Neubert & "
        "Brunner 2007) where a side has < 30 deals or < 5 distinct amounts and both hold "
        "<= 1,000, else the t-approximation; old = the t-approximation always (the test "
        "before); ms = per kit test",
        ["amounts", "n", "draws", "kit", "s.e.", "old", "s.e. ", "ms"],
    )
    prices = np.array([5000, 10000, 10000, 20000, 20000, 20000, 50000, 100000.0])

    def two_prices(r: np.random.Generator, n: int) -> np.ndarray:
        return np.where(r.random(n) < 0.7, 10000.0, 20000.0)

    def listed(r: np.random.Generator, n: int) -> np.ndarray:
        return r.choice(prices, n)

    def lognormal(sigma: float) -> Callable[[np.random.Generator, int], np.ndarray]:
        return lambda r, n: r.lognormal(9, sigma, n)

    full, half = args.compare_draws, args.compare_draws // 2
    for label, draw_x, draw_y, n1, n2, draws in (
        ("2 prices (70% at one)", two_prices, two_prices, 20, 300, full),
        ("2 prices (70% at one)", two_prices, two_prices, 20, 20, half),
        ("8 list prices", listed, listed, 20, 300, half),
        ("LN sigma 2 both", lognormal(2.0), lognormal(2.0), 20, 300, half),
        ("LN sigma 0.7 vs 1.5", lognormal(0.7), lognormal(1.5), 20, 300, half),
        ("LN sigma 1.5 vs 0.7", lognormal(1.5), lognormal(0.7), 20, 300, half),
        ("LN sigma 0.7 vs 1.5", lognormal(0.7), lognormal(1.5), 20, 20, half),
    ):
        c = brunner_munzel_size(draw_x, draw_y, n1, n2, draws, rng)
        t.add(
            label,
            f"{n1} vs {n2}",
            draws,
            c["kit"],
            _mcse(c["kit"], draws),
            c["old"],
            _mcse(c["old"], draws),
            f"{c['ms']:.0f}",
        )
    return t


def new_tables(
    args: argparse.Namespace, rng: np.random.Generator, population: np.ndarray
) -> list[Table]:
    """The trend, period-over-period, target, p-chart and churn tables (with MC s.e.)."""
    tables = []
    t = Table(
        "Quarterly counts and bookings (pk.quarterly_trend), 95% intervals: coverage of the "
        f"true rate; {args.teams} teams (independent draws) per row; bookings over the teams "
        "with 2+ won deals (share: with ci); normal = total ± 1.96 √(sum amount²), the "
        "interval used before",
        ["amounts", "lambda", "created", "won", "bookings", "s.e.", "normal", "with ci"],
    )
    sources = [
        (
            f"log-normal sigma {sigma}",
            (lambda r, n, s=sigma: r.lognormal(9, s, n)),
            math.exp(9 + sigma**2 / 2),
        )
        for sigma in (1.0, 1.5)
    ] + [("sample won amounts", (lambda r, n: r.choice(population, n)), population.mean())]
    for label, draw, true_mean in sources:
        for lam in (5, 10, 20, 30):
            c = count_bookings_coverage(lam, draw, true_mean, args.teams, rng)
            se = _mcse(c["bookings"], int(c["n_ci"]))
            t.add(label, lam, c["created"], c["won"], c["bookings"], se, c["normal"], c["with_ci"])
    tables.append(t)
    t = Table(
        "Period over period (pk.period_over_period): coverage of the change against the "
        f"previous quarter; {args.pop_teams} teams per row, n closed deals per quarter and "
        "team (win rate: Newcombe; average won deal and cycle length: MOVER from their "
        "skew-aware intervals; s.e. of the lowest)",
        ["p prev->now", "n/qtr", "sigma", "mean x", "win rate", "avg won deal", "cycle", "s.e."],
    )
    for (p_prev, p_now), n, sigma, ratio in (
        ((0.3, 0.3), 10, 1.0, 1.0),
        ((0.3, 0.3), 30, 1.5, 1.0),
        ((0.2, 0.4), 10, 1.5, 1.5),
        ((0.2, 0.4), 30, 1.0, 1.5),
        ((0.1, 0.2), 20, 1.5, 1.0),
        ((0.5, 0.3), 20, 1.5, 0.7),
    ):
        c = pop_coverage(p_prev, p_now, n, sigma, ratio, args.pop_teams, rng)
        figures = ("win_rate", "avg_won_deal_size", "cycle_length_days")
        worst = min(figures, key=lambda f: c[f])
        se = _mcse(c[worst], int(c[f"n_{worst}"]))
        t.add(f"{p_prev}->{p_now}", n, sigma, ratio, *[c[f] for f in figures], se)
    tables.append(t)
    t = Table(
        "Needed for target (pk.needed_for_target's simulation), 95% intervals: coverage; "
        f"{args.needed_draws} draws per row; closed = deals closed in the 4 quarters of rates",
        ["closed", "win p", "sigma", "won deals", "deals", "leads", "activities", "s.e."],
    )
    for n_closed in (20, 60, 120):
        for p in (0.2, 0.4):
            for sigma in (1.0, 1.5):
                c = needed_coverage(n_closed, p, sigma, args.needed_draws, rng)
                se = _mcse(c["won_deals"], int(c["n_won_deals"]))
                t.add(
                    n_closed, p, sigma, c["won_deals"], c["deals"], c["leads"], c["activities"], se
                )
    tables.append(t)
    t = Table(
        "Stage conversion control limits (pk.stage_conversion_control, sigmas = 3): false "
        "alarms per stage-quarter when nothing changed (nominal 0.0027); "
        f"{args.control_teams} teams per row; exact = expected rate for Prospecting with the "
        "kit's limits, normal = with centre ± 3 √(centre (1 - centre) / n), the limits used "
        "before; Proposal cohorts are about n·p deals",
        ["p", "n/qtr", "Prospecting", "s.e.", "exact", "normal", "Proposal", "s.e. "],
    )
    for p in (0.1, 0.3, 0.5):
        for n in (5, 10, 20, 30):
            c = control_false_alarms(p, n, args.control_teams, rng)
            t.add(
                p,
                n,
                f"{c['Prospecting']:.4f}",
                f"{_mcse(c['Prospecting'], int(c['n_Prospecting'])):.4f}",
                f"{c['exact']:.4f}",
                f"{c['exact_normal']:.4f}",
                f"{c['Proposal']:.4f}",
                f"{_mcse(c['Proposal'], int(c['n_Proposal'])):.4f}",
            )
    tables.append(t)
    t = Table(
        "Stage conversion control limits when quarters vary (stats.dispersed_p_chart_limits, "
        "as stage_conversion_control calls it; sigmas = 3): false alarms when nothing changed "
        "(nominal 0.0027) and power to flag a fall to 0.20; 8 past quarters + this one, each "
        "converting at its own rate, logit-normal around 0.30 with sd tau; "
        f"{args.dispersion_draws} draws per row; pooled = the limits of the pooled past "
        "count (used before the sixth session)",
        ["n/qtr", "tau", "pooled", "s.e.", "dispersed", "s.e. ", "power pooled", "power disp."],
    )
    for n in (20, 50, 200):
        for tau in (0.0, 0.15, 0.3):
            c = dispersion_false_alarms(0.3, n, tau, args.dispersion_draws, rng)
            t.add(
                n,
                tau,
                f"{c['pooled']:.4f}",
                f"{_mcse(c['pooled'], args.dispersion_draws):.4f}",
                f"{c['dispersed']:.4f}",
                f"{_mcse(c['dispersed'], args.dispersion_draws):.4f}",
                c["power_pooled"],
                c["power_dispersed"],
            )
    tables.append(t)
    t = Table(
        "Rep win rates (pk.rep_win_rates), 95% intervals: coverage of each rep's true rate; "
        f"{args.rep_draws} organisations per row of 12 reps (30 for the Beta row) closing "
        "5-40 deals each; own = ci_low/ci_high (the rep's own modified Wilson), shrunk = "
        "shrunk_ci_low/high (the empirical-Bayes posterior, ci_low/ci_high before the sixth "
        "session); outlying = the star / laggard (the 0.15 group when bimodal)",
        ["true rates", "own", "shrunk", "s.e.", "own outlying", "shrunk outlying", "s.e. "],
    )
    star = np.r_[True, np.zeros(11, bool)]
    for label, make, outlying in (
        ("one star 0.70, eleven 0.30", lambda: np.r_[0.70, np.full(11, 0.30)], star),
        ("one laggard 0.05, eleven 0.30", lambda: np.r_[0.05, np.full(11, 0.30)], star),
        (
            "bimodal: six 0.15, six 0.50",
            lambda: np.where(np.arange(12) % 2 == 0, 0.15, 0.50),
            np.arange(12) % 2 == 0,
        ),
        (
            "Beta around 0.33, sd 0.10",
            lambda: rng.beta(0.33 * 21.11, 0.67 * 21.11, 30),
            np.zeros(30, bool),
        ),
    ):
        c = rep_scenario_coverage(make, outlying, (5, 40), args.rep_draws, rng)
        t.add(
            label,
            c["own"],
            c["shrunk"],
            f"{_mcse(c['shrunk'], int(c['reps'])):.3f}",
            c["own_outlying"],
            c["shrunk_outlying"],
            f"{_mcse(c['shrunk_outlying'], max(int(c['outlying_reps']), 1)):.3f}",
        )
    tables.append(t)
    tables.append(clustered_coverage_table(args, rng))
    t = Table(
        "Customer churn (pk.churn, modified Wilson), 95% interval: coverage; "
        f"{args.teams} teams per row; exact = the binomial probability of the counts whose "
        "interval holds the rate",
        ["rate", "n", "coverage", "s.e.", "exact"],
    )
    for rate in (0.05, 0.1, 0.2):
        for n in (10, 20, 30, 100):
            cov = churn_coverage(rate, n, args.teams, rng)
            t.add(rate, n, cov, _mcse(cov, args.teams), wilson_exact_coverage(rate, n))
    tables.append(t)
    t = Table(
        "Stage conversion (pk.stage_conversion), 95% interval: coverage of the cohort's "
        f"eventual conversion; {args.teams} teams per row; drops after 8 days on average, "
        "advances after 25; decided = Wilson on the decided deals alone (the baseline)",
        ["p", "n", "read at", "pending", "coverage", "s.e.", "decided"],
    )
    for p in (0.3, 0.5):
        for n in (20, 100):
            for read_at in ("2026-01-15", "2026-03-31"):
                c = stage_conversion_coverage(p, n, read_at, args.teams, rng)
                t.add(
                    p,
                    n,
                    read_at,
                    f"{c['pending']:.3f}",
                    c["kit"],
                    _mcse(c["kit"], args.teams),
                    c["decided"],
                )
    tables.append(t)
    t = Table(
        "Win rate with amounts missing not at random (pk.win_rate), 95% interval: coverage of "
        f"the true rate; {args.teams} teams per row; blank = share of won / lost deals whose "
        "amount is empty; quarantined = the Wilson interval on the deals with an amount alone "
        "(the kit quarantined the others before), with its mean estimate",
        ["p", "deals", "blank won/lost", "coverage", "s.e.", "mean", "quarantined", "mean q."],
    )
    for p in (0.3, 0.5):
        for n in (20, 100):
            for miss_won, miss_lost in ((0.05, 0.4), (0.0, 0.5)):
                c = missing_amount_coverage(p, n, miss_won, miss_lost, args.teams, rng)
                t.add(
                    p,
                    n,
                    f"{miss_won}/{miss_lost}",
                    c["kit"],
                    _mcse(c["kit"], args.teams),
                    c["estimate"],
                    c["quarantined"],
                    c["quarantined_estimate"],
                )
    tables.append(t)
    t = Table(
        "Calls per closed deal (pk.calls_per_deal_by_industry), 95% interval: coverage of "
        f"the true mean; {args.teams} industries per row (the kit's interval: the first 300, "
        "where given, none below 8 deals); calls per deal negative binomial (shape: variance "
        "= mean + mean²/shape; Poisson: no over-dispersion); quasi-Poisson = the interval "
        "before the eighth session; poisson = the exact Poisson interval of the total / deals",
        ["mean", "shape", "deals", "coverage", "quasi-Poisson", "s.e.", "poisson"],
    )
    for mean in (0.5, 3.0, 10.0):
        for shape in (None, 1.5, 0.5):
            for n in (5, 20, 60):
                kit, quasi, plain = calls_coverage(mean, shape, n, args.teams, rng)
                t.add(
                    mean,
                    "Poisson" if shape is None else shape,
                    n,
                    kit,
                    quasi,
                    _mcse(quasi, args.teams),
                    plain,
                )
    tables.append(t)
    return tables


# ----------------------------------------------------------------------------- eighth session
# Stage conversion's point estimate and clustering, calls per deal (wt-conv8; audit A2, A4,
# P8 part 5). The generators follow the audit's (findings/intervals7/sim_stage7.py,
# check_calls_n2.py; findings/intervals/sim_tests.py for the accounts).


def _stage_cohorts(
    p: float,
    per_team: int,
    teams: int,
    rng: np.random.Generator,
    icc: float | None = None,
) -> Dataset:
    """``teams`` teams of ``per_team`` deals entering Qualified in 2025-Q4 (uniform day), as
    the audit's ``sim_stage7.py``: each advances to Proposal with probability ``p`` after
    ``ceil(Exp(25 d))``, else is lost after ``ceil(Exp(8 d))`` (drops come faster). With
    ``icc`` the deals come in accounts of about 2.5 sharing a Beta rate of mean ``p`` and
    that intraclass correlation (:func:`_clustered_deals`), with ``account_id``."""
    size = teams * per_team
    names = np.repeat(_teams(teams), per_team)
    if icc is None:
        advances = rng.random(size) < p
        accounts: list[str] | None = None
    else:
        parts = [_clustered_deals(per_team, icc, rng, p, prefix=f"t{t}a") for t in range(teams)]
        advances = np.concatenate([w for w, _ in parts])
        accounts = [a for _, acc in parts for a in acc]
    entered = rng.integers(0, 92, size)
    wait = np.ceil(np.where(advances, rng.exponential(25, size), rng.exponential(8, size))).astype(
        int
    )
    moved = entered + np.maximum(wait, 1)
    ids = [f"d{i}" for i in range(size)]
    columns = {
        "deal_id": ids,
        "owner": "o",
        "team": names,
        "amount": "100",
        "created_at": _days_into("2025-09-25", entered),
        "stage": np.where(advances, "Proposal", "Lost"),
        "status": np.where(advances, "open", "lost"),
        "closed_at": pl.select(
            pl.when(pl.Series(~advances)).then(pl.Series(_days_into("2025-10-01", moved)))
        ).to_series(),
    }
    if accounts is not None:
        columns["account_id"] = accounts
    history = pl.DataFrame(
        {
            "deal_id": ids + ids,
            "stage": ["Qualified"] * size + list(np.where(advances, "Proposal", "Lost")),
            "entered_at": list(_days_into("2025-10-01", entered))
            + list(_days_into("2025-10-01", moved)),
        }
    )
    stages = TWO_OPEN_STAGES.with_columns(pl.col("stage").replace("Prospecting", "Qualified"))
    return _dataset(deals=pl.DataFrame(columns), stages=stages, stage_history=history)


def stage_conversion_bias(
    datasets: int, rng: np.random.Generator, teams: int = 100, per_team: int = 60, p: float = 0.4
) -> dict[tuple[str, str], dict[str, float]]:
    """The audit's A4 setting: stage_conversion's point estimate while deals are pending.

    ``datasets`` organisations of ``teams`` x ``per_team`` deals (:func:`_stage_cohorts`),
    each read at 2026-01-05, 2026-01-31 and 2026-06-30, per team and for the organisation.
    Per (read at, level): ``kit`` the mean ``conversion`` (the Aalen-Johansen cumulative
    incidence of advancing) and ``kit_se`` its Monte-Carlo s.e.; ``naive`` the mean of
    ``advanced / n`` on the same rows (the point estimate before the eighth session) and
    ``naive_se``; ``ratio`` the mean of ``conversion / (conversion + drop_off)`` (the share
    advancing among the deals estimated decided by the end of follow-up, an alternative not
    taken) and ``ratio_se``; ``coverage`` of ``p`` by ``ci_low``-``ci_high`` and ``rows``;
    ``inside`` the share of rows whose point estimate lies within the interval (kit, naive);
    ``pending`` the mean pending share; ``edge`` the mean distance of each estimate from the
    nearer end
    of the interval, as a share of its width (0: at an end, 0.5: in the middle).
    """
    import pipeline_kit as pk

    acc: dict[tuple[str, str], dict[str, list[np.ndarray]]] = {}
    for _ in range(datasets):
        ds = _stage_cohorts(p, per_team, teams, rng)
        for read_at in ("2026-01-05", "2026-01-31", "2026-06-30"):
            for level, by in (("team", "team"), ("organisation", None)):
                f = pk.stage_conversion(ds, Q4, by=by, as_of=read_at).filter(
                    pl.col("stage") == "Qualified"
                )
                a = acc.setdefault((read_at, level), {})
                for name, values in (
                    ("kit", f["conversion"]),
                    ("naive", f["advanced"] / f["n"]),
                    ("ratio", f["conversion"] / (f["conversion"] + f["drop_off"])),
                    ("low", f["ci_low"]),
                    ("high", f["ci_high"]),
                    ("pending", f["pending_share"]),
                ):
                    a.setdefault(name, []).append(values.to_numpy())
    out = {}
    for key, a in acc.items():
        v = {name: np.concatenate(parts) for name, parts in a.items()}
        m = v["kit"].size
        width = v["high"] - v["low"]

        def edge(x: np.ndarray, v: dict[str, np.ndarray] = v, width: np.ndarray = width) -> float:
            return float(np.mean(np.minimum(x - v["low"], v["high"] - x) / width))

        out[key] = {
            "kit": float(v["kit"].mean()),
            "kit_se": float(v["kit"].std(ddof=1) / math.sqrt(m)) if m > 1 else math.nan,
            "naive": float(v["naive"].mean()),
            "ratio": float(v["ratio"].mean()),
            "ratio_se": float(v["ratio"].std(ddof=1) / math.sqrt(m)) if m > 1 else math.nan,
            "naive_se": float(v["naive"].std(ddof=1) / math.sqrt(m)) if m > 1 else math.nan,
            "coverage": _share((v["low"] <= p) & (p <= v["high"])),
            "rows": float(m),
            "inside": _share((v["low"] <= v["kit"]) & (v["kit"] <= v["high"])),
            "inside_naive": _share((v["low"] <= v["naive"]) & (v["naive"] <= v["high"])),
            "pending": float(v["pending"].mean()),
            "edge": edge(v["kit"]),
            "edge_naive": edge(v["naive"]),
        }
    return out


def stage_bias_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """Stage conversion's point estimate while deals are pending (audit A4), before/after."""
    datasets = args.stage_datasets
    t = Table(
        "Stage conversion's point estimate while deals are pending (pk.stage_conversion, audit "
        f"A4): {datasets} organisations of 100 teams x 60 deals entering Qualified in 2025-Q4, "
        "true conversion 0.4, advances after Exp(25 d), drops after Exp(8 d); kit = the "
        "Aalen-Johansen cumulative incidence of advancing (now), naive = advanced / (advanced "
        "+ dropped) on the same rows (before); ratio = kit / (kit + drop_off), the alternative "
        "not taken (s.e. as kit's); ± = 1.96 Monte-Carlo s.e.; coverage of 0.4 by "
        "the interval (pending bounds); edge = mean distance from the nearer end of the "
        "interval as a share of its width (0.5 = the middle)",
        [
            "read at",
            "level",
            "pending",
            "kit",
            "±",
            "naive",
            "± ",
            "ratio",
            "coverage",
            "s.e.",
            "edge kit",
            "edge naive",
        ],
    )
    got = stage_conversion_bias(datasets, rng)
    for (read_at, level), c in got.items():
        t.add(
            read_at,
            level,
            f"{c['pending']:.3f}",
            f"{c['kit']:.4f}",
            f"{1.96 * c['kit_se']:.4f}",
            f"{c['naive']:.4f}",
            f"{1.96 * c['naive_se']:.4f}",
            f"{c['ratio']:.4f}",
            c["coverage"],
            _mcse(c["coverage"], int(c["rows"])),
            f"{c['edge']:.3f}",
            f"{c['edge_naive']:.3f}",
        )
    return t


def clustered_stage_coverage(
    icc: float, n: int, teams: int, rng: np.random.Generator, p: float = 0.3
) -> dict[str, dict[str, float]]:
    """Coverage of ``pk.stage_conversion``'s interval of ``p`` when deals come in accounts.

    ``teams`` teams of ``n`` deals entering Qualified in 2025-Q4 (:func:`_stage_cohorts` with
    accounts of about 2.5 deals and intraclass correlation ``icc``), read at 2026-01-31 (about
    3% pending) and 2026-06-30 (none). Per read date: ``kit`` (widened by the decided deals'
    design effect), ``plain`` (the pending bounds' modified Wilson ends on the same counts,
    the interval before), their mean widths and the mean ``design_effect``.
    """
    import pipeline_kit as pk

    ds = _stage_cohorts(p, n, teams, rng, icc=icc)
    out = {}
    for read_at in ("2026-01-31", "2026-06-30"):
        f = pk.stage_conversion(ds, Q4, by="team", as_of=read_at).filter(
            pl.col("stage") == "Qualified"
        )
        low = wilson_interval("advanced", "entered")[0]
        high = wilson_interval(pl.col("entered") - pl.col("dropped"), "entered")[1]
        plain = f.select(low.alias("low"), high.alias("high"))
        out[read_at] = {
            "kit": _share((f["ci_low"] <= p) & (p <= f["ci_high"])),
            "plain": _share((plain["low"] <= p) & (p <= plain["high"])),
            "kit_width": float((f["ci_high"] - f["ci_low"]).mean()),  # type: ignore[arg-type]
            "plain_width": float((plain["high"] - plain["low"]).mean()),  # type: ignore[arg-type]
            "deff": float(f["design_effect"].mean()),  # type: ignore[arg-type]
            "pending": float(f["pending_share"].mean()),  # type: ignore[arg-type]
            "teams": float(f.height),
        }
    return out


def clustered_stage_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """pk.stage_conversion's coverage with deals in accounts, ICC 0 / 0.1 / 0.3 (audit P8)."""
    t = Table(
        "Stage conversion when deals come in accounts (pk.stage_conversion), 95% interval: "
        f"coverage of the true conversion 0.3; {args.teams} teams per row, accounts of about "
        "2.5 deals sharing a Beta rate with intraclass correlation ICC; advances after Exp(25 "
        "d), drops after Exp(8 d); kit = the pending bounds on entered / design_effect deals "
        "(now), plain = the same bounds on the raw counts (before); widths are means",
        [
            "ICC",
            "n",
            "read at",
            "pending",
            "kit",
            "s.e.",
            "plain",
            "s.e. ",
            "kit width",
            "plain width",
            "mean deff",
        ],
    )
    for icc in (0.0, 0.1, 0.3):
        for n in (30, 60, 200):
            got = clustered_stage_coverage(icc, n, args.teams, rng)
            for read_at, c in got.items():
                t.add(
                    icc,
                    n,
                    read_at,
                    f"{c['pending']:.3f}",
                    c["kit"],
                    _mcse(c["kit"], int(c["teams"])),
                    c["plain"],
                    _mcse(c["plain"], int(c["teams"])),
                    f"{c['kit_width']:.3f}",
                    f"{c['plain_width']:.3f}",
                    f"{c['deff']:.3f}",
                )
    return t


def clustered_control_false_alarms(
    icc: float, n: int, teams: int, rng: np.random.Generator, p: float = 0.3
) -> dict[str, float]:
    """False alarms of ``stage_conversion_control`` when deals come in accounts (P8, part 5).

    Every team has ``n`` deals entering Prospecting in each of the 9 quarters 2023-Q4 to
    2025-Q4, in accounts of about 2.5 deals sharing a Beta rate of mean ``p`` and intraclass
    correlation ``icc`` (:func:`_clustered_deals`, new accounts every quarter); a deal moves
    on to Proposal 1-5 days after entering with its account's rate, else is lost then. The
    same process every quarter: any ``above`` / ``below`` signal of 2025-Q4 is a false alarm.
    ``kit``: the limits on counts divided by each quarter's design effect (now); ``plain``:
    the same deals without ``account_id`` (the limits before); ``deff`` the mean design
    effect of 2025-Q4; ``width_kit`` / ``width_plain`` the mean width of the limits and
    ``swing_kit`` / ``swing_plain`` the mean ``between_sd`` (the truth: 0, every quarter the
    same process).
    """
    import pipeline_kit as pk

    starts = [
        np.datetime64(f"{y}-{m:02d}-01")
        for y, m in [(2023, 10)] + [(2024 + (q // 4), (q % 4) * 3 + 1) for q in range(8)]
    ]
    advanced_parts, account_parts = [], []
    for t in range(teams):
        for q in range(len(starts)):
            won, accounts = _clustered_deals(n, icc, rng, p, prefix=f"t{t}q{q}a")
            advanced_parts.append(won)
            account_parts += accounts
    advanced = np.concatenate(advanced_parts)
    size = advanced.size
    names = np.repeat(_teams(teams), n * len(starts))
    quarter_start = np.tile(np.repeat(starts, n), teams)
    entered = quarter_start + rng.integers(0, 90, size).astype("timedelta64[D]")
    moved = entered + rng.integers(1, 6, size).astype("timedelta64[D]")
    ids = np.array([f"d{i}" for i in range(size)])
    deals = pl.DataFrame(
        {
            "deal_id": ids,
            "owner": "o",
            "team": names,
            "amount": "1",
            "created_at": entered.astype(str),
            "stage": np.where(advanced, "Proposal", "Lost"),
            "status": np.where(advanced, "open", "lost"),
            "closed_at": pl.select(
                pl.when(pl.Series(~advanced)).then(pl.Series(moved.astype(str)))
            ).to_series(),
            "account_id": account_parts,
        }
    )
    history = pl.DataFrame(
        {
            "deal_id": np.concatenate([ids, ids]),
            "stage": ["Prospecting"] * size + list(np.where(advanced, "Proposal", "Lost")),
            "entered_at": np.concatenate([entered, moved]).astype(str),
        }
    )
    out: dict[str, float] = {}
    for label, frame in (("kit", deals), ("plain", deals.drop("account_id"))):
        ds = _dataset(deals=frame, stages=TWO_OPEN_STAGES, stage_history=history)
        f = pk.stage_conversion_control(ds, Q4, by="team", as_of="2026-01-31").filter(
            (pl.col("stage") == "Prospecting") & (pl.col("signal") != "no baseline")
        )
        out[label] = _share(f["signal"].is_in(["above", "below"]))
        out[f"n_{label}"] = float(f.height)
        out[f"width_{label}"] = float((f["ucl"] - f["lcl"]).mean())  # type: ignore[arg-type]
        out[f"swing_{label}"] = float(f["between_sd"].mean())  # type: ignore[arg-type]
        if label == "kit":
            out["deff"] = float(f["design_effect"].mean())  # type: ignore[arg-type]
    return out


def clustered_control_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """stage_conversion_control's false alarms with deals in accounts (audit P8, part 5)."""
    t = Table(
        "Stage conversion control limits when deals come in accounts "
        "(pk.stage_conversion_control), nominal 0.0027 false alarms a stage-quarter: "
        f"{args.control_teams} teams per row, n deals entering Prospecting a quarter in "
        "accounts of about 2.5 sharing a Beta rate of mean 0.3 with intraclass correlation "
        "ICC, the same process 9 quarters; kit = counts divided by each quarter's design "
        "effect (now), plain = the same deals without account ids (before)",
        [
            "ICC",
            "n",
            "kit",
            "s.e.",
            "plain",
            "s.e. ",
            "kit width",
            "plain width",
            "kit swing",
            "plain swing",
            "mean deff",
        ],
    )
    for icc in (0.0, 0.1, 0.3):
        for n in (20, 60):
            c = clustered_control_false_alarms(icc, n, args.control_teams, rng)
            t.add(
                icc,
                n,
                f"{c['kit']:.4f}",
                f"{_mcse(c['kit'], int(c['n_kit'])):.4f}",
                f"{c['plain']:.4f}",
                f"{_mcse(c['plain'], int(c['n_plain'])):.4f}",
                f"{c['width_kit']:.3f}",
                f"{c['width_plain']:.3f}",
                f"{c['swing_kit']:.3f}",
                f"{c['swing_plain']:.3f}",
                f"{c['deff']:.3f}",
            )
    return t


def calls_small_n_coverage(
    mean: float,
    shape: float | None,
    n: int,
    draws: int,
    rng: np.random.Generator,
    quasi_draws: int = 20000,
) -> dict[str, float]:
    """Calls per closed deal at small n (audit A2): ``draws`` industries of ``n`` deals whose
    calls are negative binomial (variance mean + mean² / shape; ``None``: Poisson), as the
    audit's ``check_calls_n2.py``.

    ``skewed``: coverage of ``stats.skewed_mean_interval`` on the per-deal counts where it
    gives an interval, ``shown`` the share of industries given one (none below 5 deals or 5
    deals with a call); ``quasi``: :func:`quasi_poisson_rate_interval` (the interval before,
    at every n from 2; over ``quasi_draws`` other industries); ``quasi_10``: the same with no
    interval below 10 deals (the other option: its coverage where shown, null below 10).
    """
    from pipeline_kit.stats import skewed_mean_interval

    def draw(size: int) -> np.ndarray:
        if shape is None:
            return rng.poisson(mean, size=(size, n))
        return rng.negative_binomial(shape, shape / (shape + mean), size=(size, n))

    many = draw(quasi_draws)  # (the quasi-Poisson interval is vectorised: more draws)
    frame = pl.DataFrame(
        {"calls": many.sum(axis=1), "deals": [n] * quasi_draws, "ss": (many**2).sum(axis=1)}
    )
    low, high = quasi_poisson_rate_interval("calls", "deals", "ss")
    quasi = frame.select(((low <= mean) & (high >= mean)).mean()).item()
    hits = shown = 0
    for i, x in enumerate(draw(draws)):
        lo, hi = skewed_mean_interval(x.astype(float), seed=i)
        if lo is None:
            continue
        shown += 1
        hits += lo <= mean and (hi is None or mean <= hi)
    return {
        "skewed": hits / shown if shown else math.nan,
        "shown": shown / draws,
        "n_shown": float(shown),
        "quasi": float(quasi),
        "quasi_10": float(quasi) if n >= 10 else math.nan,
    }


CALLS_GRID = (2, 3, 4, 5, 6, 8, 10, 15, 20, 30)


def calls_small_n_table(
    args: argparse.Namespace, rng: np.random.Generator, shapes: tuple[float | None, ...]
) -> Table:
    """Calls per closed deal at 2-30 deals, the two candidate intervals (audit A2)."""
    t = Table(
        "Calls per closed deal at small n (pk.calls_per_deal_by_industry), 95% interval: "
        f"coverage of the true mean; {args.calls_draws} industries per row; calls per deal "
        "negative binomial (shape: variance = mean + mean²/shape) or Poisson; skewed = "
        "stats.skewed_mean_interval on the per-deal counts where shown (shown: share given "
        "one), quasi-Poisson = the interval before (every n from 2; 20,000 industries of its "
        "own), the other option = quasi-Poisson from 10 deals",
        ["shape", "mean", "deals", "skewed", "s.e.", "shown", "quasi-Poisson", "s.e. "],
    )
    for shape in shapes:
        for mean in (1.0, 3.0, 10.0):
            for n in CALLS_GRID:
                c = calls_small_n_coverage(mean, shape, n, args.calls_draws, rng)
                t.add(
                    "Poisson" if shape is None else shape,
                    mean,
                    n,
                    c["skewed"],
                    _mcse(c["skewed"], int(c["n_shown"])) if c["n_shown"] else "",
                    f"{c['shown']:.2f}",
                    c["quasi"],
                    _mcse(c["quasi"], 20000),
                )
    return t


def conversion_tables(args: argparse.Namespace, rng: np.random.Generator) -> list[Table]:
    """Stage conversion and calls per deal (``--conv-only``; wt-conv8, audit A2, A4, P8)."""
    if args.calls_only:
        return [calls_small_n_table(args, rng, args.calls_shapes)]
    if args.control_only:
        return [clustered_control_table(args, rng)]
    return [
        stage_bias_table(args, rng),
        clustered_stage_table(args, rng),
        clustered_control_table(args, rng),
        calls_small_n_table(args, rng, args.calls_shapes),
    ]


def forecast_table(args: argparse.Namespace) -> Table:
    """pk.forecast's intervals in its own backtest, on the audit's five scenarios (table 1.7)."""
    seeds = list(range(1, args.forecast_seeds + 1))
    t = Table(
        "Bookings forecast (pk.forecast in pk.backtest_forecast, by team and for the whole "
        "organisation), central 50/80/90% intervals: coverage of the actual bookings; "
        f"{len(seeds)} organisations per scenario, 12 quarters (x 5 teams) per checkpoint; ± = "
        "Monte-Carlo 95% half-width (clusters: organisation x quarter); CRPS in money (lower is "
        "better); seconds: all backtests",
        [
            "scenario",
            "forecast",
            "checkpoint",
            "n",
            "50%",
            "±",
            "80%",
            "± ",
            "90%",
            "±  ",
            "<P10",
            ">P90",
            "CRPS",
            "seconds",
        ],
    )
    for scenario, by in itertools.product(FORECAST_SCENARIOS, ("team", None)):
        got = forecast_coverage(scenario, seeds, draws=args.forecast_draws, by=by)
        for r in got.sort("checkpoint").iter_rows(named=True):
            t.add(
                scenario,
                "by team" if by else "organisation",
                r["checkpoint"],
                r["forecasts"],
                r["cov_50"],
                r["mc_50"],
                r["cov_80"],
                r["mc_80"],
                r["cov_90"],
                r["mc_90"],
                r["below_p10"],
                r["above_p90"],
                f"{r['crps']:.0f}",
                f"{r['seconds']:.0f}",
            )
    return t


def write_results(tables: list[Table], header: str) -> None:
    """Put the tables into bench/RESULTS.md between the coverage markers (added at the end)."""
    text = RESULTS.read_text(encoding="utf-8")
    block = "\n\n".join([MARKERS[0], header, *[t.markdown() for t in tables], MARKERS[1]])
    if MARKERS[0] in text and MARKERS[1] in text:
        before, rest = text.split(MARKERS[0], 1)
        text = before + block + rest.split(MARKERS[1], 1)[1]
    else:
        text = (
            text.rstrip("\n")
            + "\n\n# Coverage of the trend, target, p-chart and churn intervals\n\n"
        )
        text += block + "\n"
    RESULTS.write_text(text, encoding="utf-8")


def _finish(args: argparse.Namespace, tables: list[Table], start: float) -> None:
    seconds = time.perf_counter() - start
    print(f"\n({seconds:.1f} s, seed {args.seed})")
    if args.results:
        load = Path("/proc/loadavg").read_text().split()[0]
        command = " ".join(["python bench/coverage.py", *sys.argv[1:]])
        write_results(
            tables,
            f"`{command}`, run on {time.strftime('%Y-%m-%d')}: {seconds:.0f} s, seed "
            f"{args.seed}, load average {load} at the end. Every row runs the kit's own "
            "function on one synthetic dataset whose teams are independent draws; s.e. = "
            "Monte-Carlo standard error √(c (1 - c) / draws).",
        )


def _sample_won_amounts() -> np.ndarray:
    """The amounts of the bundled sample's won deals."""
    import pipeline_kit as pk

    won = pk.load(Path(__file__).resolve().parent.parent / "data" / "sample").deals
    return won.filter(pl.col("status") == "won")["amount"].to_numpy()


# ---------------------------------------------------------------- p-chart limits (wt-pchart8)
# Audit A3 (P5): dispersed_p_chart_limits is 1.24-1.35x the exact binomial width on steady
# quarters. The candidate fix, Cochran's heterogeneity test before the swing is used, is
# simulated against the kit's limits on the same draws (sim_pchart7.py's settings).


def pchart_gate_false_alarms(
    p: float, n: int, tau: float, draws: int, rng: np.random.Generator, level: float = 0.10
) -> dict[str, float]:
    """False alarms a point and mean width of the p-chart limits, kit and Cochran-gated.

    9 quarters of ``n`` deals at rates logit-normal around ``p`` with sd ``tau`` (0: iid), the
    9th charted against the 8 before (``stage_conversion_control``). ``kit``:
    :func:`dispersed_p_chart_limits`. Its moment estimate of τ² is positive exactly when
    Cochran's ``Q = Σ n_i (p_i - p̄)² / (p̄ (1 - p̄))`` exceeds 7 (= Q - 1 periods), which is
    above the χ²₇ median 6.35: the audit's "τ² only when Q exceeds its χ² median" is what the
    kit already does. ``gate``: the kit's limits only where Q exceeds the upper ``level``
    quantile of χ²₇ (Cochran's test), else :func:`p_chart_limits` on the pooled count (the
    kit's own limits at τ² = 0). ``positive`` / ``passed``: the share of charts with τ̂² > 0 /
    passing the test; ``exact``: the exact binomial 3-sigma width at the true ``p``.
    """
    logit = math.log(p / (1 - p))
    rates = 1 / (1 + np.exp(-(logit + tau * rng.standard_normal((draws, 9)))))
    k = rng.binomial(n, rates)
    past_n = np.full((draws, 8), n)
    trials = np.full(draws, n)
    low, high, swing = dispersed_p_chart_limits(k[:, :8], past_n, trials)
    k0, n0 = k[:, :8].sum(axis=1), 8 * n
    pooled_low, pooled_high = p_chart_limits(k0, np.full(draws, n0), trials)
    p_bar = k0 / n0
    binomial = p_bar * (1 - p_bar)
    q = np.where(
        binomial > 0,
        (n * (k[:, :8] / n - p_bar[:, None]) ** 2).sum(axis=1)
        / np.where(binomial > 0, binomial, 1),
        0.0,
    )
    passed = q > stats.chi2.isf(level, 7)
    gate_low, gate_high = np.where(passed, low, pooled_low), np.where(passed, high, pooled_high)
    x = k[:, 8] / n
    tail = stats.norm.sf(3)
    return {
        "kit": float(((x < low) | (x > high)).mean()),
        "gate": float(((x < gate_low) | (x > gate_high)).mean()),
        "width_kit": float(np.mean(high - low)),
        "width_gate": float(np.mean(gate_high - gate_low)),
        "exact": float((stats.binom.isf(tail, n, p) - stats.binom.ppf(tail, n, p)) / n),
        "positive": float((swing > 0).mean()),
        "passed": float(passed.mean()),
    }


def pchart_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """The p-chart limits on steady and swinging quarters (``--pchart-only``; audit A3)."""
    draws = args.pchart_draws
    t = Table(
        "p-chart limits of pk.stage_conversion_control (stats.dispersed_p_chart_limits), "
        f"false alarms a point, nominal 0.0027: {draws} charts per row, 8 past quarters and "
        "the charted one of n deals, quarter rates logit-normal around p with sd tau (0 = "
        "iid); kit = the limits as they are (tau^2 used when its moment estimate is positive, "
        "i.e. Cochran's Q > 7, which is above the chi2_7 median); Cochran 10% = the same "
        "limits only where Q exceeds the chi2_7 90% quantile, else the pooled binomial "
        "limits (the candidate, not adopted); widths are means of ucl - lcl; exact = the "
        "exact binomial 3-sigma width at the true p; s.e. = MC standard error",
        [
            "p",
            "n",
            "tau",
            "kit",
            "s.e.",
            "Cochran 10%",
            "s.e. ",
            "kit width",
            "gated width",
            "exact width",
            "tau^2 > 0",
            "Q passes",
        ],
    )
    for p in (0.3, 0.05):
        for n in (20, 200, 2000):
            for tau in (0.0, 0.15, 0.3):
                c = pchart_gate_false_alarms(p, n, tau, draws, rng)
                t.add(
                    p,
                    n,
                    tau,
                    f"{c['kit']:.4f}",
                    f"{_mcse(c['kit'], draws):.4f}",
                    f"{c['gate']:.4f}",
                    f"{_mcse(c['gate'], draws):.4f}",
                    f"{c['width_kit']:.3f}",
                    f"{c['width_gate']:.3f}",
                    f"{c['exact']:.3f}",
                    f"{c['positive']:.2f}",
                    f"{c['passed']:.2f}",
                )
    return t


# ------------------------------------------------------------ ninth session (wt-audit9)
# A statistician's third audit: the intervals a user sees that no cell simulated, or only on
# benign data (findings/audit9/INVENTORY.md): the win rate at boundary rates (exact), the
# mean of heavy-tailed amounts beyond n = 12 (A5, with a Pareto-tail candidate not adopted),
# the win rate by amount and the mix-adjusted win rate (before / after the ninth session).


def boundary_wilson_table(args: argparse.Namespace) -> Table:
    """Exact coverage of the win rate's modified Wilson interval at rates near 0 and 1."""
    rates = (0.005, 0.01, 0.02, 0.05, 0.95, 0.98, 0.99)
    t = Table(
        "Win rate (stats.wilson_interval, as pk.win_rate and pk.churn use it), exact coverage "
        "at 95% (binomial sums, no Monte-Carlo error) at rates near 0 and 1; min / mean = "
        "the lowest / average coverage over rates 0.001-0.999 in steps of 0.001",
        ["n", *[str(r) for r in rates], "min", "at rate", "mean"],
    )
    grid = np.arange(1, 1000) / 1000
    for n in (5, 10, 20, 30, 50, 100):
        exact = np.array([wilson_exact_coverage(float(r), n) for r in grid])
        worst = int(np.argmin(exact))
        t.add(
            n,
            *[wilson_exact_coverage(r, n) for r in rates],
            float(exact[worst]),
            f"{grid[worst]:.3f}",
            float(exact.mean()),
        )
    return t


def pareto_tail(positive: np.ndarray) -> bool:
    """The A5 candidate's check: the logarithms fit a Pareto tail better than a log-normal.

    Maximised log-likelihoods of ``y = log(positive)`` (``m`` values) under a normal,
    ``-m/2 · (log(2π σ̂²) + 1)``, and under an exponential shifted to ``min y`` (the
    logarithms of Pareto amounts), ``-m · (log θ̂ + 1)``, ``θ̂ = mean(y - min y)``.
    """
    y = np.log(positive)
    m = y.size
    variance, theta = float(y.var()), float(np.mean(y - y.min()))
    if variance <= 0 or theta <= 0:
        return False
    return -m * (math.log(theta) + 1) > -m / 2 * (math.log(2 * math.pi * variance) + 1)


def pareto_mean_pivot(
    positive: np.ndarray, n: int, rng: np.random.Generator, draws: int = 20_000
) -> np.ndarray:
    """Draws of the generalized pivot of a Pareto mean ``α x_m / (α - 1)`` (A5 candidate).

    ``T = Σ (y - min y)``: ``2 α T ~ χ²(2m - 2)`` and ``2 m α (min y - log x_m) ~ χ²(2)``,
    independent (Malik 1970); ``α* = V / 2T``, ``x_m* = exp(min y - W / (2 m α*))``, the
    mean infinite where ``α* ≤ 1``; with zeros times a ``Beta(m + 1/2, n - m + 1/2)`` share.
    """
    y = np.log(positive)
    m = y.size
    alpha = rng.chisquare(2 * (m - 1), draws) / (2 * float(np.sum(y - y.min())))
    scale = np.exp(y.min() - rng.chisquare(2, draws) / (2 * m * alpha))
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        pivot = np.where(alpha > 1, scale * alpha / (alpha - 1), np.inf)
    if m < n:
        pivot = pivot * rng.beta(m + 0.5, n - m + 0.5, draws)
    return pivot


def heavy_mean_coverage(
    draw: Callable[[np.random.Generator, int], np.ndarray],
    true_mean: float,
    n: int,
    draws: int,
    rng: np.random.Generator,
    min_n: int = 20,
) -> dict[str, float]:
    """The mean interval (``stats.skewed_mean_interval``) and the A5 candidate on one sample.

    ``kit``: coverage of the kit's interval. ``candidate``: the same quantiles enveloped with
    :func:`pareto_mean_pivot`'s where :func:`pareto_tail` holds on ``min_n`` or more positive
    values (the kit's interval elsewhere); ``fired``: the share where it holds;
    ``unbounded``: the share of candidate intervals with no upper end; widths: medians of
    (high - low) / true mean.
    """
    from pipeline_kit.stats import _GRID, _grid_index, _plausible_means

    ends = _grid_index(np.array([0.025, 0.975]))
    hit = np.zeros(2)
    fired = unbounded = shown = 0
    widths: list[list[float]] = [[], []]
    for i in range(draws):
        x = draw(rng, n)
        local = np.random.default_rng(i)  # (skewed_mean_interval's generator, seed i)
        q = _plausible_means(x, local)
        if q is None:
            continue
        shown += 1
        kit = q[ends]
        positive = x[x > 0]
        cand = kit
        if positive.size >= min_n and pareto_tail(positive):
            fired += 1
            piv = np.quantile(pareto_mean_pivot(positive, n, local), _GRID, method="inverted_cdf")
            cand = np.where(_GRID < 0.5, np.minimum(piv, q), np.maximum(piv, q))[ends]
        for j, (low, high) in enumerate((kit, cand)):
            hit[j] += low <= true_mean <= high
            widths[j].append((high - low) / true_mean)
        unbounded += not np.isfinite(cand[1])
    s = max(shown, 1)
    return {
        "kit": hit[0] / s,
        "candidate": hit[1] / s,
        "fired": fired / s,
        "unbounded": unbounded / s,
        "width_kit": float(np.median(widths[0])) if shown else float("nan"),
        "width_candidate": float(np.median(widths[1])) if shown else float("nan"),
        "n": float(shown),
    }


def heavy_mean_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """A5 beyond 12 amounts, and the Pareto-tail candidate (not adopted)."""
    draws = args.audit9_draws
    t = Table(
        "Mean of 20-200 skewed amounts (stats.skewed_mean_interval), coverage at 95%: "
        f"{draws} samples a row; kit = the interval as it is; candidate = the same widened "
        "to a Pareto generalized pivot where the logarithms fit a shifted exponential better "
        "than a normal (from 20 positive values; not adopted); fired = share where it "
        "applies; unbounded = share of candidate intervals with no upper end; widths = "
        "median (high - low) / true mean",
        [
            "amounts",
            "n",
            "kit",
            "s.e.",
            "candidate",
            "fired",
            "unbounded",
            "kit width",
            "cand. width",
        ],
    )
    sources: list[tuple[str, Callable[[np.random.Generator, int], np.ndarray], float]] = [
        ("Pareto alpha 1.5", lambda r, n: 1 + r.pareto(1.5, n), 3.0),
        ("Pareto alpha 2", lambda r, n: 1 + r.pareto(2.0, n), 2.0),
        ("Pareto alpha 2.5", lambda r, n: 1 + r.pareto(2.5, n), 2.5 / 1.5),
        ("Pareto alpha 3", lambda r, n: 1 + r.pareto(3.0, n), 1.5),
        ("log-normal sigma 1", lambda r, n: r.lognormal(0, 1.0, n), math.exp(0.5)),
        ("log-normal sigma 2", lambda r, n: r.lognormal(0, 2.0, n), math.exp(2.0)),
        ("gamma shape 0.5", lambda r, n: r.gamma(0.5, 1.0, n), 0.5),
        (
            "30% zeros, LN sigma 1.5",
            lambda r, n: r.lognormal(0, 1.5, n) * (r.random(n) >= 0.3),
            0.7 * math.exp(1.125),
        ),
        (
            "calls: NB mean 3, shape 1.5",
            lambda r, n: r.negative_binomial(1.5, 1.5 / 4.5, n).astype(float),
            3.0,
        ),
        (
            "4 list prices (1, 2, 5, 10)",
            lambda r, n: r.choice([1.0, 2.0, 5.0, 10.0], n, p=[0.4, 0.3, 0.2, 0.1]),
            0.4 + 0.6 + 1.0 + 1.0,
        ),
    ]
    for label, draw, true_mean in sources:
        for n in (20, 50, 200):
            c = heavy_mean_coverage(draw, true_mean, n, draws, rng)
            t.add(
                label,
                n,
                c["kit"],
                _mcse(c["kit"], int(c["n"])),
                c["candidate"],
                f"{c['fired']:.2f}",
                f"{c['unbounded']:.2f}",
                f"{c['width_kit']:.2f}",
                f"{c['width_candidate']:.2f}",
            )
    return t


def _bootstrap_share(amount: np.ndarray, won: np.ndarray, resamples: int = 999) -> tuple:
    """The win rate by amount's interval before the ninth session (percentile bootstrap)."""
    if amount.size < 2 or amount.sum() <= 0:
        return None, None
    idx = np.random.default_rng(0).integers(0, amount.size, size=(resamples, amount.size))
    totals = amount[idx].sum(axis=1)
    ratios = (amount * won)[idx].sum(axis=1)[totals > 0] / totals[totals > 0]
    low, high = np.quantile(ratios, [0.025, 0.975])
    return float(low), float(high)


def amount_share_coverage(
    p: float,
    n: int,
    amounts: Callable[[np.random.Generator, int], np.ndarray],
    won_factor: float,
    teams: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Coverage of the win rate by amount (``pk.win_rate_alternatives``, ``amount_closed``).

    Each team closes ``n`` deals in 2025-Q4, each won with probability ``p``, its amount
    drawn from ``amounts`` (times ``won_factor`` when won). The true share of amounts won is
    ``p f μ / (p f μ + (1 - p) μ)``. ``kit``: ``ci_low``/``ci_high`` now; ``before``: the
    percentile bootstrap of the ratio the kit used until the ninth session (same draws).
    """
    import pipeline_kit as pk

    truth = p * won_factor / (p * won_factor + 1 - p)
    won = rng.random((teams, n)) < p
    amount = amounts(rng, teams * n).reshape(teams, n) * np.where(won, won_factor, 1.0)
    deals = pl.DataFrame(
        {
            "deal_id": [f"d{i}" for i in range(teams * n)],
            "owner": "o",
            "team": np.repeat(_teams(teams), n),
            "amount": [f"{a:.6f}" for a in amount.ravel()],
            "created_at": "2025-10-01",
            "stage": np.where(won.ravel(), "Won", "Lost"),
            "status": np.where(won.ravel(), "won", "lost"),
            "closed_at": "2025-11-01",
        }
    )
    f = pk.win_rate_alternatives(_dataset(deals=deals), "2025-Q4", by="team").filter(
        pl.col("definition") == "amount_closed"
    )
    before = [_bootstrap_share(amount[i], won[i]) for i in range(teams)]
    hit_before = [lo is not None and lo <= truth <= hi for lo, hi in before]
    return {
        "kit": _share((f["ci_low"] <= truth) & (truth <= f["ci_high"])),
        "before": _share(np.array(hit_before)),
        "deff": float(f["design_effect"].median()),  # type: ignore[arg-type]
        "width": float((f["ci_high"] - f["ci_low"]).mean()),  # type: ignore[arg-type]
        "teams": float(f.height),
    }


def amount_share_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """The win rate by amount's interval, before and after the ninth session."""
    teams = args.audit9_draws
    t = Table(
        "Win rate by amount (pk.win_rate_alternatives, amount_closed), 95% interval: "
        f"coverage of the true share of amounts won; {teams} teams a row; won x = won deals' "
        "amounts are that many times larger; kit = modified Wilson on deals / the amounts' "
        "design effect (after); before = the percentile bootstrap of the ratio (999 "
        "resamples); deff = median design effect",
        ["p", "n", "amounts", "won x", "kit", "s.e.", "before", "deff", "kit width"],
    )
    sources: list[tuple[str, Callable[[np.random.Generator, int], np.ndarray]]] = [
        ("LN sigma 1", lambda r, k: r.lognormal(0, 1.0, k)),
        ("LN sigma 2", lambda r, k: r.lognormal(0, 2.0, k)),
        ("Pareto alpha 1.5", lambda r, k: 1 + r.pareto(1.5, k)),
    ]
    for p in (0.05, 0.2, 0.5):
        for n in (5, 10, 20, 50, 200):
            for label, draw in sources:
                for factor in (1.0, 3.0) if label == "LN sigma 2" else (1.0,):
                    c = amount_share_coverage(p, n, draw, factor, teams, rng)
                    t.add(
                        p,
                        n,
                        label,
                        factor,
                        c["kit"],
                        _mcse(c["kit"], int(c["teams"])),
                        c["before"],
                        f"{c['deff']:.2f}",
                        c["width"],
                    )
    return t


MIX_SCENARIOS = {
    # team mix of 3 lead sources and rates, for the two halves of the organisation
    "same mix and rates": ((0.5, 0.3, 0.2), (0.3, 0.2, 0.1), (0.5, 0.3, 0.2), (0.3, 0.2, 0.1)),
    "mix differs": ((0.6, 0.3, 0.1), (0.3, 0.2, 0.1), (0.2, 0.4, 0.4), (0.3, 0.2, 0.1)),
    "mix and rates differ": ((0.6, 0.3, 0.1), (0.3, 0.2, 0.1), (0.2, 0.4, 0.4), (0.45, 0.1, 0.3)),
    "rates 1-5%": ((0.5, 0.3, 0.2), (0.05, 0.02, 0.01), (0.5, 0.3, 0.2), (0.05, 0.02, 0.01)),
}


def mix_coverage(n: int, scenario: str, teams: int, rng: np.random.Generator) -> dict[str, float]:
    """Coverage of ``pk.mix_adjusted_win_rate``'s interval of each team's standardised rate.

    Half the teams sell with one mix of 3 lead sources and rates, half with another
    (:data:`MIX_SCENARIOS`), ``n`` closed deals each; a team's true rate is its rates
    weighted by the organisation's expected mix. ``kit``: the interval now (Wilson on the
    effective deals); ``before``: the normal interval with Agresti-Coull variances used until
    the ninth session, recomputed from the same counts.
    """
    import pipeline_kit as pk

    mix_a, rates_a, mix_b, rates_b = (np.asarray(v) for v in MIX_SCENARIOS[scenario])
    weights = (mix_a + mix_b) / 2
    half = np.arange(teams) % 2 == 0
    source = np.where(
        half[:, None],
        (rng.random((teams, n))[:, :, None] > np.cumsum(mix_a)[None, None, :]).sum(axis=2),
        (rng.random((teams, n))[:, :, None] > np.cumsum(mix_b)[None, None, :]).sum(axis=2),
    )
    source = np.minimum(source, 2)
    rate = np.where(half[:, None], rates_a[source], rates_b[source])
    won = rng.random((teams, n)) < rate
    truth = np.where(half, weights @ rates_a, weights @ rates_b)
    deals = pl.DataFrame(
        {
            "deal_id": [f"d{i}" for i in range(teams * n)],
            "owner": "o",
            "team": np.repeat(_teams(teams), n),
            "amount": "1",
            "created_at": "2025-10-01",
            "stage": np.where(won.ravel(), "Won", "Lost"),
            "status": np.where(won.ravel(), "won", "lost"),
            "closed_at": "2025-11-01",
            "lead_source": [f"s{v}" for v in source.ravel()],
        }
    )
    f = pk.mix_adjusted_win_rate(_dataset(deals=deals), "2025-Q4").sort("team")
    kit = (f["ci_low"].to_numpy() <= truth) & (truth <= f["ci_high"].to_numpy())
    # before: adjusted ± 1.96 √(Σ w² p̃ (1 - p̃) / (n + 4)), p̃ Agresti-Coull, sparse strata
    # (fewer than 5 deals) at the organisation's rate and variance
    n_s = np.stack([(source == s).sum(axis=1) for s in range(3)], axis=1)
    k_s = np.stack([((source == s) & won).sum(axis=1) for s in range(3)], axis=1)
    org_n, org_k = n_s.sum(axis=0), k_s.sum(axis=0)
    w = org_n / org_n.sum()
    filled = n_s < 5
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(filled, org_k / org_n, k_s / np.maximum(n_s, 1))
    own_ac, org_ac = (k_s + 2) / (n_s + 4), (org_k + 2) / (org_n + 4)
    var = np.where(filled, org_ac * (1 - org_ac) / (org_n + 4), own_ac * (1 - own_ac) / (n_s + 4))
    adjusted, se = (w * r).sum(axis=1), np.sqrt((w**2 * var).sum(axis=1))
    low, high = np.clip(adjusted - 1.959964 * se, 0, 1), np.clip(adjusted + 1.959964 * se, 0, 1)
    return {
        "kit": _share(kit),
        "before": _share((low <= truth) & (truth <= high)),
        "check": float(np.abs(adjusted - f["adjusted"].to_numpy()).max()),
        "filled": float(f["strata_filled"].mean()),  # type: ignore[arg-type]
        "teams": float(f.height),
    }


def mix_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """The mix-adjusted win rate's interval, before and after the ninth session."""
    teams = args.audit9_draws
    t = Table(
        "Mix-adjusted win rate (pk.mix_adjusted_win_rate), 95% interval: coverage of each "
        f"team's rate standardised to the organisation's mix of 3 lead sources; {teams} teams "
        "a row (two halves with their own mix and rates); kit = modified Wilson on the "
        "effective deals 1 / Σ w²/n (after); before = normal with Agresti-Coull variances; "
        "filled = mean strata borrowing the organisation's rate (fewer than 5 deals)",
        ["scenario", "n", "kit", "s.e.", "before", "s.e. ", "filled"],
    )
    for scenario in MIX_SCENARIOS:
        for n in (10, 20, 50, 200):
            c = mix_coverage(n, scenario, teams, rng)
            assert c["check"] < 1e-9, c  # the bench's adjusted rate is the kit's
            t.add(
                scenario,
                n,
                c["kit"],
                _mcse(c["kit"], int(c["teams"])),
                c["before"],
                _mcse(c["before"], int(c["teams"])),
                f"{c['filled']:.2f}",
            )
    return t


def km_small_coverage(
    n: int,
    shape: float,
    weekly: bool,
    censor_max: float,
    draws: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """Coverage of the KM median's interval (``stats.kaplan_meier_median``) at small n.

    Cycle lengths Weibull with ``shape`` and median 45 days, censored by a uniform(0,
    ``censor_max``) reading time (``inf``: none), rounded up to whole weeks when ``weekly``
    (a CRM that records the week); the true median of the rounded lengths is 7 ⌈45 / 7⌉ = 49.
    ``coverage`` over the samples whose curve reaches 0.5 (``reached``); a missing end counts
    as 0 / unbounded, as the report shows it; ``bounded``: share with an upper end.
    """
    scale = 45.0 / math.log(2) ** (1 / shape)
    truth = 49.0 if weekly else 45.0
    hits = reached = bounded = 0
    for _ in range(draws):
        t = scale * rng.weibull(shape, n)
        if weekly:
            t = 7 * np.ceil(t / 7)
        c = rng.uniform(0, censor_max, n) if np.isfinite(censor_max) else np.full(n, np.inf)
        if weekly and np.isfinite(censor_max):
            c = 7 * np.floor(c / 7)  # (read on a whole week too: a deal closing that week is in)
        observed = t <= c
        m, low, high = kaplan_meier_median(np.minimum(t, c), observed)
        if m is None:
            continue
        reached += 1
        bounded += high is not None
        hits += (0.0 if low is None else low) <= truth <= (math.inf if high is None else high)
    return {
        "coverage": hits / max(reached, 1),
        "reached": reached / draws,
        "bounded": bounded / max(reached, 1),
        "n": float(reached),
    }


def km_small_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """The KM median's interval at 8-30 deals, with weekly ties and Weibull shapes."""
    draws = args.audit9_draws
    t = Table(
        "Kaplan-Meier median cycle length (stats.kaplan_meier_median, as pk.cycle_length_km "
        f"and the compare rows use it), 95% interval: coverage of the true median; {draws} "
        "samples a row; Weibull lengths with median 45 days; censoring uniform up to the "
        "given day (none: every deal closed); weekly = lengths and reading day in whole "
        "weeks (true median 49); reached = share whose curve reaches 0.5; bounded = share "
        "of those with an upper end",
        ["n", "shape", "censor<=", "weekly", "coverage", "s.e.", "reached", "bounded"],
    )
    for n in (8, 12, 20, 30):
        for shape, censor_max, weekly in (
            (1.0, math.inf, False),
            (1.0, 150.0, False),
            (1.0, math.inf, True),
            (1.0, 150.0, True),
            (0.7, 150.0, False),
            (2.0, math.inf, True),
        ):
            c = km_small_coverage(n, shape, weekly, censor_max, draws, rng)
            t.add(
                n,
                shape,
                "none" if not np.isfinite(censor_max) else int(censor_max),
                "yes" if weekly else "no",
                c["coverage"],
                _mcse(c["coverage"], int(c["n"])),
                f"{c['reached']:.2f}",
                f"{c['bounded']:.2f}",
            )
    return t


def spearman_size(
    reps: int, wins_mean: float, draws: int, rng: np.random.Generator
) -> dict[str, float]:
    """Size at 5% of the calls-vs-closes correlation test (``pk.calls_vs_closes``' p_value).

    Each rep makes Poisson(40) calls and wins Poisson(``wins_mean``) deals, independently,
    so every rejection is false. Samples where calls or wins do not vary get no p-value (as
    in the kit) and are skipped. ``kit``: :func:`stats.spearman_test` (exact up to 8 reps);
    ``before``: scipy's t approximation for every n.
    """
    from pipeline_kit.stats import spearman_test

    kit = before = tested = 0
    for _ in range(draws):
        calls = rng.poisson(40, reps).astype(float)
        wins = rng.poisson(wins_mean, reps).astype(float)
        if np.ptp(calls) == 0 or np.ptp(wins) == 0:
            continue
        tested += 1
        kit += spearman_test(calls, wins)[1] <= 0.05
        before += stats.spearmanr(calls, wins).pvalue <= 0.05
    return {"kit": kit / max(tested, 1), "before": before / max(tested, 1), "n": float(tested)}


def spearman_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """The size of the calls-vs-closes correlation test, before and after the ninth session."""
    draws = 4 * args.audit9_draws
    t = Table(
        "Calls against deals won (pk.calls_vs_closes), Spearman's p: false rejections at 5% "
        f"when calls and wins are independent; {draws} organisations a row; calls "
        "Poisson(40) a rep, wins Poisson(mean) (0.7: most reps win 0 or 1, many ties); kit "
        "= exact permutation p up to 8 reps, scipy's t above (after); before = scipy's t "
        "approximation at every n",
        ["reps", "wins mean", "kit", "s.e.", "before", "s.e. ", "tested"],
    )
    for reps in (3, 4, 5, 6, 8, 12, 26):
        for wins_mean in (3.0, 0.7):
            c = spearman_size(reps, wins_mean, draws, rng)
            t.add(
                reps,
                wins_mean,
                f"{c['kit']:.4f}",
                f"{_mcse(c['kit'], int(c['n'])):.4f}",
                f"{c['before']:.4f}",
                f"{_mcse(c['before'], int(c['n'])):.4f}",
                int(c["n"]),
            )
    return t


# ----------------------------------------------------------------------------- tenth session
# (wt-fc10) seasonality's interval when months vary more than Poisson; CLV with ARPA estimated


SEASON_SCENARIOS = ("poisson", "nb k=20", "nb k=5", "bad quarter", "quarter effect", "trend")


def _season_months(
    scenario: str, years: int, base: float, teams: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Monthly counts (teams x years x 12) and the truth per calendar month (teams x 12).

    Means ``base x (1 + 0.25 cos(2 pi (m - 1) / 12))``; ``nb k``: each month's mean a
    Gamma(k) draw around it (negative-binomial counts, variance ``mu + mu^2 / k``);
    ``bad quarter``: each quarter bad (x 0.5) with probability 1/8, truth the expected month
    ``mu (1 - 0.5 / 8)``; ``quarter effect``: each year-quarter's months x Gamma(10) / 10 (the
    three months move together); ``trend``: x 1.2 a year, truth the mean of the window's years.
    """
    season = 1 + 0.25 * np.cos(2 * np.pi * np.arange(12) / 12)
    mu = np.broadcast_to(base * season, (teams, years, 12)).astype(float)
    truth = np.broadcast_to(base * season, (teams, 12)).astype(float)
    if scenario == "trend":
        growth = 1.2 ** np.arange(years)
        mu = mu * growth[None, :, None]
        truth = truth * growth.mean()
    elif scenario.startswith("nb k="):
        k = float(scenario.split("=")[1])
        mu = rng.gamma(k, mu / k)
    elif scenario == "bad quarter":
        bad = rng.random((teams, years, 4)) < 1 / 8
        mu = mu * np.repeat(np.where(bad, 0.5, 1.0), 3, axis=2)
        truth = truth * (1 - 0.5 / 8)
    elif scenario == "quarter effect":
        mu = mu * np.repeat(rng.gamma(10.0, 0.1, (teams, years, 4)), 3, axis=2)
    return rng.poisson(mu), truth


def seasonality_coverage(
    scenario: str, years: int, base: float, teams: int, rng: np.random.Generator
) -> dict[str, float]:
    """Coverage of ``pk.seasonality``'s created-per-month interval, by team (the kit's code).

    One dataset of ``teams`` independent teams whose deals are created over ``years`` whole
    years ending 2025-12 (:func:`_season_months`); ``pk.seasonality(ds, "2025-Q4",
    by="team", years=years)``. Returns the coverage over the teams' 12 months (``kit``), the
    exact Poisson interval of the same totals (``poisson``, the interval before), the
    cluster-robust s.e. (clusters: teams), the median dispersion and the median width ratio.
    """
    import datetime as dt

    import pipeline_kit as pk

    counts, truth = _season_months(scenario, years, base, teams, rng)
    names = _teams(teams)
    first_year = 2026 - years
    t_idx, y_idx, m_idx = np.nonzero(counts >= 0)
    reps = counts[t_idx, y_idx, m_idx]
    team = np.repeat(t_idx, reps)
    year = np.repeat(y_idx + first_year, reps)
    month = np.repeat(m_idx + 1, reps)
    day = rng.integers(1, 29, team.size)
    created = pl.select(
        pl.date(pl.Series(year), pl.Series(month), pl.Series(day)).alias("d")
    ).to_series()
    deals = pl.DataFrame(
        {
            "deal_id": np.arange(team.size).astype(str),
            "team": np.array(names)[team],
            "created_at": created,
            "status": ["open"] * team.size,
            "stage": ["Qualified"] * team.size,
            "amount": [100.0] * team.size,
        }
    )
    # a team of two deals on the window's first and last days fixes the window for all
    ends = [dt.date(first_year, 1, 1), dt.date(2025, 12, 31)]
    frame = pl.DataFrame(
        {
            "deal_id": ["edge0", "edge1"],
            "team": ["~edge"] * 2,
            "created_at": ends,
            "status": ["open"] * 2,
            "stage": ["Qualified"] * 2,
            "amount": [100.0] * 2,
        }
    )
    ds = _dataset(deals=pl.concat([deals, frame]))
    got = pk.seasonality(ds, "2025-Q4", by="team", years=years).sort("team", "month")
    got = got.filter(pl.col("team").is_in(names))
    low = got["created_ci_low"].to_numpy().reshape(-1, 12)
    high = got["created_ci_high"].to_numpy().reshape(-1, 12)
    months = got["months"].to_numpy().reshape(-1, 12)
    order = np.searchsorted(names, got["team"].unique(maintain_order=True).to_numpy())
    true = truth[order]
    hit = (low <= true) & (true <= high)
    p_low, p_high = poisson_interval(got["created"].to_numpy())
    p_hit = (p_low.reshape(-1, 12) / months <= true) & (true <= p_high.reshape(-1, 12) / months)
    cov = float(hit.mean())
    per_team = hit.mean(axis=1)
    se = float(per_team.std(ddof=1) / np.sqrt(per_team.size))
    width = (high - low) / ((p_high - p_low).reshape(-1, 12) / months)
    return {
        "kit": cov,
        "se": se,
        "poisson": float(p_hit.mean()),
        "phi": float(np.nanmedian(got["created_dispersion"].fill_null(np.nan).to_numpy())),
        "width": float(np.median(width)),
        "teams": float(per_team.size),
    }


def seasonality_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    t = Table(
        "Seasonality (pk.seasonality, deals created per calendar month, 95%): coverage of the "
        "month's expected count; kit = quasi-Poisson (Pearson dispersion of the months, floor "
        "1, t-adjusted level), Poisson = the exact interval before; s.e. clustered by team "
        f"({args.fc10_draws} teams a row, 12 months each)",
        ["scenario", "years", "mean/month", "kit", "s.e.", "Poisson", "median phi", "width x"],
    )
    for years in (2, 3):
        for base in (3.0, 20.0):
            for scenario in SEASON_SCENARIOS:
                r = seasonality_coverage(scenario, years, base, args.fc10_draws, rng)
                t.add(
                    scenario,
                    years,
                    f"{base:g}",
                    r["kit"],
                    r["se"],
                    r["poisson"],
                    r["phi"],
                    r["width"],
                )
    return t


def _mrr_draws(shape: str, size: int, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """MRR of ``size`` accounts and its expected value: log-normal (median 500, sigma 1 or
    1.5) or Pareto (tail index 2.5, minimum 300)."""
    if shape.startswith("LN"):
        sigma = float(shape.split()[-1])
        return 500 * rng.lognormal(0.0, sigma, size), 500 * math.exp(sigma**2 / 2)
    alpha = 2.5
    return 300 * (1 - rng.random(size)) ** (-1 / alpha), 300 * alpha / (alpha - 1)


def clv_coverage(
    n: int, shape: str, churn: float, teams: int, rng: np.random.Generator
) -> dict[str, float]:
    """Coverage of ``pk.clv``'s interval, by team (the kit's code), and of the one before.

    Every team has ``n`` accounts active at 2025-10-01, MRR from :func:`_mrr_draws`, each
    ending in 2025-Q4 with probability ``churn``; truth ``E[MRR] / monthly churn`` with
    ``monthly = 1 - (1 - churn)^(1 / months)`` (the quarter's 92 days in months). Before: the
    churn's Wilson ends through the formula with the observed ARPA taken as known. Teams
    without an interval (nobody churned: no CLV; no upper end) are counted apart.
    """
    import pipeline_kit as pk

    names = np.repeat(_teams(teams), n)
    mrr, mean = _mrr_draws(shape, names.size, rng)
    ended = rng.random(names.size) < churn
    end = pl.Series(_days_into("2025-10-01", rng.integers(0, 92, names.size)))
    end = pl.select(pl.when(pl.Series(ended)).then(end)).to_series()
    customers = pl.DataFrame(
        {
            "account_id": [f"c{i}" for i in range(names.size)],
            "start_date": _days_into("2024-01-01", rng.integers(0, 600, names.size)),
            "end_date": end,
            "mrr": np.round(mrr, 2),
            "team": names,
        }
    )
    deals = pl.DataFrame(
        {
            "deal_id": ["d0"],
            "owner": ["o"],
            "team": ["t00000"],
            "amount": ["1"],
            "created_at": ["2025-10-01"],
            "stage": ["Won"],
            "status": ["won"],
            "closed_at": ["2025-12-31"],
        }
    )
    spend = pl.DataFrame({"period_start": ["2025-10-01"], "amount": ["1000"], "team": ["t00000"]})
    ds = _dataset(deals=deals, customers=customers, marketing_spend=spend)
    f = pk.clv(ds, Q4, by="team", as_of="2025-12-31")
    c = pk.churn(ds, Q4, by="team", as_of="2025-12-31")
    months = 92 / (365.25 / 12)
    truth = mean / (1 - (1 - churn) ** (1 / months))
    f = f.join(c.select("team", "ci_low", "ci_high"), on="team", suffix="_churn")

    def monthly(rate: pl.Expr) -> pl.Expr:
        return 1 - (1 - rate).pow(1 / months)

    before_low = pl.col("arpa_mrr") / monthly(pl.col("ci_high_churn"))
    before_high = pl.when(monthly(pl.col("ci_low_churn")) > 0).then(
        pl.col("arpa_mrr") / monthly(pl.col("ci_low_churn"))
    )
    shown = f.filter(pl.col("clv").is_not_null())
    hit = shown.select(
        ((pl.col("ci_low") <= truth) & (pl.col("ci_high").is_null() | (pl.col("ci_high") >= truth)))
        .mean()
        .alias("kit"),
        ((before_low <= truth) & (before_high.is_null() | (before_high >= truth)))
        .mean()
        .alias("before"),
        (pl.col("ci_high") / pl.col("ci_low") / (before_high / before_low)).median().alias("w"),
        (pl.col("ci_low") > truth).mean().alias("above"),
    ).row(0, named=True)
    k = shown.height
    return {
        "kit": float(hit["kit"]),
        "se": _mcse(float(hit["kit"]), k),
        "before": float(hit["before"]),
        "width": float(hit["w"]) if hit["w"] is not None else math.nan,
        "above": float(hit["above"]),
        "shown": k / teams,
    }


def clv_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    t = Table(
        "CLV (pk.clv by team, 95%): coverage of E[MRR] / monthly churn; kit = MOVER of ARPA's "
        "skew-aware interval and the churn's Wilson ends; before = the churn's ends with ARPA "
        "taken as known; shown = teams with a CLV (someone churned); low end above the truth; "
        f"width x = median ratio of the two intervals' high/low ({args.fc10_draws} teams a "
        "row, quarter Q4 2025)",
        ["accounts", "MRR", "churn/quarter", "kit", "s.e.", "before", "above", "width x", "shown"],
    )
    for shape in ("LN sigma 1", "LN sigma 1.5", "Pareto 2.5"):
        for churn in (0.1, 0.3):
            for n in (10, 20, 50, 200):
                r = clv_coverage(n, shape, churn, args.fc10_draws, rng)
                t.add(
                    n,
                    shape,
                    churn,
                    r["kit"],
                    r["se"],
                    r["before"],
                    r["above"],
                    r["width"],
                    r["shown"],
                )
    return t


def fc10_tables(args: argparse.Namespace, rng: np.random.Generator) -> list[Table]:
    """The tenth session's tables (``--fc10-only``; ``--quick``: 100 teams a row)."""
    return [seasonality_table(args, rng), clv_table(args, rng)]


def audit9_tables(args: argparse.Namespace, rng: np.random.Generator) -> list[Table]:
    """The ninth session's audit tables (``--audit9-only``; ``--quick``: 100 draws a row)."""
    return [
        boundary_wilson_table(args),
        amount_share_table(args, rng),
        mix_table(args, rng),
        heavy_mean_table(args, rng),
        km_small_table(args, rng),
        spearman_table(args, rng),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=4000, help="samples per rate cell")
    parser.add_argument("--km-draws", type=int, default=1000, help="samples per KM cell")
    parser.add_argument("--mean-draws", type=int, default=1000, help="samples per mean cell")
    parser.add_argument("--rep-draws", type=int, default=200, help="samples per rep cell")
    parser.add_argument(
        "--teams", type=int, default=1500, help="independent teams (draws) per trend/churn cell"
    )
    parser.add_argument(
        "--pop-teams", type=int, default=400, help="teams per period-over-period cell"
    )
    parser.add_argument("--needed-draws", type=int, default=400, help="samples per target cell")
    parser.add_argument("--control-teams", type=int, default=1500, help="teams per p-chart cell")
    parser.add_argument(
        "--compare-draws", type=int, default=2000, help="samples per compare-test cell"
    )
    parser.add_argument(
        "--dispersion-draws", type=int, default=10000, help="draws per swinging-quarter cell"
    )
    parser.add_argument("--seed", type=int, default=20251231)
    parser.add_argument(
        "--compare-only", action="store_true", help="only the size tables of pk.compare's tests"
    )
    parser.add_argument(
        "--cmp8-only",
        action="store_true",
        help="only the eighth session's tables of tests against benchmarks and the rep flag",
    )
    parser.add_argument(
        "--clustered-only",
        action="store_true",
        help="only the tables of win rates with deals in accounts (interval and test)",
    )
    parser.add_argument(
        "--new-only", action="store_true", help="only the trend, target, p-chart and churn tables"
    )
    parser.add_argument(
        "--conv-only",
        action="store_true",
        help="only the stage conversion and calls per deal tables of the eighth session",
    )
    parser.add_argument(
        "--stage-datasets", type=int, default=30, help="organisations per stage-bias table"
    )
    parser.add_argument("--calls-draws", type=int, default=400, help="industries per calls cell")
    parser.add_argument(
        "--calls-only", action="store_true", help="with --conv-only: only the calls table"
    )
    parser.add_argument(
        "--control-only",
        action="store_true",
        help="with --conv-only: only the control limits table with accounts",
    )
    parser.add_argument(
        "--calls-shapes",
        type=lambda text: tuple(None if s == "poisson" else float(s) for s in text.split(",")),
        default=(0.3, 0.7, 2.0, None),
        help="negative-binomial shapes of the calls table (poisson: none), comma-separated",
    )
    parser.add_argument(
        "--results", action="store_true", help="write those tables into bench/RESULTS.md"
    )
    parser.add_argument(
        "--forecast",
        action="store_true",
        help="only the forecast's backtest coverage (printed; bench/RESULTS.md by hand)",
    )
    parser.add_argument(
        "--pchart-only",
        action="store_true",
        help="only the p-chart limits on steady and swinging quarters (wt-pchart8, audit A3)",
    )
    parser.add_argument("--pchart-draws", type=int, default=4000, help="charts per p-chart row")
    parser.add_argument(
        "--audit9-only",
        action="store_true",
        help="only the ninth session's audit tables (boundary rates, win rate by amount, "
        "mix-adjusted win rate, means of heavy-tailed amounts)",
    )
    parser.add_argument(
        "--audit9-draws", type=int, default=1000, help="samples (teams) per audit9 row"
    )
    parser.add_argument(
        "--quick", action="store_true", help="with --audit9-only: 100 samples a row"
    )
    parser.add_argument(
        "--fc10-only",
        action="store_true",
        help="only the tenth session's tables: seasonality's and CLV's intervals (wt-fc10)",
    )
    parser.add_argument("--fc10-draws", type=int, default=1000, help="teams per fc10 row")
    parser.add_argument(
        "--tails10-only",
        action="store_true",
        help="only the tenth session's tables (wt-tails10): heavy-tailed means, stage "
        "conversion below 20 deals, q-values under dependence",
    )
    parser.add_argument(
        "--tails10-part",
        choices=("mean", "stage", "fdr", "rep", "all"),
        default="all",
        help="with --tails10-only: one of its tables",
    )
    parser.add_argument(
        "--tails10-settings",
        default="0,1,2,3",
        help="with --tails10-part fdr: which q-value settings (0-3), comma-separated",
    )
    parser.add_argument("--tails10-draws", type=int, default=1000, help="samples per mean row")
    parser.add_argument("--tails10-teams", type=int, default=2000, help="teams per stage row")
    parser.add_argument(
        "--tails10-fdr-draws", type=int, default=500, help="organisations per q-value row"
    )
    parser.add_argument(
        "--clu11-only",
        action="store_true",
        help="only the eleventh session's table: cycle and deal-size tests in accounts",
    )
    parser.add_argument("--clu11-draws", type=int, default=2000, help="sample pairs per row")
    parser.add_argument(
        "--clu11-shift", type=float, default=0.0, help="with --clu11-only: the size test's power"
    )
    parser.add_argument(
        "--clu11-settings", default="", help="with --clu11-only: rows 0-7, comma-separated"
    )
    parser.add_argument("--forecast-seeds", type=int, default=20, help="organisations per scenario")
    parser.add_argument("--forecast-draws", type=int, default=2000, help="draws per forecast")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    if args.compare_only:
        tables = compare_tables(args, rng)
        _finish(args, tables, start)
        return 0
    if args.cmp8_only:
        tables = benchmark_test_tables(args, rng)
        _finish(args, tables, start)
        return 0
    if args.forecast:
        forecast_table(args)
        print(f"\n({time.perf_counter() - start:.1f} s)")
        return 0
    if args.clustered_only:
        tables = clustered_tables(args, rng)
        _finish(args, tables, start)
        return 0
    if args.conv_only:
        tables = conversion_tables(args, rng)
        _finish(args, tables, start)
        return 0
    if args.audit9_only:
        if args.quick:
            args.audit9_draws = 100
        tables = audit9_tables(args, rng)
        print(f"\n({time.perf_counter() - start:.1f} s, seed {args.seed})")
        return 0
    if args.fc10_only:
        if args.quick:
            args.fc10_draws = 100
        tables = fc10_tables(args, rng)
        print(f"\n({time.perf_counter() - start:.1f} s, seed {args.seed})")
        return 0
    if args.clu11_only:
        tables = clu11_tables(args)
        _finish(args, tables, start)
        return 0
    if args.tails10_only:
        tables = tails10_tables(args, rng)
        print(f"\n({time.perf_counter() - start:.1f} s, seed {args.seed})")
        return 0
    if args.pchart_only:
        tables = [pchart_table(args, rng)]
        _finish(args, tables, start)
        return 0
    if args.new_only:
        tables = new_tables(args, rng, _sample_won_amounts())
        _finish(args, tables, start)
        return 0
    print("Win rate, 95% intervals: coverage (nominal 0.95)")
    print(f"{'true p':>7} {'n':>5} {'Wilson':>8} {'Wald':>8}")
    for p in (0.05, 0.2, 0.35, 0.5):
        for n in (10, 20, 50, 200):
            wilson, wald = rate_coverage(p, n, args.draws, rng)
            print(f"{p:>7.2f} {n:>5} {wilson:>8.3f} {wald:>8.3f}")
    print(
        "\nKaplan-Meier median cycle length, 95% interval (exponential cycles, uniform censoring)"
    )
    print(f"{'median':>7} {'n':>5} {'censor<=':>9} {'coverage':>9} {'bounded':>8} {'reached':>8}")
    for n in (20, 50, 200):
        for censor_max in (120.0, 300.0):
            cov, bounded, reached = km_coverage(45.0, n, censor_max, args.km_draws, rng)
            print(
                f"{45.0:>7.0f} {n:>5} {censor_max:>9.0f} {cov:>9.3f} {bounded:>8.3f} "
                f"{reached:>8.3f}"
            )
    print("\nKaplan-Meier median test (log-log z), true median 45 days: rejections at 5%")
    print(f"{'n':>5} {'censor<=':>9} {'size':>7}")
    for n in (20, 50, 200):
        for censor_max in (120.0, 300.0):
            size = km_test_size(n, censor_max, args.km_draws * 3, rng)
            print(f"{n:>5} {censor_max:>9.0f} {size:>7.3f}")
    print("\nAverage won deal size, 95% interval: coverage (nominal 0.95)")
    print(f"{'amounts':>22} {'n':>5} {'kit':>7} {'Student-t':>10}")
    population = _sample_won_amounts()
    sources = [
        (
            f"log-normal sigma {sigma}",
            (lambda r, n, s=sigma: r.lognormal(0, s, n)),
            math.exp(sigma**2 / 2),
        )
        for sigma in (1.0, 1.5, 2.0, 2.5)
    ] + [
        (
            "30% zeros, LN sigma 1.5",
            (lambda r, n: r.lognormal(0, 1.5, n) * (r.random(n) > 0.3)),
            0.7 * math.exp(1.125),
        ),
        ("Pareto alpha 3", (lambda r, n: r.pareto(3.0, n) + 1), 1.5),
        ("gamma shape 0.5", (lambda r, n: r.gamma(0.5, 1.0, n)), 0.5),
        ("sample won amounts", (lambda r, n: r.choice(population, n)), population.mean()),
    ]
    for label, draw, true_mean in sources:
        for n in (5, 10, 20, 50, 200):
            kit, student = mean_coverage(draw, true_mean, n, args.mean_draws, rng)
            print(f"{label:>22} {n:>5} {kit:>7.3f} {student:>10.3f}")
    print(
        "\nAverage won deal size with zeros at small n: coverage where an interval is given "
        "(5 positive values or more), and the share given one"
    )
    print(f"{'zeros':>6} {'n':>5} {'kit':>7} {'s.e.':>6} {'shown':>6}")
    for zero_share in (0.1, 0.3, 0.5):
        for n in (5, 6, 8, 10):
            got = zeros_mean_coverage(zero_share, n, args.mean_draws, rng)
            se = _mcse(got["kit"], int(got["n"]))
            print(f"{zero_share:>6.1f} {n:>5} {got['kit']:>7.3f} {se:>6.3f} {got['shown']:>6.2f}")
    print(
        "\nRep win rates (pk.rep_win_rates), 95% intervals: coverage of each rep's true rate; "
        "own = ci_low/ci_high (the rep's Wilson), shrunk = shrunk_ci_low/high (posterior)"
    )
    print(f"{'spread':>7} {'reps':>5} {'deals/rep':>10} {'own':>7} {'shrunk':>7}")
    for spread in (0.0, 0.02, 0.05, 0.1):
        for reps, n_range in ((6, (5, 30)), (30, (5, 40))):
            cov = rep_coverage(spread, reps, n_range, args.rep_draws, rng)
            print(
                f"{spread:>7.2f} {reps:>5} {f'{n_range[0]}-{n_range[1]}':>10} "
                f"{cov['own']:>7.3f} {cov['shrunk']:>7.3f}"
            )
    tables = new_tables(args, rng, population)
    _finish(args, tables, start)
    return 0


# ----------------------------------------------------------------------------- tenth session
# (wt-tails10: small stage cohorts, q-values under dependence, heavy-tailed means)


def small_stage_coverage(
    p: float,
    n: int,
    read_at: str,
    icc: float | None,
    teams: int,
    rng: np.random.Generator,
    per_call: int | None = None,
) -> dict[str, float]:
    """Coverage of ``pk.stage_conversion``'s interval on stage cohorts of ``n`` deals.

    As :func:`stage_conversion_coverage` (advance with probability ``p`` after an exponential
    wait of mean 25 days, else lost after one of mean 8; read at ``read_at``), with ``icc``
    given the deals come in accounts of about 2.5 sharing an advance rate with that intraclass
    correlation (:func:`_clustered_deals`; 0: accounts that do not cluster), else without
    ``account_id``. Truth: ``p``. ``kit``: the share of teams whose interval holds ``p``,
    with ``per_call`` teams in each ``stage_conversion`` call (the design effect's ICC is
    pooled over a call's teams; None: all teams in one call); ``own``: the same with each
    team's own ICC (the interval before the tenth session; a call for one team gives it
    too); ``shown``: the share with ``n >= 20`` decided deals (``enough_data``);
    ``pending``: the share of deals pending; ``deff`` / ``own_deff``: the mean design
    effects.
    """
    import pipeline_kit as pk

    names = np.repeat(_teams(teams), n)
    size = names.size
    if icc is None:
        advances = rng.random(size) < p
        accounts = None
    else:
        drawn = [_clustered_deals(n, icc, rng, p, prefix=f"{t}a") for t in _teams(teams)]
        advances = np.concatenate([w for w, _ in drawn])
        accounts = [a for _, acc in drawn for a in acc]
    entered = rng.integers(0, 92, size)
    wait = np.where(advances, rng.exponential(25, size), rng.exponential(8, size)).astype(int) + 1
    moved = entered + wait
    ids = [f"d{i}" for i in range(size)]
    columns: dict[str, object] = {
        "deal_id": ids,
        "owner": "o",
        "team": names,
        "amount": "100",
        "created_at": _days_into("2025-10-01", entered),
        "stage": np.where(advances, "Proposal", "Lost"),
        "status": np.where(advances, "open", "lost"),
        "closed_at": pl.select(
            pl.when(pl.Series(~advances)).then(pl.Series(_days_into("2025-10-01", moved)))
        ).to_series(),
    }
    if accounts is not None:
        columns["account_id"] = accounts
    history = pl.DataFrame(
        {
            "deal_id": ids + ids,
            "stage": ["Prospecting"] * size + list(np.where(advances, "Proposal", "Lost")),
            "entered_at": list(_days_into("2025-10-01", entered))
            + list(_days_into("2025-10-01", moved)),
        }
    )
    stages = pl.DataFrame(
        {
            "stage": ["Prospecting", "Proposal", "Won", "Lost"],
            "order": ["1", "2", "3", "4"],
            "probability": ["0.1", "0.5", "1", "0"],
            "is_won": ["false", "false", "true", "false"],
            "is_lost": ["false", "false", "false", "true"],
        }
    )
    deals = pl.DataFrame(columns)

    def conversion(frame: pl.DataFrame, teams_here: list[str] | None = None) -> pl.DataFrame:
        if teams_here is not None:
            frame = frame.filter(pl.col("team").is_in(teams_here))
        ds = _dataset(
            deals=frame,
            stages=stages,
            stage_history=history.filter(pl.col("deal_id").is_in(frame["deal_id"].implode())),
        )
        return pk.stage_conversion(ds, Q4, by="team", as_of=read_at).filter(
            pl.col("stage") == "Prospecting"
        )

    if per_call is None or accounts is None:
        f = conversion(deals)
    else:
        names_all = _teams(teams)
        f = pl.concat(
            [conversion(deals, names_all[i : i + per_call]) for i in range(0, teams, per_call)]
        )
    out = {
        "kit": _share((f["ci_low"] <= p) & (p <= f["ci_high"])),
        "shown": _share(f["enough_data"]),
        "pending": float(f["pending"].sum() / f["entered"].sum()),
        "deff": float(f["design_effect"].mean()) if accounts is not None else 1.0,
        "width": float((f["ci_high"] - f["ci_low"]).mean()),
        "n": f.height,
    }
    if accounts is not None:  # (each team's own ICC: the interval before the tenth session)
        from pipeline_kit.metrics import conversion as module
        from pipeline_kit.stats import accounts_design_effect

        pooled = module.pooled_accounts_design_effect
        module.pooled_accounts_design_effect = accounts_design_effect  # type: ignore[assignment]
        try:
            own = conversion(deals)
        finally:
            module.pooled_accounts_design_effect = pooled
        out["own"] = _share((own["ci_low"] <= p) & (p <= own["ci_high"]))
        out["own_deff"] = float(own["design_effect"].mean())
    return out


def small_stage_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """pk.stage_conversion below 20 deals a stage, with pending deals and accounts."""
    t = Table(
        "Stage conversion on 5-20 deals a stage (pk.stage_conversion), 95% interval: coverage "
        f"of the cohort's eventual conversion p; {args.tails10_teams} teams per row; drops "
        "after 8 days on average, advances after 25; read 2026-01-15 (many pending) or "
        "2026-03-31 (few); accounts: none, or about 2.5 deals sharing a rate with ICC 0 / 0.3; "
        "own = each team's own ICC (before; also any call for one team), pooled = the ICC "
        "pooled over the 5 teams of a call (after)",
        [
            "p",
            "n",
            "read at",
            "accounts",
            "pending",
            "own",
            "s.e.",
            "pooled",
            "s.e. ",
            "own deff",
            "pooled deff",
            "width",
        ],
    )
    for p in (0.2, 0.5):
        for n in (5, 8, 12, 20):
            for read_at in ("2026-01-15", "2026-03-31"):
                for icc in (None, 0.0, 0.3):
                    c = small_stage_coverage(p, n, read_at, icc, args.tails10_teams, rng, 5)
                    own = c.get("own", c["kit"])
                    t.add(
                        p,
                        n,
                        read_at,
                        "none" if icc is None else f"ICC {icc}",
                        f"{c['pending']:.3f}",
                        own,
                        _mcse(own, int(c["n"])),
                        c["kit"],
                        _mcse(c["kit"], int(c["n"])),
                        f"{c.get('own_deff', 1.0):.2f}",
                        f"{c['deff']:.2f}",
                        f"{c['width']:.3f}",
                    )
    return t


def _tails10_sources() -> list[tuple[str, Callable[[np.random.Generator, int], np.ndarray], float]]:
    """Amounts for the A5 table: Pareto tails, log-normal and gamma amounts, zeros, ties."""
    return [
        ("Pareto alpha 1.5", lambda r, n: 1 + r.pareto(1.5, n), 3.0),
        ("Pareto alpha 2", lambda r, n: 1 + r.pareto(2.0, n), 2.0),
        ("Pareto alpha 2.5", lambda r, n: 1 + r.pareto(2.5, n), 2.5 / 1.5),
        ("Pareto alpha 3", lambda r, n: 1 + r.pareto(3.0, n), 1.5),
        ("log-normal sigma 0.5", lambda r, n: r.lognormal(0, 0.5, n), math.exp(0.125)),
        ("log-normal sigma 1", lambda r, n: r.lognormal(0, 1.0, n), math.exp(0.5)),
        ("log-normal sigma 1.5", lambda r, n: r.lognormal(0, 1.5, n), math.exp(1.125)),
        ("log-normal sigma 2", lambda r, n: r.lognormal(0, 2.0, n), math.exp(2.0)),
        ("gamma shape 0.5", lambda r, n: r.gamma(0.5, 1.0, n), 0.5),
        (
            "30% zeros, LN sigma 1.5",
            lambda r, n: r.lognormal(0, 1.5, n) * (r.random(n) >= 0.3),
            0.7 * math.exp(1.125),
        ),
        (
            "calls: NB mean 3, shape 1.5",
            lambda r, n: r.negative_binomial(1.5, 1.5 / 4.5, n).astype(float),
            3.0,
        ),
        (
            "4 list prices (1, 2, 5, 10)",
            lambda r, n: r.choice([1.0, 2.0, 5.0, 10.0], n, p=[0.4, 0.3, 0.2, 0.1]),
            3.0,
        ),
    ]


def pareto_route_coverage(
    draw: Callable[[np.random.Generator, int], np.ndarray],
    true_mean: float,
    n: int,
    draws: int,
    rng: np.random.Generator,
) -> dict[str, float]:
    """``stats.skewed_mean_interval`` at 95% before and after the Pareto-tail route (A5).

    ``after``: the kit's interval; ``before``: the same with :func:`stats.pareto_tailed`
    forced False (the interval of the ninth session). ``fired``: the share of samples the
    check routes to the Pareto pivot; ``unbounded``: of the intervals given, the share with
    no upper end (after); ``shown``: the share given an interval at all (the same before
    and after); widths: median ``(high - low) / true mean`` (inf without an upper end).
    """
    from pipeline_kit import stats as kit_stats

    counts = {"before": 0, "after": 0, "fired": 0, "unbounded": 0, "shown": 0}
    widths: dict[str, list[float]] = {"before": [], "after": []}
    route = kit_stats.pareto_tailed
    for _ in range(draws):
        x = draw(rng, n)
        after = kit_stats.skewed_mean_interval(x)
        if after[0] is None:
            continue
        counts["shown"] += 1
        fired = route(x[x > 0])
        counts["fired"] += fired
        before = after
        if fired:
            kit_stats.pareto_tailed = lambda *_args: False  # type: ignore[assignment]
            try:
                before = kit_stats.skewed_mean_interval(x)
            finally:
                kit_stats.pareto_tailed = route
        for key, (low, high) in (("before", before), ("after", after)):
            top = math.inf if high is None else high
            counts[key] += low <= true_mean <= top
            widths[key].append((top - low) / true_mean)
        counts["unbounded"] += after[1] is None
    shown = max(counts["shown"], 1)
    out = {key: counts[key] / shown for key in ("before", "after", "fired", "unbounded")}
    out["shown"] = counts["shown"] / draws
    out["n"] = counts["shown"]
    for key, values in widths.items():
        out[f"width_{key}"] = float(np.median(values)) if values else float("nan")
    return out


def pareto_route_table(args: argparse.Namespace, rng: np.random.Generator) -> Table:
    """A5: the mean of 20-200 heavy-tailed amounts before and after the Pareto-tail route."""
    draws = args.tails10_draws
    t = Table(
        "Mean of 20-200 skewed amounts (stats.skewed_mean_interval), coverage at 95%: "
        f"{draws} samples a row; before = the ninth session's interval, after = widened to "
        "the Pareto generalized pivot where stats.pareto_tailed says so (20+ untied positive "
        "values whose logarithms fit a shifted exponential better than a normal, and below "
        "50 fail Shapiro-Wilk); fired = share routed; no upper = share of the intervals "
        "after with no upper end; shown = share given an interval (unchanged); widths = "
        "median (high - low) / true mean",
        [
            "amounts",
            "n",
            "before",
            "s.e.",
            "after",
            "s.e. ",
            "fired",
            "no upper",
            "shown",
            "width before",
            "width after",
        ],
    )
    for label, draw, true_mean in _tails10_sources():
        for n in (20, 30, 50, 100, 200):
            c = pareto_route_coverage(draw, true_mean, n, draws, rng)
            t.add(
                label,
                n,
                c["before"],
                _mcse(c["before"], int(c["n"])),
                c["after"],
                _mcse(c["after"], int(c["n"])),
                f"{c['fired']:.3f}",
                f"{c['unbounded']:.3f}",
                f"{c['shown']:.2f}",
                f"{c['width_before']:.2f}",
                f"{c['width_after']:.2f}",
            )
    return t


def tails10_tables(args: argparse.Namespace, rng: np.random.Generator) -> list[Table]:
    """The tenth session's tables (``--tails10-only``; ``--tails10-part`` picks one)."""
    part = args.tails10_part
    tables = []
    if part in ("mean", "all"):
        tables.append(pareto_route_table(args, rng))
    if part in ("stage", "all"):
        tables.append(small_stage_table(args, rng))
    if part in ("fdr", "all"):
        tables.append(fdr_table(args))
    if part in ("rep", "all"):
        tables.append(rep_fdr_table(args))
    return tables


_FDR_QUARTERS = ("2024-10-01", "2025-01-01", "2025-04-01", "2025-07-01", "2025-10-01")


def _fdr_organisation(
    rng: np.random.Generator,
    teams: int,
    per_quarter: int,
    strength: float,
    shifted: tuple[int, ...] = (),
    shift: float = 0.0,
    clustered: bool = True,
) -> Dataset:
    """An organisation for the q-value tables: ``teams`` teams creating ``per_quarter`` deals
    in each of 2024-Q4 to 2025-Q4, in accounts of ``1 + Poisson(1.5)`` deals (``clustered``)
    or of one deal each.

    Each account has a level ``z ~ N(0, 1)`` that raises the log-odds of winning, the log
    amount and the log cycle length alike (``strength · z``): the same deals feed a team's
    win rate, deal size and cycle rows, and a team that drew strong accounts shows all three.
    Win probability ``logistic(logit 0.3 + strength · z)`` (plus ``shift`` in 2025-Q4 for the
    ``shifted`` teams), amount ``exp(9 + strength · z + N(0, 1))``, cycle ``1 + ⌊Exp(mean 45
    · exp(strength · z))⌋`` days from a creation day uniform in the quarter; deals not closed
    by 2025-12-31 are open.
    """
    ids: list[str] = []
    team: list[str] = []
    account: list[str] = []
    created: list[str] = []
    closed: list[str | None] = []
    status: list[str] = []
    amount: list[str] = []
    as_of = np.datetime64("2025-12-31")
    for t in range(teams):
        for qi, start in enumerate(_FDR_QUARTERS):
            n = per_quarter
            sizes: list[int] = []
            while sum(sizes) < n:
                sizes.append(1 + int(rng.poisson(1.5)) if clustered else 1)
            sizes[-1] -= sum(sizes) - n
            z = np.repeat(rng.normal(0, 1, len(sizes)), sizes)
            names = np.repeat([f"t{t}q{qi}a{j}" for j in range(len(sizes))], sizes)
            base = math.log(0.3 / 0.7) + (shift if (t in shifted and qi == 4) else 0.0)
            won = rng.random(n) < 1 / (1 + np.exp(-(base + strength * z)))
            size = np.exp(9 + strength * z + rng.normal(0, 1, n))
            cycle = rng.exponential(45 * np.exp(strength * z)).astype(int) + 1
            made = np.datetime64(start) + rng.integers(0, 90, n).astype("timedelta64[D]")
            shut = made + cycle.astype("timedelta64[D]")
            still_open = shut > as_of
            ids += [f"d{len(ids) + i}" for i in range(n)]
            team += [f"team{t}"] * n
            account += list(names)
            created += list(made.astype(str))
            closed += [None if o else str(d) for o, d in zip(still_open, shut, strict=True)]
            status += [
                "open" if o else ("won" if w else "lost")
                for o, w in zip(still_open, won, strict=True)
            ]
            amount += [f"{a:.2f}" for a in size]
    state = np.array(status)
    deals = pl.DataFrame(
        {
            "deal_id": ids,
            "owner": "o",
            "team": team,
            "account_id": account,
            "amount": amount,
            "created_at": created,
            "stage": np.where(
                state == "won", "Won", np.where(state == "lost", "Lost", "Prospecting")
            ),
            "status": status,
            "closed_at": closed,
        }
    )
    return _dataset(deals=deals)


def compare_fdr(
    draws: int,
    seed: int,
    strength: float,
    shifted: tuple[int, ...] = (),
    shift: float = 0.0,
    teams: int = 8,
    per_quarter: int = 80,
    clustered: bool = True,
) -> dict[str, float]:
    """The false discovery rate of ``pk.compare``'s q-values (one Benjamini-Hochberg family
    over every row of a call: 8 teams x win rate, cycle, deal size x rest of the organisation
    and own trailing quarters) on :func:`_fdr_organisation`'s organisations.

    True nulls: every row but the win-rate rows of the ``shifted`` teams and, when a team is
    shifted, every team's win rate against the rest (whose rest holds the shifted teams).
    ``bh``/``by``: the mean false discovery proportion ``V / max(R, 1)`` at q < 0.05 with
    the kit's q-values (Benjamini-Hochberg) and with Benjamini-Yekutieli's on the same
    p-values; ``any_*``: the share of calls with a false discovery; ``power_*``: the share
    of the shifted teams' win-rate rows called; ``raw``: the share of true-null rows with
    p <= 0.05 (each test's own size); ``rows``: true-null rows tested a call.
    """
    from scipy import stats as sps

    import pipeline_kit as pk

    rng = np.random.default_rng(seed)
    fdp: dict[str, list[float]] = {"bh": [], "by": []}
    power: dict[str, list[float]] = {"bh": [], "by": []}
    anyfalse = {"bh": 0, "by": 0}
    raw = tested = 0
    moved = [f"team{t}" for t in shifted]
    for _ in range(draws):
        ds = _fdr_organisation(rng, teams, per_quarter, strength, shifted, shift, clustered)
        f = pk.compare(ds, Q4, by="team", mix=None).filter(pl.col("p_value").is_not_null())
        p = f["p_value"].to_numpy()
        real = ((f["metric"] == "win_rate") & f["group"].is_in(moved)).to_numpy()
        nonnull = real.copy()
        if shifted:
            nonnull |= ((f["metric"] == "win_rate") & (f["kind"] == "rest_of_org")).to_numpy()
        raw += int(((p <= 0.05) & ~nonnull).sum())
        tested += int((~nonnull).sum())
        q = {"bh": f["q_value"].to_numpy(), "by": sps.false_discovery_control(p, method="by")}
        for method, values in q.items():
            called = values < 0.05
            false = int((called & ~nonnull).sum())
            fdp[method].append(false / max(int(called.sum()), 1))
            anyfalse[method] += false > 0
            if shifted:
                power[method].append(float((called & real).sum() / max(real.sum(), 1)))
    out: dict[str, float] = {"rows": tested / draws, "raw": raw / max(tested, 1)}
    for method in ("bh", "by"):
        values = np.array(fdp[method])
        out[method] = float(values.mean())
        out[f"se_{method}"] = float(values.std(ddof=1) / math.sqrt(draws))
        out[f"any_{method}"] = anyfalse[method] / draws
        out[f"power_{method}"] = float(np.mean(power[method])) if power[method] else math.nan
    return out


def rep_flag_fdr(
    reps: int, n_range: tuple[int, int], shared: float, icc: float, draws: int, seed: int
) -> dict[str, float]:
    """The false discovery rate of ``pk.rep_win_rates``' flag (q < 0.05, Benjamini-Hochberg
    over the reps) when every rep wins at 0.3 and reps share accounts.

    Deals come in accounts of about 2.5 sharing a rate with intraclass correlation ``icc``
    (:func:`_clustered_deals`); each account belongs to one rep, and with probability
    ``shared`` each of its deals goes to a rep drawn at random instead (reps sharing
    accounts). Every flag is false: ``bh`` is the share of organisations with a flag (the
    FDR under the global null), ``by`` the same with Benjamini-Yekutieli's q on the same
    p-values, ``raw`` the share of reps with p <= 0.05.
    """
    from scipy import stats as sps

    import pipeline_kit as pk

    rng = np.random.default_rng(seed)
    flagged = {"bh": 0, "by": 0}
    raw: list[float] = []
    for _ in range(draws):
        n = rng.integers(n_range[0], n_range[1] + 1, reps)
        won, accounts = _clustered_deals(int(n.sum()), icc, rng, 0.3)
        home = {a: int(rng.integers(reps)) for a in dict.fromkeys(accounts)}
        owner = np.array([home[a] for a in accounts])
        moved = rng.random(owner.size) < shared
        owner[moved] = rng.integers(0, reps, int(moved.sum()))
        ds = _dataset(
            deals=pl.DataFrame(
                {
                    "deal_id": [f"d{i}" for i in range(owner.size)],
                    "owner": [f"r{o:03d}" for o in owner],
                    "team": "t",
                    "account_id": accounts,
                    "amount": "1",
                    "created_at": "2025-10-01",
                    "stage": np.where(won, "Won", "Lost"),
                    "status": np.where(won, "won", "lost"),
                    "closed_at": "2025-11-01",
                }
            )
        )
        got = pk.rep_win_rates(ds, Q4)
        p = got["p_value"].to_numpy()
        ok = np.isfinite(p)
        flagged["bh"] += bool((got["q_value"].to_numpy()[ok] < 0.05).any())
        if ok.any():
            flagged["by"] += bool((sps.false_discovery_control(p[ok], method="by") < 0.05).any())
        raw.append(float((p[ok] <= 0.05).mean()) if ok.any() else 0.0)
    return {"bh": flagged["bh"] / draws, "by": flagged["by"] / draws, "raw": float(np.mean(raw))}


def fdr_table(args: argparse.Namespace) -> Table:
    """Item 3: Benjamini-Hochberg's false discovery rate when a call's rows are dependent.

    Each setting seeds its own generator, so ``--tails10-settings`` may run them apart."""
    draws = args.tails10_fdr_draws
    t = Table(
        "pk.compare's q-values (Benjamini-Hochberg over one call's rows: 8 teams x win rate, "
        "cycle, deal size x rest of the organisation and own past 4 quarters; 80 deals a "
        f"team and quarter), false discovery rate at q < 0.05; {draws} organisations a row; "
        "a level z ~ N(0, 1) of each deal (or account) moves its win odds, log amount and log "
        "cycle together by 0.7 z, so a team's rows are dependent beyond sharing their deals; "
        "BY = Benjamini-Yekutieli on the "
        "same p-values; any = share of calls with a false discovery; raw = size of each "
        "true-null test at 5%",
        [
            "setting",
            "rows",
            "BH FDR",
            "s.e.",
            "BH any",
            "BY FDR",
            "s.e. ",
            "BY any",
            "BH power",
            "BY power",
            "raw",
        ],
    )
    settings: list[tuple[str, int, float, tuple[int, ...], float, bool]] = [
        ("all teams alike, independent deals", 11, 0.0, (), 0.0, False),
        ("all teams alike, deal level moves win, size, cycle (0.7)", 12, 0.7, (), 0.0, False),
        ("as above, 2 of 8 teams win more this quarter (logit +1)", 13, 0.7, (0, 1), 1.0, False),
        ("all teams alike, account level (0.7), accounts of ~2.5", 14, 0.7, (), 0.0, True),
    ]
    chosen = [int(i) for i in args.tails10_settings.split(",")]
    for label, seed, strength, shifted, shift, clustered in [settings[i] for i in chosen]:
        c = compare_fdr(draws, seed, strength, shifted, shift, clustered=clustered)
        t.add(
            label,
            f"{c['rows']:.1f}",
            c["bh"],
            c["se_bh"],
            f"{c['any_bh']:.3f}",
            c["by"],
            c["se_by"],
            f"{c['any_by']:.3f}",
            "" if math.isnan(c["power_bh"]) else f"{c['power_bh']:.3f}",
            "" if math.isnan(c["power_by"]) else f"{c['power_by']:.3f}",
            c["raw"],
        )
    return t


def rep_fdr_table(args: argparse.Namespace) -> Table:
    """Item 3: the rep flag's false discovery rate when reps share accounts."""
    draws = args.tails10_fdr_draws
    r = Table(
        "pk.rep_win_rates' flag (q < 0.05, Benjamini-Hochberg over the reps), every rep at "
        f"0.3: false discovery rate (= share of organisations with a flag); "
        f"{args.tails10_fdr_draws * 2} organisations a row; accounts of about 2.5 deals (ICC "
        "0.3) of one rep, each deal moved to a random rep with probability 'shared'",
        ["reps", "deals a rep", "shared", "BH FDR", "s.e.", "BY FDR", "raw"],
    )
    for reps, n_range in ((8, (10, 40)), (30, (5, 40))):
        for shared in (0.5,):
            c = rep_flag_fdr(reps, n_range, shared, 0.3, draws * 2, 21 + reps)
            r.add(
                reps,
                f"{n_range[0]}-{n_range[1]}",
                shared,
                c["bh"],
                _mcse(c["bh"], draws * 2),
                c["by"],
                c["raw"],
            )
    return r


# ----------------------------------------------------------------------------- clu11
# The eleventh session: pk.compare's cycle (log-rank) and deal-size (Brunner-Munzel) tests
# when deals cluster in accounts (left open by wt-tails10: their size was 0.067 there).


def _clustered_pair(
    rng: np.random.Generator,
    n_a: int,
    n_b: int,
    strength: float,
    clustered: bool,
    shift: float = 0.0,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Two samples alike in law: deals in accounts of ``1 + Poisson(1.5)`` (or one each).

    Each account has a level ``z ~ N(0, 1)``: cycle ``1 + ⌊Exp(mean 45 · exp(strength ·
    z))⌋`` days, censored at a reading day uniform on 0-120 days after creation, and amount
    ``exp(9 + strength · z + N(0, 1))``, as :func:`_fdr_organisation`'s deals. Columns as
    ``pk.compare`` gives its row builders: ``days``, ``event``, ``amount``, ``_deal_id``,
    ``_account_id``. ``shift``: sample a's amounts times ``exp(shift)`` (a real difference,
    for the deal-size test's power).
    """
    out = []
    for side, n in (("a", n_a), ("b", n_b)):
        sizes: list[int] = []
        while sum(sizes) < n:
            sizes.append(1 + int(rng.poisson(1.5)) if clustered else 1)
        sizes[-1] -= sum(sizes) - n
        z = np.repeat(rng.normal(0, 1, len(sizes)), sizes)
        cycle = np.floor(rng.exponential(45 * np.exp(strength * z))) + 1
        reading = np.floor(rng.uniform(0, 120, n))
        out.append(
            pl.DataFrame(
                {
                    "days": np.minimum(cycle, reading),
                    "event": cycle <= reading,
                    "amount": np.exp(
                        9 + strength * z + rng.normal(0, 1, n) + (shift if side == "a" else 0.0)
                    ),
                    "_deal_id": [f"{side}{i}" for i in range(n)],
                    "_account_id": np.repeat([f"{side}a{j}" for j in range(len(sizes))], sizes),
                }
            )
        )
    return out[0], out[1]


def clustered_rank_tests(
    n_a: int, n_b: int, strength: float, clustered: bool, draws: int, seed: int, shift: float = 0.0
) -> dict[str, float]:
    """Size at 5% of compare's cycle and deal-size rows (rest-of-organisation kind) on
    :func:`_clustered_pair`'s samples: with the accounts (as now) and without them (the
    tests before, deals taken as independent), on the same draws; and the mean design
    effect of each. With ``shift`` (:func:`_clustered_pair`) the deal-size figures are power."""
    from pipeline_kit.comparisons.significance import cycle_rows, size_rows

    bench = pl.DataFrame(  # (no external benchmark: the rest-of-organisation row alone)
        schema={"metric": pl.String, "value": pl.Float64, "scope": pl.String, "source": pl.String}
    )
    rng = np.random.default_rng(seed)
    hits = {"cycle": 0, "cycle_old": 0, "size": 0, "size_old": 0}
    tested = {"cycle": 0, "size": 0}
    for _ in range(draws):
        a, b = _clustered_pair(rng, n_a, n_b, strength, clustered, shift)
        blind = [f.with_columns(pl.lit(None, pl.String).alias("_account_id")) for f in (a, b)]
        for name, build, cur, other, cur0, other0 in (
            ("cycle", cycle_rows, a, b, *blind),
            ("size", size_rows, a, b, *blind),
        ):
            (row,) = build((cur, other, None), "g", bench, 20, "")
            (old,) = build((cur0, other0, None), "g", bench, 20, "")
            if row.p_value is None or old.p_value is None:
                continue
            tested[name] += 1
            hits[name] += row.p_value <= 0.05
            hits[f"{name}_old"] += old.p_value <= 0.05
    return {k: v / max(tested[k.split("_")[0]], 1) for k, v in hits.items()} | {
        "draws": float(min(tested.values()))
    }


def clu11_tables(args: argparse.Namespace) -> list[Table]:
    """``--clu11-only``: the clustered cycle and deal-size tests' size (power with a shift)."""
    draws = args.clu11_draws
    settings = [
        (80, 560, 0.0, False),
        (80, 560, 0.7, False),
        (80, 560, 0.0, True),
        (80, 560, 0.7, True),
        (80, 560, 1.2, True),
        (80, 320, 0.7, True),
        (25, 25, 0.7, True),
        (25, 300, 0.7, True),
    ]
    chosen = [int(i) for i in args.clu11_settings.split(",")] if args.clu11_settings else None
    if args.clu11_shift:
        return [_clu11_power(args, settings, chosen)]
    t = Table(
        "pk.compare's cycle (log-rank) and deal-size (Brunner-Munzel) rows against the rest, "
        "samples alike in law: size at 5% with the accounts (now) and without them (before); "
        f"{draws} pairs a row; accounts of 1 + Poisson(1.5) deals whose level z ~ N(0, 1) "
        "moves log cycle and log amount by strength x z",
        ["deals", "accounts", "strength", "cycle now", "cycle before", "size now", "size before"],
    )
    for i, (n_a, n_b, strength, clustered) in enumerate(settings):
        if chosen is not None and i not in chosen:
            continue
        c = clustered_rank_tests(n_a, n_b, strength, clustered, draws, 110 + i)
        t.add(
            f"{n_a} vs {n_b}",
            "~2.5" if clustered else "1",
            strength,
            c["cycle"],
            c["cycle_old"],
            c["size"],
            c["size_old"],
        )
    return [t]


def _clu11_power(
    args: argparse.Namespace, settings: list[tuple[int, int, float, bool]], chosen: list[int] | None
) -> Table:
    """``--clu11-shift X``: the deal-size test's power, sample a's amounts times exp(X)."""
    t = Table(
        f"pk.compare's deal-size row, sample a's amounts times exp({args.clu11_shift}): share "
        f"of pairs called different at 5%; {args.clu11_draws} pairs a row (seed 500)",
        ["deals", "accounts", "strength", "with accounts", "deals as independent"],
    )
    for i, (n_a, n_b, strength, clustered) in enumerate(settings):
        if chosen is not None and i not in chosen:
            continue
        c = clustered_rank_tests(
            n_a, n_b, strength, clustered, args.clu11_draws, 500, args.clu11_shift
        )
        t.add(f"{n_a} vs {n_b}", "~2.5" if clustered else "1", strength, c["size"], c["size_old"])
    return t


if __name__ == "__main__":
    sys.exit(main())
