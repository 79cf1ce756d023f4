"""Where ``pk.load``'s peak memory happens: resident memory per phase of the validation.

Run: ``python bench/load_memory.py bench/out/engines_1000000`` (the folder of
``bench/engines.py``'s data, or any export folder). Before each phase of
``pipeline_kit.loading.validate_raw`` (the adapter's read, the exact-copies check per table,
each table's parsing and rules, the cross-table rules, the quarantine) the process's peak
resident set (``VmHWM``) is reset (``/proc/self/clear_refs``, Linux only), so each row's
``peak`` is the highest resident memory during that phase. ``after`` is what the process
holds when the phase ends; the allocator keeps some freed pages, so a rise there is not all
live frames. Not part of the tests.
"""

from __future__ import annotations

import functools
import sys
import time
from pathlib import Path
from typing import Any

import pipeline_kit as pk
import pipeline_kit.loading as loading

PHASES = (
    "_read",
    "_set_aside_copies",
    "_validate_table",
    "_complete_stages",
    "_probability_scale",
    "_implausible_dates",
    "_flag_deals",
    "_check_status_matches_stage",
    "_check_foreign_key",
    "_derive_stage_history",
    "_quarantine_and_excluded",
    "_counts",
)


def _memory() -> tuple[float, float]:
    """(resident, peak resident) of this process, MB."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(status["VmRSS"].split()[0]) / 1024, int(status["VmHWM"].split()[0]) / 1024


def _reset_peak() -> None:
    Path("/proc/self/clear_refs").write_text("5")


def _label(name: str, args: tuple) -> str:
    if name == "_validate_table":
        return f"{name}({args[0].name})"
    if name == "_set_aside_copies":
        return f"{name}({args[1]})"
    if name == "_check_foreign_key":
        return f"{name}({args[2].table}.{args[2].column})"
    return name


def _instrument(rows: list[tuple[str, float, float, float, float]]) -> None:
    depth = [0]
    for name in PHASES:
        function = getattr(loading, name)

        def timed(*args: Any, _name: str = name, _f: Any = function, **kwargs: Any) -> Any:
            depth[0] += 1
            outer = depth[0] == 1
            if outer:
                _reset_peak()
                before, start = _memory()[0], time.perf_counter()
            try:
                return _f(*args, **kwargs)
            finally:
                depth[0] -= 1
                if outer:
                    after, peak = _memory()
                    rows.append(
                        (_label(_name, args), before, peak, after, time.perf_counter() - start)
                    )

        setattr(loading, name, functools.wraps(function)(timed))


def main(argv: list[str] | None = None) -> int:
    folder = Path((argv or sys.argv[1:])[0])
    rows: list[tuple[str, float, float, float, float]] = []
    _instrument(rows)
    start = _memory()[0]
    ds = pk.load(folder)
    ds.counts  # noqa: B018 (the deferred tables, if any, are validated too)
    tables = sum(frame.estimated_size() for frame in ds.tables.values()) / 2**20
    print(f"{folder}: resident {start:,.0f} MB before the load, {_memory()[0]:,.0f} MB after;")
    print(f"the validated tables hold {tables:,.0f} MB (polars estimated_size)\n")
    print("| phase | resident before MB | peak MB | resident after MB | wall s |")
    print("|---|---:|---:|---:|---:|")
    for label, before, peak, after, seconds in rows:
        print(f"| `{label}` | {before:,.0f} | {peak:,.0f} | {after:,.0f} | {seconds:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
