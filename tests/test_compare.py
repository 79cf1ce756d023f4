"""Statistical comparisons: textbook answers, independent scipy calls, properties, and the
differences the sample generator planted."""

from __future__ import annotations

import csv
import io

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import stats as sps

import pipeline_kit as pk
from pipeline_kit import stats
from pipeline_kit.cli import main
from pipeline_kit.comparisons.significance import ROBUST_TO_ACCOUNTS

from . import plain_clustered as plain
from .conftest import (
    SAMPLE,
    account_design_effects,
    accounts_of,
    clustered_wilson_ci,
    pooled_design_effects_by_hand,
    read_rows,
    wilson_ci,
    write_dataset,
)

# ----------------------------------------------------------------------------- textbook


def test_textbook_answers():
    # 7 heads in 10 tosses of a fair coin: two-sided exact p = 352/1024
    assert stats.binomial_test(7, 10, 0.5) == pytest.approx(0.34375)
    # Fisher's lady tasting tea, 3 of 4 right: two-sided p = 34/70
    assert stats.fisher_test(3, 4, 1, 4)[1] == pytest.approx(34 / 70)
    # Benjamini & Hochberg (1995), 15 p-values: the first four are rejected at 0.05
    p = [
        0.0001,
        0.0004,
        0.0019,
        0.0095,
        0.0201,
        0.0278,
        0.0298,
        0.0344,
        0.0459,
        0.3240,
        0.4262,
        0.5719,
        0.6528,
        0.7590,
        1.0,
    ]
    q = stats.benjamini_hochberg(np.array(p))
    assert (q < 0.05).sum() == 4
    assert q == pytest.approx(_plain_bh(p))
    # median of 1..10 with no censoring is 5 (S drops to 0.5 there); testing 5.5 gives z = 0
    assert stats.km_median_test(np.arange(1, 11.0), np.ones(10, bool), 5.5)[1] == pytest.approx(1.0)


def _plain_bh(p: list[float]) -> list[float]:
    """Benjamini-Hochberg step-up in plain Python."""
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    q = [0.0] * m
    running = 1.0
    for rank in range(m, 0, -1):
        i = order[rank - 1]
        running = min(running, p[i] * m / rank)
        q[i] = running
    return q


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 1, allow_nan=False), min_size=1, max_size=40))
def test_bh_properties(p):
    q = stats.benjamini_hochberg(np.array(p))
    assert (q >= np.array(p) - 1e-12).all()
    assert q == pytest.approx(_plain_bh(p))


# ----------------------------------------------------------------------------- independent


@pytest.fixture(scope="module")
def comparison(sample) -> pl.DataFrame:
    return pk.compare(sample, "2025-Q4", by="team")


def _row(frame, metric, team, kind):
    return frame.filter(
        pl.col("metric") == metric, pl.col("team") == team, pl.col("kind") == kind
    ).row(0, named=True)


def test_win_rate_tests_match_scipy(comparison):
    closed = [
        r
        for r in read_rows(SAMPLE / "deals.csv")
        if r["closed_at"] and "2025-10-01" <= r["closed_at"] <= "2025-12-31"
    ]
    team = [r for r in closed if r["team"] == "Enterprise"]
    rest = [r for r in closed if r["team"] != "Enterprise"]
    k1, n1 = sum(r["status"] == "won" for r in team), len(team)
    k2, n2 = sum(r["status"] == "won" for r in rest), len(rest)
    # deals of one account cluster: each side's counts divided by its design effect (Rao-Scott;
    # one ICC pooled over both sides), rounded to whole counts for the exact test
    d1 = account_design_effects(team, lambda r: 0)[0]  # the team's own: its interval's
    t1, t2 = pooled_design_effects_by_hand([accounts_of(team), accounts_of(rest)])
    e1, e2 = _effective(k1, n1, t1), _effective(k2, n2, t2)
    got = _row(comparison, "win_rate", "Enterprise", "rest_of_org")
    assert got["p_value"] == pytest.approx(_plain_mid_p(*e1, *e2))
    assert (got["n"], got["n_benchmark"]) == (n1, n2)
    assert got["test"].startswith("Fisher's exact test (mid-p)")
    ext = _row(comparison, "win_rate", "Enterprise", "external")
    assert ext["benchmark"] == 0.22  # the team-scoped benchmark wins over "all"
    # the benchmark row states its interval (0.15-0.30): the MOVER test (above 0.22 here)
    assert k1 / n1 > 0.22
    got_p = _mover_p(k1 / d1, n1 / d1, 0.22, 0.15, 0.30)
    assert ext["p_value"] == pytest.approx(got_p, rel=1e-4)
    low, high = clustered_wilson_ci(k1, n1, d1)
    assert (ext["ci_low"], ext["ci_high"]) == (pytest.approx(low), pytest.approx(high))


def _effective(k: int, n: int, deff: float | None) -> tuple[int, int]:
    """k / deff of n / deff deals as whole counts: n rounded half up, k at the same rate."""
    import math

    if deff is None or deff <= 1:
        return k, n
    n_eff = max(1, math.floor(n / deff + 0.5))
    return math.floor(k * n_eff / n + 0.5), n_eff


def _accounts_dataset(tmp_path, rows):
    """Closed deals of 2025-Q4: (team, account, won/lost) each; '' is a deal without one."""
    lines = ["deal_id,owner,team,amount,created_at,stage,status,closed_at,account_id"]
    for i, (team, account, status) in enumerate(rows):
        stage = "Won" if status == "won" else "Lost"
        lines.append(f"d{i},ann,{team},100,2025-10-01,{stage},{status},2025-11-01,{account}")
    return pk.load(write_dataset(tmp_path / "acc", deals="\n".join(lines) + "\n"))


def test_win_rate_tests_divide_clustered_counts_by_the_design_effect(tmp_path):
    """red: 10 accounts of 2 deals, both won (4) or both lost (6): N = 20, K = 10, p̄ = 0.4,
    MSB = 20 · 0.24 / 9, MSW = 0, ICC = 1, deff = 1 + (40 / 20 - 1) = 2, so 8 of 20 is
    worth 4 of 10. blue: 40 deals in 40 accounts, 30 won: deff 1, its counts as they are.
    Fisher's mid-p on 4/10 against 30/40; the plain one on 8/20 would be smaller."""
    rows = [("red", f"A{i}", "won" if i < 4 else "lost") for i in range(10) for _ in range(2)]
    rows += [("blue", f"B{i}", "won" if i < 30 else "lost") for i in range(40)]
    out = pk.compare(_accounts_dataset(tmp_path, rows), "2025-Q4", by="team", min_n=10)
    red = _row(out, "win_rate", "red", "rest_of_org")
    assert red["p_value"] == pytest.approx(_plain_mid_p(4, 10, 30, 40))
    assert red["p_value"] > _plain_mid_p(8, 20, 30, 40)
    assert red["test"].endswith("(Rao-Scott)")
    assert (red["ci_low"], red["ci_high"]) == pytest.approx(clustered_wilson_ci(8, 20, 2.0))
    blue = _row(out, "win_rate", "blue", "rest_of_org")  # the rest (red) is clustered
    assert blue["p_value"] == pytest.approx(_plain_mid_p(30, 40, 4, 10))
    assert (blue["ci_low"], blue["ci_high"]) == pytest.approx(wilson_ci(30, 40))


