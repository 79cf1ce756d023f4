"""How often do the kit's 95% intervals contain the truth? A simulation, not a unit test.

Run: ``make bench-coverage`` (or ``python bench/coverage.py``). Prints, for a grid of true
values and sample sizes, the share of simulated samples whose 95% interval contains the true
value, for

* the Wilson interval of a win rate (``pipeline_kit.stats.wilson_interval``), next to the
  textbook Wald interval as a named baseline;
* the Kaplan-Meier median and its interval (``pipeline_kit.stats.kaplan_meier_median``) on
  exponential cycle lengths with random (uniform) censoring;
* the average won deal size (``pipeline_kit.stats.skewed_mean_interval``, as
  ``pk.won_deal_size`` uses it) on log-normal amounts (sigma 1 and 1.5) and on amounts
  resampled from the bundled sample's won deals, next to the Student-t interval as the named
  baseline.

Nominal coverage is 0.95; a well-behaved interval stays within about 0.93-0.97.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
from scipy import stats

from pipeline_kit.stats import kaplan_meier_median, skewed_mean_interval, wilson_interval


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
        kit += low is not None and low <= true_mean <= high
        half = t * x.std(ddof=1) / math.sqrt(n)
        student += x.mean() - half <= true_mean <= x.mean() + half
    return kit / draws, student / draws


def rep_coverage(
    spread: float, reps: int, n_range: tuple[int, int], draws: int, rng: np.random.Generator
) -> float:
    """Coverage of the shrunk rep win-rate intervals (``pk.rep_win_rates``) of each rep's true
    rate, when true rates spread around 0.33 with standard deviation ``spread``."""
    import pipeline_kit as pk
    from pipeline_kit.adapters.base import RawDataset, RawTable
    from pipeline_kit.loading import validate_raw

    hits = total = 0
    for _ in range(draws):
        if spread:
            concentration = 0.33 * 0.67 / spread**2 - 1
            truth = rng.beta(0.33 * concentration, 0.67 * concentration, reps)
        else:
            truth = np.full(reps, 0.33)
        n = rng.integers(n_range[0], n_range[1] + 1, reps)
        won = rng.binomial(n, truth)
        owners = np.repeat([f"r{i}" for i in range(reps)], n)
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
        true = dict(zip([f"r{i}" for i in range(reps)], truth, strict=True))
        for r in rates.iter_rows(named=True):
            hits += r["ci_low"] <= true[r["owner"]] <= r["ci_high"]
            total += 1
    return hits / total


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=4000, help="samples per rate cell")
    parser.add_argument("--km-draws", type=int, default=1000, help="samples per KM cell")
    parser.add_argument("--mean-draws", type=int, default=1000, help="samples per mean cell")
    parser.add_argument("--rep-draws", type=int, default=200, help="samples per rep cell")
    parser.add_argument("--seed", type=int, default=20251231)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
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
    import pipeline_kit as pk

    won = pk.load(Path(__file__).resolve().parent.parent / "data" / "sample").deals
    population = won.filter(pl.col("status") == "won")["amount"].to_numpy()
    sources = [
        (
            f"log-normal sigma {sigma}",
            (lambda r, n, s=sigma: r.lognormal(0, s, n)),
            math.exp(sigma**2 / 2),
        )
        for sigma in (1.0, 1.5)
    ] + [("sample won amounts", (lambda r, n: r.choice(population, n)), population.mean())]
    for label, draw, true_mean in sources:
        for n in (20, 50, 200):
            kit, student = mean_coverage(draw, true_mean, n, args.mean_draws, rng)
            print(f"{label:>22} {n:>5} {kit:>7.3f} {student:>10.3f}")
    print("\nShrunk rep win rates, 95% posterior intervals: coverage of each rep's true rate")
    print(f"{'spread':>7} {'reps':>5} {'deals/rep':>10} {'coverage':>9}")
    for spread in (0.0, 0.02, 0.05, 0.1):
        for reps, n_range in ((6, (5, 30)), (30, (5, 40))):
            cov = rep_coverage(spread, reps, n_range, args.rep_draws, rng)
            print(f"{spread:>7.2f} {reps:>5} {f'{n_range[0]}-{n_range[1]}':>10} {cov:>9.3f}")
    print(f"\n({time.perf_counter() - start:.1f} s, seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
