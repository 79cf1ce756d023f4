"""Bundled sample data and the synthetic CRM generator.

:func:`generate` simulates a B2B sales organisation on fixed calendar dates (deals created from
2023-10-01; the export is taken at the end of 2025-12-31, so 2024-Q1 .. 2025-Q4 are eight
complete quarters) and returns every canonical table. It is seeded and deterministic, and fully
vectorised (numpy over all deals at once, one loop iteration per stage move), so the same code
produces the 5,000-deal sample in ``data/sample`` and the multi-million-deal benchmark sets.

Deals walk the stages of :data:`STAGES` one move at a time: after a gamma-distributed dwell
(sometimes a 3-6x *stall*) a deal advances, sometimes *skipping* a stage, sometimes moves
*back* one stage, or is lost. A move that would happen after the export day does not happen:
the deal is still open. Planted differences (what the statistics should find), from
:data:`TEAMS`:

* win rate: Enterprise lowest (~0.20), SMB highest (~0.40); Mid-Market and EMEA share the same
  profile except deal size and region, so *no* difference should be found between them;
* cycle length: Enterprise longest, SMB shortest;
* deal size: Enterprise largest, SMB smallest;
* lead response: SMB fastest, Enterprise slowest;
* Partners is a small team (2 reps, ~3% of deals): too few deals for verdicts.

Renewals and referral/partner-sourced deals win more often, so team comparisons carry some mix
effect (Partners sells mostly through partners).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

__all__ = ["END", "STAGES", "START", "TEAMS", "TeamProfile", "generate", "sample_path", "write"]

START = dt.date(2023, 10, 1)
END = dt.date(2025, 12, 31)  # export day: nothing after it has happened yet
_EPOCH = dt.date(1970, 1, 1)

# name, order, default probability on the 0-100 scale many CRMs use, dwell weight
STAGES = [
    ("Prospecting", 1, 10, 0.8),
    ("Qualification", 2, 20, 1.0),
    ("Discovery", 3, 40, 1.2),
    ("Proposal", 4, 60, 1.1),
    ("Negotiation", 5, 80, 0.9),
    ("Closed Won", 6, 100, 0.0),
    ("Closed Lost", 7, 0, 0.0),
]
N_OPEN = 5
WON, LOST = 5, 6
# per-stage shape of the advance probability (scaled per team to hit its win rate)
_ADVANCE_SHAPE = np.array([0.80, 0.85, 0.90, 0.90, 0.95])


@dataclass(frozen=True)
class TeamProfile:
    """What makes a simulated team different."""

    name: str
    reps: int
    share: float  # share of all deals
    win_rate: float  # planted win rate for a new, inbound deal
    deal_size: float  # median new-business amount
    cycle_days: float  # mean total dwell over the five open stages
    response_hours: float  # median lead response time
    regions: tuple[str, ...]
    sources: tuple[float, ...]  # weights of LEAD_SOURCES


LEAD_SOURCES = ("Inbound", "Outbound", "Referral", "Partner", "Event")
_SOURCE_WIN = np.array([1.0, 0.85, 1.2, 1.1, 0.95])  # multiplier on the last stage's advance
DEAL_TYPES = ("new", "expansion", "renewal")
_TYPE_P = np.array([0.6, 0.25, 0.15])
_TYPE_WIN = np.array([1.0, 1.15, 1.35])
_TYPE_SIZE = np.array([1.0, 0.55, 0.8])
INDUSTRIES = (
    "Technology",
    "Healthcare",
    "Financial Services",
    "Retail",
    "Manufacturing",
    "Education",
)
LOST_REASONS = ("Price", "No decision", "Competitor", "Timing", "Missing feature", "Budget")
COMPETITORS = ("Acme CRM", "Globex", "Initech", "Umbrella Systems")
ACTIVITY_TYPES = ("call", "email", "meeting")
CHURN_REASONS = (
    "Price",
    "Switched to a competitor",
    "No longer needed",
    "Poor adoption",
    "Budget cut",
)
# the shares of the reasons; the rest of the churned accounts have none recorded (empty)
_CHURN_REASON_P = (0.25, 0.2, 0.15, 0.15, 0.1)
COLLATERAL = [  # content id, title, stage index from which it is used
    ("C01", "Product overview deck", 0),
    ("C02", "Customer case study", 1),
    ("C03", "ROI calculator", 2),
    ("C04", "Security whitepaper", 2),
    ("C05", "Pricing sheet", 3),
    ("C06", "Implementation plan", 4),
]
CHANNELS = ("Paid search", "Events", "Content", "Partner program")

TEAMS = (
    TeamProfile(
        "Enterprise",
        6,
        0.22,
        0.20,
        60_000,
        120,
        8.0,
        ("NA East", "NA West"),
        (0.35, 0.35, 0.15, 0.05, 0.10),
    ),
    TeamProfile(
        "Mid-Market",
        6,
        0.28,
        0.30,
        18_000,
        70,
        4.0,
        ("NA East", "NA West"),
        (0.45, 0.25, 0.12, 0.08, 0.10),
    ),
    TeamProfile(
        "SMB", 7, 0.32, 0.40, 5_000, 35, 1.5, ("NA East", "NA West"), (0.55, 0.20, 0.10, 0.05, 0.10)
    ),
    TeamProfile("EMEA", 5, 0.15, 0.30, 22_000, 70, 4.0, ("EMEA",), (0.45, 0.25, 0.12, 0.08, 0.10)),
    TeamProfile(
        "Partners", 2, 0.03, 0.30, 15_000, 70, 4.0, ("NA East",), (0.05, 0.05, 0.10, 0.75, 0.05)
    ),
)
_FIRST = (
    "Ava",
    "Ben",
    "Chloe",
    "Dev",
    "Elena",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jamal",
    "Kira",
    "Liam",
    "Maya",
    "Nikhil",
    "Olga",
    "Pedro",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
    "Wen",
    "Ximena",
    "Yusuf",
    "Zoe",
)
_LAST = (
    "Adams",
    "Bauer",
    "Costa",
    "Dubois",
    "Eze",
    "Fischer",
    "Garcia",
    "Haddad",
    "Ito",
    "Jensen",
    "Kowalski",
    "Lopez",
    "Moreau",
    "Novak",
    "Okafor",
    "Patel",
    "Quist",
    "Rossi",
    "Sato",
    "Tanaka",
    "Ueda",
    "Vargas",
    "Weber",
    "Xu",
    "Yilmaz",
    "Zhou",
)


def _rep_names(n: int) -> list[str]:
    return [f"{_FIRST[i % len(_FIRST)]} {_LAST[(i * 7 + 3) % len(_LAST)]}" for i in range(n)]


# the "missing" of np.where(mask, strings, _NONE): an object array, so the result holds None
_NONE = np.array(None, dtype=object)


def _strings(values: np.ndarray) -> pl.Series:
    """An object array of str/None as a String series (never polars' Object dtype)."""
    return pl.Series(values.tolist(), dtype=pl.String)


def _to_date(days: np.ndarray, start: dt.date = START) -> pl.Series:
    """Day offsets from ``start`` -> polars Date series."""
    return pl.Series(days.astype(np.int64) + (start - _EPOCH).days).cast(pl.Int32).cast(pl.Date)


def _to_datetime(hours: np.ndarray, start: dt.date = START) -> pl.Series:
    """Hour offsets (float) from ``start`` -> polars Datetime (microseconds, rounded to minutes)."""
    minutes = np.round(hours * 60).astype(np.int64)
    base = (start - _EPOCH).days * 86_400_000_000
    return pl.Series(base + minutes * 60_000_000).cast(pl.Datetime("us"))


def generate(
    n_deals: int = 5_000,
    seed: int = 7,
    *,
    start: dt.date = START,
    end: dt.date = END,
    seasonality: float = 0.0,
    quarter_end_push: float = 0.0,
    close_date_push: float = 0.0,
    truth: bool = False,
) -> dict[str, pl.DataFrame]:
    """Simulate every canonical table (see module docstring). Deterministic for a seed.

    The defaults give the bundled sample. For forecasting studies: ``start`` / ``end`` set the
    calendar (the export is taken at the end of ``end``), ``seasonality`` (0-1) the amplitude of
    a yearly cycle in deal creation (peak in November), ``quarter_end_push`` (0-1) the share of
    wins pulled into the last week of their quarter, ``close_date_push`` (0-1) the share of open
    deals whose expected close date had passed and that the rep pushed past the export day
    (the slipped close dates a CRM shows), and ``truth=True`` adds a ``truth`` table
    (never written by :func:`write`, never read by the kit): each deal's true probability of
    eventually being won from each open stage.

    >>> tables = generate(500, seed=1)
    >>> sorted(tables)[:3]
    ['activities', 'benchmarks', 'collateral_usage']
    """
    rng = np.random.default_rng(seed)
    horizon = (end - start).days  # last day index (inclusive)
    teams = TEAMS
    shares = np.array([t.share for t in teams])
    team = rng.choice(len(teams), size=n_deals, p=shares / shares.sum())

    # reps: a global list, each team owning a contiguous block
    rep_offsets = np.cumsum([0] + [t.reps for t in teams])
    reps = _rep_names(int(rep_offsets[-1]))
    rep = rep_offsets[team] + (
        rng.random(n_deals) * np.array([t.reps for t in teams])[team]
    ).astype(int)
    rep_skill = rng.normal(1.0, 0.06, size=len(reps))

    if seasonality:  # more deals created towards the year's end, fewer in summer
        days = np.arange(horizon + 1)
        doy = (np.datetime64(start) + days).astype("datetime64[D]")
        phase = (doy - doy.astype("datetime64[Y]")).astype(np.int64) - 320
        weight = 1 + seasonality * np.cos(2 * np.pi * phase / 365.25)
        created = np.sort(rng.choice(days, size=n_deals, p=weight / weight.sum()))
    else:
        created = np.sort(rng.integers(0, horizon + 1, size=n_deals))
    source = np.empty(n_deals, dtype=np.int64)
    for i, t in enumerate(teams):  # loop over teams (5), not rows
        idx = np.flatnonzero(team == i)
        w = np.array(t.sources)
        source[idx] = rng.choice(len(LEAD_SOURCES), size=idx.size, p=w / w.sum())
    dtype_ = rng.choice(3, size=n_deals, p=_TYPE_P)

    # advance probabilities: team-scaled shape; deal mix multiplies the last stage
    win = np.array([t.win_rate for t in teams])
    factor = (win / _ADVANCE_SHAPE.prod()) ** (1 / N_OPEN)
    advance = np.clip(_ADVANCE_SHAPE[None, :] * factor[:, None], 0, 0.99)[team]  # (n, 5)
    advance[:, -1] = np.clip(
        advance[:, -1] * _SOURCE_WIN[source] * _TYPE_WIN[dtype_] * rep_skill[rep], 0, 0.99
    )
    cycle = np.array([t.cycle_days for t in teams])[team]
    dwell_w = np.array([s[3] for s in STAGES[:N_OPEN]])
    dwell_scale = cycle[:, None] * dwell_w[None, :] / dwell_w.sum() / 2.0  # gamma shape 2

    stage = np.where(rng.random(n_deals) < 0.1, 1, 0)  # 10% created straight in Qualification
    day = created.copy()
    active = np.ones(n_deals, dtype=bool)
    h_deal, h_stage, h_day = [np.arange(n_deals)], [stage.copy()], [day.copy()]
    for _ in range(14):
        idx = np.flatnonzero(active)
        if idx.size == 0:
            break
        s = stage[idx]
        dwell = rng.gamma(2.0, dwell_scale[idx, s])
        stalled = rng.random(idx.size) < 0.07
        dwell = np.where(stalled, dwell * rng.uniform(3, 6, idx.size), dwell)
        next_day = day[idx] + np.maximum(1, np.round(dwell)).astype(np.int64)
        happens = next_day <= horizon
        u = rng.random(idx.size)
        p_adv = advance[idx, s]
        back = (s >= 2) & (u < 0.05)
        adv = ~back & (u < 0.05 * (s >= 2) + p_adv * (1 - 0.05 * (s >= 2)))
        skip = adv & (s <= 2) & (rng.random(idx.size) < 0.08)
        new_stage = np.where(back, s - 1, np.where(adv, s + 1 + skip, LOST))
        new_stage = np.where(adv & (s == N_OPEN - 1), WON, new_stage)
        if quarter_end_push:  # some wins are signed in the quarter's last week
            wins = (new_stage == WON) & (rng.random(idx.size) < quarter_end_push)
            pushed = _quarter_end(next_day, start) - rng.integers(0, 7, idx.size)
            next_day = np.where(wins & (pushed > next_day), pushed, next_day)
        moved = idx[happens]
        stage[moved] = new_stage[happens]
        day[moved] = next_day[happens]
        h_deal.append(moved)
        h_stage.append(new_stage[happens])
        h_day.append(next_day[happens])
        active[idx[~happens]] = False  # still open at export
        active[moved[stage[moved] >= WON]] = False
    # deals still moving after 14 moves are abandoned: lost as stale at their last day
    stale = np.flatnonzero(active & (stage < WON))
    stage[stale] = LOST
    h_deal.append(stale)
    h_stage.append(np.full(stale.size, LOST))
    h_day.append(day[stale])

    status = np.where(stage == WON, "won", np.where(stage == LOST, "lost", "open"))
    closed = stage >= WON
    stage_names = np.array([s[0] for s in STAGES])
    size = np.array([t.deal_size for t in teams])[team] * _TYPE_SIZE[dtype_]
    amount = np.round(rng.lognormal(np.log(size), 0.6) / 100) * 100 + 100
    expected = created + np.round(cycle * rng.uniform(0.6, 1.3, n_deals)).astype(np.int64)
    if close_date_push:  # reps push a passed close date of an open deal past the export day
        slipped = (stage < WON) & (expected <= horizon) & (rng.random(n_deals) < close_date_push)
        expected = np.where(slipped, horizon + rng.integers(7, 91, n_deals), expected)
    is_lost = stage == LOST
    reason = rng.choice(len(LOST_REASONS), size=n_deals, p=[0.2, 0.25, 0.2, 0.15, 0.1, 0.1])
    has_comp = (is_lost & (reason == 2)) | (rng.random(n_deals) < 0.25)
    comp = rng.choice(len(COMPETITORS), size=n_deals)
    regions = [np.array(t.regions) for t in teams]
    region = np.empty(n_deals, dtype=object)
    for i, r in enumerate(regions):
        idx = np.flatnonzero(team == i)
        region[idx] = r[rng.integers(0, len(r), idx.size)]
    accounts_per_team = np.maximum(5, (n_deals * shares / 3).astype(int))
    account = rng.integers(0, accounts_per_team[team])

    deal_ids = np.char.add("D", np.char.zfill(np.arange(1, n_deals + 1).astype(str), 7))
    team_names = np.array([t.name for t in teams])
    deals = pl.DataFrame(
        {
            "deal_id": deal_ids,
            "owner": np.array(reps)[rep],
            "team": team_names[team],
            "amount": amount,
            "created_at": _to_date(created, start),
            "stage": stage_names[stage],
            "status": status,
            "closed_at": _to_date(day, start)
            .to_frame("d")
            .select(pl.when(pl.Series(closed)).then(pl.col("d")))
            .to_series(),
            "account_id": account,
            "deal_type": np.array(DEAL_TYPES)[dtype_],
            "lead_source": np.array(LEAD_SOURCES)[source],
            "industry": np.array(INDUSTRIES)[rng.integers(0, len(INDUSTRIES), n_deals)],
            "region": region.astype(str),
            "expected_close": _to_date(expected, start),
            "probability": np.array([s[2] for s in STAGES], dtype=float)[stage],
            "lost_reason": _strings(np.where(is_lost, np.array(LOST_REASONS)[reason], _NONE)),
            "competitor": _strings(np.where(has_comp, np.array(COMPETITORS)[comp], _NONE)),
        }
    ).with_columns(
        pl.concat_str(
            pl.col("team").str.slice(0, 3).str.to_uppercase(),
            pl.lit("-"),
            pl.col("account_id").cast(pl.String).str.zfill(5),
        ).alias("account_id")
    )

    history = pl.DataFrame(
        {
            "deal_id": deal_ids[np.concatenate(h_deal)],
            "stage": stage_names[np.concatenate(h_stage)],
            "entered_at": _to_date(np.concatenate(h_day), start),
        }
    ).sort("deal_id", "entered_at", maintain_order=True)
    stages = pl.DataFrame(
        {
            "stage": [s[0] for s in STAGES],
            "order": [s[1] for s in STAGES],
            "probability": [float(s[2]) for s in STAGES],
            "pipeline": ["New business"] * len(STAGES),
            "is_won": [i == WON for i in range(len(STAGES))],
            "is_lost": [i == LOST for i in range(len(STAGES))],
        }
    )
    tables = {"deals": deals, "stage_history": history, "stages": stages}
    tables["leads"] = _leads(rng, deals, team, source, rep, reps, teams, created, start, end)
    tables["activities"] = _activities(rng, deals, created, day, closed, horizon, start)
    tables["collateral_usage"] = _collateral(rng, history, deals, end)
    tables["marketing_spend"] = _spend(rng, teams, n_deals, start, end)
    # churn reasons from their own stream, so every other table stays as it was without them
    reasons_rng = np.random.default_rng([seed, 19])
    tables["customers"] = _customers(rng, deals, end, reasons_rng)
    tables["targets"] = _targets(rng, deals, start, end)
    tables["benchmarks"] = benchmarks()
    if truth:
        tables["truth"] = _truth(deal_ids, advance)
    return tables


def _quarter_end(day: np.ndarray, start: dt.date) -> np.ndarray:
    """Day index (from ``start``) of the last day of the quarter containing each day index."""
    dates = np.datetime64(start, "D") + day
    month = dates.astype("datetime64[M]")
    quarter_start = month - (month.astype(np.int64) % 3)
    last = (quarter_start + 3).astype("datetime64[D]") - 1
    return (last - np.datetime64(start, "D")).astype(np.int64)


def _truth(deal_ids: np.ndarray, advance: np.ndarray) -> pl.DataFrame:
    """Each deal's true probability of eventually being won from each open stage.

    The walk of :func:`generate` from stage ``s`` (0-4): back one stage with probability 0.05
    (``s >= 2``); else advance with the deal's ``advance[s]``, two stages at once with
    probability 0.08 when ``s <= 2``; else lost. Absorption probabilities solve
    ``(I - Q) x = r`` (``Q`` among open stages, ``r`` into Closed Won), per deal at once.
    The 14-move cap of the simulation is ignored (it touches a handful of deals).
    """
    n = advance.shape[0]
    q = np.zeros((n, N_OPEN, N_OPEN))
    r = np.zeros((n, N_OPEN))
    for s in range(N_OPEN):  # five stages, each vectorised over deals
        back = 0.05 if s >= 2 else 0.0
        adv = (1 - back) * advance[:, s]
        if s >= 2:
            q[:, s, s - 1] = back
        skip = 0.08 if s <= 2 else 0.0
        for target, share in ((s + 1, 1 - skip), (s + 2, skip)):
            if share == 0:
                continue
            if target >= N_OPEN:
                r[:, s] += adv * share
            else:
                q[:, s, target] += adv * share
    p = np.linalg.solve(np.eye(N_OPEN)[None] - q, r[..., None])[..., 0]
    names = [s_[0] for s_ in STAGES[:N_OPEN]]
    return pl.DataFrame(
        {
            "deal_id": np.repeat(deal_ids, N_OPEN),
            "stage": np.tile(names, n),
            "p_win_eventually": p.ravel(),
        }
    )


def _leads(rng, deals, team, source, rep, reps, teams, created, start, end) -> pl.DataFrame:
    """Two unconverted leads per deal, plus one converted lead for 80% of deals."""
    n = deals.height
    converted = rng.random(n) < 0.8
    n_extra = 2 * n
    l_team = np.concatenate([team[converted], rng.choice(team, n_extra)])
    l_source = np.concatenate([source[converted], rng.choice(len(LEAD_SOURCES), n_extra)])
    l_owner = np.concatenate([rep[converted], rng.choice(rep, n_extra)])
    l_deal = np.concatenate([np.flatnonzero(converted), np.full(n_extra, -1)])
    conv_hours = np.concatenate([created[converted] * 24.0 + 9, np.full(n_extra, np.nan)])
    horizon_h = (end - start).days * 24.0 + 17
    created_h = np.concatenate(
        [
            conv_hours[: converted.sum()] - rng.uniform(24, 21 * 24, converted.sum()),
            rng.uniform(0, horizon_h - 24, n_extra),
        ]
    )
    median = np.array([t.response_hours for t in teams])[l_team]
    response = rng.lognormal(np.log(median), 1.0)
    never = (l_deal < 0) & (rng.random(l_deal.size) < 0.15)
    first_response = np.where(never, np.nan, created_h + response)
    first_response = np.where(first_response > horizon_h, np.nan, first_response)
    qualified = np.where(
        l_deal >= 0,
        created_h + (conv_hours - created_h) * rng.uniform(0.3, 0.9, l_deal.size),
        np.where(
            rng.random(l_deal.size) < 0.25, created_h + rng.uniform(24, 240, l_deal.size), np.nan
        ),
    )
    qualified = np.where(qualified > horizon_h, np.nan, qualified)
    deal_ids = deals["deal_id"].to_numpy()
    frame = pl.DataFrame(
        {
            "lead_id": np.char.add(
                "L", np.char.zfill(np.arange(1, l_deal.size + 1).astype(str), 8)
            ),
            "created_at": _to_datetime(created_h, start),
            "source": np.array(LEAD_SOURCES)[l_source],
            "owner": np.array(reps)[l_owner],
            "team": np.array([t.name for t in teams])[l_team],
            "qualified_at": _to_datetime(np.nan_to_num(qualified), start),
            "first_response_at": _to_datetime(np.nan_to_num(first_response), start),
            "converted_at": _to_datetime(np.nan_to_num(conv_hours), start),
            "deal_id": _strings(np.where(l_deal >= 0, deal_ids[np.maximum(l_deal, 0)], _NONE)),
        }
    )
    return frame.with_columns(
        pl.when(pl.Series(~np.isnan(qualified))).then(pl.col("qualified_at")),
        pl.when(pl.Series(~np.isnan(first_response))).then(pl.col("first_response_at")),
        pl.when(pl.Series(~np.isnan(conv_hours))).then(pl.col("converted_at")),
    ).sort("created_at", "lead_id")


def _activities(rng, deals, created, day, closed, horizon, start) -> pl.DataFrame:
    """Calls, emails and meetings spread over each deal's life; won deals get more touches."""
    end = np.where(closed, day, horizon)
    life = np.maximum(1, end - created)
    won = (deals["status"] == "won").to_numpy()
    lam = np.minimum(12, 1 + life / 20) * np.where(won, 1.4, 1.0)
    k = rng.poisson(lam)
    deal_idx = np.repeat(np.arange(deals.height), k)
    at_h = (created[deal_idx] + rng.random(deal_idx.size) * life[deal_idx]) * 24 + rng.uniform(
        8, 18, deal_idx.size
    )
    at_h = np.minimum(at_h, horizon * 24 + 17)
    return pl.DataFrame(
        {
            "activity_id": np.char.add(
                "A", np.char.zfill(np.arange(1, deal_idx.size + 1).astype(str), 8)
            ),
            "owner": deals["owner"].to_numpy()[deal_idx],
            "type": np.array(ACTIVITY_TYPES)[rng.choice(3, deal_idx.size, p=[0.5, 0.35, 0.15])],
            "occurred_at": _to_datetime(at_h, start),
            "deal_id": deals["deal_id"].to_numpy()[deal_idx],
            "lead_id": pl.Series([None] * deal_idx.size, dtype=pl.String),
        }
    ).sort("occurred_at", "activity_id")


def _collateral(rng, history: pl.DataFrame, deals: pl.DataFrame, end: dt.date) -> pl.DataFrame:
    """Content used once a deal reaches the content's stage (late content only in late deals)."""
    order = {s[0]: s[1] - 1 for s in STAGES}
    first_entry = (
        history.with_columns(
            pl.col("stage").replace_strict(order, return_dtype=pl.Int64).alias("k")
        )
        .filter(pl.col("k") < N_OPEN)
        .group_by("deal_id", "k")
        .agg(pl.col("entered_at").min())
        .sort("deal_id", "k")  # fixed order: the random draws below follow it
    )
    parts = []
    for content_id, title, k in COLLATERAL:
        reached = first_entry.filter(pl.col("k") == k)
        use = rng.random(reached.height) < 0.45
        parts.append(
            reached.filter(pl.Series(use)).select(
                pl.lit(content_id).alias("content_id"),
                "deal_id",
                (
                    pl.col("entered_at")
                    + pl.duration(days=pl.lit(pl.Series(rng.integers(0, 5, int(use.sum())))))
                )
                .clip(upper_bound=end)
                .alias("used_at"),
                pl.lit(title).alias("title"),
            )
        )
    usage = pl.concat(parts).join(deals.select("deal_id", "owner"), on="deal_id")
    return usage.sort("used_at", "deal_id", "content_id")


_CHANNEL_SHARE = (0.4, 0.25, 0.2, 0.15)
_SPEND_PER_DEAL_VALUE = 0.08  # marketing spend per unit of deal value created


def _spend(rng, teams, n_deals: int, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Monthly spend per team and channel, proportional to the deal value the team creates.

    So CAC scales with deal size and CLV:CAC lands in a plausible 3-15 range.
    """
    months = pl.date_range(start, end, interval="1mo", eager=True)
    rows = []
    for t in teams:
        for share, channel in zip(_CHANNEL_SHARE, CHANNELS, strict=True):
            deals_per_month = n_deals * t.share / len(months)
            base = deals_per_month * t.deal_size * _SPEND_PER_DEAL_VALUE * share
            rows.append(
                pl.DataFrame(
                    {
                        "period_start": months,
                        "amount": np.round(base * rng.uniform(0.7, 1.3, len(months)), 2),
                        "channel": channel,
                        "team": t.name,
                    }
                )
            )
    return pl.concat(rows)


def _customers(
    rng, deals: pl.DataFrame, end: dt.date, reasons_rng: np.random.Generator
) -> pl.DataFrame:
    """Accounts with at least one won deal; some churn before the export day.

    A churned account has a reason drawn from ``reasons_rng`` (15% none recorded).
    """
    won = deals.filter(pl.col("status") == "won")
    customers = (
        won.group_by("account_id")
        .agg(
            pl.col("closed_at").min().alias("start_date"),
            (pl.col("amount").sum() / 12).round(2).alias("mrr"),
            pl.col("team").first(),
        )
        .sort("account_id")
    )
    life = rng.exponential(900, customers.height).astype(int) + 30
    p = np.array([*_CHURN_REASON_P, 1 - sum(_CHURN_REASON_P)])
    drawn = reasons_rng.choice(len(p), size=customers.height, p=p)
    reason = np.array([*CHURN_REASONS, ""], dtype=object)[drawn]
    return (
        customers.with_columns(
            (pl.col("start_date") + pl.duration(days=pl.lit(pl.Series(life)))).alias("end_date")
        )
        .with_columns(pl.when(pl.col("end_date") <= end).then(pl.col("end_date")).alias("end_date"))
        .with_columns(
            pl.when(pl.col("end_date").is_not_null() & (pl.lit(pl.Series(reason)) != ""))
            .then(pl.lit(pl.Series(reason, dtype=pl.String)))
            .alias("churn_reason")
        )
        .select("account_id", "start_date", "end_date", "mrr", "team", "churn_reason")
    )


def _targets(rng, deals: pl.DataFrame, start: dt.date, end: dt.date) -> pl.DataFrame:
    """A bookings target per team and quarter, set 0-25% above what was then booked.

    For the complete quarters after the first.
    """
    first = dt.date(start.year + start.month // 10, (start.month + 2) // 3 * 3 % 12 + 1, 1)
    last = dt.date(end.year, (end.month - 1) // 3 * 3 + 1, 1)
    quarters = pl.date_range(first, last, interval="3mo", eager=True)
    won = deals.filter(pl.col("status") == "won").with_columns(
        pl.col("closed_at").dt.truncate("3mo").alias("period_start")
    )
    booked = won.group_by("team", "period_start").agg(pl.col("amount").sum())
    grid = pl.DataFrame({"team": sorted(deals["team"].unique())}).join(
        pl.DataFrame({"period_start": quarters}), how="cross"
    )
    out = grid.join(booked, on=["team", "period_start"], how="left").sort("team", "period_start")
    uplift = rng.uniform(0.95, 1.25, out.height)
    return out.select(
        "team",
        "period_start",
        (pl.col("period_start").dt.offset_by("3mo") - pl.duration(days=1)).alias("period_end"),
        (pl.col("amount").fill_null(10_000) * pl.Series(uplift) / 1000).round(0) * 1000,
    ).rename({"amount": "target"})


def benchmarks() -> pl.DataFrame:
    """Illustrative external reference values (labelled as such; not measured figures).

    One organisation-wide value per metric (scope ``all``) and one team-specific win rate
    (scope ``Enterprise``), to show that a team is compared with its own scope first.
    """
    note = "illustrative, not a measured figure"
    rows = [  # metric, value, scope, low, high, remark
        ("win_rate", 0.28, "all", 0.20, 0.35, ""),
        ("win_rate", 0.22, "Enterprise", 0.15, 0.30, " (enterprise deals are harder to win)"),
        ("avg_won_deal_size", 20_000.0, "all", None, None, ""),
        ("median_won_deal_size", 12_000.0, "all", None, None, ""),
        ("cycle_length_km_days", 75.0, "all", 45.0, 100.0, ""),
        ("lead_response_hours", 4.0, "all", None, None, ""),
    ]
    return pl.DataFrame(
        {
            "metric": [r[0] for r in rows],
            "value": [r[1] for r in rows],
            "scope": [r[2] for r in rows],
            "source": [note + r[5] for r in rows],
            "low": pl.Series([r[3] for r in rows], dtype=pl.Float64),
            "high": pl.Series([r[4] for r in rows], dtype=pl.Float64),
            "n": pl.Series([None] * len(rows), dtype=pl.Int64),
        }
    )


def write(out: str | Path, n_deals: int = 5_000, seed: int = 7, fmt: str = "csv") -> list[Path]:
    """Generate and write every table as ``out/<table>.csv`` (or ``.parquet``)."""
    if fmt not in ("csv", "parquet"):
        raise ValueError(f"format must be csv or parquet, not {fmt!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in generate(n_deals, seed).items():  # never the truth table
        path = out / f"{name}.{fmt}"
        if fmt == "csv":
            frame.write_csv(path, datetime_format="%Y-%m-%d %H:%M", float_precision=2)
        else:
            frame.write_parquet(path)
        paths.append(path)
    return paths


def sample_path() -> Path:
    """Folder of the bundled sample dataset (``data/sample`` in a source checkout)."""
    return Path(__file__).resolve().parent.parent / "data" / "sample"
