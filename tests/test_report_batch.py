"""The report batch's shortcuts give what the long way gives.

Results several sections share are computed once per report (``Dataset.memoised``); the
sections show the same figures as when every section computes its own.
"""

from __future__ import annotations

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pipeline_kit as pk
import pipeline_kit.metrics.pipeline as pipeline_metrics
import pipeline_kit.report_data as report_data
from pipeline_kit.dataset import Dataset


def _fresh(ds: pk.Dataset) -> pk.Dataset:
    """A copy of ``ds`` with no stored results (the session fixture is shared)."""
    return ds.filter_deals(pl.lit(True))


def _counting(monkeypatch, module, name: str) -> list[int]:
    calls: list[int] = []
    original = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


def test_stalled_deals_are_computed_once_per_dataset_and_arguments(sample, monkeypatch):
    calls = _counting(monkeypatch, pipeline_metrics, "_stalled_deals")
    ds = _fresh(sample)
    first = pk.stalled_deals(ds, "2025-12-31")
    again = pk.stalled_deals(ds, "2025-12-31")
    assert len(calls) == 1
    assert_frame_equal(first, again)
    pk.stalled_deals(ds, "2025-12-31", min_reference=1)  # other arguments: computed
    pk.stalled_deals(ds, "2025-11-30")
    assert len(calls) == 3
    # a caller changing its frame in place does not change what the next caller gets
    first.insert_column(0, pl.Series("x", [0] * first.height))
    assert "x" not in pk.stalled_deals(ds, "2025-12-31").columns
    # the appendix's list of stalled deals reads the same stored frame
    listed = pk.deal_list(ds, "2025-Q4", kind="stalled", as_of="2025-12-31")
    assert len(calls) == 3
    assert listed.height == int(again["stalled"].sum())


def _sections(report: pk.TeamReport) -> list[str]:
    """What the sections that share results publish, as text (Markdown or chart JSON)."""
    shown = [
        report.conversion_alerts(),
        report.conversion_control_chart(),
        report.pipeline_chart(),
        report.pipeline_table(),
        report.pipeline_vs_target_chart(),
        report.pipeline_size_note(),
        report.stalled_table(),
        report.deal_lists_appendix(),
    ]
    return [s.to_json() if hasattr(s, "to_json") else s.data for s in shown]


@pytest.mark.parametrize("team", ["EMEA", "SMB"])
def test_shared_results_give_the_same_sections_as_computing_each(sample, monkeypatch, team):
    shared = _sections(pk.TeamReport(_fresh(sample), team=team, period="2025-Q4"))
    calls = _counting(monkeypatch, report_data, "stage_conversion_control")
    _sections(pk.TeamReport(_fresh(sample), team=team, period="2025-Q4"))
    assert len(calls) == 1  # the alerts and the chart: one computation
    with monkeypatch.context() as m:  # every section computes its own
        m.setattr(Dataset, "memoised", lambda self, key, compute, persist=False: compute())
        each = _sections(pk.TeamReport(_fresh(sample), team=team, period="2025-Q4"))
    assert len(calls) == 3
    assert shared == each


def test_the_reset_between_reports_empties_the_namespace_and_frees_cycles(tmp_path):
    """A reused report kernel: the namespace wiped, the report's cycles collected (the kernel
    runs with automatic garbage collection off), the execution count back to 1."""
    from pipeline_kit import reports

    client = reports._kernel(tmp_path)
    try:
        reports._execute(
            client,
            "import sys, weakref\n"
            "class Node:\n    pass\n"
            "node = Node()\nnode.itself = node\n"  # a cycle: only the collector frees it
            "sys.pk_probe = weakref.ref(node)\n"
            "leftover = 1\n",
        )
        client = reports._kernel(tmp_path)  # the same kernel, reset
        reply = client.execute_interactive(
            'import sys\nassert sys.pk_probe() is None, "the cycle survived"\n'
            'assert "leftover" not in globals() and "node" not in globals()',
            timeout=60,
        )
        assert reply["content"]["status"] == "ok", reply["content"].get("evalue")
        assert reply["content"]["execution_count"] == 1
    finally:
        reports._shutdown_kernels()
