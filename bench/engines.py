"""pipeline_kit against pandas, DuckDB and the scan floor on the same Parquet files.

Run: ``make bench`` (or ``python bench/engines.py --deals 1000000 10000000 --rounds 5``). Not
part of ``make test``; pandas and DuckDB come from the ``bench`` extra.

For each size the script generates ``deals``, ``stages`` and ``stage_history`` with the
sample generator (in chunks of at most 1M deals, streamed into one Parquet file per table,
cached in ``bench/out/``), then runs interleaved rounds: in each round every engine once, in
a rotating order, each in a fresh process (its modules imported before the clock) so that
each peak-memory figure is that engine's alone:

* ``scan floor``: ``pl.read_parquet`` of every column of the three files, nothing else;
* ``pipeline_kit``: ``pk.load`` (the adapter's read, then parse + every validation rule +
  quarantine) and the suite through the public API;
* ``pipeline_kit cached``: ``pk.load(..., cache_dir=...)`` of the unchanged export (the
  validated tables read back from the on-disk cache) and the suite;
* ``duckdb``: one SQL statement per metric straight over the Parquet files;
* ``pandas``: the needed columns read with typed dates, then idiomatic pandas.

DuckDB and pandas take the shortcuts pipeline_kit takes: the open pipeline reads the history
of the deals open on the date only, stage conversion the history of the deals with a change
in the period only.

The suite, for one quarter by team: deals created / won / lost, win rate, won deal size
(n, mean, median, sd, total), cycle length of closed deals (n, mean, median, sd), stage
conversion of the quarter's stage cohorts (entered, advanced, dropped), and the open
pipeline per team and stage as of an explicit date. The script checks that the engines
agree on every figure (relative tolerance 1e-9), and prints wall and CPU seconds (median,
min and max over the rounds; load, validation and suite apart), peak RSS, the ratios within
each round against the targets, and the machine's load average; ``--results`` rewrites the
tables in ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

OUT = Path(__file__).resolve().parent / "out"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TABLES = ("deals", "stages", "stage_history")
CHUNK = 1_000_000
PERIOD = ("2025-10-01", "2025-12-31")  # 2025-Q4
AS_OF = "2025-12-31"
ENGINES = ("scan floor", "pipeline_kit", "pipeline_kit cached", "duckdb", "pandas")
CACHE = OUT / "validated_cache"  # the cached engine's entries (pk.load(..., cache_dir=CACHE))
# the figures each engine must produce, keyed by (table, key columns)
KEYS = {
    "deal_flow": ["team"],
    "won_deal_size": ["team"],
    "cycle_length": ["team"],
    "stage_conversion": ["team", "stage"],
    "open_pipeline": ["team", "stage"],
}


# ---------------------------------------------------------------------------------- data


def prepare(n_deals: int, seed: int = 1) -> Path:
    """Write (once) ``bench/out/engines_<n>/{deals,stages,stage_history}.parquet``."""
    import pipeline_kit as pk

    folder = OUT / f"engines_{n_deals}"
    done = folder / ".complete"
    if done.exists():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        parts: dict[str, list[Path]] = {t: [] for t in TABLES}
        for i, start in enumerate(range(0, n_deals, CHUNK)):
            size = min(CHUNK, n_deals - start)
            tables = pk.synthetic.generate(size, seed + i)
            # ids unique across chunks: D + 9 digits, offset by the chunk's start
            new_id = (pl.col("deal_id").str.slice(1).cast(pl.Int64) + start).cast(pl.String)
            for name in TABLES:
                frame = tables[name]
                if "deal_id" in frame.columns:
                    frame = frame.with_columns(("D" + new_id.str.zfill(9)).alias("deal_id"))
                elif i > 0:
                    continue  # stages: the same in every chunk
                path = Path(tmp) / f"{name}_{i:03d}.parquet"
                frame.write_parquet(path)
                parts[name].append(path)
            del tables
            print(f"  generated {start + size:,} / {n_deals:,} deals", flush=True)
        for name in TABLES:
            pl.scan_parquet(parts[name]).sink_parquet(folder / f"{name}.parquet")
    done.touch()
    return folder


# ------------------------------------------------------------------------------- engines


class _Clock:
    """Wall and CPU seconds (every thread of the process) of the phases of one run."""

    def __init__(self) -> None:
        self.phases: dict[str, list[float]] = {}
        self._wall, self._cpu = time.perf_counter(), time.process_time()

    def lap(self, phase: str) -> None:
        """Close ``phase``: the time since the previous lap (or the start)."""
        wall, cpu = time.perf_counter(), time.process_time()
        self.phases[phase] = [wall - self._wall, cpu - self._cpu]
        self._wall, self._cpu = wall, cpu


def stored_mb(frame: pl.DataFrame) -> float:
    """MB the frame's buffers hold in polars, string views included.

    ``DataFrame.estimated_size`` counts a String column as its characters only; polars keeps
    each string as a 16-byte view (strings of up to 12 bytes inside it) plus, for longer
    strings, their bytes in a data buffer. For the engines' data this is 1.8x the estimate,
    and it is what reading the files costs in resident memory (the scan floor's rise).
    """
    size = 0
    for column in frame.columns:
        s = frame[column]
        if s.dtype == pl.String:
            lengths = s.str.len_bytes()
            size += 16 * s.len() + int(lengths.filter(lengths > 12).sum() or 0)
            size += (s.len() + 7) // 8 if s.null_count() else 0
        else:
            size += s.estimated_size()
    return size / 2**20


def run_scan_floor(folder: Path, period: tuple[dt.date, dt.date], as_of: dt.date) -> dict:
    """Read every column of the three files once: the least any engine can do."""
    clock = _Clock()
    before = _resident_mb()
    frames = {t: pl.read_parquet(folder / f"{t}.parquet") for t in TABLES}
    clock.lap("load")
    return {
        "input_mb": sum(f.estimated_size("mb") for f in frames.values()),
        "stored_mb": sum(stored_mb(f) for f in frames.values()),
        "read_rss_mb": _resident_mb() - before,
        "rows": {t: f.height for t, f in frames.items()},
        "phases": clock.phases,
    }


def _kit_suite(ds, period: tuple[dt.date, dt.date], as_of: dt.date) -> dict[str, pl.DataFrame]:
    import pipeline_kit as pk

    q = pk.Period.parse(f"{period[0]}..{period[1]}")
    flow = pk.deal_flow(ds, q, by="team").join(
        pk.win_rate(ds, q, by="team").select("team", "win_rate"), on="team", how="left"
    )
    return {
        "deal_flow": flow,
        "won_deal_size": pk.won_deal_size(ds, q, by="team"),
        "cycle_length": pk.cycle_length(ds, q, by="team"),
        "stage_conversion": pk.stage_conversion(ds, q, by="team", as_of=as_of),
        "open_pipeline": pk.open_pipeline(ds, as_of, by="team"),
    }


def run_pipeline_kit(folder: Path, period: tuple[dt.date, dt.date], as_of: dt.date) -> dict:
    """``pk.load`` (validated) + the suite through the public API.

    ``pk.load(folder)`` is its two halves here, to time them apart: the canonical adapter
    reading the files (load), then parsing, every rule and the quarantine (validate).
    """
    from pipeline_kit.loading import _read, validate_raw

    clock = _Clock()
    raw = _read(folder, "canonical", None, {})
    clock.lap("load")
    ds = validate_raw(raw)
    del raw
    clock.lap("validate")
    frames = _kit_suite(ds, period, as_of)
    clock.lap("suite")
    return {
        "frames": frames,
        "phases": clock.phases,
        "quarantined": int(ds.counts["quarantined"].sum()),
    }


def run_pipeline_kit_cached(folder: Path, period: tuple[dt.date, dt.date], as_of: dt.date) -> dict:
    """``pk.load`` through the on-disk cache of validated datasets (an unchanged export), + suite.

    The cache entry is written by an earlier run (see :func:`main`), in ``CACHE``.
    """
    import pipeline_kit as pk

    clock = _Clock()
    ds = pk.load(folder, cache_dir=CACHE)
    clock.lap("load")
    frames = _kit_suite(ds, period, as_of)
    clock.lap("suite")
    return {"frames": frames, "phases": clock.phases}


def run_duckdb(
    folder: Path,
    period: tuple[dt.date, dt.date],
    as_of: dt.date,
    names: tuple[str, ...] = tuple(KEYS),
) -> dict:
    """The suite (or its figures ``names``) as DuckDB SQL over the Parquet files.

    With the shortcuts pipeline_kit takes: the open pipeline reads the history of the deals
    open on the date only; stage conversion the history of the deals with a change in the
    period only. DuckDB reads the files inside each query (no load phase of its own).
    """
    import duckdb

    clock = _Clock()
    con = duckdb.connect()
    for t in TABLES:
        con.execute(f"CREATE VIEW {t} AS SELECT * FROM read_parquet('{folder / (t + '.parquet')}')")
    clock.lap("load")
    p = {"a": period[0], "b": period[1], "d": as_of}
    closed = "closed_at BETWEEN $a AND $b"
    sql = {
        "deal_flow": f"""
            SELECT team,
                   count(*) FILTER (WHERE created_at BETWEEN $a AND $b) AS created,
                   count(*) FILTER (WHERE {closed} AND status = 'won') AS won,
                   count(*) FILTER (WHERE {closed} AND status = 'lost') AS lost,
                   won / nullif(won + lost, 0) AS win_rate
            FROM deals WHERE created_at BETWEEN $a AND $b OR {closed}
            GROUP BY team""",
        "won_deal_size": f"""
            SELECT team, count(amount) AS n, avg(amount) AS mean, median(amount) AS median,
                   stddev_samp(amount) AS sd, sum(amount) AS total
            FROM deals WHERE {closed} AND status = 'won' GROUP BY team""",
        "cycle_length": f"""
            SELECT team, count(*) AS n, avg(days) AS mean, median(days) AS median,
                   stddev_samp(days) AS sd
            FROM (SELECT team, (closed_at - created_at)::DOUBLE AS days
                  FROM deals WHERE {closed})
            GROUP BY team""",
        "stage_conversion": """
            WITH moved AS (
                SELECT DISTINCT deal_id FROM stage_history
                WHERE entered_at BETWEEN $a AND $b),
            h AS (
                SELECT sh.deal_id, sh.entered_at, s."order", s.is_won, s.is_lost, s.stage
                FROM stage_history sh JOIN stages s USING (stage)
                WHERE sh.entered_at <= $d AND sh.deal_id IN (SELECT deal_id FROM moved)),
            first_entry AS (
                SELECT deal_id, stage, "order", min(entered_at) AS entered_at
                FROM h WHERE NOT is_won AND NOT is_lost GROUP BY ALL
                HAVING min(entered_at) BETWEEN $a AND $b),
            advanced AS (
                SELECT DISTINCT f.deal_id, f.stage FROM first_entry f JOIN h l
                  ON l.deal_id = f.deal_id AND l.entered_at >= f.entered_at
                 AND (l.is_won OR (NOT l.is_lost AND l."order" > f."order")))
            SELECT d.team, f.stage, count(*) AS entered,
                   count(a.deal_id) AS advanced,
                   count(*) FILTER (WHERE a.deal_id IS NULL AND d.status = 'lost'
                                    AND d.closed_at <= $d) AS dropped
            FROM first_entry f JOIN deals d USING (deal_id)
            LEFT JOIN advanced a ON a.deal_id = f.deal_id AND a.stage = f.stage
            GROUP BY ALL""",
        "open_pipeline": """
            WITH open AS (
                SELECT deal_id, team, stage, amount FROM deals
                WHERE created_at <= $d AND (closed_at IS NULL OR closed_at > $d)),
            h AS (
                SELECT sh.deal_id, sh.stage, sh.entered_at, s."order"
                FROM stage_history sh LEFT JOIN stages s USING (stage)
                WHERE sh.deal_id IN (SELECT deal_id FROM open)),
            at_date AS (
                SELECT deal_id, coalesce(
                    arg_max(stage, (entered_at, "order")) FILTER (WHERE entered_at <= $d),
                    arg_min(stage, (entered_at, "order"))) AS stage_as_of
                FROM h GROUP BY deal_id)
            SELECT o.team, coalesce(a.stage_as_of, o.stage) AS stage,
                   count(*) AS open_deals, sum(o.amount) AS open_value
            FROM open o LEFT JOIN at_date a USING (deal_id) GROUP BY ALL""",
    }
    frames = {}
    for name in names:
        query = sql[name]
        used = [k for k in p if f"${k}" in query]
        frames[name] = con.sql(query, params={k: p[k] for k in used}).pl()
    clock.lap("suite")
    return {"frames": frames, "phases": clock.phases}


def _read_pandas(path: Path, columns: list[str]):
    """The columns needed, dates typed (datetime64, not Python date objects), via pyarrow."""
    import pyarrow.parquet as pq

    return pq.read_table(path, columns=columns).to_pandas(date_as_object=False)


def run_pandas(folder: Path, period: tuple[dt.date, dt.date], as_of: dt.date) -> dict:
    """The suite as idiomatic pandas: boolean masks, groupby, merge.

    It reads only the columns it needs, with typed dates, and takes the kit's shortcuts (the
    history of the deals open on the date; of the deals with a change in the period).
    """
    import pandas as pd

    clock = _Clock()
    a, b, d = (pd.Timestamp(x) for x in (*period, as_of))
    deals = _read_pandas(
        folder / "deals.parquet",
        ["deal_id", "team", "amount", "created_at", "closed_at", "stage", "status"],
    )
    stages = _read_pandas(folder / "stages.parquet", ["stage", "order", "is_won", "is_lost"])
    history = _read_pandas(folder / "stage_history.parquet", ["deal_id", "stage", "entered_at"])
    clock.lap("load")

    created = deals["created_at"].between(a, b)
    closed = deals["closed_at"].between(a, b)
    won, lost = closed & deals["status"].eq("won"), closed & deals["status"].eq("lost")
    flow = (
        pd.DataFrame({"team": deals["team"], "created": created, "won": won, "lost": lost})[
            created | closed
        ]
        .groupby("team", as_index=False)
        .sum()
    )
    flow["win_rate"] = flow["won"] / (flow["won"] + flow["lost"])

    size = (
        deals[won]
        .groupby("team")["amount"]
        .agg(n="count", mean="mean", median="median", sd="std", total="sum")
        .reset_index()
    )
    cycle = (
        deals[closed]
        .assign(days=lambda x: (x["closed_at"] - x["created_at"]).dt.days.astype(float))
        .groupby("team")["days"]
        .agg(n="count", mean="mean", median="median", sd="std")
        .reset_index()
    )

    # stage conversion: first entry of each open stage in the period, then any later move;
    # only the history of the deals with a change in the period can hold such a first entry
    moved = history.loc[history["entered_at"].between(a, b), "deal_id"].unique()
    h = history[history["deal_id"].isin(moved) & (history["entered_at"] <= d)].merge(
        stages, on="stage"
    )
    first = (
        h[~h["is_won"] & ~h["is_lost"]]
        .groupby(["deal_id", "stage", "order"], as_index=False)["entered_at"]
        .min()
    )
    first = first[first["entered_at"].between(a, b)]
    later = h[["deal_id", "order", "entered_at", "is_won", "is_lost"]].rename(
        columns=lambda c: c if c == "deal_id" else f"later_{c}"
    )
    pairs = first.merge(later, on="deal_id")
    moved_on = (pairs["later_entered_at"] >= pairs["entered_at"]) & (
        pairs["later_is_won"] | (~pairs["later_is_lost"] & (pairs["later_order"] > pairs["order"]))
    )
    advanced = pairs.loc[moved_on, ["deal_id", "stage"]].drop_duplicates().assign(advanced=True)
    lost_by = deals[["deal_id", "team"]].assign(
        lost_by=deals["status"].eq("lost") & (deals["closed_at"] <= d)
    )
    per_deal = first.merge(lost_by, on="deal_id").merge(
        advanced, on=["deal_id", "stage"], how="left"
    )
    per_deal["advanced"] = per_deal["advanced"].fillna(False).astype(bool)
    per_deal["dropped"] = ~per_deal["advanced"] & per_deal["lost_by"]
    conversion = per_deal.groupby(["team", "stage"], as_index=False).agg(
        entered=("deal_id", "size"), advanced=("advanced", "sum"), dropped=("dropped", "sum")
    )

    # open pipeline as of d, from the deals open on d: last stage entered by d (same day:
    # later stage), else the first
    is_open = (deals["created_at"] <= d) & (deals["closed_at"].isna() | (deals["closed_at"] > d))
    open_deals = deals.loc[is_open, ["deal_id", "team", "stage", "amount"]]
    hs = (
        history[history["deal_id"].isin(open_deals["deal_id"])]
        .merge(stages[["stage", "order"]], on="stage", how="left")
        .sort_values(["deal_id", "entered_at", "order"])
    )
    last = hs[hs["entered_at"] <= d].groupby("deal_id")["stage"].last()
    stage_as_of = last.reindex(hs["deal_id"].unique()).fillna(
        hs.groupby("deal_id")["stage"].first()
    )
    open_deals["stage"] = open_deals["deal_id"].map(stage_as_of).fillna(open_deals["stage"])
    pipeline = open_deals.groupby(["team", "stage"], as_index=False).agg(
        open_deals=("deal_id", "size"), open_value=("amount", "sum")
    )
    frames = {
        "deal_flow": flow,
        "won_deal_size": size,
        "cycle_length": cycle,
        "stage_conversion": conversion,
        "open_pipeline": pipeline,
    }
    clock.lap("suite")
    return {"frames": {k: pl.from_pandas(v) for k, v in frames.items()}, "phases": clock.phases}


RUNNERS: dict[str, Callable[[Path, tuple[dt.date, dt.date], dt.date], dict]] = {
    "scan floor": run_scan_floor,
    "pipeline_kit": run_pipeline_kit,
    "pipeline_kit cached": run_pipeline_kit_cached,
    "duckdb": run_duckdb,
    "pandas": run_pandas,
}


# ------------------------------------------------------------------------ child process


def _resident_mb() -> float:
    """This process's resident set now, MB."""
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


