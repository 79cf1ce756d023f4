"""Stage conversion (cohort, skip/backward rule) and Kaplan-Meier cycle length."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeline_kit as pk
from pipeline_kit.stats import kaplan_meier_median

from .conftest import SAMPLE, read_rows


def _by_stage(frame: pl.DataFrame) -> dict[str, dict]:
    return {r["stage"]: r for r in frame.iter_rows(named=True)}


# ----------------------------------------------------------------------------- by hand
# conftest fixture, period 2025-Q4, outcomes read at the last date in the data (2026-01-01):
# Prospecting cohort (first entry in Q4): D2, D3, D5, D6, D7 -> D2 D3 D5 D6 advanced, D7 pending
# (D4 re-entered Prospecting on 10-01 after a backward move: not a first entry, not counted).
# Proposal cohort: D3 (then lost: dropped), D5 (won 2026-01-01: advanced), D6 (open: pending).


def test_stage_conversion_by_hand(tiny):
    rows = _by_stage(pk.stage_conversion(tiny, "2025-Q4"))
    p = rows["Prospecting"]
    assert (p["entered"], p["advanced"], p["dropped"], p["pending"]) == (5, 4, 0, 1)
    assert p["conversion"] == 1.0 and p["incomplete"]  # 20% pending
    q = rows["Proposal"]
    assert (q["entered"], q["advanced"], q["dropped"], q["pending"]) == (3, 1, 1, 1)
    # Aalen-Johansen: D3 dropped after 17 days (3 at risk: 1/3 dropped, 2/3 left), D6 pending
    # censored at 31 days, D5 advanced after 47 (1 at risk): 2/3 advanced (1/2 before: the
    # decided deals alone)
    assert q["conversion"] == pytest.approx(2 / 3) and q["drop_off"] == pytest.approx(1 / 3)
    earlier = _by_stage(pk.stage_conversion(tiny, "2025-Q4", as_of="2025-12-31"))["Proposal"]
    assert (earlier["advanced"], earlier["dropped"], earlier["pending"]) == (0, 1, 2)


def test_backward_moves_and_skips_by_hand(tiny):
    # Q3: Prospecting D1, D4, D8 all advanced (D8 skipped Proposal straight to Won; D4 advanced
    # then moved back); Proposal D1 (won: advanced), D4 (moved back, then lost: dropped)
    rows = _by_stage(pk.stage_conversion(tiny, "2025-Q3"))
    assert (rows["Prospecting"]["entered"], rows["Prospecting"]["advanced"]) == (3, 3)
    q = rows["Proposal"]
    assert (q["entered"], q["advanced"], q["dropped"], q["pending"]) == (2, 1, 1, 0)


def test_cycle_length_km_by_hand(tiny):
    row = pk.cycle_length_km(tiny, "2025-Q4").row(0, named=True)
    # durations: D2 30, D3 30, D5 83 closed; D6 61 and D7 12 open (censored at 2026-01-01)
    # KM: t=12 censored (5 -> 4 at risk); t=30 two events: S = 1 - 2/4 = 0.5 -> median 30
    assert (row["n"], row["closed"], row["open"]) == (5, 3, 2)
    assert row["median_days"] == 30.0
    assert row["naive_mean_closed"] == pytest.approx(143 / 3)


def test_km_median_textbook_example():
    # 4 closed after 10, 20, 30, 40 days, 4 still open at 50: S(40) = 4/8 -> median 40,
    # where the closed deals alone suggest 25
    median, low, high = kaplan_meier_median(
        [10, 20, 30, 40, 50, 50, 50, 50], [1, 1, 1, 1, 0, 0, 0, 0]
    )
    assert median == 40.0
    assert low <= median and (high is None or high >= median)
    assert kaplan_meier_median([], []) == (None, None, None)
    assert kaplan_meier_median([5, 6], [0, 0]) == (None, None, None)  # nothing closed yet


# ----------------------------------------------------------------------------- independent


def _plain_km_median(durations: list[float], events: list[bool]) -> float | None:
    """Product-limit estimator in plain Python (events before censorings at tied times)."""
    surv, at_risk = 1.0, len(durations)
    for t in sorted(set(durations)):
        d = sum(1 for x, e in zip(durations, events, strict=True) if x == t and e)
        c = sum(1 for x, e in zip(durations, events, strict=True) if x == t and not e)
        if d:
            surv *= 1 - d / at_risk
            if surv <= 0.5 + 1e-12:  # S = 0.5 exactly, up to rounding
                return t
        at_risk -= d + c
    return None


def test_cycle_length_km_matches_plain_python(sample):
    last = dt.date(2025, 12, 31)
    per_team: dict[str, tuple[list[float], list[bool]]] = {}
    for r in read_rows(SAMPLE / "deals.csv"):
        created = dt.date.fromisoformat(r["created_at"])
        if not dt.date(2025, 7, 1) <= created <= dt.date(2025, 9, 30):
            continue
        closed = dt.date.fromisoformat(r["closed_at"]) if r["closed_at"] else None
        days, event = ((closed - created).days, True) if closed else ((last - created).days, False)
        per_team.setdefault(r["team"], ([], []))
        per_team[r["team"]][0].append(days)
        per_team[r["team"]][1].append(event)
    got = {
        r["team"]: r for r in pk.cycle_length_km(sample, "2025-Q3", by="team").iter_rows(named=True)
    }
    for team, (days, events) in per_team.items():
        assert got[team]["n"] == len(days)
        assert got[team]["open"] == events.count(False)
        assert got[team]["median_days"] == _plain_km_median(days, events)


def test_stage_conversion_matches_plain_python(sample):
    order = {r["stage"]: int(r["order"]) for r in read_rows(SAMPLE / "stages.csv")}
    won_lost = {"Closed Won": "won", "Closed Lost": "lost"}
    history: dict[str, list[tuple[dt.date, str]]] = {}
    for h in read_rows(SAMPLE / "stage_history.csv"):
        history.setdefault(h["deal_id"], []).append(
            (dt.date.fromisoformat(h["entered_at"]), h["stage"])
        )
    status = {r["deal_id"]: r["status"] for r in read_rows(SAMPLE / "deals.csv")}
    start, end = dt.date(2025, 4, 1), dt.date(2025, 6, 30)
    counts: dict[str, list[int]] = {}
    for deal, moves in history.items():
        firsts: dict[str, dt.date] = {}
        for day, stage in sorted(moves):
            if stage not in won_lost:
                firsts.setdefault(stage, day)
        for stage, first in firsts.items():
            if not start <= first <= end:
                continue
            advanced = any(
                day >= first
                and (won_lost.get(s) == "won" or (s not in won_lost and order[s] > order[stage]))
                for day, s in moves
            )
            dropped = not advanced and status[deal] == "lost"
            c = counts.setdefault(stage, [0, 0, 0])
            c[0] += 1
            c[1] += advanced
            c[2] += dropped
    got = _by_stage(pk.stage_conversion(sample, "2025-Q2"))
    for stage, (entered, advanced, dropped) in counts.items():
        assert (got[stage]["entered"], got[stage]["advanced"], got[stage]["dropped"]) == (
            entered,
            advanced,
            dropped,
        )


# ----------------------------------------------------------------------------- properties


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["2024-Q2", "2024-Q4", "2025-Q2", "2025-Q4"]),
    st.sampled_from([None, "team", "lead_source"]),
)
def test_conversion_invariants(sample, period, by):
    frame = pk.stage_conversion(sample, period, by=by)
    assert (frame["advanced"] + frame["dropped"] + frame["pending"] == frame["entered"]).all()
    decided = frame.filter(pl.col("n") > 0)
    assert (
        (decided["ci_low"] <= decided["conversion"]) & (decided["conversion"] <= decided["ci_high"])
    ).all()
    # the Aalen-Johansen estimates lie within the pending bounds' counts and leave out only
    # the share still undecided; with nothing pending they are the decided shares, exactly
    entered = decided["entered"]
    assert (decided["conversion"] >= decided["advanced"] / entered - 1e-12).all()
    top = (decided["advanced"] + decided["pending"]) / entered
    assert (decided["conversion"] <= top + 1e-12).all()
    assert (decided["conversion"] + decided["drop_off"] <= 1 + 1e-12).all()
    settled = decided.filter(pl.col("pending") == 0)
    assert (settled["conversion"] == settled["advanced"] / settled["n"]).all()
    assert (settled["drop_off"] == settled["dropped"] / settled["n"]).all()
    if by:
        total = pk.stage_conversion(sample, period)
        assert frame["entered"].sum() == total["entered"].sum()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 400), st.booleans()), min_size=1, max_size=60))
def test_km_median_properties(pairs):
    days = np.array([p[0] for p in pairs], dtype=float)
    events = np.array([p[1] for p in pairs])
    median, low, high = kaplan_meier_median(days, events)
    assert median == _plain_km_median(list(days), list(events))
    if events.all():  # no censoring: KM median is the lower empirical median
        assert median == sorted(days)[(len(days) + 1) // 2 - 1]
    if median is not None:
        assert days.min() <= median <= days.max()
        assert low is None or low <= median
        assert high is None or high >= median


def test_time_in_stage_km_by_hand(tiny):
    rows = _by_stage(pk.time_in_stage_km(tiny, "2025-Q4", as_of="2025-12-31"))
    # Prospecting visits begun in Q4: D2 30, D3 13, D4 91 (re-entry after moving back),
    # D5 36, D6 30 ended; D7 11 ongoing -> S(13) = 4/5, S(30) = 4/5 * 2/4 = 0.4 -> median 30
    p = rows["Prospecting"]
    assert (p["n"], p["ended"], p["ongoing"], p["median_days"]) == (6, 5, 1, 30.0)
    assert p["naive_mean_ended"] == 40.0
    # Proposal: D3 ended after 17 days; D5 (46) and D6 (30) still there: median not reached
    q = rows["Proposal"]
    assert (q["ended"], q["ongoing"], q["median_days"]) == (1, 2, None)


def test_stage_conversion_interval_spans_what_pending_deals_may_still_do(tmp_path):
    """20 deals enter Prospecting in 2025-Q4: 6 advance, 8 are lost, 6 are still there. The
    interval runs from the Wilson lower bound of 6 / 20 (every pending deal drops) to the
    Wilson upper bound of 12 / 20 (every one advances); scipy's Wilson interval, counts away
    from the kit's modified edges."""
    from scipy import stats

    from tests.conftest import STAGES_CSV, write_dataset

    deals = ["deal_id,owner,team,amount,created_at,stage,status,closed_at"]
    history = ["deal_id,stage,entered_at"]
    for i in range(1, 21):
        kind = "advanced" if i <= 6 else "lost" if i <= 14 else "pending"
        stage, status, closed = {
            "advanced": ("Proposal", "open", ""),
            "lost": ("Lost", "lost", "2025-10-15"),
            "pending": ("Prospecting", "open", ""),
        }[kind]
        deals.append(f"D{i},ann,red,100,2025-10-01,{stage},{status},{closed}")
        history.append(f"D{i},Prospecting,2025-10-02")
        if kind == "advanced":
            history.append(f"D{i},Proposal,2025-10-20")
        if kind == "lost":
            history.append(f"D{i},Lost,2025-10-15")
    folder = write_dataset(
        tmp_path / "d",
        deals="\n".join(deals) + "\n",
        stages=STAGES_CSV,
        stage_history="\n".join(history) + "\n",
    )
    ds = pk.load(folder)
    row = (
        pk.stage_conversion(ds, "2025-Q4", as_of="2025-12-31")
        .filter(pl.col("stage") == "Prospecting")
        .row(0, named=True)
    )
    assert (row["entered"], row["advanced"], row["dropped"], row["pending"]) == (20, 6, 8, 6)
    # Aalen-Johansen: 8 of 20 dropped after 13 days, 6 of the 12 left advanced after 18; the
    # 6 pending (censored at 90 days) outlast every decided deal: 6 / 20, 8 / 20 decided
    assert row["conversion"] == pytest.approx(6 / 20) and row["drop_off"] == pytest.approx(8 / 20)
    low = stats.binomtest(6, 20).proportion_ci(0.95, method="wilson").low
    high = stats.binomtest(12, 20).proportion_ci(0.95, method="wilson").high
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low), pytest.approx(high))
    assert row["ci_low"] < row["conversion"] < row["ci_high"]