def test_win_rate_tests_without_account_ids_are_the_plain_ones(tmp_path):
    rows = [("red", "", "won" if i < 8 else "lost") for i in range(20)]
    rows += [("blue", "", "won" if i < 30 else "lost") for i in range(40)]
    out = pk.compare(_accounts_dataset(tmp_path, rows), "2025-Q4", by="team", min_n=10)
    red = _row(out, "win_rate", "red", "rest_of_org")
    assert red["p_value"] == pytest.approx(_plain_mid_p(8, 20, 30, 40))
    assert red["test"] == "Fisher's exact test (mid-p)"
    assert (red["ci_low"], red["ci_high"]) == pytest.approx(wilson_ci(8, 20))


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 200), st.integers(1, 200), st.floats(1, 6))
def test_effective_counts_keep_the_rate_and_shrink_by_the_design_effect(k, n, deff):
    k = min(k, n)
    k_eff, n_eff = stats.effective_counts(k, n, deff)
    assert (k_eff, n_eff) == _effective(k, n, deff)
    assert 0 <= k_eff <= n_eff <= n and abs(n_eff - max(n / deff, 1)) <= 0.5 + 1e-9
    assert abs(k_eff / n_eff - k / n) <= 0.5 / n_eff + 1e-9


def test_win_rate_interval_is_the_metric_layers_to_the_last_bit(sample):
    """compare() takes its Wilson interval from pipeline_kit.stats, as win_rate() does: the
    two never disagree in the last digit (the scipy copy of the formula used before did for
    about half of the groups)."""
    for period, by in (("2025-Q4", "team"), ("2025-Q2", "owner")):
        tested = pk.compare(sample, period, by=by).filter(
            pl.col("metric") == "win_rate", pl.col("kind") == "rest_of_org"
        )
        rates = pk.win_rate(sample, period, by=by).filter(pl.col("n") > 0)
        joined = tested.join(rates, on=by, suffix="_metric")
        assert joined.height == rates.height > 4
        assert joined["ci_low"].to_list() == joined["ci_low_metric"].to_list()
        assert joined["ci_high"].to_list() == joined["ci_high_metric"].to_list()


def test_benchmark_lookup_prefers_the_group_then_all_then_unscoped():
    from pipeline_kit.comparisons.benchmarks import external_benchmark

    bench = pl.DataFrame(
        {
            "metric": ["win_rate", "win_rate", "win_rate", "cycle_length_km_days"],
            "value": [0.3, 0.25, 0.2, 60.0],
            "scope": [None, "all", "EMEA", None],
            "source": ["survey", None, "board", "ops"],
        }
    )
    assert external_benchmark(bench, "win_rate", "EMEA") == (0.2, "board")
    assert external_benchmark(bench, "win_rate", "SMB") == (0.25, "benchmarks table")
    assert external_benchmark(bench, "cycle_length_km_days", "SMB") == (60.0, "ops")
    assert external_benchmark(bench, "median_won_deal_size", "SMB") == (None, "")


def test_cycle_and_size_tests_match_scipy(comparison):
    deals = read_rows(SAMPLE / "deals.csv")
    import datetime as dt

    last = dt.date(2025, 12, 31)

    def durations(rows):
        out = []
        for r in rows:
            created = dt.date.fromisoformat(r["created_at"])
            closed = dt.date.fromisoformat(r["closed_at"]) if r["closed_at"] else None
            out.append(((closed or last) - created).days)
        return np.array(out, float), np.array([bool(r["closed_at"]) for r in rows])

    def account(r):  # (a deal without an account is its own)
        return r["account_id"] or "deal " + r["deal_id"]

    cohort = [r for r in deals if "2025-10-01" <= r["created_at"] <= "2025-12-31"]
    smb_rows = [r for r in cohort if r["team"] == "SMB"]
    rest_rows = [r for r in cohort if r["team"] != "SMB"]
    smb, rest = durations(smb_rows), durations(rest_rows)
    expected = sps.logrank(
        sps.CensoredData(uncensored=smb[0][smb[1]], right=smb[0][~smb[1]]),
        sps.CensoredData(uncensored=rest[0][rest[1]], right=rest[0][~rest[1]]),
    )
    # the sample's deals share accounts: the statistic divided by its scores' design effect
    scores = plain.logrank_scores(
        [*smb[0].tolist(), *rest[0].tolist()],
        [*smb[1].tolist(), *rest[1].tolist()],
        [1] * len(smb_rows) + [0] * len(rest_rows),
    )
    accounts = [account(r) for r in smb_rows + rest_rows]
    got = _row(comparison, "cycle_length_km_days", "SMB", "rest_of_org")
    assert got["p_value"] == pytest.approx(plain.clustered_p(expected.pvalue, scores, accounts))
    assert got["test"].endswith(ROBUST_TO_ACCOUNTS)
    won = [
        r for r in deals if r["status"] == "won" and "2025-10-01" <= r["closed_at"] <= "2025-12-31"
    ]
    emea = [r for r in won if r["team"] == "EMEA"]
    others = [r for r in won if r["team"] != "EMEA"]
    x = [float(r["amount"]) for r in emea]
    y = [float(r["amount"]) for r in others]
    size = _row(comparison, "median_won_deal_size", "EMEA", "rest_of_org")
    assert size["p_value"] == pytest.approx(
        plain.clustered_p(
            _brunner_munzel_p(x, y),
            plain.superiority_scores(x, y),
            [account(r) for r in emea + others],
        )
    )
    u = sum((a > b) + 0.5 * (a == b) for a in x for b in y)  # pairs won, ties half
    assert size["statistic"] == pytest.approx(u / (len(x) * len(y)))
    assert size["estimate"] == pytest.approx(np.median(x))


# ----------------------------------------------------------------------------- planted


def test_finds_the_planted_differences_and_no_others(comparison):
    rest = comparison.filter(pl.col("kind") == "rest_of_org", pl.col("metric") == "win_rate")
    direction = dict(zip(rest["team"], rest["direction"], strict=True))
    assert direction["Enterprise"] == "below" and direction["SMB"] == "above"
    assert direction["EMEA"] == direction["Mid-Market"] == "no clear difference"
    assert direction["Partners"] == "not enough data"
    cycle = comparison.filter(
        pl.col("kind") == "rest_of_org", pl.col("metric") == "cycle_length_km_days"
    )
    cyc = dict(zip(cycle["team"], cycle["direction"], strict=True))
    assert cyc["SMB"] == "below" and cyc["Enterprise"] == "above"
    small = comparison.filter(pl.col("team") == "Partners")
    assert (small["direction"] == "not enough data").all()
    assert small["p_value"].null_count() == small.height  # no test is run below the minimum n
    assert all("not enough data" in v for v in small["verdict"])
    assert (comparison["q_value"].drop_nulls() >= comparison["p_value"].drop_nulls()).all()


def test_trailing_quarters_show_no_change_where_none_was_planted(comparison):
    trailing = comparison.filter(
        pl.col("kind") == "trailing", pl.col("direction") != "not enough data"
    )
    assert trailing.height > 0
    assert (trailing["direction"] == "no clear difference").all()