def _peak_mb() -> float:
    """This process's peak resident set (VmHWM: unlike ru_maxrss, not inherited from a parent)."""
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM"))


# modules each engine needs, imported before the clock: an analyst pays them once a session
IMPORTS = {
    "scan floor": ["polars"],
    "pipeline_kit": ["pipeline_kit", "pipeline_kit.loading", "pipeline_kit.metrics", "scipy.stats"],
    "pipeline_kit cached": [
        "pipeline_kit",
        "pipeline_kit.cache",
        "pipeline_kit.metrics",
        "scipy.stats",
    ],
    "duckdb": ["duckdb", "pyarrow"],
    "pandas": ["pandas", "pyarrow.parquet"],
}


def _child(engine: str, folder: Path, result_dir: Path) -> None:
    """Run one engine in this (fresh) process; write its frames and a JSON summary."""
    period = tuple(dt.date.fromisoformat(x) for x in PERIOD)
    as_of = dt.date.fromisoformat(AS_OF)
    for module in IMPORTS[engine]:
        importlib.import_module(module)
    wall, cpu = time.perf_counter(), time.process_time()
    result = RUNNERS[engine](folder, period, as_of)  # type: ignore[arg-type]
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    for name, frame in result.pop("frames", {}).items():
        frame.write_parquet(result_dir / f"{name}.parquet")
    result.update(seconds=wall, cpu_seconds=cpu, peak_mb=_peak_mb())
    (result_dir / "summary.json").write_text(json.dumps(result, default=str))