# ----------------------------------------------------------------------------- Aalen-Johansen
# stage_conversion's point estimate (audit A4 of the seventh session): the cumulative
# incidence of advancing, pending deals censored at as_of.


def _cohort(
    rows: list[tuple[str, int, int]], accounts: list[str | None] | None = None
) -> pk.Dataset:
    """Deals entering Prospecting on 2025-10-01 + ``day``: ``("advanced", day, after)`` moves
    to Proposal ``after`` days later, ``"dropped"`` is lost then, ``"pending"`` stays; with
    ``accounts``, each deal's ``account_id``."""
    start = dt.date(2025, 10, 1)
    deals, history = [], []
    for i, (kind, day, after) in enumerate(rows):
        entered = start + dt.timedelta(days=day)
        moved = (entered + dt.timedelta(days=after)).isoformat()
        deals.append(
            {
                "deal_id": f"D{i}",
                "owner": "ann",
                "team": "red",
                "amount": "100",
                "created_at": str(entered),
                "stage": {"advanced": "Proposal", "dropped": "Lost"}.get(kind, "Prospecting"),
                "status": "lost" if kind == "dropped" else "open",
                "closed_at": moved if kind == "dropped" else None,
                **({"account_id": accounts[i]} if accounts is not None else {}),
            }
        )
        history.append({"deal_id": f"D{i}", "stage": "Prospecting", "entered_at": str(entered)})
        if kind != "pending":
            stage = "Proposal" if kind == "advanced" else "Lost"
            history.append({"deal_id": f"D{i}", "stage": stage, "entered_at": moved})
    stages = pl.DataFrame(
        {
            "stage": ["Prospecting", "Proposal", "Won", "Lost"],
            "order": ["1", "2", "3", "4"],
            "probability": ["0.1", "0.5", "1", "0"],
            "is_won": ["false", "false", "true", "false"],
            "is_lost": ["false", "false", "false", "true"],
        }
    )
    return pk.load(
        {
            "deals": pl.DataFrame(deals, schema=dict.fromkeys(deals[0], pl.String)),
            "stages": stages,
            "stage_history": pl.DataFrame(history),
        }
    )