# ----------------------------------------------------------------------------- properties


@st.composite
def twin_teams(draw):
    """Two teams with exactly the same deals."""
    n = draw(st.integers(20, 60))
    won = draw(st.integers(0, n))
    rows = []
    for team in ("a", "b"):
        for i in range(n):
            status = "won" if i < won else "lost"
            rows.append(
                f"{team}{i},rep{team},{team},{100 + i},2025-10-0{1 + i % 9},"
                f"{'Won' if status == 'won' else 'Lost'},{status},2025-11-{10 + i % 9}"
            )
    return "deal_id,owner,team,amount,created_at,stage,status,closed_at\n" + "\n".join(rows) + "\n"


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(twin_teams())
def test_identical_data_gives_no_difference(tmp_path_factory, deals_csv):
    folder = write_dataset(tmp_path_factory.mktemp("twins"), deals=deals_csv)
    out = pk.compare(pk.load(folder), "2025-Q4", by="team", trailing_quarters=0, mix=None)
    assert not out["direction"].is_in(["above", "below"]).any()
    tested = out.filter(pl.col("p_value").is_not_null())
    assert tested.height > 0 and (tested["q_value"] >= tested["p_value"]).all()


# ----------------------------------------------------------------------------- Simpson, reps


def _simpson_csv() -> str:
    """Within each lead source the teams win equally often; their mixes differ."""
    lines = ["deal_id,owner,team,amount,created_at,stage,status,closed_at,lead_source"]
    cells = [
        ("A", "Outbound", 80, 16),
        ("A", "Referral", 20, 12),
        ("B", "Outbound", 20, 4),
        ("B", "Referral", 80, 48),
    ]
    for team, source, n, won in cells:
        for i in range(n):
            status = "won" if i < won else "lost"
            lines.append(
                f"{team}{source}{i},r{team},{team},1000,2025-10-01,{status.title()},"
                f"{status},2025-11-01,{source}"
            )
    return "\n".join(lines) + "\n"


def test_mix_adjusted_rate_and_warning(tmp_path):
    ds = pk.load(write_dataset(tmp_path / "simpson", deals=_simpson_csv()))
    adj = {r["team"]: r for r in pk.mix_adjusted_win_rate(ds, "2025-Q4").iter_rows(named=True)}
    # crude: A 28/100, B 52/100; org mix 50/50 -> adjusted 0.5 x 0.2 + 0.5 x 0.6 = 0.4 for both
    assert adj["A"]["crude"] == pytest.approx(0.28) and adj["B"]["crude"] == pytest.approx(0.52)
    assert adj["A"]["adjusted"] == pytest.approx(0.4) and adj["B"]["adjusted"] == pytest.approx(0.4)
    out = pk.compare(ds, "2025-Q4", by="team", trailing_quarters=0)
    rest = out.filter(pl.col("metric") == "win_rate", pl.col("kind") == "rest_of_org")
    assert set(rest["direction"]) == {"above", "below"}  # the crude verdict
    assert rest["warning"].null_count() == 0 and all(
        "lead_source mix" in w for w in rest["warning"]
    )


def test_rep_shrinkage_and_funnel_limits(sample):
    reps = pk.rep_win_rates(sample, "2025")
    org = reps["org_rate"][0]
    raw, shrunk = reps["rate"].to_numpy(), reps["shrunk"].to_numpy()
    # shrinkage moves every rep towards the organisation, never past it
    assert (np.abs(shrunk - org) <= np.abs(raw - org) + 1e-12).all()
    assert ((shrunk - org) * (raw - org) >= -1e-12).all()
    n = reps["n"].to_numpy()
    assert reps["funnel_low95"].to_numpy() == pytest.approx(sps.binom.ppf(0.025, n, org) / n)
    assert reps["funnel_high998"].to_numpy() == pytest.approx(sps.binom.isf(0.001, n, org) / n)
    assert (reps["q_value"] >= reps["p_value"]).all()


def test_the_rep_flag_tests_each_rep_against_the_other_reps(sample):
    """Each rep's p_value: Fisher's mid-p of their closed deals of 2025 against every other
    rep's, both sides' counts divided by their design effects (one ICC pooled over the rep's
    accounts and the others'), computed here from the CSV in plain Python."""
    closed = [
        r
        for r in read_rows(SAMPLE / "deals.csv")
        if r["closed_at"] and "2025-01-01" <= r["closed_at"] <= "2025-12-31"
    ]
    reps = pk.rep_win_rates(sample, "2025")
    for row in reps.iter_rows(named=True):
        mine = [r for r in closed if r["owner"] == row["owner"]]
        rest = [r for r in closed if r["owner"] != row["owner"]]
        t1, t2 = pooled_design_effects_by_hand([accounts_of(mine), accounts_of(rest)])
        k1, k2 = sum(r["status"] == "won" for r in mine), sum(r["status"] == "won" for r in rest)
        expected = _plain_mid_p(*_effective(k1, len(mine), t1), *_effective(k2, len(rest), t2))
        assert row["p_value"] == pytest.approx(expected), row["owner"]


def _rep_rows(tmp_path, records):
    """Closed deals of 2025-Q4 per rep: (account, won) each ('' for a deal without one)."""
    lines = ["deal_id,owner,team,amount,created_at,stage,status,closed_at,account_id"]
    for rep, deals in records.items():
        for i, (account, won) in enumerate(deals):
            outcome = "Won,won" if won else "Lost,lost"
            lines.append(f"{rep}{i},{rep},red,100,2025-10-01,{outcome},2025-11-01,{account}")
    return pk.load(write_dataset(tmp_path / "reps", deals="\n".join(lines) + "\n"))


def test_a_rep_is_tested_against_the_other_reps_deals(tmp_path):
    """ann 4 of 5, bob 1 of 5, cat 1 of 5, no accounts. ann against bob and cat (2 of 10):
    given 6 won of 15, ann's won count is hypergeometric with weights C(6, x) C(9, 5 - x) of
    3,003: 126, 756, 1,260, 720, 135, 6 for x = 0..5. Fewer likely than the observed 135:
    126 + 6; mid-p = (132 + 135 / 2) / 3,003 = 0.0664. bob (1 of 5 against 5 of 10): less
    likely than 756 are 126 + 720 + 135 + 6 = 987; p = (987 + 378) / 3,003 = 0.4545. The test
    before, against the organisation's 6 / 15 with ann's deals in it, gave ann 0.087."""
    no_account = [("", True)] * 4 + [("", False)]
    one_won = [("", True)] + [("", False)] * 4
    ds = _rep_rows(tmp_path, {"ann": no_account, "bob": one_won, "cat": one_won})
    reps = pk.rep_win_rates(ds, "2025-Q4").sort("owner")
    assert reps["p_value"].to_list() == pytest.approx([199.5 / 3003, 1365 / 3003, 1365 / 3003])
    assert reps["org_rate"][0] == pytest.approx(6 / 15)  # the funnel's centre is unchanged
    assert sps.binomtest(4, 5, 0.4).pvalue == pytest.approx(0.087, abs=0.001)