def _run(engine: str, folder: Path, result_dir: Path) -> dict:
    result_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, __file__, "--child", engine, str(folder), str(result_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return {"error": f"exit {proc.returncode}: " + " | ".join(tail)}
    return json.loads((result_dir / "summary.json").read_text())


# ----------------------------------------------------------------------------- agreement


def _normalised(result_dir: Path, name: str) -> pl.DataFrame:
    frame = pl.read_parquet(result_dir / f"{name}.parquet")
    if name in ("stage_conversion", "open_pipeline"):
        value = "entered" if name == "stage_conversion" else "open_deals"
        frame = frame.filter(pl.col(value) > 0)  # pipeline_kit also lists empty stages
    return frame.sort(KEYS[name])


def disagreements(reference: Path, other: Path, names: tuple[str, ...] = tuple(KEYS)) -> list[str]:
    """Figures on which two engines differ (relative tolerance 1e-9), as short messages."""
    problems = []
    for name in names:
        keys = KEYS[name]
        ref, oth = _normalised(reference, name), _normalised(other, name)
        if ref.select(keys).rows() != oth.select(keys).rows():
            problems.append(f"{name}: different groups")
            continue
        for col in oth.columns:
            if col in keys:
                continue
            if not oth[col].dtype.is_numeric() and oth[col].dtype != pl.Boolean:
                if ref[col].cast(pl.String).to_list() != oth[col].cast(pl.String).to_list():
                    problems.append(f"{name}.{col}: values differ")
                continue
            x = ref[col].cast(pl.Float64).to_numpy()
            y = oth[col].cast(pl.Float64).to_numpy()
            scale = np.maximum(np.maximum(np.abs(x), np.abs(y)), 1.0)
            diff = ~((np.abs(x - y) <= 1e-9 * scale) | (np.isnan(x) & np.isnan(y)))
            if diff.any():
                problems.append(f"{name}.{col}: {int(diff.sum())} values differ")
    return problems


# ---------------------------------------------------------------------------------- main


def _machine() -> str:
    mem = next(
        int(line.split()[1]) / 1024**2
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    import duckdb
    import pandas

    return (
        f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GB RAM, Python {platform.python_version()}, "
        f"polars {pl.__version__}, pandas {pandas.__version__}, duckdb {duckdb.__version__}"
    )


def _spread(values: list[float], digits: int = 2) -> str:
    """``median (min-max)`` of a figure over the rounds."""
    if not values:
        return "n/a"
    med = statistics.median(values)
    if len(values) == 1:
        return f"{med:.{digits}f}"
    return f"{med:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


# (label, numerator engine, denominator engine, figure, target, at most (True) / at least)
RATIOS = (
    ("first load + suite / DuckDB (fair SQL)", "pipeline_kit", "duckdb", "seconds", 1.5, True),
    ("cached load + suite / DuckDB", "pipeline_kit cached", "duckdb", "seconds", 1.0, True),
    ("cached load + suite / scan floor", "pipeline_kit cached", "scan floor", "seconds", 3.0, True),
    ("fair pandas / cached load + suite", "pandas", "pipeline_kit cached", "seconds", 5.0, False),
    ("fair pandas / first load + suite", "pandas", "pipeline_kit", "seconds", None, False),
    ("first load + suite / scan floor", "pipeline_kit", "scan floor", "seconds", None, True),
    ("CPU: first load + suite / DuckDB", "pipeline_kit", "duckdb", "cpu_seconds", None, True),
    (
        "CPU: cached load + suite / DuckDB",
        "pipeline_kit cached",
        "duckdb",
        "cpu_seconds",
        None,
        True,
    ),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deals", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--engines", nargs="+", default=list(ENGINES), choices=ENGINES)
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per size")
    parser.add_argument("--results", action="store_true", help="rewrite bench/RESULTS.md")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], Path(args.child[1]), Path(args.child[2]))
        return 0

    lines = [f"Machine: {_machine()}", ""]
    failed = False
    for n in args.deals:
        print(f"\n== {n:,} deals: preparing data", flush=True)
        folder = prepare(n)
        runs: dict[str, list[dict]] = {e: [] for e in args.engines}
        loads: list[float] = []
        checks: dict[str, list[str]] = {}
        with tempfile.TemporaryDirectory(dir=OUT) as tmp:
            if "pipeline_kit cached" in args.engines:  # the entry the cached runs read
                print("  writing the validated cache ...", flush=True)
                _run("pipeline_kit cached", folder, Path(tmp) / "warmup")
            for r in range(args.rounds):
                loads.append(os.getloadavg()[0])
                order = (
                    args.engines[r % len(args.engines) :] + args.engines[: r % len(args.engines)]
                )
                print(f"  round {r + 1}/{args.rounds} (load average {loads[-1]:.2f}): ", end="")
                for engine in order:
                    result_dir = Path(tmp) / f"r{r}" / engine.replace(" ", "_")
                    runs[engine].append(_run(engine, folder, result_dir))
                    print(
                        f"{engine} {runs[engine][-1].get('seconds', float('nan')):.2f}s; ",
                        end="",
                        flush=True,
                    )
                print(flush=True)
            first = Path(tmp) / "r0"
            for e in ("pipeline_kit cached", "duckdb", "pandas"):
                if (
                    e in runs
                    and "error" not in runs[e][0]
                    and "error" not in runs["pipeline_kit"][0]
                ):
                    checks[e] = disagreements(first / "pipeline_kit", first / e.replace(" ", "_"))
        floor = runs.get("scan floor", [{}])[0]
        rows = floor.get("rows", {})
        input_mb = floor.get("input_mb", float("nan"))
        stored = floor.get("stored_mb", float("nan"))
        lines += [
            f"### {n:,} deals",
            "",
            f"Rows: {', '.join(f'{t} {c:,}' for t, c in rows.items())}; in memory (polars) "
            f"{input_mb:,.0f} MB by `estimated_size`, {stored:,.0f} MB as stored (string "
            f"views included; reading the files raised the scan floor's resident memory by "
            f"{floor.get('read_rss_mb', float('nan')):,.0f} MB). {args.rounds} interleaved "
            "rounds (each engine once a round, in a rotating order, each in a fresh process); "
            "median (min-max) over the rounds. Load average (1 min) at the start of the rounds: "
            f"{_spread(loads)}.",
            "",
            "| engine | wall s | CPU s | load s | validate s | suite s | peak RSS MB "
            "| RSS / input (estimated_size) | RSS / input as stored | agrees with pipeline_kit |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for engine, results in runs.items():
            errors = [r["error"] for r in results if "error" in r]
            if errors:
                lines.append(f"| {engine} | failed: {errors[0]} | | | | | | | | |")
                failed = True
                continue
            agree = "(reference)" if engine == "pipeline_kit" else "n/a"
            if engine in checks:
                agree = "yes" if not checks[engine] else "NO: " + "; ".join(checks[engine])
                failed |= bool(checks[engine])

            def phase(name: str, results: list[dict] = results) -> str:
                values = [r["phases"][name][0] for r in results if name in r["phases"]]
                return _spread(values) if values else "-"

            peaks = [r["peak_mb"] for r in results]
            lines.append(
                f"| {engine} | {_spread([r['seconds'] for r in results])} "
                f"| {_spread([r['cpu_seconds'] for r in results])} | {phase('load')} "
                f"| {phase('validate')} | {phase('suite')} | {statistics.median(peaks):,.0f} "
                f"| {statistics.median(peaks) / input_mb:.1f}x "
                f"| {statistics.median(peaks) / stored:.1f}x | {agree} |"
            )
        lines += [
            "",
            "| ratio, within each round | median (min-max) | target | met? |",
            "|---|---:|---:|---|",
        ]
        for label, num, den, figure, target, at_most in RATIOS:
            if num not in runs or den not in runs:
                continue
            ratios = [
                a[figure] / b[figure]
                for a, b in zip(runs[num], runs[den], strict=True)
                if "error" not in a and "error" not in b
            ]
            if not ratios:
                continue
            med = statistics.median(ratios)
            goal = "" if target is None else f"{'at most' if at_most else 'at least'} {target}x"
            met = "" if target is None else ("yes" if (med <= target) == at_most else "no")
            lines.append(f"| {label} | {_spread(ratios)}x | {goal} | {met} |")
        lines.append("")
        print("\n".join(lines[-(len(runs) + len(RATIOS) + 10) :]), flush=True)
    if args.results:
        _write_results(lines, args)
    return 1 if failed else 0


def _write_results(lines: list[str], args: argparse.Namespace) -> None:
    """Replace the text between the engines table's two markers (the rest of the file stays)."""
    marker = "<!-- engines table: generated by bench/engines.py --results -->"
    end = "<!-- engines table: end -->"
    text = RESULTS.read_text() if RESULTS.exists() else marker + "\n" + end + "\n"
    head, _, rest = text.partition(marker)
    _, _, tail = rest.partition(end)
    command = (
        f"python bench/engines.py --deals {' '.join(map(str, args.deals))} "
        f"--rounds {args.rounds} --results"
    )
    body = "\n".join([marker, "", f"`{command}`, run on {dt.date.today()}:", "", *lines])
    RESULTS.write_text(head + body + "\n" + end + tail)


if __name__ == "__main__":
    sys.exit(main())
