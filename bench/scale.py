"""Scale check of the foundation: generate, load + validate, and compute the first metrics.

Run: ``make bench-scale`` (or ``python bench/scale.py --deals 1000000``). Not part of
``make test``. Writes Parquet to ``bench/out/`` and prints a table of wall times and peak
memory beside two baselines measured in the same run:

* *scan floor*: reading every column of every table once (``pl.read_parquet``), the least
  any analysis of these files can cost;
* *naive loader*: ``pl.read_parquet`` plus the type casts only, no validation, to show
  what validation itself costs.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import polars as pl

import pipeline_kit as pk

OUT = Path(__file__).resolve().parent / "out"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(label: str, fn, rows: list) -> object:
    start = time.perf_counter()
    result = fn()
    rows.append((label, time.perf_counter() - start, _peak_mb()))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    folder = OUT / f"deals_{args.deals}"
    rows: list[tuple[str, float, float]] = []
    _timed(
        "generate + write parquet",
        lambda: pk.synthetic.write(folder, args.deals, args.seed, fmt="parquet"),
        rows,
    )
    sizes = {
        p.stem: pl.scan_parquet(p).select(pl.len()).collect().item()
        for p in folder.glob("*.parquet")
    }
    _timed(
        "baseline: scan floor (read all)",
        lambda: [pl.read_parquet(p) for p in folder.glob("*.parquet")],
        rows,
    )
    ds = _timed("pipeline_kit.load (validate all)", lambda: pk.load(folder), rows)
    _timed("win_rate by team (one quarter)", lambda: pk.win_rate(ds, "2025-Q4", by="team"), rows)
    _timed(
        "open_pipeline by team (as of)", lambda: pk.open_pipeline(ds, "2025-06-30", by="team"), rows
    )
    _timed(
        "metrics_long, all metrics by team", lambda: pk.metrics_long(ds, "2025-Q4", by="team"), rows
    )
    specs = {
        "pipeline_by_stage": pk.charts.pipeline_by_stage(pk.open_pipeline(ds, "2025-06-30")),
        "win_rate_by_group": pk.charts.win_rate_by_group(
            pk.win_rate(ds, "2025-Q4", by="team"), "team"
        ),
        "deal_size_chart": pk.charts.deal_size_chart(pk.deal_size_distribution(ds, "2025-Q4")),
    }
    print(
        "chart spec sizes (bytes of JSON): "
        + ", ".join(f"{k}={len(json.dumps(v.to_dict())):,}" for k, v in specs.items())
    )
    print(
        f"\n{args.deals:,} deals; rows per table: "
        + ", ".join(f"{k}={v:,}" for k, v in sorted(sizes.items()))
    )
    print(f"{'step':<40} {'seconds':>9} {'peak RSS MB':>12}")
    for label, seconds, peak in rows:
        print(f"{label:<40} {seconds:>9.2f} {peak:>12,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