def test_a_flag_points_from_the_other_reps_rate(tmp_path):
    """Scope red: ann won 60 of her 100 red deals (and 0 of 200 blue ones), bob 180 of 200.
    The organisation's rate is 240 / 500 = 0.48, below ann's 0.6, but the reps she is tested
    against (bob) won 0.9: her flag reads "below", bob's (0.9 against ann's 60 / 300) "above"."""
    lines = ["deal_id,owner,team,amount,created_at,stage,status,closed_at"]
    for rep, team, won, closed in (
        ("ann", "red", 60, 100),
        ("ann", "blue", 0, 200),
        ("bob", "red", 180, 200),
    ):
        for i in range(closed):
            outcome = "Won,won" if i < won else "Lost,lost"
            lines.append(f"{rep}{team}{i},{rep},{team},100,2025-10-01,{outcome},2025-11-01")
    ds = pk.load(write_dataset(tmp_path / "flag", deals="\n".join(lines) + "\n"))
    reps = pk.rep_win_rates(ds, "2025-Q4", scope=pl.col("team") == "red").sort("owner")
    assert reps["org_rate"][0] == pytest.approx(0.48)
    assert reps["flag"].to_list() == ["below", "above"]


def test_the_rep_flag_divides_clustered_counts_by_the_design_effect(tmp_path):
    """ann: accounts a1, a2 of 2 won deals each; bob: b1 (2 lost), b2 (2 won); cat: c1, c2 (2
    lost each). Every account all won or all lost: MSW = 0, so the ICC pooled over ann's
    accounts and the others' is 1 and each side's design effect Σ m² / N = 2: ann's 4 of 4
    is worth 2 of 2 and the others' 2 of 8 worth 1 of 4. Fisher's mid-p of 2/2 against 1/4
    (6 deals, 3 won; weights 3, 9, 3 of 15 for x = 0, 1, 2): (3 + 3) / 2 / 15 = 0.2. On the
    raw counts, 4/4 against 2/8, it would be 15 / 495 = 0.030."""
    ds = _rep_rows(
        tmp_path,
        {
            "ann": [("a1", True)] * 2 + [("a2", True)] * 2,
            "bob": [("b1", False)] * 2 + [("b2", True)] * 2,
            "cat": [("c1", False)] * 2 + [("c2", False)] * 2,
        },
    )
    ann = pk.rep_win_rates(ds, "2025-Q4").filter(pl.col("owner") == "ann").row(0, named=True)
    assert ann["p_value"] == pytest.approx(0.2)
    assert _plain_mid_p(4, 4, 2, 8) == pytest.approx(15 / 495)