def _prospecting(ds: pk.Dataset, as_of: str) -> dict:
    frame = pk.stage_conversion(ds, "2025-Q4", as_of=as_of)
    return _by_stage(frame)["Prospecting"]


def test_stage_conversion_is_the_aalen_johansen_incidence_by_hand():
    """Read on 2025-11-10, days in Prospecting: dropped at 2, pending at 3 (entered 11-07),
    advanced at 4, advanced and dropped at 6, pending at 9 (entered 11-01).

    t = 2: 6 at risk, F_drop = 1/6, S = 5/6; t = 3: censored; t = 4: 4 at risk, F_adv =
    5/6 · 1/4 = 5/24, S = 5/8; t = 6: 3 at risk, F_adv += 5/8 · 1/3, F_drop += 5/8 · 1/3:
    F_adv = 5/12, F_drop = 3/8 and 5/24 undecided (the deal pending for 9 days). The decided
    deals alone gave 2/4."""
    ds = _cohort(
        [
            ("dropped", 31, 2),
            ("pending", 37, 0),
            ("advanced", 31, 4),
            ("advanced", 31, 6),
            ("dropped", 31, 6),
            ("pending", 31, 0),
        ]
    )
    row = _prospecting(ds, "2025-11-10")
    assert (row["entered"], row["advanced"], row["dropped"], row["pending"]) == (6, 2, 2, 2)
    assert row["conversion"] == pytest.approx(5 / 12, abs=1e-12)
    assert row["drop_off"] == pytest.approx(3 / 8, abs=1e-12)
    assert row["ci_low"] < 2 / 6 < 5 / 12 < 4 / 6 < row["ci_high"]


