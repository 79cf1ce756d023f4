"""The report command end to end on a small dataset (papermill + nbconvert, real kernels)."""

from __future__ import annotations

import re

import nbformat
import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.cli import main
from pipeline_kit.reports import run_reports, slugify

HOSTILE = '../Team "<script>alert(1)</script>"/x'


@pytest.fixture(scope="module")
def small_data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("small")
    tables = pk.synthetic.generate(600, seed=11)
    tables["deals"] = tables["deals"].with_columns(
        pl.when(pl.col("team") == "Partners")
        .then(pl.lit(HOSTILE))
        .otherwise(pl.col("team"))
        .alias("team")
    )
    for name, frame in tables.items():
        frame.write_csv(folder / f"{name}.csv")
    return folder


def test_slugify_is_safe():
    taken: set[str] = set()
    assert slugify(HOSTILE, taken) == "team-script-alert-1-script-x"
    assert slugify("Ünïcode Team", taken) == "unicode-team"
    assert slugify("///", taken) == "team"
    assert slugify("Unicode team", taken) == "unicode-team-2"  # unique within a batch


def test_report_end_to_end(small_data, tmp_path):
    out = tmp_path / "reports"
    code = main(
        [
            "report",
            "--data",
            str(small_data),
            "--period",
            "2025-Q4",
            "--team",
            "EMEA",
            HOSTILE,
            "--out",
            str(out),
        ]
    )
    assert code == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "emea.html",
        "emea.ipynb",
        "index.html",
        "index.json",
        "organisation.html",
        "organisation.ipynb",
        "team-script-alert-1-script-x.html",
        "team-script-alert-1-script-x.ipynb",
    ]
    index = (out / "index.html").read_text()
    assert 'href="organisation.html"' in index
    assert "Organisation summary: " in (out / "organisation.html").read_text()
    assert 'href="emea.html"' in index and "<script>" not in index
    assert "&lt;script&gt;" in index
    html = (out / "emea.html").read_text()
    assert "EMEA: pipeline report 2025-Q4" in html
    assert html.count('class="jp-OutputArea-output pk-chart"') >= 10  # Vega-Lite specs inline
    assert "window.vegaEmbed=" in html  # and the Vega libraries to draw them, inline
    assert not re.search(r"<script[^>]+src=", html), "no script loaded from elsewhere"
    assert "cdn" not in html.lower() and "mathjax" not in html.lower()
    assert "setup_notebook" not in html and "report.summary()" not in html  # no input cells
    hostile = (out / "team-script-alert-1-script-x.html").read_text()
    assert "<script>alert(1)</script>" not in hostile
    for spec in re.findall(r'<script type="application/json">(.*?)</script>', hostile, re.S):
        assert "<" not in spec  # no markup inside the inline chart specs, escaped or not
    assert "\\u003cscript>alert(1)" in hostile  # the name is in a chart title, as data
    nb = nbformat.read(out / "emea.ipynb", as_version=4)
    assert not any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))
    assert len(html) < 2_000_000


def test_static_charts_are_svg_images_without_javascript(small_data, tmp_path):
    out = tmp_path / "static"
    results = run_reports(
        small_data,
        "2025-Q4",
        out,
        teams=["EMEA"],
        org_summary=False,
        static_charts=True,
        progress=False,
        jobs=1,
    )
    assert results[0].ok, results[0].error
    html = (out / "emea.html").read_text()
    assert html.count("data:image/svg+xml;base64,") >= 10
    assert 'class="jp-OutputArea-output pk-chart"' not in html and "vegaEmbed" not in html
    assert len(html) < 2_000_000


def _template(path, code: str):
    """A minimal report template: the parameters cell, then one cell of ``code``."""
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(
        'team = "x"\nperiod = ""\ndata_path = ""\nsource = ""\nas_of = None'
    )
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nbformat.write(nb, path)
    return path