def test_cli_compare(tmp_path, capsys):
    out = tmp_path / "c.csv"
    assert (
        main(
            [
                "compare",
                "--data",
                str(SAMPLE),
                "--period",
                "2025-Q4",
                "--by",
                "team",
                "--benchmarks",
                str(SAMPLE.parent / "benchmarks.csv"),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert {
        "estimate",
        "ci_low",
        "ci_high",
        "benchmark",
        "difference",
        "test",
        "statistic",
        "p_value",
        "q_value",
        "n",
        "verdict",
    } <= set(rows[0])
    assert "clear differences" in capsys.readouterr().out
    bad = tmp_path / "bench.csv"
    bad.write_text("metric,value\nwin_rate,lots\n")
    assert (
        main(
            [
                "compare",
                "--data",
                str(SAMPLE),
                "--period",
                "2025-Q4",
                "--benchmarks",
                str(bad),
                "--out",
                str(out),
            ]
        )
        == 2
    )


def test_team_report_calls_differences_as_the_organisation_summary_does(sample):
    """One Benjamini-Hochberg family: every team's comparisons this quarter, in the team reports
    and the organisation summary alike, so no difference is clear in one and not the other."""
    every_team = pk.compare(sample, "2025-Q4", by="team")
    report = pk.TeamReport(sample, team="EMEA", period="2025-Q4")
    mine = report.data.comparison()
    expected = every_team.filter(pl.col("team") == "EMEA")
    assert mine["q_value"].to_list() == expected["q_value"].to_list()
    assert mine["direction"].to_list() == expected["direction"].to_list()
    text = report.executive_summary().data
    family = every_team["p_value"].is_not_null().sum()
    assert (
        f"the correction covers the {family} comparisons of every team with enough data to "
        "test in 2025-Q4" in text
    )
    org = pk.OrgReport(sample, period="2025-Q4").findings().data
    assert f"among the {family} comparisons with enough data to test" in org


def test_beta_binomial_fit_is_the_maximum_likelihood_of_scipys_betabinom():
    """Independent check: scipy's own betabinom log-likelihood, maximised over a grid and
    polished from another start, is no higher than at the kit's fitted prior."""
    from scipy import optimize

    rng = np.random.default_rng(5)
    trials = rng.integers(5, 60, size=25)
    successes = rng.binomial(trials, rng.beta(6, 9, size=25))
    a, b = stats.fit_beta_binomial(successes, trials)

    def loglik(theta):
        return sps.betabinom.logpmf(successes, trials, *np.exp(theta)).sum()

    best = max(
        (np.log([x, y]) for x in np.geomspace(0.5, 200, 25) for y in np.geomspace(0.5, 200, 25)),
        key=loglik,
    )
    polished = optimize.minimize(lambda t: -loglik(t), best, method="Powell").x
    assert loglik(np.log([a, b])) >= loglik(polished) - 1e-6


# ----------------------------------------------------------------------------- cycle gate (P4)


def test_cycle_tests_gate_on_the_cohort_size_not_on_closed_deals():
    """25 deals of which 5 closed against 30 of which 25 closed: the cohort sizes pass the
    gate (>= 20 each), so the log-rank test runs although only 5 deals closed (gating on
    closed deals, an outcome, selected fast cohorts); the row says the evidence is thin."""
    from pipeline_kit.comparisons.significance import cycle_rows
    from pipeline_kit.comparisons.verdicts import verdict_table

    cur = pl.DataFrame(
        {"days": [float(d) for d in range(10, 35)], "event": [True] * 5 + [False] * 20}
    )
    other = pl.DataFrame(
        {"days": [float(d) for d in range(5, 35)], "event": [True] * 25 + [False] * 5}
    )
    no_bench = pl.DataFrame(schema={"metric": pl.String, "value": pl.Float64, "scope": pl.String})
    rows = cycle_rows((cur, other, None), "g", no_bench, 20, "")
    (row,) = rows
    expected = sps.logrank(
        sps.CensoredData(uncensored=np.arange(10.0, 15), right=np.arange(15.0, 35)),
        sps.CensoredData(uncensored=np.arange(5.0, 30), right=np.arange(30.0, 35)),
    )
    assert row.p_value == pytest.approx(expected.pvalue)
    assert (row.n, row.n_benchmark) == (25, 30)  # deals in the cohort, closed or open
    table = verdict_table(rows, "team", 0.05)
    assert table["warning"][0].startswith("Little information: only 5 of 25 deals have closed")
    # a cohort of 19 deals is not tested, whatever closed
    small = cycle_rows((cur.head(19), other, None), "g", no_bench, 20, "")
    assert small[0].p_value is None and small[0].warning is None


# ------------------------------------------------------------------------ P7: say what is tested


def _brunner_munzel_p(x, y):
    """Brunner-Munzel's p-value as the kit documents it, from scipy directly: the studentized
    permutation test (999 seeded splits of both samples sorted, the smaller-first order,
    mid-p) where a side has < 30 values or < 5 distinct ones and both hold <= 1,000; else the
    t-approximation."""
    x, y = np.sort(np.asarray(x, float)), np.sort(np.asarray(y, float))
    small = min(x.size, y.size) < 30 or min(np.unique(x).size, np.unique(y).size) < 5
    if not (small and x.size + y.size <= 1000):
        return sps.brunnermunzel(x, y).pvalue
    if (y.size, tuple(y)) < (x.size, tuple(x)):
        x, y = y, x
    result = sps.permutation_test(
        (x, y),
        lambda a, b, axis: sps.brunnermunzel(a, b, axis=axis).statistic,
        permutation_type="independent",
        n_resamples=999,
        vectorized=True,
        batch=100,
        rng=np.random.default_rng(0),
    )
    # mid-p over the 999 splits and the observed one: ties with it (it too) at half weight
    t, null = result.statistic, list(result.null_distribution)
    ties = 1 + sum(abs(v - t) <= 1e-9 * abs(t) for v in null)
    upper = sum(v > t and abs(v - t) > 1e-9 * abs(t) for v in null) + ties / 2
    lower = sum(v < t and abs(v - t) > 1e-9 * abs(t) for v in null) + ties / 2
    return min(1.0, 2 * min(upper, lower) / 1000)


def test_brunner_munzel_permutation_by_hand():
    """1, 2, 3 against 4, 5, 6: 3 deals a side, so the permutation test runs over all C(6, 3)
    = 20 splits; only the observed one and its mirror do not overlap (infinite statistics).
    The observed split alone is as extreme on its side, at half weight (mid-p), so the
    two-sided p-value is 2 · ½ · 1/20 = 0.05 (as Fisher's mid-p of 3/3 against 0/3), either
    way round; the t-approximation gives no p-value there."""
    a, b = np.array([1.0, 2, 3]), np.array([4.0, 5, 6])
    assert stats.brunner_munzel_test(a, b) == (0.0, pytest.approx(0.05))
    assert stats.brunner_munzel_test(b, a) == (1.0, pytest.approx(0.05))
    with pytest.warns(RuntimeWarning):  # (scipy: the variance estimate is 0)
        assert not np.isfinite(sps.brunnermunzel(a, b).pvalue)


@settings(max_examples=20, deadline=None)
@given(st.lists(st.sampled_from([5e3, 1e4, 2e4]), min_size=20, max_size=40), st.randoms())
def test_brunner_munzel_does_not_depend_on_row_order(amounts, random):
    """List prices, split in two: shuffling the rows of each side gives the same p-value."""
    x, y = np.array(amounts[:10]), np.array(amounts[10:])
    shuffled_x, shuffled_y = x.copy(), y.copy()
    random.shuffle(shuffled_x)
    random.shuffle(shuffled_y)
    assert stats.brunner_munzel_test(x, y) == stats.brunner_munzel_test(shuffled_x, shuffled_y)


def test_won_deal_test_against_the_rest_is_brunner_munzel_with_its_superiority():
    """Won deals 2, 4, ..., 40 against 1, 3, ..., 39: deal 2i beats 2j - 1 whenever i >= j,
    210 of the 400 pairs, so the probability of superiority is 0.525; the p-value is
    Brunner-Munzel's (no assumption that the spreads are equal), by permutation with 20 deals a
    side (second audit, A8)."""
    from pipeline_kit.comparisons.significance import size_rows

    x, y = np.arange(2.0, 41, 2), np.arange(1.0, 40, 2)
    no_bench = pl.DataFrame(schema={"metric": pl.String, "value": pl.Float64, "scope": pl.String})
    (row,) = size_rows(
        (pl.DataFrame({"amount": x}), pl.DataFrame({"amount": y}), None), "g", no_bench, 20, ""
    )
    assert row.statistic == pytest.approx(0.525)
    assert row.p_value == pytest.approx(_brunner_munzel_p(x, y))
    assert row.test.startswith("Brunner-Munzel")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 8), min_size=3, max_size=25),
    st.lists(st.integers(0, 8), min_size=3, max_size=25),
)
def test_brunner_munzel_is_antisymmetric(a, b):
    """Swapping the samples turns the superiority s into 1 - s and keeps the p-value."""
    s_ab, p_ab = stats.brunner_munzel_test(np.array(a, float), np.array(b, float))
    s_ba, p_ba = stats.brunner_munzel_test(np.array(b, float), np.array(a, float))
    assert s_ab + s_ba == pytest.approx(1.0)
    assert p_ab == pytest.approx(p_ba)
    assert 0 <= p_ab <= 1


def _made_row(metric, kind, estimate, benchmark, statistic, p, sign):
    from pipeline_kit.comparisons.significance import ComparisonRow

    return ComparisonRow(
        metric,
        "g",
        kind,
        estimate,
        10.0,
        None,
        benchmark,
        "t",
        statistic,
        p,
        40,
        300,
        "the rest of the organisation",
        sign=sign,
    )


def test_a_significant_cycle_test_without_a_median_still_has_a_direction():
    """The group's median is not reached (estimate None) but the log-rank test finds its
    deals close more slowly (z = -3.2, p = 0.0014 alone, q = 0.0014): it said "no clear
    difference" next to q = 0.001, now it says slower overall."""
    from pipeline_kit.comparisons.verdicts import verdict_table

    row = _made_row("cycle_length_km_days", "rest_of_org", None, 30.0, -3.2, 0.0014, 3.2)
    got = verdict_table([row], "team", 0.05).row(0, named=True)
    assert got["direction"] == "above"
    assert "close more slowly overall" in got["verdict"]
    assert "log-rank" in got["verdict"] and "no clear difference" not in got["verdict"]


def test_verdicts_name_what_the_test_measured():
    """A won-deal difference from Brunner-Munzel reads "tend to be larger" with the share of
    pairs (0.62 -> 62%), never "the median is higher"; the external sign test still names the
    median; the direction comes from the test (superiority above 0.5) even where the medians
    are equal."""
    from pipeline_kit.comparisons.verdicts import verdict_table

    size = _made_row("median_won_deal_size", "rest_of_org", 9000.0, 9000.0, 0.62, 0.001, 0.12)
    sign = _made_row("median_won_deal_size", "external", 9000.0, 9000.0, 30.0, 0.001, 25.0)
    table = verdict_table([size, sign], "team", 0.05)
    assert table["direction"].to_list() == ["above", "above"]
    assert (
        "won deals tend to be larger than in the rest of the organisation: in 62% of pairs"
        in (table["verdict"][0])
    )
    assert "median won deal $9,000" in table["verdict"][1]


