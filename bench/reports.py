"""A 20-team report batch against 20 bare kernel start-ups, and the HTML size per report.

Run: ``make bench-reports`` (or ``python bench/reports.py``). Not part of ``make test``. The
baseline starts and stops 20 bare Python kernels with the same parallelism, which is the least
any one-notebook-per-team tool must pay. Targets: batch <= 2x the baseline; HTML <= 2 MB.

Each run prints wall seconds, CPU seconds (this process and every process it started and
waited for: workers, kernels) and the 1-minute load average at its start; on a loaded machine
the CPU ratio is the steadier reading.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl
from jupyter_client.manager import start_new_kernel

import pipeline_kit as pk


def bare_kernel() -> None:
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        client.execute_interactive("1 + 1", timeout=60)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its waited-for descendants."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=20)
    parser.add_argument("--deals", type=int, default=20_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3, help="baseline + batch pairs (median)")
    parser.add_argument("--static-charts", action="store_true", help="SVG charts (vl-convert)")
    args = parser.parse_args(argv)
    # Imported here, not at the top: the spawned report workers re-import this script as their
    # main module, and pipeline_kit.reports would cost each of them a second of imports.
    from pipeline_kit.reports import _kernel_env, run_reports

    _kernel_env()
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        tables = pk.synthetic.generate(args.deals, seed=11)
        relabel = pl.format(
            "Team {}", (pl.col("owner").rank("dense") % args.teams).cast(pl.Int64) + 1
        )
        tables["deals"] = tables["deals"].with_columns(relabel.alias("team"))
        for name, frame in tables.items():
            frame.write_parquet(data / f"{name}.parquet")

        pairs = []
        cpu_ratios: list[float] = []
        for run in range(args.repeat):
            load = os.getloadavg()[0]
            start, cpu = time.perf_counter(), cpu_seconds()
            with ThreadPoolExecutor(args.jobs) as pool:
                list(pool.map(lambda _: bare_kernel(), range(args.teams)))
            baseline = time.perf_counter() - start
            baseline_cpu = cpu_seconds() - cpu

            out = Path(tmp) / f"reports-{run}"
            start, cpu = time.perf_counter(), cpu_seconds()
            results = run_reports(
                data,
                "2025-Q4",
                out,
                progress=False,
                jobs=args.jobs,
                org_summary=False,
                static_charts=args.static_charts,
            )
            batch = time.perf_counter() - start
            batch_cpu = cpu_seconds() - cpu
            ok = ok and all(r.ok for r in results)
            sizes = sorted(p.stat().st_size for p in out.glob("*.html") if p.name != "index.html")
            pairs.append((batch / baseline, baseline, batch))
            cpu_ratios.append(batch_cpu / baseline_cpu)
            print(
                f"run {run + 1} (load average {load:.2f}): {args.teams} bare kernel start-ups "
                f"{baseline:5.1f} s ({baseline_cpu:5.1f} s CPU); report batch "
                f"({sum(r.ok for r in results)} ok) {batch:5.1f} s ({batch_cpu:5.1f} s CPU); "
                f"ratio {batch / baseline:.2f}x wall, {batch_cpu / baseline_cpu:.2f}x CPU",
                flush=True,
            )
    ratio, baseline, batch = sorted(pairs)[len(pairs) // 2]
    cpu_ratio = sorted(cpu_ratios)[len(cpu_ratios) // 2]
    charts = "static SVG charts" if args.static_charts else "interactive charts"
    print(f"{args.teams} teams, {args.deals:,} deals, {args.jobs} parallel jobs, {charts}")
    print(
        f"median run: baseline {baseline:.1f} s, batch {batch:.1f} s, ratio {ratio:.2f}x "
        f"(target <= 2x); median CPU ratio {cpu_ratio:.2f}x"
    )
    print(
        f"HTML per report: min {sizes[0] / 1e6:.2f} MB, max {sizes[-1] / 1e6:.2f} MB "
        "(target <= 2 MB)"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