def test_stage_conversion_without_pending_deals_is_the_decided_share_exactly():
    ds = _cohort([("advanced", d, 3 + d % 5) for d in range(7)] + [("dropped", 3, 2)] * 4)
    row = _prospecting(ds, "2026-01-31")
    assert row["pending"] == 0
    assert row["conversion"] == 7 / 11 and row["drop_off"] == 4 / 11


def _aalen_johansen_by_hand(outcomes: list[tuple[int, str]]) -> tuple[float, float]:
    """Plain Python: (time, "advanced" | "dropped" | "pending") -> (F_adv, F_drop) at the end."""
    s, f_adv, f_drop = 1.0, 0.0, 0.0
    for t in sorted({t for t, _ in outcomes}):
        at_risk = sum(1 for u, _ in outcomes if u >= t)
        adv = sum(1 for u, k in outcomes if u == t and k == "advanced")
        drop = sum(1 for u, k in outcomes if u == t and k == "dropped")
        f_adv += s * adv / at_risk
        f_drop += s * drop / at_risk
        s *= 1 - (adv + drop) / at_risk
    return f_adv, f_drop


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["advanced", "dropped", "pending"]),
            st.integers(0, 91),
            st.integers(0, 60),
        ),
        min_size=1,
        max_size=25,
    ),
    st.sampled_from(["2025-12-31", "2026-01-20", "2026-03-31"]),
)
def test_stage_conversion_matches_plain_python_and_stays_within_the_pending_bounds(rows, as_of):
    read = dt.date.fromisoformat(as_of)
    start = dt.date(2025, 10, 1)
    outcomes = []
    for kind, day, after in rows:
        entered = start + dt.timedelta(days=day)
        if kind != "pending" and entered + dt.timedelta(days=after) > read:
            kind = "pending"  # (decided after as_of: still pending when read)
        age = (read - entered).days if kind == "pending" else after
        outcomes.append((age, kind))
    row = _prospecting(_cohort(rows), as_of)
    kinds = [k for _, k in outcomes]
    assert (row["advanced"], row["dropped"], row["pending"]) == tuple(
        kinds.count(k) for k in ("advanced", "dropped", "pending")
    )
    if row["n"] == 0:
        assert row["conversion"] is None and row["drop_off"] is None
        return
    f_adv, f_drop = _aalen_johansen_by_hand(outcomes)
    assert row["conversion"] == pytest.approx(f_adv, abs=1e-12)
    assert row["drop_off"] == pytest.approx(f_drop, abs=1e-12)
    entered = row["entered"]
    assert row["advanced"] / entered - 1e-12 <= row["conversion"]
    assert row["conversion"] <= (row["advanced"] + row["pending"]) / entered + 1e-12
    assert row["ci_low"] <= row["conversion"] <= row["ci_high"]