def test_won_deal_verdict_says_ties_count_half():
    """List prices: 20 won deals at 10,000 here against 15 at 10,000 and 5 at 5,000 in the
    rest. Of the 400 pairs the deal here is the larger in 20 · 5 = 100 (25%) and ties in 300
    (75%), so the superiority is 0.25 + ½ · 0.75 = 0.625: "in 62% of pairs the deal here is
    the larger" alone read as if it were larger in most pairs, when it is in a quarter; the
    verdict says a tie counts as half (second audit, P7)."""
    from pipeline_kit.comparisons.significance import size_rows
    from pipeline_kit.comparisons.verdicts import verdict_table

    x, y = np.full(20, 10_000.0), np.r_[np.full(15, 10_000.0), np.full(5, 5_000.0)]
    no_bench = pl.DataFrame(schema={"metric": pl.String, "value": pl.Float64, "scope": pl.String})
    (row,) = size_rows(
        (pl.DataFrame({"amount": x}), pl.DataFrame({"amount": y}), None), "g", no_bench, 20, ""
    )
    assert row.statistic == pytest.approx(0.625)
    got = verdict_table([row], "team", 0.05).row(0, named=True)
    assert got["direction"] == "above"  # p = 0.021 (scipy's Brunner-Munzel), one row: q = p
    assert "of pairs the deal here is the larger, a tie counting as half" in got["verdict"]


# ------------------------------------------------------------------ P5: the past's own spread


def test_trailing_rate_test_adds_the_quarter_spread_by_hand():
    """30/50 now against 15/50 in each of four past quarters, spread τ² = 0.5 on the logit
    scale with 6 degrees of freedom: p = 90/250 = 0.36, variance 0.2304 · (1/50 + 1/200) +
    0.5 · 0.2304² · (1 + 1/4) = 0.00576 + 0.0331776, z = 0.3 / √0.0389376 = 1.52034; p from
    Student's t with 6 degrees of freedom."""
    z, p = stats.trailing_rate_test(30, 50, np.array([15] * 4), np.array([50] * 4), 0.5, 6)
    assert z == pytest.approx(0.3 / (0.00576 + 0.0331776) ** 0.5)
    assert p == pytest.approx(2 * sps.t.sf(0.3 / 0.0389376**0.5, 6))
    # no spread: the two-sample z-test of the pooled past
    _, p0 = stats.trailing_rate_test(30, 50, np.array([15] * 4), np.array([50] * 4), 0.0, 0)
    assert p0 == pytest.approx(2 * sps.norm.sf(0.3 / (0.2304 * 0.025) ** 0.5))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 30), min_size=2, max_size=4),
    st.floats(0.0, 2.0),
)
def test_more_spread_never_makes_a_trailing_difference_clearer(past, spread):
    """The past's spread only widens: with τ² larger the p-value is never smaller."""
    past_n = np.full(len(past), 40)
    _, p_small = stats.trailing_rate_test(30, 40, np.array(past), past_n, spread, 10)
    _, p_large = stats.trailing_rate_test(30, 40, np.array(past), past_n, spread + 0.5, 10)
    assert p_large >= p_small - 1e-12


def test_period_spread_by_hand():
    """Team a: 10/50 and 20/50 (p̄ = 0.3, s² = 0.02, binomial part 0.21/50 = 0.0042, τ² =
    0.0158 / 0.0441); team b: 15/50 twice (s² = 0, τ² = -0.0042 / 0.0441); weights 1 and 1;
    team c has one quarter and no degree of freedom."""
    t2, df = stats.period_spread(
        np.array([10, 20, 15, 15, 5]), np.array([50, 50, 50, 50, 10]), np.array(list("aabbc"))
    )
    assert df == 2
    assert t2 == pytest.approx(((0.02 - 0.0042) + (0.0 - 0.0042)) / 0.0441 / 2)


def test_compare_tests_the_trailing_win_rate_against_the_past_quarters_spread(comparison):
    """The sample's trailing rows: each team's quarters 2024-Q4..2025-Q3 recomputed in plain
    Python (rates per quarter, their spread beyond binomial on the logit scale pooled over the
    teams), then the z statistic of the kit's row."""
    import statistics

    quarters = {
        "2024-Q4": ("2024-10-01", "2024-12-31"),
        "2025-Q1": ("2025-01-01", "2025-03-31"),
        "2025-Q2": ("2025-04-01", "2025-06-30"),
        "2025-Q3": ("2025-07-01", "2025-09-30"),
    }
    rows = [r for r in read_rows(SAMPLE / "deals.csv") if r["status"] in ("won", "lost")]
    counts: dict[str, list[tuple[int, int]]] = {}
    for team in sorted({r["team"] for r in rows}):
        for start, end in quarters.values():
            q = [r for r in rows if r["team"] == team and start <= r["closed_at"] <= end]
            if q:
                counts.setdefault(team, []).append((sum(r["status"] == "won" for r in q), len(q)))
    total = weight = 0.0
    for kn in counts.values():
        k = sum(a for a, _ in kn)
        n = sum(b for _, b in kn)
        pbar = k / n
        if len(kn) < 2 or pbar in (0, 1):
            continue
        s2 = statistics.variance([a / b for a, b in kn])
        q = pbar * (1 - pbar)
        total += (len(kn) - 1) * (s2 - q * statistics.fmean([1 / b for _, b in kn])) / q**2
        weight += len(kn) - 1
    tau2 = max(total / weight, 0.0)
    now = [r for r in rows if r["team"] == "SMB" and "2025-10-01" <= r["closed_at"] <= "2025-12-31"]
    k0, n0 = sum(r["status"] == "won" for r in now), len(now)
    kp, np_ = sum(a for a, _ in counts["SMB"]), sum(b for _, b in counts["SMB"])
    pooled = (k0 + kp) / (n0 + np_)
    q = pooled * (1 - pooled)
    var = q * (1 / n0 + 1 / np_) + tau2 * q**2 * (1 + 1 / len(counts["SMB"]))
    got = _row(comparison, "win_rate", "SMB", "trailing")
    assert got["statistic"] == pytest.approx((k0 / n0 - kp / np_) / var**0.5)
    assert got["p_value"] == pytest.approx(2 * sps.t.sf(abs(got["statistic"]), weight))
    assert got["test"].startswith("z-test against the past quarters")


# ------------------------------------------------------------- P6: a benchmark is an estimate


def _bench(value, low=None, high=None, n=None):
    return pl.DataFrame(
        {
            "metric": ["win_rate"],
            "value": [value],
            "scope": ["all"],
            "source": ["survey"],
            "low": [low],
            "high": [high],
            "n": [n],
        },
        schema_overrides={"low": pl.Float64, "high": pl.Float64, "n": pl.Int64},
    )


def _external(bench, k, n):
    from pipeline_kit.comparisons.significance import win_rate_rows

    cur = pl.DataFrame({"won": [True] * k + [False] * (n - k)})
    (row,) = win_rate_rows((cur, None, None), "g", bench, 20, "")
    return row


def test_a_benchmark_with_its_n_is_tested_as_two_samples():
    """0.25 of 200 deals is 50 won: Fisher's test of 18/40 against 50/200."""
    row = _external(_bench(0.25, n=200), 18, 40)
    assert row.p_value == pytest.approx(_plain_mid_p(18, 40, 50, 200))
    assert row.n_benchmark == 200 and "treated as exact" not in row.benchmark_label


