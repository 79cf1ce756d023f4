"""Shared fixtures: the bundled sample, the Maven export (skipped when absent), tiny datasets."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

import pipeline_kit as pk

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
MAVEN = ROOT.parent / "shared" / "realdata" / "maven-crm"


@pytest.fixture(scope="session")
def sample() -> pk.Dataset:
    return pk.load(SAMPLE)


@pytest.fixture(scope="session")
def maven() -> pk.Dataset:
    if not (MAVEN / "sales_pipeline.csv").exists():
        pytest.skip(f"Maven export not found at {MAVEN} (../shared is not part of this checkout)")
    return pk.load(MAVEN, source="maven")


def read_rows(path: Path) -> list[dict[str, str]]:
    """Plain-Python CSV reader for independent checks."""
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


STAGES_CSV = """stage,order,probability,is_won,is_lost
Prospecting,1,0.1,false,false
Proposal,2,0.5,false,false
Won,3,1,true,false
Lost,4,0,false,true
"""

# Hand-computed fixture used across tests (see test_metrics.py for the expected figures).
DEALS_CSV = """deal_id,owner,team,amount,created_at,stage,status,closed_at
D1,ann,red,100,2025-09-15,Won,won,2025-10-05
D2,ann,red,300,2025-10-01,Won,won,2025-10-31
D3,bob,red,50,2025-10-02,Lost,lost,2025-11-01
D4,bob,blue,1000,2025-08-01,Lost,lost,2025-12-31
D5,cat,blue,400,2025-10-10,Won,won,2026-01-01
D6,cat,blue,200,2025-11-01,Proposal,open,
D7,ann,red,80,2025-12-20,Prospecting,open,
D8,bob,blue,600,2025-07-01,Won,won,2025-09-30
"""

HISTORY_CSV = """deal_id,stage,entered_at
D1,Prospecting,2025-09-15
D1,Proposal,2025-09-20
D1,Won,2025-10-05
D2,Prospecting,2025-10-01
D2,Won,2025-10-31
D3,Prospecting,2025-10-02
D3,Proposal,2025-10-15
D3,Lost,2025-11-01
D4,Prospecting,2025-08-01
D4,Proposal,2025-09-01
D4,Prospecting,2025-10-01
D4,Lost,2025-12-31
D5,Prospecting,2025-10-10
D5,Proposal,2025-11-15
D5,Won,2026-01-01
D6,Prospecting,2025-11-01
D6,Proposal,2025-12-01
D7,Prospecting,2025-12-20
D8,Prospecting,2025-07-01
D8,Won,2025-09-30
"""


def write_dataset(folder: Path, **tables: str) -> Path:
    """Write tables given as CSV text into ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        (folder / f"{name}.csv").write_text(text)
    return folder


@pytest.fixture
def tiny(tmp_path: Path) -> pk.Dataset:
    path = write_dataset(
        tmp_path / "tiny", deals=DEALS_CSV, stages=STAGES_CSV, stage_history=HISTORY_CSV
    )
    return pk.load(path)


def wilson_ci(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """The kit's rate interval, computed independently: scipy's Wilson score interval, with
    Garwood's exact Poisson bound (scipy's chi-square quantile) on a side with 1 or 2 counts
    (up to 3 when n > 50), the modification of Brown, Cai and DasGupta (2001)."""
    from scipy import stats

    ci = stats.binomtest(k, n).proportion_ci(confidence_level=confidence, method="wilson")
    low, high = ci.low, ci.high
    few = 3 if n > 50 else 2
    alpha = 1 - confidence
    if 1 <= k <= few:
        low = stats.chi2.ppf(alpha / 2, 2 * k) / (2 * n)
    if 1 <= n - k <= few:
        high = 1 - stats.chi2.ppf(alpha / 2, 2 * (n - k)) / (2 * n)
    return low, high