def test_a_failing_team_does_not_stop_the_others(small_data, tmp_path):
    template = _template(
        tmp_path / "t.ipynb", 'if team == "SMB":\n    raise RuntimeError("boom")\nprint(team)'
    )
    results = run_reports(
        small_data,
        "2025-Q4",
        tmp_path / "out",
        teams=["SMB", "EMEA"],
        template=template,
        progress=False,
    )
    status = {r.team: r for r in results}
    assert not status["SMB"].ok and "boom" in status["SMB"].error
    assert status["EMEA"].ok
    index = (tmp_path / "out" / "index.html").read_text()
    assert "failed" in index and "boom" in index and "1 of 2 team reports ready" in index
    assert not list((tmp_path / "out").glob(".*.tmp")) and not list(
        (tmp_path / "out").glob(".*ipynb")
    )


def test_period_outside_the_data_is_refused_in_plain_words(tmp_path):
    from .conftest import SAMPLE

    # the sample runs from 2023-10-01 to 2025-12-31
    with pytest.raises(
        ValueError,
        match=r"2023-Q3 .* is outside the data, which runs from "
        r"2023-10-01 to 2025-12-31",
    ):
        run_reports(SAMPLE, "2023-Q3", tmp_path / "out", teams=["Partners"], progress=False)
    with pytest.raises(ValueError, match="after the last date in the data"):
        run_reports(SAMPLE, "2025-Q4", tmp_path / "out", as_of="2026-03-01", progress=False)
    assert (
        main(
            ["report", "--data", str(SAMPLE), "--period", "2030-Q1", "--out", str(tmp_path / "cli")]
        )
        == 2
    )


def test_team_with_no_deals_in_the_period_gets_a_short_correct_report(tmp_path):
    from .conftest import SAMPLE

    out = tmp_path / "empty_period"
    # a period inside the data where one team closed nothing: Partners' deals removed from
    # the first quarter of the sample
    data = tmp_path / "data"
    data.mkdir()
    ds = pk.load(SAMPLE)
    for name, frame in ds.tables.items():
        if name == "deals":
            frame = frame.filter(
                ~((pl.col("team") == "Partners") & (pl.col("closed_at") < pl.date(2024, 1, 1)))
            )
        if name in ("deals", "stages", "targets"):
            frame.drop("source_row").write_csv(data / f"{name}.csv")
    results = run_reports(
        data, "2023-Q4", out, teams=["Partners"], progress=False, org_summary=False
    )
    assert results[0].ok, results[0].error
    text = (out / "partners.html").read_text()
    assert "No deals were won or lost in 2023-Q4" in text
    nb = nbformat.read(out / "partners.ipynb", as_version=4)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert not [o for o in outputs if o.get("name") == "stderr"]


def test_reused_kernel_carries_no_state_between_reports(small_data, tmp_path):
    """One kernel serves several reports in a process: each starts from an empty namespace."""
    from pipeline_kit import reports

    template = _template(
        tmp_path / "t.ipynb",
        'assert "leftover" not in globals(), "state leaked"\nleftover = team\nimport os\n'
        "print(os.getpid())",
    )
    teams = ["SMB", "EMEA", "Enterprise"]
    results = run_reports(
        small_data,
        "2025-Q4",
        tmp_path / "out",
        teams=teams,
        template=template,
        progress=False,
        jobs=1,
    )
    assert [r.ok for r in results] == [True, True, True], [r.error for r in results]
    pids, counts = set(), []
    for r in results:
        executed = nbformat.read(tmp_path / "out" / f"{r.slug}.ipynb", as_version=4)
        code = [c for c in executed.cells if c.cell_type == "code"]
        counts.append([c.execution_count for c in code])
        pids.add(code[-1].outputs[0]["text"].strip())
    assert len(pids) == 1  # the same kernel served the three reports
    assert counts[0] == counts[1] == counts[2]  # and each notebook is numbered from 1
    assert counts[0][0] == 1
    assert not reports._KERNELS  # shut down when the batch ends


_NO_REASONS = """deal_id,owner,team,amount,created_at,stage,status,closed_at,lost_reason,competitor
W1,ann,red,500,2025-10-01,Won,won,2025-10-21,,
L1,bob,red,200,2025-10-01,Lost,lost,2025-10-11,,
L2,bob,red,300,2025-10-02,Lost,lost,2025-11-01,,
"""