def _mover_p(k, n, b, low, high):
    """The MOVER test by bisection over z, in plain Python (Wilson by its formula)."""
    import math

    p = k / n

    def lower_end(z):
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        return (p - b) - math.sqrt((p - (centre - half)) ** 2 + ((high - b) * z / 1.959964) ** 2)

    lo, hi = 0.0, 20.0
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if lower_end(mid) > 0 else (lo, mid)
    return 2 * sps.norm.sf(lo)


def test_a_benchmark_with_its_interval_adds_its_uncertainty():
    """18/40 = 0.45 against 0.25 (0.20-0.31): the MOVER difference interval reaches 0 at a
    level found by bisection; the exact binomial test against 0.25 alone is smaller."""
    row = _external(_bench(0.25, 0.20, 0.31), 18, 40)
    assert row.p_value == pytest.approx(_mover_p(18, 40, 0.25, 0.20, 0.31), rel=1e-4)
    assert row.p_value > sps.binomtest(18, 40, 0.25).pvalue
    assert "MOVER" in row.test


def test_a_bare_benchmark_is_said_to_be_treated_as_exact():
    row = _external(_bench(0.25), 18, 40)
    assert row.p_value == pytest.approx(sps.binomtest(18, 40, 0.25).pvalue)
    assert row.benchmark_label == "the benchmark (survey; treated as exact)"
    assert row.test.endswith("(benchmark treated as exact)")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 60), st.floats(0.05, 0.9), st.floats(0.001, 0.1), st.floats(0.0, 0.1))
def test_a_less_certain_benchmark_never_gives_a_smaller_p(k, b, width, more):
    """Widening the benchmark's interval can only weaken the evidence of a difference."""
    low, high = max(b - width, 0.0), min(b + width, 1.0)
    narrow = stats.rate_vs_uncertain_benchmark_test(k, 60, b, low, high)
    wide = stats.rate_vs_uncertain_benchmark_test(
        k, 60, b, max(low - more, 0.0), min(high + more, 1.0)
    )
    assert 0 <= narrow <= wide + 1e-9 <= 1 + 1e-9


def test_treated_as_exact_is_said_in_every_language(comparison):
    """The sample's won-deal benchmark states no interval and is tested as exact: the English
    verdict and the localised one (label through the catalog) both say so."""
    from pipeline_kit.comparisons.verdicts import localised_verdict
    from pipeline_kit.formatting import Formatter

    row = _row(comparison, "median_won_deal_size", "SMB", "external")
    assert "treated as exact" in row["verdict"]
    assert "treated as exact" in localised_verdict(row, Formatter("en"))
    assert "视为精确值" in localised_verdict(row, Formatter("zh-Hans", "CNY"))


# ------------------------------------------------- A1 (audit 7): the won-deal median's benchmark


def _size_external(amounts, value, low=None, high=None, n=None):
    from pipeline_kit.comparisons.significance import size_rows

    bench = _bench(value, low, high, n).with_columns(metric=pl.lit("median_won_deal_size"))
    cur = pl.DataFrame({"amount": np.asarray(amounts, float)})
    (row,) = size_rows((cur, None, None), "g", bench, 20, "")  # type: ignore[arg-type]
    return row


def test_a_won_deal_benchmark_with_its_interval_adds_its_uncertainty():
    """Amounts 1..20 (median 10.5) against 14 (8-20). At level z the group's order-statistic
    interval is x(j)..x(21 - j), j the binomial(20, ½) quantile of Φ(-z). For z in (0.669,
    1.119] j = 8 and the upper end is 13 (2.5 above the median): the difference's interval,
    -3.5 + √(2.5² + (6 z / 1.96)²), reaches 0 at z = 1.96 √6 / 6 = 0.800 (below that level,
    j = 9 and 10 give 1.5 and 0.5, short of 0 up to z = 1.03 and 1.13, outside their ranges),
    so p = 2 (1 - Φ(0.800)) = 0.4236."""
    row = _size_external(np.arange(1.0, 21), 14.0, 8.0, 20.0)
    z = 1.959963984540054 * 6**0.5 / 6
    assert row.p_value == pytest.approx(2 * sps.norm.sf(z), rel=1e-6)
    assert row.statistic == pytest.approx(-z, rel=1e-6) and row.sign < 0
    assert "MOVER" in row.test and "treated as exact" not in row.benchmark_label
    assert row.n_benchmark is None


def test_a_won_deal_benchmark_with_its_n_takes_its_spread_as_the_groups():
    """Amounts 1..20 (median 10.5) against 14 stated as the median of 20 deals: the
    benchmark's half-widths are the group's own times √(20 / 20) and times 14 / 10.5 = 4/3
    (spread in proportion to the median). With j = 8 (x(8) = 8, x(13) = 13) the difference's
    interval reaches -3.5 + √(2.5² + (2.5 · 4/3)²) > 0; with j = 9 (9 and 12) it stops at
    -3.5 + √(1.5² + 2²) < 0. So z* is where j becomes 8: Φ(-z*) = P(Bin(20, ½) ≤ 8) =
    263,950 / 2²⁰, and p = 2 · 263,950 / 2²⁰ = 0.5034.

    Against 6 (4/7 of the median): j = 7 (7, 14) gives 4.5 - √(3.5² + (3.5 · 4/7)²) > 0,
    j = 6 (6, 15) 4.5 - √(4.5² + (4.5 · 4/7)²) < 0, so p = 2 P(Bin(20, ½) ≤ 6) = 2 · 60,460 /
    2²⁰ = 0.1153 (with the group's spread in absolute terms it would be 2 · 137,980 / 2²⁰)."""
    row = _size_external(np.arange(1.0, 21), 14.0, n=20)
    assert row.p_value == pytest.approx(2 * 263_950 / 2**20, rel=1e-6)
    assert "n deals" in row.test and row.n_benchmark == 20
    assert "treated as exact" not in row.benchmark_label
    below = _size_external(np.arange(1.0, 21), 6.0, n=20)
    assert below.p_value == pytest.approx(2 * 60_460 / 2**20, rel=1e-6) and below.statistic > 0


def test_a_far_won_deal_benchmark_is_limited_by_the_groups_own_range():
    """Every one of 20 amounts below a benchmark of 30 (29-31): the difference's interval
    reaches 0 only where the group's own interval has no end, above the level 1 - 2 · 2⁻²⁰
    that its whole range x(1)..x(20) covers; p = 2 · 2⁻²⁰, the sign test's p of 20 below."""
    row = _size_external(np.arange(1.0, 21), 30.0, 29.0, 31.0)
    assert row.p_value == pytest.approx(2 * 0.5**20, rel=1e-6)
    assert row.p_value == pytest.approx(sps.binomtest(0, 20, 0.5).pvalue, rel=1e-6)


