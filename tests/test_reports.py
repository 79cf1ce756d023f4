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
