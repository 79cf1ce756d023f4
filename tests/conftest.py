"""Shared fixtures: the bundled sample, the Maven export (skipped when absent), tiny datasets."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from hypothesis import settings

import pipeline_kit as pk

# No time limit per example: a test asserts values, never speed (speed is measured in bench/),
# and hypothesis's default 200 ms deadline failed examples on a loaded machine.
settings.register_profile("pipeline_kit", deadline=None)
settings.load_profile("pipeline_kit")

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


def pooled_design_effects_by_hand(sides: list[dict[str, list[bool]]]) -> list[float]:
    """Each side's 1 + (Σ m² / N_s - 1) ICC, the ICC from the one-way ANOVA of the 0/1
    outcomes with accounts nested in the sides (each around its own rate), in plain Python."""
    n = sum(len(v) for side in sides for v in side.values())
    k = sum(len(side) for side in sides)
    free = k - len(sides)
    icc = 0.0
    if free >= 1 and n > k:
        ssb = ssw = squares_over = 0.0
        for side in sides:
            n_s = sum(len(v) for v in side.values())
            rate = sum(sum(v) for v in side.values()) / n_s
            for v in side.values():
                m, p = len(v), sum(v) / len(v)
                ssb += m * (p - rate) ** 2
                ssw += m * p * (1 - p)
            squares_over += sum(len(v) ** 2 for v in side.values()) / n_s
        msb, msw = ssb / free, ssw / (n - k)
        m0 = (n - squares_over) / free
        denominator = msb + (m0 - 1) * msw
        if denominator > 0:
            icc = min(max((msb - msw) / denominator, 0.0), 1.0)
    out = []
    for side in sides:
        n_s = sum(len(v) for v in side.values())
        out.append(1 + (sum(len(v) ** 2 for v in side.values()) / n_s - 1) * icc)
    return out


def accounts_of(rows: list[dict[str, str]]) -> dict[str, list[bool]]:
    """The outcomes of closed deals ``rows`` by account (a deal without one under its own key)."""
    from collections import defaultdict

    accounts: dict[str, list[bool]] = defaultdict(list)
    for r in rows:
        accounts[r.get("account_id") or "deal " + r["deal_id"]].append(r["status"] == "won")
    return dict(accounts)


def design_effect_by_hand(accounts: dict[str, list[bool]]) -> float:
    """Kish's 1 + (Σ m² / N - 1) ICC of 0/1 outcomes grouped by account, in plain Python.

    ICC from the one-way ANOVA (Donner & Klar 2000), 0 when negative or undefined.
    ``accounts`` maps an account (a deal without one under its own key) to its outcomes.
    """
    sizes = [len(v) for v in accounts.values()]
    wins = [sum(v) for v in accounts.values()]
    n, k = sum(sizes), len(sizes)
    if k < 2 or n <= k:
        return 1.0
    p = sum(wins) / n
    msb = sum(m * (w / m - p) ** 2 for m, w in zip(sizes, wins, strict=True)) / (k - 1)
    msw = sum(w * (1 - w / m) for m, w in zip(sizes, wins, strict=True)) / (n - k)
    m0 = (n - sum(m * m for m in sizes) / n) / (k - 1)
    denominator = msb + (m0 - 1) * msw
    icc = min(max((msb - msw) / denominator, 0.0), 1.0) if denominator > 0 else 0.0
    return 1 + (sum(m * m for m in sizes) / n - 1) * icc


def account_design_effects(rows: list[dict[str, str]], key) -> dict[object, float | None]:
    """``design_effect_by_hand`` of the closed deals ``rows`` per ``key(row)``.

    None for a key none of whose deals has an account id (the kit's null)."""
    from collections import defaultdict

    accounts: dict[object, dict[str, list[bool]]] = defaultdict(lambda: defaultdict(list))
    known: dict[object, bool] = defaultdict(bool)
    for r in rows:
        account = r.get("account_id") or "deal " + r["deal_id"]  # no account: a deal alone
        accounts[key(r)][account].append(r["status"] == "won")
        known[key(r)] |= bool(r.get("account_id"))
    return {g: design_effect_by_hand(a) if known[g] else None for g, a in accounts.items()}


def modified_wilson(k: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """The modified Wilson interval written out, for counts that need not be whole."""
    import math

    from scipy import stats

    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    low, high = min(max(centre - half, 0.0), p), max(min(centre + half, 1.0), p)
    few = (1, 2, 3) if n > 50 else (1, 2)
    if k in few:
        low = stats.chi2.ppf((1 - confidence) / 2, 2 * k) / (2 * n)
    if n - k in few:
        high = 1 - stats.chi2.ppf((1 - confidence) / 2, 2 * (n - k)) / (2 * n)
    return low, high


def clustered_wilson_ci(k: int, n: int, deff: float | None) -> tuple[float, float]:
    """The kit's win-rate interval computed independently: the union of scipy's modified
    Wilson interval of k / n and the modified Wilson of k / deff of n / deff deals (Kish)."""
    low, high = wilson_ci(k, n)
    if deff is None:
        return low, high
    wide_low, wide_high = modified_wilson(k / deff, n / deff)
    return min(low, wide_low), max(high, wide_high)


def amount_share_design_effect(deals: list[tuple[float, bool]]) -> float:
    """The design effect of the share of amounts won, in plain Python: the larger of Kish's
    n Σa² / (Σa)² and the ratio's linearised n v / (R (1 - R)), v = n / (n - 1) Σ a² (w -
    R)² / (Σa)² (Korn & Graubard 1998), and of 1."""
    n = len(deals)
    total = sum(a for a, _ in deals)
    squares = sum(a * a for a, _ in deals)
    share = sum(a for a, won in deals if won) / total
    effects = [1.0, n * squares / total**2]
    if n >= 2 and 0 < share < 1:
        v = n / (n - 1) * sum(a * a * (won - share) ** 2 for a, won in deals) / total**2
        effects.append(n * v / (share * (1 - share)))
    return max(effects)


def quarterly_cohorts(folder: Path, advanced: list[int], n: int) -> pk.Dataset:
    """Quarters from 2023-Q4 on (one per entry of ``advanced``), ``n`` deals entering
    Prospecting in each; ``advanced[q]`` of them advance to Proposal 10 days later (then win),
    the others are lost; each closes 20 days after it was created."""
    from pipeline_kit.periods import Period

    deals = ["deal_id,owner,team,amount,created_at,stage,status,closed_at"]
    history = ["deal_id,stage,entered_at"]
    for q, moved_on in enumerate(advanced):
        start = Period.parse("2023-Q4").shift(q).start
        for i in range(n):
            deal, created = f"Q{q}D{i}", start + dt.timedelta(days=i % 60)
            closed = created + dt.timedelta(days=20)
            history.append(f"{deal},Prospecting,{created}")
            if i < moved_on:
                history.append(f"{deal},Proposal,{created + dt.timedelta(days=10)}")
                history.append(f"{deal},Won,{closed}")
                deals.append(f"{deal},ann,red,100,{created},Won,won,{closed}")
            else:
                history.append(f"{deal},Lost,{closed}")
                deals.append(f"{deal},ann,red,100,{created},Lost,lost,{closed}")
    path = write_dataset(
        folder,
        deals="\n".join(deals) + "\n",
        stages=STAGES_CSV,
        stage_history="\n".join(history) + "\n",
    )
    return pk.load(path)