@pytest.mark.parametrize("columns", ["empty", "absent"])
def test_no_lost_reason_or_competitor_gives_a_sentence_not_a_one_bar_chart(tmp_path, columns):
    """3 deals closed in 2025-Q4, 2 of them lost; no reason and no competitor anywhere."""
    from IPython.display import Markdown

    from pipeline_kit.team_report import TeamReport
    from tests.conftest import write_dataset

    deals = _NO_REASONS
    if columns == "absent":
        deals = "\n".join(",".join(line.split(",")[:8]) for line in deals.splitlines()) + "\n"
    ds = pk.load(write_dataset(tmp_path / columns, deals=deals))
    report = TeamReport(ds, "red", "2025-Q4")
    reasons, competitors = report.lost_reasons_chart(), report.competitor_chart()
    assert isinstance(reasons, Markdown) and isinstance(competitors, Markdown)
    if columns == "absent":
        assert reasons.data == (
            "No lost reasons: the export has no lost_reason column (2 deal(s) lost in 2025-Q4)."
        )
        assert competitors.data == (
            "No win rate by competitor: the export has no competitor column (3 deal(s) closed "
            "in 2025-Q4)."
        )
    else:
        assert reasons.data == (
            "No lost reasons: none of the 2 deal(s) lost in 2025-Q4 has one in the export."
        )
        assert competitors.data == (
            "No win rate by competitor: none of the 3 deal(s) closed in 2025-Q4 names one."
        )


def test_stalled_table_says_how_many_and_lists_the_longest_then_largest(tmp_path):
    """24 past deals each spent 10 days in Prospecting (the 90th percentile: 10 days; a
    threshold needs 20 past visits). On
    2025-12-31 three open deals sit there: S1 and S2 since 2025-12-01 (30 days; S2 has no
    amount), S3 since 2025-12-11 (20 days). All three are stalled; S1 before S2 (same days, S2
    has no amount), then S3."""
    from pipeline_kit.team_report import TeamReport
    from tests.conftest import STAGES_CSV, write_dataset

    deals = ["deal_id,owner,team,amount,created_at,stage,status,closed_at"]
    history = ["deal_id,stage,entered_at"]
    for i in range(24):
        deals.append(f"P{i},ann,red,100,2025-09-01,Won,won,2025-09-21")
        history += [
            f"P{i},Prospecting,2025-09-01",
            f"P{i},Proposal,2025-09-11",
            f"P{i},Won,2025-09-21",
        ]
    for deal, amount, day in (("S1", "100", "12-01"), ("S2", "", "12-01"), ("S3", "500", "12-11")):
        deals.append(f"{deal},bob,red,{amount},2025-{day},Prospecting,open,")
        history.append(f"{deal},Prospecting,2025-{day}")
    ds = pk.load(
        write_dataset(
            tmp_path / "stalled",
            deals="\n".join(deals) + "\n",
            stages=STAGES_CSV,
            stage_history="\n".join(history) + "\n",
        )
    )
    text = TeamReport(ds, "red", "2025-Q4").stalled_table(limit=2).data  # (Markdown: \\$)
    assert text.startswith(
        "3 open deal(s) stalled on 2025-12-31, worth \\$600 (1 deal(s) without an amount left "
        "out); 2 listed, the longest in their stage first, then the largest."
    )
    listed = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| S")]
    assert listed == ["S1", "S2"]


