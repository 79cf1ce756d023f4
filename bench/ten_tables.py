"""A full ten-table export: load + win rate, open pipeline and deal flow by team, vs DuckDB SQL.

Run: ``python bench/ten_tables.py --deals 1000000 --rounds 5`` (not part of ``make test``).
The sample generator writes every table of an export (deals, stage_history, stages, leads,
activities, collateral_usage, marketing_spend, customers, targets) as Parquet, once, in
``bench/out/ten_tables_<n>/``. Then interleaved rounds, each engine once a round in a fresh
process (modules imported before the clock):

* ``pipeline_kit``: ``pk.load`` of the folder, then ``win_rate``, ``open_pipeline`` and
  ``deal_flow`` by team (the tables these do not read are validated on first use, so here
  not at all; ``ds.counts`` would validate them);
* ``pipeline_kit cached``: the same through the on-disk cache of validated datasets;
* ``duckdb``: the same figures as SQL over the Parquet files (the statements of
  ``bench/engines.py``).

Prints wall and CPU seconds (median, min and max over the rounds) and the ratios to DuckDB
within each round; the figures of the three engines are compared (relative tolerance 1e-9).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
import engines  # the SQL, the agreement check and the formatting

OUT = engines.OUT
CACHE = OUT / "validated_cache_ten_tables"
NAMES = ("deal_flow", "open_pipeline")
ENGINES = ("pipeline_kit", "pipeline_kit cached", "duckdb")


def prepare(n_deals: int, seed: int = 1) -> Path:
    """Write (once) every table of a generated export of ``n_deals`` deals as Parquet."""
    import pipeline_kit as pk

    folder = OUT / f"ten_tables_{n_deals}"
    if not (folder / ".complete").exists():
        pk.synthetic.write(folder, n_deals, seed, fmt="parquet")
        (folder / ".complete").touch()
    return folder


def run_kit(folder: Path, cached: bool) -> dict[str, pl.DataFrame]:
    """``pk.load`` (through the cache when ``cached``) and the three figures by team."""
    import pipeline_kit as pk

    ds = pk.load(folder, cache_dir=CACHE) if cached else pk.load(folder)
    q = pk.Period.parse(f"{engines.PERIOD[0]}..{engines.PERIOD[1]}")
    flow = pk.deal_flow(ds, q, by="team").join(
        pk.win_rate(ds, q, by="team").select("team", "win_rate"), on="team", how="left"
    )
    return {"deal_flow": flow, "open_pipeline": pk.open_pipeline(ds, engines.AS_OF, by="team")}


def run_duckdb(folder: Path) -> dict[str, pl.DataFrame]:
    """The same figures as DuckDB SQL over the Parquet files."""
    period = tuple(dt.date.fromisoformat(x) for x in engines.PERIOD)
    as_of = dt.date.fromisoformat(engines.AS_OF)
    return engines.run_duckdb(folder, period, as_of, NAMES)["frames"]


def _child(engine: str, folder: Path, result_dir: Path) -> None:
    modules = {"duckdb": ["duckdb", "pyarrow"]}.get(
        engine, ["pipeline_kit", "pipeline_kit.cache", "pipeline_kit.metrics", "scipy.stats"]
    )
    for module in modules:
        importlib.import_module(module)
    wall, cpu = time.perf_counter(), time.process_time()
    if engine == "duckdb":
        frames = run_duckdb(folder)
    else:
        frames = run_kit(folder, cached=engine == "pipeline_kit cached")
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    for name, frame in frames.items():
        frame.write_parquet(result_dir / f"{name}.parquet")
    summary = {"seconds": wall, "cpu_seconds": cpu, "peak_mb": engines._peak_mb()}
    (result_dir / "summary.json").write_text(json.dumps(summary))


def _run(engine: str, folder: Path, result_dir: Path) -> dict:
    result_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--child", engine, str(folder), str(result_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{engine}: {(proc.stderr or proc.stdout).strip()[-500:]}")
    return json.loads((result_dir / "summary.json").read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return 0
    folder = prepare(args.deals)
    runs: dict[str, list[dict]] = {e: [] for e in ENGINES}
    loads = []
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        _run("pipeline_kit cached", folder, Path(tmp) / "warmup")  # writes the cache entry
        for r in range(args.rounds):
            loads.append(os.getloadavg()[0])
            order = ENGINES[r % 3 :] + ENGINES[: r % 3]
            for engine in order:
                runs[engine].append(
                    _run(engine, folder, Path(tmp) / f"r{r}" / engine.replace(" ", "_"))
                )
        first = Path(tmp) / "r0"
        problems = {
            e: engines.disagreements(first / "pipeline_kit", first / e.replace(" ", "_"), NAMES)
            for e in ENGINES[1:]
        }
    lines = [
        f"{args.deals:,} deals, ten-table export; {args.rounds} interleaved rounds; load "
        f"average (1 min) at the start of the rounds: {engines._spread(loads)}.",
        "",
        "| engine | wall s | CPU s | peak RSS MB | agrees with pipeline_kit |",
        "|---|---:|---:|---:|---|",
    ]
    for engine, results in runs.items():
        agree = "(reference)" if engine == "pipeline_kit" else "yes"
        if problems.get(engine):
            agree = "NO: " + "; ".join(problems[engine])
        lines.append(
            f"| {engine} | {engines._spread([r['seconds'] for r in results])} "
            f"| {engines._spread([r['cpu_seconds'] for r in results])} "
            f"| {statistics.median(r['peak_mb'] for r in results):,.0f} | {agree} |"
        )
    lines += ["", "| ratio, within each round | wall | CPU |", "|---|---:|---:|"]
    for engine in ENGINES[:2]:
        wall = [
            a["seconds"] / b["seconds"] for a, b in zip(runs[engine], runs["duckdb"], strict=True)
        ]
        cpu = [
            a["cpu_seconds"] / b["cpu_seconds"]
            for a, b in zip(runs[engine], runs["duckdb"], strict=True)
        ]
        lines.append(f"| {engine} / duckdb | {engines._spread(wall)}x | {engines._spread(cpu)}x |")
    print("\n".join(lines))
    return 1 if any(problems.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
