"""The pushdown prototype at 10M and 50M deals: DuckDB against the in-memory path.

Run: ``make bench-pushdown-scale`` (``python bench/pushdown_scale.py --deals 10000000 50000000
--rounds 2 --results``); not part of the tests. The deals are generated *inside DuckDB* by one
SQL statement (hashes of the row number: deterministic, no deal ever in Python), stored as a
DuckDB table (``bench/out/pushdown_<n>/db/deals.duckdb``) and copied by DuckDB to Parquet
(``bench/out/pushdown_<n>/export/deals.parquet``, beside the kit's sample ``stages``), so that
generating 50M deals needs no 50M-row frame in polars. Every deal is valid (``pk.load``
quarantines none): team, owner, amount, created 2022-2025, 30% won, 55% lost, 15% open,
closed 1-180 days after creation.

Each run is a fresh process (its peak RSS, ``VmHWM``, is its own; CPU is every thread of it),
in interleaved rounds, the order rotating from round to round; the figures are the deal flow,
the win rate with its Wilson interval and the won total by team for 2025-Q4:

* ``pk.load + pk metrics`` (the in-memory path): ``pk.load`` of the Parquet folder (parse,
  validate, derive the minimal stage history), then ``pk.deal_flow``, ``pk.win_rate`` and
  ``pk.won_deal_size``; run up to ``--in-memory-up-to`` deals (default 10M: see RESULTS.md
  for why not 50M);
* ``prototype, DuckDB database``: :func:`pipeline_kit.pushdown.flow_metrics` over
  ``con.table("deals")`` of the DuckDB file (the warehouse case);
* ``prototype, DuckDB on Parquet``: the same over ``con.read_parquet(deals.parquet)``;
* ``prototype, polars scan``: the same over ``pl.scan_parquet(deals.parquet)``.

Every run's figures are compared with the in-memory path's where it ran, else with the DuckDB
database run's (counts exactly, amounts and intervals to 1e-9); the bench fails if any differs.
``--results`` writes the tables into bench/RESULTS.md between the ``pushdown-scale`` markers.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from engines import OUT, RESULTS, _machine, _peak_mb
from pushdown import _agrees, _run

PERIOD = "2025-Q4"
IN_MEMORY = "pk.load + pk metrics"
RUNS = (
    IN_MEMORY,
    "prototype, DuckDB database",
    "prototype, DuckDB on Parquet",
    "prototype, polars scan",
)
START, END = "<!-- pushdown-scale: start -->", "<!-- pushdown-scale: end -->"
MEMORY_LIMIT = "4GB"  # DuckDB's, while generating

# One statement, run by DuckDB: the row number's hashes give each deal its values.
GENERATE = """
CREATE TABLE deals AS
WITH r AS (
    SELECT i, hash(4 * i) AS h0, hash(4 * i + 1) AS h1, hash(4 * i + 2) AS h2,
           hash(4 * i + 3) AS h3
    FROM range({n}) t(i)
), d AS (
    SELECT i, h0 % 2000 AS rep,
           DATE '2022-01-01' + CAST(h1 % 1461 AS INTEGER) AS created_at,
           CASE WHEN h2 % 100 < 30 THEN 'won' WHEN h2 % 100 < 85 THEN 'lost' ELSE 'open' END
               AS status,
           CAST(1 + h3 % 180 AS INTEGER) AS cycle,
           CAST(500 + (h3 // 180) % 200000 AS DOUBLE) AS amount
    FROM r
)
SELECT 'D' || lpad(CAST(i + 1 AS VARCHAR), 9, '0') AS deal_id,
       'Rep ' || rep AS owner,
       ['EMEA', 'Enterprise', 'Mid-Market', 'Partners', 'SMB'][1 + CAST(rep % 5 AS INTEGER)]
           AS team,
       amount,
       created_at,
       CASE status WHEN 'won' THEN 'Closed Won' WHEN 'lost' THEN 'Closed Lost'
            ELSE ['Prospecting', 'Qualification', 'Discovery', 'Proposal',
                  'Negotiation'][1 + CAST(i % 5 AS INTEGER)] END AS stage,
       status,
       CASE WHEN status = 'open' THEN NULL ELSE created_at + cycle END AS closed_at
FROM d
"""


def prepare(n_deals: int) -> Path:
    """Generate (once) ``bench/out/pushdown_<n>/``: ``db/deals.duckdb`` and ``export/``."""
    import duckdb

    import pipeline_kit as pk

    folder = OUT / f"pushdown_{n_deals}"
    if (folder / ".complete").exists():
        return folder
    (folder / "db").mkdir(parents=True, exist_ok=True)
    (folder / "export").mkdir(exist_ok=True)
    start = time.perf_counter()
    database = folder / "db" / "deals.duckdb"
    database.unlink(missing_ok=True)
    con = duckdb.connect(str(database))
    # bounded, spilling to the data's folder: generating 50M deals must not take the machine
    con.sql(f"SET memory_limit = '{MEMORY_LIMIT}'")
    con.sql(f"SET temp_directory = '{folder / 'db' / 'spill'}'")
    con.sql(GENERATE.format(n=int(n_deals)))
    con.sql(f"COPY deals TO '{folder / 'export' / 'deals.parquet'}' (FORMAT parquet)")
    con.close()
    pk.synthetic.generate(100, seed=1)["stages"].write_parquet(folder / "export" / "stages.parquet")
    (folder / ".complete").write_text(f"{time.perf_counter() - start:.1f} s\n")
    return folder


def _run_child(run: str, folder: Path, out: Path) -> None:
    import duckdb
    import narwhals.stable.v2
    import scipy.stats

    import pipeline_kit as pk
    import pipeline_kit.metrics
    from pipeline_kit.pushdown import flow_metrics

    del narwhals, pipeline_kit, scipy  # imported here so that the imports are not timed
    info: dict = {}
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime
    start = time.perf_counter()
    parquet = folder / "export" / "deals.parquet"
    if run == IN_MEMORY:
        ds = pk.load(folder / "export")
        info["load_seconds"] = time.perf_counter() - start
        info["quarantined"] = int(ds.quarantine.height)
        flow = pk.deal_flow(ds, PERIOD, by="team")
        rate = pk.win_rate(ds, PERIOD, by="team")
        size = pk.won_deal_size(ds, PERIOD, by="team")
        frame = (
            flow.join(rate.select("team", "n", "win_rate", "ci_low", "ci_high"), on="team")
            .join(size.select("team", pl.col("total").alias("won_amount")), on="team", how="left")
            .with_columns(pl.col("won_amount").fill_null(0.0))
        )
    elif run == "prototype, polars scan":
        frame = flow_metrics(pl.scan_parquet(parquet), PERIOD, by="team")
    else:
        if run == "prototype, DuckDB database":
            con = duckdb.connect(str(folder / "db" / "deals.duckdb"), read_only=True)
            rel = con.table("deals")
        else:
            con = duckdb.connect()
            rel = con.read_parquet(str(parquet))
        frame = flow_metrics(rel, PERIOD, by="team")
        con.close()
    info["seconds"] = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    info["cpu_seconds"] = usage.ru_utime + usage.ru_stime - cpu
    info["peak_mb"] = _peak_mb()
    frame.sort("team").write_parquet(out / "figures.parquet")
    (out / "summary.json").write_text(json.dumps(info))


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):,.2f} ({min(values):,.2f}-{max(values):,.2f})"


def measure(n: int, rounds: int, in_memory: bool) -> tuple[list[str], bool]:
    """The table of one size; whether every run agreed."""
    print(f"\n== {n:,} deals: preparing data", flush=True)
    folder = prepare(n)
    generated = (folder / ".complete").read_text().strip()
    runs = [r for r in RUNS if in_memory or r != IN_MEMORY]
    reference = IN_MEMORY if in_memory else "prototype, DuckDB database"
    results: dict[str, list[dict]] = {r: [] for r in runs}
    loads: list[float] = []
    verdicts: dict[str, str] = {}
    ok = True
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        for round_ in range(rounds):
            loads.append(os.getloadavg()[0])
            shift = round_ % len(runs)
            for run in runs[shift:] + runs[:shift]:
                out = Path(tmp) / f"{round_}-{RUNS.index(run)}"
                print(f"  round {round_ + 1}: {run} ...", flush=True)
                result = _run(run, folder, out, script=__file__)
                results[run].append(result)
                if "error" in result:
                    print(f"    failed: {result['error']}", flush=True)
                    ok = False
            ref = Path(tmp) / f"{round_}-{RUNS.index(reference)}"
            for run in runs:
                if run == reference or "error" in results[run][-1]:
                    continue
                if "error" in results[reference][-1]:
                    verdicts[run] = "n/a (reference failed)"
                    continue
                verdict = _agrees(ref, Path(tmp) / f"{round_}-{RUNS.index(run)}")
                if verdicts.get(run, "yes") == "yes":
                    verdicts[run] = verdict
                ok &= verdict == "yes"
    lines = [
        f"### {n:,} deals",
        "",
        f"Generated inside DuckDB ({generated}, once). {rounds} interleaved rounds; median "
        f"(min-max). Load average (1 min) at the start of the rounds: "
        f"{', '.join(f'{x:.2f}' for x in loads)}.",
        "",
        f"| run | wall s | CPU s | peak RSS MB | agrees with {reference} |",
        "|---|---:|---:|---:|---|",
    ]
    for run in runs:
        done = [r for r in results[run] if "error" not in r]
        if not done:
            lines.append(f"| {run} | failed: {results[run][-1]['error']} | | | |")
            continue
        label = run
        if run == IN_MEMORY:
            label += f" (of which `pk.load` {_median([r['load_seconds'] for r in done])} s)"
        verdict = "(reference)" if run == reference else verdicts.get(run, "n/a")
        lines.append(
            f"| {label} | {_median([r['seconds'] for r in done])} | "
            f"{_median([r['cpu_seconds'] for r in done])} | "
            f"{max(r['peak_mb'] for r in done):,.0f} | {verdict} |"
        )
    if in_memory and all("error" not in r for r in results[IN_MEMORY]):
        lines += ["", "| ratio, within each round | wall | CPU |", "|---|---:|---:|"]
        for run in runs[1:]:
            pairs = [
                (a, b)
                for a, b in zip(results[IN_MEMORY], results[run], strict=True)
                if "error" not in b
            ]
            if pairs:
                wall = [a["seconds"] / b["seconds"] for a, b in pairs]
                cpu = [a["cpu_seconds"] / b["cpu_seconds"] for a, b in pairs]
                lines.append(f"| in-memory path / {run} | {_median(wall)}x | {_median(cpu)}x |")
    lines.append("")
    print("\n".join(lines), flush=True)
    return lines, ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, nargs="+", default=[10_000_000, 50_000_000])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--in-memory-up-to",
        type=int,
        default=10_000_000,
        help="run the in-memory path (pk.load) only up to this many deals",
    )
    parser.add_argument("--results", action="store_true", help="write into bench/RESULTS.md")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _run_child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return 0
    OUT.mkdir(exist_ok=True)
    lines = [f"Machine: {_machine()}", ""]
    ok = True
    for n in args.deals:
        table, agreed = measure(n, args.rounds, n <= args.in_memory_up_to)
        lines += table
        ok &= agreed
    if args.results:
        _write_results(lines, args)
    return 0 if ok else 1


def _write_results(lines: list[str], args: argparse.Namespace) -> None:
    text = RESULTS.read_text()
    command = (
        f"python bench/pushdown_scale.py --deals {' '.join(map(str, args.deals))} "
        f"--rounds {args.rounds} --in-memory-up-to {args.in_memory_up_to} --results"
    )
    section = "\n".join([START, "", f"`{command}`, run on {dt.date.today()}:", "", *lines, END])
    if START in text:
        head, _, rest = text.partition(START)
        text = head + section + rest.partition(END)[2]
    else:  # after the pushdown section, before the engines table
        head, sep, rest = text.partition("<!-- pushdown: end -->")
        text = head + sep + "\n\n" + section + rest if sep else text + "\n" + section + "\n"
    RESULTS.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