def test_org_findings_carry_the_cautions_of_the_differences_they_list(sample):
    """A listed difference with a warning (a young history) gets the team report's caution,
    in the report's language; a warning on an unlisted row is not shown."""
    from pipeline_kit.comparisons.compare_groups import YOUNG_HISTORY_WARNING
    from pipeline_kit.org_report import OrgReport

    young = YOUNG_HISTORY_WARNING.format(
        first="2016-10-20", start="2016-10-01", end="2017-09-30", covered="95%"
    )
    for lang, expected in (
        ("en", "- *Caution:* " + young),
        ("zh-Hans", "- *注意：* "),
    ):
        report = OrgReport(sample, "2025-Q4", lang=lang)
        listed = (
            report._comparison.with_row_index()
            .with_columns(
                direction=pl.when(pl.col("index") == 0)
                .then(pl.lit("above"))
                .otherwise(pl.lit("no clear difference")),
                q_value=pl.lit(0.001),
                warning=pl.when(pl.col("index") <= 1).then(pl.lit(young)),
            )
            .drop("index")
        )
        report._comparison = listed
        lines = report.findings().data.splitlines()
        cautions = [line for line in lines if "Caution" in line or "注意" in line]
        assert len(cautions) == 1  # (row 1's warning is on a row not listed)
        assert cautions[0].startswith(expected)
        if lang != "en":
            assert "2016-10-20" in cautions[0] and young not in cautions[0]


def test_summary_says_why_the_average_won_deal_has_no_interval():
    """EMEA won 3 deals in 2025-Q1 in the HubSpot fixture: too few for the mean's interval."""
    from pathlib import Path

    from pipeline_kit.team_report import TeamReport

    ds = pk.load(Path(__file__).parent / "fixtures" / "hubspot_export")
    text = TeamReport(ds, "EMEA", "2025-Q1").summary().data
    line = next(x for x in text.splitlines() if "Won deals averaged" in x)
    assert "too few amounts for an interval for the mean, n = 3" in line
    assert "– to –" not in line


def test_an_export_column_named_like_a_win_rate_column_is_no_segment():
    """A Salesforce report's `Won` flag (true/false), kept as the extra column `won`, was
    taken as a segment: the segments section failed ("column with name 'won' has more than
    one occurrence"). Sweep 8, e15."""
    rows = [("1", "won", "true", "A"), ("2", "lost", "false", "B"), ("3", "won", "true", "B")]
    deals = pl.DataFrame(
        {
            "deal_id": [r[0] for r in rows],
            "owner": ["ann"] * 3,
            "team": ["T"] * 3,
            "amount": ["10"] * 3,
            "created_at": ["2024-01-02"] * 3,
            "stage": ["Closed"] * 3,
            "status": [r[1] for r in rows],
            "closed_at": ["2024-02-01"] * 3,
            "won": [r[2] for r in rows],
            "tier": [r[3] for r in rows],
        }
    )
    report = pk.TeamReport(pk.load({"deals": deals}), "T", "2024-Q1")
    assert report.data.segment_columns() == ["tier"]
    text = report.segments_table().data
    assert "could not be produced" not in text and "tier" in text


def test_too_few_won_deals_give_no_distribution_of_sizes(sample):
    """EMEA won 3 deals in 2025-Q1 in the HubSpot fixture: a sentence, not 3 points in bins;
    the sample's teams (hundreds of won deals) keep their chart."""
    from pathlib import Path

    from IPython.display import Markdown

    from pipeline_kit.team_report import TeamReport

    ds = pk.load(Path(__file__).parent / "fixtures" / "hubspot_export")
    got = TeamReport(ds, "EMEA", "2025-Q1").deal_size_chart()
    assert isinstance(got, Markdown)
    assert got.data == (
        "No distribution of won deal sizes: EMEA won 3 deal(s) with an amount in 2025-Q1, and "
        "a distribution needs 20 (the average and the median are in the summary)."
    )
    assert not isinstance(TeamReport(sample, "EMEA", "2025-Q4").deal_size_chart(), Markdown)


def test_a_one_team_organisation_summary_says_why_nothing_is_compared():
    """The Pipedrive fixture has one team ("All") and 9 closed deals in 2025-Q1: no rest of
    the organisation, and too few deals for any comparison."""
    from pathlib import Path

    from pipeline_kit.org_report import OrgReport

    ds = pk.load(Path(__file__).parent / "fixtures" / "pipedrive_export")
    report = OrgReport(ds, "2025-Q1")
    text = report.findings().data
    assert text.startswith(
        "The export has one team (All): there is no rest of the organisation to compare it "
        "with, and its comparisons with its own past and the benchmarks are in its team report."
    )
    assert "0 clear difference(s)" not in text
    assert " · 1 team(s) · " in report.header().data