# ----------------------------------------------------------------------------- accounts
# P8 of the intervals audit, part 5: deals of one account advance or drop together.

CLUSTERED_COHORT = [
    ("advanced", 5, 10),  # A
    ("advanced", 6, 12),  # A
    ("dropped", 5, 3),  # B
    ("dropped", 7, 4),  # B
    ("advanced", 8, 9),  # C
    ("dropped", 9, 2),  # no account
    ("pending", 80, 0),  # E
    ("pending", 85, 0),  # E
]
CLUSTERED_ACCOUNTS = ["A", "A", "B", "B", "C", None, "E", "E"]


def test_stage_conversion_interval_widens_by_the_accounts_design_effect():
    """The decided deals: accounts A (2 advanced), B (2 dropped), C (1 advanced) and a dropped
    deal without an account: m = 2, 2, 1, 1, k = 2, 0, 1, 0, N = 6, K = 4, p̄ = 1/2, MSB =
    6 · 1/4 / 3 = 0.5, MSW = 0, ICC = 1, deff = 1 + (10/6 - 1) = 5/3 (the pending E deals do
    not count). The bounds: modified Wilson of 3 / 8 (every pending deal drops) and of 5 / 8
    (every one advances), each the wider of the plain one and the one on 8 / deff deals."""
    from tests.conftest import clustered_wilson_ci, wilson_ci

    row = _prospecting(_cohort(CLUSTERED_COHORT, CLUSTERED_ACCOUNTS), "2025-12-31")
    assert (row["entered"], row["advanced"], row["dropped"], row["pending"]) == (8, 3, 3, 2)
    assert row["design_effect"] == pytest.approx(5 / 3, abs=1e-12)
    low = clustered_wilson_ci(3, 8, 5 / 3)[0]
    high = clustered_wilson_ci(5, 8, 5 / 3)[1]
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), abs=1e-12)
    assert row["ci_low"] < wilson_ci(3, 8)[0] and row["ci_high"] > wilson_ci(5, 8)[1]
    # without account ids: null, and the plain interval of the pending bounds
    plain = _prospecting(_cohort(CLUSTERED_COHORT), "2025-12-31")
    assert plain["design_effect"] is None
    assert (plain["ci_low"], plain["ci_high"]) == pytest.approx(
        (wilson_ci(3, 8)[0], wilson_ci(5, 8)[1]), abs=1e-12
    )
    # every deal its own account: exactly 1, the plain interval
    own = _prospecting(_cohort(CLUSTERED_COHORT, [f"X{i}" for i in range(8)]), "2025-12-31")
    assert own["design_effect"] == 1.0
    assert (own["ci_low"], own["ci_high"]) == (plain["ci_low"], plain["ci_high"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["advanced", "dropped", "pending"]),
            st.integers(0, 91),
            st.integers(0, 60),
            st.sampled_from(["A", "B", "C", "D", None]),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_stage_conversion_design_effect_matches_plain_python(rows):
    from tests.conftest import design_effect_by_hand

    as_of = "2026-01-20"
    row = _prospecting(_cohort([r[:3] for r in rows], [r[3] for r in rows]), as_of)
    read = dt.date.fromisoformat(as_of)
    accounts: dict[str, list[bool]] = {}
    known = False
    for i, (kind, day, after, account) in enumerate(rows):
        decided_by = dt.date(2025, 10, 1) + dt.timedelta(days=day + after)
        if kind == "pending" or decided_by > read:
            continue
        known = known or account is not None
        accounts.setdefault(account or f"own {i}", []).append(kind == "advanced")
    if not known:
        assert row["design_effect"] is None
    else:
        assert row["design_effect"] == pytest.approx(design_effect_by_hand(accounts), abs=1e-9)
    assert row["design_effect"] is None or row["design_effect"] >= 1


def _quarters_of_one_cohort(accounts: list[str | None] | None) -> pk.Dataset:
    """The same six decided deals entering Prospecting on the 5th-9th of each quarter's first
    month, 2023-Q4 to 2025-Q4: per quarter CLUSTERED_COHORT's first six (accounts A, A, B, B,
    C and none, 3 advanced)."""
    rows, owners = [], []
    for q in range(9):
        year, month = 2023 + (q + 3) // 4, ((q + 3) % 4) * 3 + 1
        offset = (dt.date(year, month, 1) - dt.date(2025, 10, 1)).days
        for (kind, day, after), account in zip(
            CLUSTERED_COHORT[:6], CLUSTERED_ACCOUNTS[:6], strict=True
        ):
            rows.append((kind, offset + day, after))
            owners.append(None if account is None else f"{account}{q}")
    return _cohort(rows, owners if accounts is not None else None)


def test_control_limits_divide_each_quarters_counts_by_its_design_effect():
    """Every quarter: 3 of 6 advanced, design effect 5/3 (as above), so 3.6 independent deals
    with 1.8 advancing; the 8 past quarters: 14.4 of 28.8, no swing between them (all equal),
    so the next quarter's rate is Beta(14.4 + 1/2, 28.8 - 14.4 + 1/2) and its limits the
    0.135% / 99.865% quantiles of the beta-binomial count of round(6 / (5/3)) = 4 deals,
    over 4 (scipy). Without account ids: Beta(24.5, 24.5) over the 6 deals."""
    from scipy import stats

    tail = stats.norm.sf(3)
    for with_accounts, n, a in ((True, 4, 14.9), (False, 6, 24.5)):
        ds = _quarters_of_one_cohort([] if with_accounts else None)
        row = _by_stage(pk.stage_conversion_control(ds, "2025-Q4", as_of="2026-01-31"))[
            "Prospecting"
        ]
        assert (row["advanced"], row["n"], row["past_n"], row["past_quarters"]) == (3, 6, 48, 8)
        assert row["between_sd"] == 0.0
        if with_accounts:
            assert row["design_effect"] == pytest.approx(5 / 3, abs=1e-12)
        else:
            assert row["design_effect"] is None
        assert row["lcl"] == pytest.approx(stats.betabinom.ppf(tail, n, a, a) / n, abs=1e-12)
        assert row["ucl"] == pytest.approx(stats.betabinom.isf(tail, n, a, a) / n, abs=1e-12)


def test_stage_conversion_gives_the_same_bits_on_every_call(sample):
    """The Aalen-Johansen sums run in time order (a running sum): a parallel sum gave values a
    few ulps apart from call to call, and reports built twice differed."""
    first = pk.stage_conversion(sample, "2025-Q4", by="team")
    for _ in range(20):
        assert pk.stage_conversion(sample, "2025-Q4", by="team").equals(first)
