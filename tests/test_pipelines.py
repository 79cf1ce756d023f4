"""Several pipelines: deals.pipeline on every path, stage figures never mixing pipelines.

The two-pipeline dataset below is written by hand (``write_two_pipelines``): New business
(Discovery 1, Proposal 2, Won 3) and Renewals (Renewal due 1, Negotiation 2, Renewed 3), both
closing lost in ``Lost`` (listed under each pipeline: a shared stage name). Every expected value
is counted off the rows in the comments, never from running the code under test.

Deals (created in January 2025; closed dates in Q1 2025):

====  ======  ============  =====================================  =======  ======
deal  team    stage         history                                status   amount
====  ======  ============  =====================================  =======  ======
N1    East    Won           Discovery 01-05, Proposal 01-20, Won   won      1000
N2    East    Won           Discovery 01-06, Won 02-12             won      2000
N3    East    Lost          Discovery 01-07, Proposal 01-25, Lost  lost     300
N4    East    Lost          Discovery 01-08, Lost 02-01            lost     400
N5    East    Proposal      Discovery 01-09, Proposal 02-20        open     700
R1    East    Renewed       Renewal due 01-05, Negotiation, Rnwd   won      500
R2    East    Renewed       Renewal due 01-06, Renewed 02-05       won      500
R3    East    Renewed       Renewal due 01-07, Negotiation, Rnwd   won      1000
R4    East    Lost          Renewal due 01-08, Negotiation, Lost   lost     900
R5    East    Renewal due   Renewal due 01-09                      open     600
X1    East    Lost          Lost 02-01 only                        lost     100
W1    West    Lost          Discovery 01-10, Lost 02-05            lost     800
====  ======  ============  =====================================  =======  ======
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeline_kit as pk
from pipeline_kit.team_report import Nothing, TeamReport

EXAMPLES = Path(__file__).resolve().parents[1] / "data" / "examples"

STAGES = """stage,order,probability,pipeline,is_won,is_lost
Discovery,1,20,New business,false,false
Proposal,2,50,New business,false,false
Won,3,100,New business,true,false
Lost,4,0,New business,false,true
Renewal due,1,60,Renewals,false,false
Negotiation,2,80,Renewals,false,false
Renewed,3,100,Renewals,true,false
Lost,4,0,Renewals,false,true
"""

DEALS = """deal_id,owner,team,amount,created_at,stage,status,closed_at
N1,Ann,East,1000,2025-01-05,Won,won,2025-02-10
N2,Ann,East,2000,2025-01-06,Won,won,2025-02-12
N3,Bob,East,300,2025-01-07,Lost,lost,2025-02-15
N4,Bob,East,400,2025-01-08,Lost,lost,2025-02-01
N5,Ann,East,700,2025-01-09,Proposal,open,
R1,Cem,East,500,2025-01-05,Renewed,won,2025-02-01
R2,Cem,East,500,2025-01-06,Renewed,won,2025-02-05
R3,Cem,East,1000,2025-01-07,Renewed,won,2025-02-20
R4,Bob,East,900,2025-01-08,Lost,lost,2025-03-01
R5,Cem,East,600,2025-01-09,Renewal due,open,
X1,Bob,East,100,2025-01-10,Lost,lost,2025-02-01
W1,Dia,West,800,2025-01-10,Lost,lost,2025-02-05
"""

HISTORY = """deal_id,stage,entered_at
N1,Discovery,2025-01-05
N1,Proposal,2025-01-20
N1,Won,2025-02-10
N2,Discovery,2025-01-06
N2,Won,2025-02-12
N3,Discovery,2025-01-07
N3,Proposal,2025-01-25
N3,Lost,2025-02-15
N4,Discovery,2025-01-08
N4,Lost,2025-02-01
N5,Discovery,2025-01-09
N5,Proposal,2025-02-20
R1,Renewal due,2025-01-05
R1,Negotiation,2025-01-15
R1,Renewed,2025-02-01
R2,Renewal due,2025-01-06
R2,Renewed,2025-02-05
R3,Renewal due,2025-01-07
R3,Negotiation,2025-01-20
R3,Renewed,2025-02-20
R4,Renewal due,2025-01-08
R4,Negotiation,2025-01-22
R4,Lost,2025-03-01
R5,Renewal due,2025-01-09
X1,Lost,2025-02-01
W1,Discovery,2025-01-10
W1,Lost,2025-02-05
"""


def write_two_pipelines(folder: Path, history: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stages.csv").write_text(STAGES)
    (folder / "deals.csv").write_text(DEALS)
    if history:
        (folder / "stage_history.csv").write_text(HISTORY)
    return folder


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> pk.Dataset:
    return pk.load(write_two_pipelines(tmp_path_factory.mktemp("two")), cache=False)


def by_key(frame: pl.DataFrame, key: str | list[str], value: str) -> dict:
    keys = [key] if isinstance(key, str) else key
    return {
        (r[keys[0]] if len(keys) == 1 else tuple(r[k] for k in keys)): r[value]
        for r in frame.iter_rows(named=True)
    }


# ----------------------------------------------------------------------------- loading


def test_shared_stage_kept_once_without_pipeline(two):
    stages = two.tables["stages"]
    # 8 rows read: Lost listed twice; one Lost row, no pipeline, order max(4, 4) = 4
    assert stages.height == 7
    lost = stages.filter(pl.col("stage") == "Lost").row(0, named=True)
    assert (lost["pipeline"], lost["order"], lost["is_lost"]) == (None, 4, True)
    counts = by_key(two.counts, "table", "excluded")
    assert counts["stages"] == 1
    assert two.excluded.filter(pl.col("table") == "stages")["reason"].to_list() == [
        "stage_in_several_pipelines"
    ]
    assert two.quarantine.height == 0  # no deal in Lost is lost to the key rule
    assert any("listed under several pipelines (Lost)" in n for n in two.notes)


def test_deal_pipeline_from_stage_and_history(two):
    got = by_key(two.deals, "deal_id", "pipeline")
    # own stage: N1 N2 (Won), N5 (Proposal) -> New business; R1-R3 (Renewed), R5 -> Renewals
    # Lost (shared): N3, N4, W1 passed Discovery -> New business; R4 Renewal due -> Renewals;
    # X1 only ever in Lost -> ambiguous, null
    assert got == {
        "N1": "New business",
        "N2": "New business",
        "N3": "New business",
        "N4": "New business",
        "N5": "New business",
        "W1": "New business",
        "R1": "Renewals",
        "R2": "Renewals",
        "R3": "Renewals",
        "R4": "Renewals",
        "R5": "Renewals",
        "X1": None,
    }
    note = next(n for n in two.notes if "pipeline taken from each deal's stage" in n)
    # 7 of 12 from their own stage; 5 in Lost, 4 of them named by their history, 1 left
    assert "(7 of 12 deals)" in note
    assert "5 deal(s) are in a stage with no single pipeline (Lost)" in note
    assert "4 took the one pipeline" in note
    assert "1 have no pipeline (ambiguous" in note


def test_without_history_the_shared_stage_stays_ambiguous(tmp_path):
    ds = pk.load(write_two_pipelines(tmp_path / "d", history=False), cache=False)
    got = by_key(ds.deals, "deal_id", "pipeline")
    # the five deals in Lost: N3 N4 R4 X1 W1 have nothing else to go by
    assert sorted(d for d, p in got.items() if p is None) == ["N3", "N4", "R4", "W1", "X1"]
    note = next(n for n in ds.notes if "pipeline taken from each deal's stage" in n)
    assert "(7 of 12 deals)" in note and "5 have no pipeline (ambiguous" in note
    # the derived minimal history starts each deal in its own pipeline's first stage
    first = ds.tables["stage_history"].sort("entered_at").group_by("deal_id").agg(pl.first("stage"))
    starts = by_key(first, "deal_id", "stage")
    assert (starts["N1"], starts["R1"], starts["R5"], starts["X1"]) == (
        "Discovery",
        "Renewal due",
        "Renewal due",
        "Lost",  # no pipeline: only its closing stage
    )


def test_one_pipeline_gets_the_column_without_a_note():
    ds = pk.load("data/sample")
    assert ds.deals["pipeline"].unique().to_list() == ["New business"]
    assert not any("pipeline taken" in n for n in ds.notes)
    assert "pipeline" not in pk.stage_conversion(ds, "2025-Q4").columns  # nothing changes


# ----------------------------------------------------------------------------- metrics


def test_win_rate_per_pipeline_hand_counted(two):
    wr = pk.win_rate(two, "2025-Q1", by="pipeline")
    # New business: won N1 N2; lost N3 N4 W1 -> 2/5; Renewals: won R1 R2 R3, lost R4 -> 3/4;
    # no pipeline: X1 lost -> 0/1
    assert by_key(wr, "pipeline", "won") == {"New business": 2, "Renewals": 3, None: 0}
    assert by_key(wr, "pipeline", "lost") == {"New business": 3, "Renewals": 1, None: 1}
    assert by_key(wr, "pipeline", "win_rate") == pytest.approx(
        {"New business": 0.4, "Renewals": 0.75, None: 0.0}
    )
    # win rate stays organisation-wide unless asked: 5 won / 10 closed
    org = pk.win_rate(two, "2025-Q1")
    assert "pipeline" not in org.columns and org["win_rate"][0] == pytest.approx(0.5)


def test_stage_conversion_grouped_by_pipeline_on_its_own(two):
    sc = pk.stage_conversion(two, "2025-Q1")
    assert sc.columns[0] == "pipeline"
    # Discovery: N1-N5, W1 entered (6); advanced N1 N2 N3 N5; dropped N4 W1 -> 4/6
    # Proposal: N1 N3 N5; advanced N1 (won), dropped N3, both after 21 days, N5 pending for 9
    # -> 1/2 (Aalen-Johansen: N5 stands for the two deals at risk at 21 days)
    # Renewal due: R1-R5; advanced R1-R4 after 10-30 days, R5 pending for 51 days (read at
    # 2025-03-01) outlasts them all -> Aalen-Johansen 4/5, 1/5 undecided (the decided: 4/4)
    # Negotiation: R1 R3 R4; advanced R1 R3, dropped R4 -> 2/3
    key = ["pipeline", "stage"]
    assert by_key(sc, key, "entered") == {
        ("New business", "Discovery"): 6,
        ("New business", "Proposal"): 3,
        ("Renewals", "Renewal due"): 5,
        ("Renewals", "Negotiation"): 3,
    }
    assert by_key(sc, key, "conversion") == pytest.approx(
        {
            ("New business", "Discovery"): 4 / 6,
            ("New business", "Proposal"): 1 / 2,
            ("Renewals", "Renewal due"): 4 / 5,
            ("Renewals", "Negotiation"): 2 / 3,
        }
    )
    # each pipeline's stages in its own order
    assert sc["stage"].to_list() == ["Discovery", "Proposal", "Renewal due", "Negotiation"]
    # by="pipeline" gives the same rows; by="team" adds the team after the pipeline
    assert pk.stage_conversion(two, "2025-Q1", by="pipeline").equals(sc)
    by_team = pk.stage_conversion(two, "2025-Q1", by="team")
    assert by_team.columns[:2] == ["pipeline", "team"]
    # West's W1: Discovery, dropped
    west = by_team.filter(pl.col("team") == "West")
    assert west.select("pipeline", "stage", "entered", "dropped").rows() == [
        ("New business", "Discovery", 1, 1)
    ]


def test_open_pipeline_rows_are_each_pipelines_own_stages(two):
    op = pk.open_pipeline(two, "2025-03-31")
    # open on 03-31: N5 in Proposal (700), R5 in Renewal due (600); zero rows only for the
    # pipeline's own open stages, never New business x Renewal due
    assert op.select("pipeline", "stage", "open_deals", "open_value").rows() == [
        ("New business", "Discovery", 0, 0.0),
        ("New business", "Proposal", 1, 700.0),
        ("Renewals", "Renewal due", 1, 600.0),
        ("Renewals", "Negotiation", 0, 0.0),
    ]
    # weighted: 700 x 0.5 and 600 x 0.6
    assert by_key(op, "stage", "weighted_value")["Proposal"] == pytest.approx(350.0)
    assert by_key(op, "stage", "weighted_value")["Renewal due"] == pytest.approx(360.0)


def test_lost_by_stage_time_in_stage_and_stalled_group_by_pipeline(two):
    lost = pk.lost_reasons_by_stage(two, "2025-Q1")
    # last open stage before the loss: N3 Proposal; N4, W1 Discovery; R4 Negotiation;
    # X1 none (unknown, no pipeline)
    got = by_key(lost, ["pipeline", "lost_from_stage"], "n")
    assert got == {
        ("New business", "Discovery"): 2,
        ("New business", "Proposal"): 1,
        ("Renewals", "Negotiation"): 1,
        (None, "(unknown)"): 1,
    }
    tis = pk.time_in_stage_km(two, "2025-Q1")
    assert tis.columns[0] == "pipeline"
    assert set(zip(tis["pipeline"], tis["stage"], strict=True)) == {
        ("New business", "Discovery"),
        ("New business", "Proposal"),
        ("Renewals", "Renewal due"),
        ("Renewals", "Negotiation"),
    }
    stalled = pk.stalled_deals(two, "2025-03-31")
    assert stalled.select("deal_id", "pipeline").rows() == [
        ("N5", "New business"),
        ("R5", "Renewals"),
    ]


def test_long_format_names_the_pipeline_in_the_detail(two):
    long = pk.metrics_long(two, "2025-Q1", metrics=["stage_conversion"])
    # detail = "pipeline · stage", so stages of different pipelines stay apart
    assert sorted(long["detail"].to_list()) == [
        "New business · Discovery",
        "New business · Proposal",
        "Renewals · Negotiation",
        "Renewals · Renewal due",
    ]


def test_cards_say_what_several_pipelines_do():
    card = pk.explain("stage_conversion")
    assert "Several pipelines:" in card.to_markdown()
    assert "Several pipelines:" not in card.to_markdown(pipelines=False)
    assert not pk.explain("win_rate").pipelines  # org-wide unless asked


def test_plain_python_win_rate_per_pipeline(two, tmp_path):
    """Per-pipeline win rate recomputed from the CSV rows with the csv module alone."""
    folder = write_two_pipelines(tmp_path / "plain")
    stage_pipes: dict[str, set[str]] = {}
    with open(folder / "stages.csv", newline="") as f:
        for row in csv.DictReader(f):
            stage_pipes.setdefault(row["stage"], set()).add(row["pipeline"])
    seen: dict[str, set[str]] = {}
    with open(folder / "stage_history.csv", newline="") as f:
        for row in csv.DictReader(f):
            pipes = stage_pipes[row["stage"]]
            if len(pipes) == 1:
                seen.setdefault(row["deal_id"], set()).update(pipes)
    counts: dict[str | None, list[int]] = {}
    start, end = dt.date(2025, 1, 1), dt.date(2025, 3, 31)
    with open(folder / "deals.csv", newline="") as f:
        for row in csv.DictReader(f):
            if row["status"] not in ("won", "lost"):
                continue
            if not start <= dt.date.fromisoformat(row["closed_at"]) <= end:
                continue
            pipes = stage_pipes[row["stage"]]
            if len(pipes) > 1:
                pipes = seen.get(row["deal_id"], set())
            pipeline = next(iter(pipes)) if len(pipes) == 1 else None
            won_lost = counts.setdefault(pipeline, [0, 0])
            won_lost[0 if row["status"] == "won" else 1] += 1
    expected = {p: w / (w + lost) for p, (w, lost) in counts.items()}
    got = by_key(pk.win_rate(two, "2025-Q1", by="pipeline"), "pipeline", "win_rate")
    assert got == pytest.approx(expected)


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["A", "B", "C"]), st.sampled_from(["won", "lost", "open"])),
        min_size=1,
        max_size=30,
    )
)
def test_per_pipeline_won_and_lost_sum_to_the_organisation(rows):
    stages = pl.DataFrame(
        {
            "stage": ["A open", "A won", "B open", "B won", "C open", "C won", "Lost"],
            "order": [1, 2, 1, 2, 1, 2, 3],
            "pipeline": ["A", "A", "B", "B", "C", "C", None],
            "is_won": [False, True, False, True, False, True, False],
            "is_lost": [False, False, False, False, False, False, True],
        }
    )
    stage = {"won": "{} won", "open": "{} open", "lost": "Lost"}
    deals = pl.DataFrame(
        {
            "deal_id": [f"D{i}" for i in range(len(rows))],
            "owner": ["x"] * len(rows),
            "team": ["T"] * len(rows),
            "amount": [100.0] * len(rows),
            "created_at": [dt.date(2025, 1, 1)] * len(rows),
            "stage": [stage[s].format(p) for p, s in rows],
            "status": [s for _, s in rows],
            "closed_at": [None if s == "open" else dt.date(2025, 2, 1) for _, s in rows],
            "pipeline": [p for p, _ in rows],
        }
    )
    ds = pk.load({"deals": deals, "stages": stages})
    per = pk.win_rate(ds, "2025-Q1", by="pipeline")
    org = pk.win_rate(ds, "2025-Q1")
    assert per["won"].sum() == org["won"][0] == sum(s == "won" for _, s in rows)
    assert per["lost"].sum() == org["lost"][0] == sum(s == "lost" for _, s in rows)


# ----------------------------------------------------------------------------- examples


def test_hubspot_example_per_pipeline():
    ds = pk.load(EXAMPLES / "hubspot", source="hubspot", cache=False)
    # read off the export: Pipeline column, Deal Stage Closed won / Closed lost
    counts: dict[str, list[int]] = {}
    with open(next((EXAMPLES / "hubspot").glob("*.csv")), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            if row["Deal Stage"] in ("Closed won", "Closed lost"):
                won_lost = counts.setdefault(row["Pipeline"], [0, 0])
                won_lost[0 if row["Deal Stage"] == "Closed won" else 1] += 1
    wr = pk.win_rate(ds, "all", by="pipeline")
    assert by_key(wr, "pipeline", "won") == {p: c[0] for p, c in counts.items()}
    assert by_key(wr, "pipeline", "lost") == {p: c[1] for p, c in counts.items()}
    # every stage row's stage belongs to the row's pipeline
    own = by_key(ds.tables["stages"], "stage", "pipeline")
    sc = pk.stage_conversion(ds, "all")
    assert sc["pipeline"].n_unique() == 2
    assert all(own[s] == p for p, s in zip(sc["pipeline"], sc["stage"], strict=True))


def test_pipedrive_example_per_pipeline():
    ds = pk.load(EXAMPLES / "pipedrive", source="pipedrive", cache=False)
    counts: dict[str, list[int]] = {}
    with open(next((EXAMPLES / "pipedrive").glob("*.csv")), newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            status = row["Deal - Status"].strip().lower()
            # EUR deals are quarantined (no conversion rate given): deals 7 and 13
            if status in ("won", "lost") and row["Deal - Currency"] == "USD":
                won_lost = counts.setdefault(row["Deal - Pipeline"], [0, 0])
                won_lost[0 if status == "won" else 1] += 1
    wr = pk.win_rate(ds, "all", by="pipeline")
    assert by_key(wr, "pipeline", "won") == {p: c[0] for p, c in counts.items()}
    assert by_key(wr, "pipeline", "lost") == {p: c[1] for p, c in counts.items()}
    # Won and Lost are shared (no pipeline); the open stages are each one pipeline's
    sc = pk.stage_conversion(ds, "all")
    own = by_key(ds.tables["stages"], "stage", "pipeline")
    assert set(sc["pipeline"]) == {"Sales", "Renewals"}
    assert all(own[s] == p for p, s in zip(sc["pipeline"], sc["stage"], strict=True))


# ----------------------------------------------------------------------------- report


def test_report_pipelines_section_with_two_pipelines(two):
    report = TeamReport(two, team="East", period="2025-Q1")
    text = report.pipelines_section().data
    assert text.startswith("## Pipelines")
    # East: New business won N1 N2 (3000), lost N3 N4 -> 50.0%; Renewals 3 won (2000), 1 lost
    assert "| New business | 50.0% (" in text
    assert "| Renewals | 75.0% (" in text
    assert "\\$3,000" in text and "\\$2,000" in text
    assert "| (no pipeline) | 0.0% (" in text  # X1
    # stage conversion per pipeline: Discovery of East 4 advanced of 5 entered (W1 is West)
    assert "| New business | Discovery | 5 | 80.0% (" in text
    # the stage charts are split per pipeline; the methodology says what that means
    for chart in (report.funnel_chart(), report.conversion_chart(), report.pipeline_chart()):
        assert len(chart.to_dict()["vconcat"]) >= 2
    assert "Several pipelines:" in report.methodology().data
    # losses by stage: East's N4 Discovery, N3 Proposal, R4 Negotiation, X1 unknown; W1 is West
    lost = report.lost_by_stage_table().data
    for label in (
        "New business · Discovery",
        "New business · Proposal",
        "Renewals · Negotiation",
        "(no pipeline) · (unknown)",
    ):
        assert f"| {label} | 1 (25% of losses)" in lost


def test_report_unchanged_with_one_pipeline(two):
    # West has one deal, in New business; the sample has one pipeline
    assert isinstance(TeamReport(two, team="West", period="2025-Q1").pipelines_section(), Nothing)
    sample = TeamReport(pk.load("data/sample"), team="EMEA", period="2025-Q4")
    assert isinstance(sample.pipelines_section(), Nothing)
    assert "Several pipelines:" not in sample.methodology().data
    assert "vconcat" not in sample.funnel_chart().to_dict()
    assert (
        "vconcat" not in pk.OrgReport(pk.load("data/sample"), "2025-Q4").pipeline_chart().to_dict()
    )


def test_org_pipeline_chart_per_pipeline(two):
    chart = pk.OrgReport(two, "2025-Q1").pipeline_chart().to_dict()
    titles = [part["title"]["text"] for part in chart["vconcat"]]
    # open on 03-31: N5 (New business) and R5 (Renewals); no open deal without a pipeline
    assert titles == [
        "Open pipeline by stage · New business",
        "Open pipeline by stage · Renewals",
    ]


def test_pipelines_section_translated(two):
    text = TeamReport(two, team="East", period="2025-Q1", lang="zh-Hans").pipelines_section()
    assert "销售管道" in text.data and "Pipelines" not in text.data


def test_cli_metrics_by_pipeline(tmp_path):
    from pipeline_kit.cli import main

    folder = write_two_pipelines(tmp_path / "cli")
    out = tmp_path / "m.csv"
    args = ["metrics", "--data", str(folder), "--period", "2025-Q1", "--by", "pipeline"]
    assert main([*args, "--metric", "win_rate", "--out", str(out), "--no-cache"]) == 0
    rows = pl.read_csv(out).filter(pl.col("metric") == "win_rate")
    # as in test_win_rate_per_pipeline_hand_counted: 2/5, 3/4, 0/1
    assert by_key(rows, "pipeline", "value") == pytest.approx(
        {"New business": 0.4, "Renewals": 0.75, None: 0.0}
    )