def test_a_bare_won_deal_benchmark_keeps_the_sign_test_treated_as_exact():
    """No n, no interval: the sign test against 14 (6 of 1..20 above, 13 below), said to
    treat the benchmark as exact."""
    row = _size_external(np.arange(1.0, 21), 14.0)
    assert row.p_value == pytest.approx(sps.binomtest(6, 19, 0.5).pvalue)
    assert row.statistic == 6 and row.test.endswith("(benchmark treated as exact)")
    assert row.benchmark_label == "the benchmark (survey; treated as exact)"


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(1.0, 1e5), min_size=20, max_size=40),
    st.floats(1.0, 1e5),
    st.floats(0.0, 1e4),
    st.floats(0.0, 1e4),
)
def test_a_less_certain_won_deal_benchmark_never_gives_a_smaller_p(amounts, value, width, more):
    """Widening the benchmark's interval can only weaken the evidence of a difference, and a
    benchmark of n deals is less certain than one of 4 n."""
    x = np.array(amounts)
    narrow = stats.median_vs_uncertain_benchmark_test(x, value, value - width, value + width)
    wide = stats.median_vs_uncertain_benchmark_test(
        x, value, value - width - more, value + width + more
    )
    assert 0 <= narrow[1] <= wide[1] + 1e-9 <= 1 + 1e-9
    few = stats.median_vs_uncertain_benchmark_test(x, value, n_benchmark=x.size)
    many = stats.median_vs_uncertain_benchmark_test(x, value, n_benchmark=4 * x.size)
    assert many[1] <= few[1] + 1e-9
    assert np.sign(narrow[0]) in (0.0, np.sign(np.median(x) - value))


# ------------------------------------------------------------------ P13: mid-p for 2x2 tables


def _plain_mid_p(k1, n1, k2, n2):
    """Fisher's two-sided mid-p in plain Python: hypergeometric probabilities by math.comb,
    tables less likely than the observed one in full, as likely at half."""
    from math import comb

    total, won = n1 + n2, k1 + k2
    probs = [
        comb(won, x) * comb(total - won, n1 - x) / comb(total, n1)
        for x in range(max(0, n1 - (total - won)), min(won, n1) + 1)
    ]
    if len(probs) == 1:
        return 1.0
    seen = comb(won, k1) * comb(total - won, n1 - k1) / comb(total, n1)
    less = sum(q for q in probs if q < seen * (1 - 1e-7))
    same = sum(q for q in probs if abs(q - seen) <= seen * 1e-7)
    return min(1.0, less + same / 2)


def test_mid_p_by_hand():
    """3 of 3 against 0 of 3: tables 3-0 and 0-3 each 1/20, so p = ½ (1/20 + 1/20) = 0.05
    (Fisher's exact p is 0.1). 2 of 4 against 2 of 4: the observed table is the most likely
    (36/70); the others sum to 34/70, so p = 34/70 + 18/70."""
    assert stats.fisher_mid_p_test(3, 3, 0, 3)[1] == pytest.approx(0.05)
    assert stats.fisher_mid_p_test(2, 4, 2, 4)[1] == pytest.approx(34 / 70 + 18 / 70)
    assert stats.fisher_mid_p_test(0, 20, 0, 30)[1] == 1.0  # one possible table


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 25), st.integers(1, 40), st.data())
def test_mid_p_is_below_fishers_p_and_matches_plain_python(n1, n2, data):
    k1 = data.draw(st.integers(0, n1))
    k2 = data.draw(st.integers(0, n2))
    _, mid = stats.fisher_mid_p_test(k1, n1, k2, n2)
    assert mid == pytest.approx(_plain_mid_p(k1, n1, k2, n2), abs=1e-9)
    assert mid <= sps.fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue + 1e-9


def _cycle_bench(value, low, high):
    return pl.DataFrame(
        {
            "metric": ["cycle_length_km_days"],
            "value": [value],
            "scope": ["all"],
            "source": ["survey"],
            "low": [low],
            "high": [high],
            "n": [None],
        },
        schema_overrides={"n": pl.Int64},
    )


def test_a_cycle_benchmark_with_its_interval_is_tested_with_it():
    """Deals closing on days 1..30 (KM median 15) against 20 days (18-22): tested with the
    benchmark's interval, the evidence is weaker than against 20 days taken as exact; a
    cohort whose median is not reached (most deals open) falls back to the exact test and
    says so."""
    from pipeline_kit.comparisons.significance import cycle_rows

    cohort = pl.DataFrame({"days": np.arange(1.0, 31), "event": np.ones(30, bool)})
    (row,) = cycle_rows((cohort, None, None), "g", _cycle_bench(20.0, 18.0, 22.0), 20, "")
    exact = stats.km_median_test(np.arange(1.0, 31), np.ones(30, bool), 20.0)[1]
    assert "MOVER" in row.test and "treated as exact" not in row.benchmark_label
    assert exact < row.p_value <= 1 and row.statistic < 0  # shorter than the benchmark
    open_ = pl.DataFrame({"days": np.arange(1.0, 31), "event": np.arange(30) < 10})
    (row,) = cycle_rows((open_, None, None), "g", _cycle_bench(20.0, 18.0, 22.0), 20, "")
    assert row.test.endswith("(benchmark treated as exact)")
    assert "treated as exact" in row.benchmark_label


@settings(max_examples=15, deadline=None)
@given(st.floats(5.0, 40.0), st.floats(0.5, 5.0), st.floats(0.0, 5.0))
def test_a_less_certain_cycle_benchmark_never_gives_a_smaller_p(value, width, more):
    days, closed = np.arange(1.0, 41), np.ones(40, bool)
    narrow = stats.km_median_vs_uncertain_benchmark_test(
        days, closed, value, value - width, value + width
    )
    wide = stats.km_median_vs_uncertain_benchmark_test(
        days, closed, value, value - width - more, value + width + more
    )
    assert narrow is not None and wide is not None
    assert narrow[1] <= wide[1] + 1e-9


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(st.tuples(st.integers(1, 5), st.floats(0, 1)), min_size=1, max_size=8),
        min_size=2,
        max_size=2,
    )
)
def test_pooled_design_effects_match_plain_python(sides):
    """The ICC pooled over the sides (accounts nested in sides), against the ANOVA written
    out; each side's design effect lies between 1 and its Σ m² / N."""
    accounts = [
        {f"a{j}": [i < round(m * share) for i in range(m)] for j, (m, share) in enumerate(side)}
        for side in sides
    ]
    arrays = [
        (np.array([len(v) for v in a.values()]), np.array([sum(v) for v in a.values()]))
        for a in accounts
    ]
    got = stats.pooled_design_effects(arrays)
    assert got == pytest.approx(pooled_design_effects_by_hand(accounts), abs=1e-12)
    for d, (m, _) in zip(got, arrays, strict=True):
        assert 1 - 1e-12 <= d <= (m * m).sum() / m.sum() + 1e-12


def test_a_reps_own_interval_is_win_rate_by_owner_with_its_design_effect(sample, tmp_path):
    """The rep's own interval is one figure with pk.win_rate(by="owner"): the same design
    effect of the rep's deals in their accounts, the same interval; without accounts, none."""
    reps = pk.rep_win_rates(sample, "2025-Q4").sort("owner")
    owners = pk.win_rate(sample, "2025-Q4", by="owner").sort("owner")
    assert reps["owner"].to_list() == owners["owner"].to_list()
    for column in ("design_effect", "ci_low", "ci_high"):
        assert reps[column].to_list() == owners[column].to_list(), column
    assert reps["design_effect"].drop_nulls().len() > 0
    no_accounts = pk.load({"deals": sample.deals.drop("account_id")})
    plain = pk.rep_win_rates(no_accounts, "2025-Q4")
    assert plain["design_effect"].null_count() == plain.height
