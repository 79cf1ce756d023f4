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


# every section of the team report template but the forecast's (its results were shared
# before this work, and its backtest would take most of the test's time)
SECTIONS = [
    "header", "executive_summary", "summary", "forest_chart", "key_metrics",
    "period_over_period_table", "win_rate_trend_chart", "pipeline_chart", "pipeline_table",
    "pipelines_section", "funnel_chart", "conversion_chart", "cycle_chart", "velocity_note",
    "deal_size_chart", "revenue_section", "pipeline_vs_target_chart", "pipeline_size_note",
    "seasonality_chart", "needed_for_target_table", "win_rate_by_team_chart", "segments_table",
    "benchmark_note", "lost_reasons_chart", "competitor_chart", "lost_by_stage_table",
    "conversion_alerts", "conversion_control_chart", "rep_chart", "rep_table",
    "lead_funnel_table", "leads_section", "lead_response_trend_chart", "activity_chart",
    "calls_by_industry_table", "collateral_chart", "unused_content_note", "churn_section",
    "churn_reasons_table", "churn_trend_chart", "stalled_table", "data_quality", "methodology",
    "deal_lists_appendix",
]  # fmt: skip


def _sections(report: pk.TeamReport) -> list[str]:
    """What the report's sections publish, as text (Markdown or chart JSON)."""
    shown = [getattr(report, name)() for name in SECTIONS]
    return [s.to_json() if hasattr(s, "to_json") else getattr(s, "data", repr(s)) for s in shown]


@pytest.mark.parametrize("team", ["EMEA", "SMB"])
def test_shared_results_give_the_same_sections_as_computing_each(sample, monkeypatch, team):
    """Every section, with the results shared (within a report, and between the reports of
    one dataset: another team's report first), against every section computing its own."""
    ds = _fresh(sample)
    _sections(pk.TeamReport(ds, team="SMB" if team == "EMEA" else "EMEA", period="2025-Q4"))
    calls = _counting(monkeypatch, report_data, "stage_conversion_control")
    shared = _sections(pk.TeamReport(ds, team=team, period="2025-Q4"))
    assert len(calls) == 1  # the team's own limits, once for the alerts and the chart
    with monkeypatch.context() as m:  # every section computes its own
        m.setattr(Dataset, "memoised", lambda self, key, compute, persist=False: compute())
        each = _sections(pk.TeamReport(_fresh(sample), team=team, period="2025-Q4"))
    assert len(calls) == 3  # and once each for the alerts and the chart
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


@pytest.mark.parametrize("fails", [False, True])
def test_the_template_runs_as_papermill_runs_it_without_its_last_write(tmp_path, fails):
    """``_execute_template`` is papermill's ``execute_notebook`` but for its final write of
    the executed notebook (the caller writes it): the same notebook; on an error the same
    exception and the same notebook written, error marked."""
    import nbformat
    import papermill

    from pipeline_kit import reports

    template = tmp_path / "template.ipynb"
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_markdown_cell("## text"),
        nbformat.v4.new_code_cell("print(x * 2)\nx"),
        nbformat.v4.new_code_cell("1 / 0" if fails else "x + 1"),
        nbformat.v4.new_code_cell("'after'"),
    ]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(notebook, template)
    final = tmp_path / "report.ipynb"

    def run(execute, output):
        try:
            return reports._deterministic(execute(output), final), None
        except papermill.PapermillExecutionError as exc:
            written = nbformat.read(output, as_version=4)
            return reports._deterministic(written, final), (exc.ename, exc.evalue)

    def theirs(output):
        return papermill.execute_notebook(
            str(template),
            str(output),
            parameters={"x": 3},
            kernel_name="python3",
            engine_name="pipeline_kit",
            kc=reports._kernel(tmp_path),
            progress_bar=False,
            log_output=False,
            request_save_on_cell_execute=False,
        )

    def ours(output):
        return reports._execute_template(template, output, {"x": 3}, reports._kernel(tmp_path))

    try:
        expected, expected_error = run(theirs, tmp_path / "theirs.ipynb")
        got, error = run(ours, tmp_path / "ours.ipynb")
    finally:
        reports._shutdown_kernels()
    assert nbformat.writes(got) == nbformat.writes(expected)
    assert error == expected_error
    assert (error is not None) == fails
    assert (tmp_path / "ours.ipynb").exists() == fails  # written on an error only
    (cell,) = [c for c in got.cells if c.source in ("1 / 0", "x + 1")]
    assert cell.outputs[0]["output_type"] == ("error" if fails else "execute_result")
    assert any("x = 3" in c.source for c in got.cells)  # the parameters papermill injects


# ------------------------------------------------------------------ the lean HTML export

EDGE_CASES = [
    "<!DOCTYPE html>\n<html lang='en'><head><meta charset=\"UTF-8\"><title>a &amp; b</title>"
    '<meta http-equiv="Content-Type" content="text/html; charset=latin-1"></head>'
    '<body class="jp-Notebook  x"><div class=" jp-Cell-inputWrapper "><p>x</p></div>'
    '<div class="jp-OutputArea-output" tabindex="5">y</div></body></html>',
    '<div class="jp-OutputArea-output">outside the notebook</div>'
    '<main class="jp-Notebook"><section><div class="a jp-OutputArea-output b">in</div>'
    '<span class="jp-OutputArea-output">not a div</span></section></main>',
    "<p>&nbsp;&#39;&#x27;&#150;&#0;&#xZZ;&foo;&amp;&lt;&gt;&quot; &copy &unknown x</p>",
    '<p title=\'say "hi"\' data-x="it\'s" data-y=\'both " and &#39;\' data-z="a&b<c>">q</p>',
    '<p a="1" a="2" B="3" c>dup</p><a rel=" nofollow  noopener " href="x?a=1&amp;b=2">l</a>',
    "<img src='a.png'><img src='b.png' alt=''><IMG SRC=c.png ALT=C><br><br/><hr/></br><p/>",
    "<div><p>open<p>again<span>unclosed</div>after</b><i>tail",
    "<!----><!--   --><!--\n --><!-- a comment --><?xml version='1.0'?><![CDATA[x < y]]>"
    "<!ELEMENT foo>",
    "<pre>  keep\n  this  </pre>\n   \n<textarea>\n\n</textarea> \t <b> </b>\n<i>\n\n</i>",
    "<script>if (a < b && c > d) { x = '</div>'; }</script><style>a > b { }</style>"
    "<script>   </script><template><p>t &amp; t</p></template>",
    '<svg viewBox="0 0 10 10"><rect width="1"/><text x="1">a &lt; b</text></svg>',
    "text only & <unclosed",
    "",
]


def _bs4_pass(page: str) -> str:
    """nbconvert's HTMLExporter pass, as nbconvert 7 writes it."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(page, features="html.parser")
    for elem in soup.select("img:not([alt])"):
        elem.attrs["alt"] = "No description has been provided for this image"
    for elem in soup.select(".jp-Notebook div.jp-Cell-inputWrapper"):
        elem.attrs["tabindex"] = "0"
    for elem in soup.select(".jp-Notebook div.jp-OutputArea-output"):
        elem.attrs["tabindex"] = "0"
    return str(soup)


@pytest.mark.parametrize("page", EDGE_CASES)
def test_the_streamed_pass_prints_what_beautifulsoup_prints(page):
    from pipeline_kit._page_markup import soup_markup

    assert soup_markup(page)[0] == _bs4_pass(page)


def test_the_streamed_pass_counts_images_without_alt():
    from pipeline_kit._page_markup import soup_markup

    assert soup_markup(EDGE_CASES[5])[1] == 1  # a.png; b.png's alt is empty, C's is C


def _stock_render(notebook, monkeypatch) -> str:
    """render_html with nbconvert's own HTMLExporter (the export before the lean one)."""
    from nbconvert import HTMLExporter

    from pipeline_kit import reports

    stock = HTMLExporter(**reports._exporter_options())
    with monkeypatch.context() as m:
        m.setattr(reports, "_html_exporter", lambda: stock)
        return reports.render_html(notebook)


def _notebook_with_every_output():
    import nbformat

    v4 = nbformat.v4
    svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 4"><rect width="1"/></svg>'
    outputs = [
        v4.new_output(
            "display_data",
            data={
                "text/markdown": "**Win rate** 40% &amp; <b>more</b>\n\n| a | b |\n|--|--|\n|1|2|"
            },
        ),
        v4.new_output("display_data", data={"text/html": "<table><tr><td>x</td></tr></table>"}),
        v4.new_output("display_data", data={"image/svg+xml": svg}),
        v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="}),
        v4.new_output("display_data", data={"text/markdown": "![](chart.png) and ![alt](x.png)"}),
        v4.new_output("stream", name="stdout", text="printed <text>\n"),
        v4.new_output("stream", name="stderr", text="a warning\n"),
        v4.new_output("error", ename="ValueError", evalue="bad <value>", traceback=["tb"]),
    ]
    cell = v4.new_code_cell("x", outputs=outputs)
    notebook = v4.new_notebook(cells=[v4.new_markdown_cell("# Title & more"), cell])
    notebook.metadata["papermill"] = {"parameters": {"lang": "zh_Hant"}}
    return notebook


def test_the_lean_export_writes_the_same_page_as_nbconvert(monkeypatch):
    """Every kind of output a report has (and an error), and the repository's notebooks."""
    import nbformat

    from pipeline_kit.reports import render_html

    from .conftest import ROOT

    notebooks = [_notebook_with_every_output()] + [
        nbformat.read(path, as_version=4) for path in sorted((ROOT / "notebooks").glob("*.ipynb"))
    ]
    for notebook in notebooks:
        assert render_html(notebook) == _stock_render(notebook, monkeypatch)


def test_the_lean_export_leaves_the_notebook_as_it_was():
    """The notebook is written to <slug>.ipynb after its page: the export must not touch it."""
    import copy

    from pipeline_kit.reports import render_html

    notebook = _notebook_with_every_output()
    notebook.cells[1].outputs = notebook.cells[1].outputs[:6]  # no error: no copy for the page
    before = copy.deepcopy(notebook)
    render_html(notebook)
    assert notebook == before


# ------------------------------------------------------------------ results shared by a batch


def test_the_comparison_is_computed_once_for_the_kernels_of_a_batch(tmp_path, monkeypatch):
    """Two loads of one export through one cache (two report kernels): one computation, and
    the second reads a frame equal to it, column types included."""
    from pipeline_kit.comparisons import compare_groups
    from pipeline_kit.comparisons.compare_groups import compare_teams
    from pipeline_kit.periods import Period

    from .conftest import SAMPLE

    calls = _counting(monkeypatch, compare_groups, "compare")
    period = Period.parse("2025-Q4")
    first = compare_teams(pk.load(SAMPLE, cache_dir=tmp_path), period)
    second = compare_teams(pk.load(SAMPLE, cache_dir=tmp_path), period)
    assert len(calls) == 1
    assert second.schema == first.schema
    assert_frame_equal(second, first)
    compare_teams(pk.load(SAMPLE, cache_dir=tmp_path), Period.parse("2025-Q3"))  # another key
    assert len(calls) == 2


def test_a_frame_that_parquet_would_change_is_not_stored(tmp_path):
    """An Object column does not survive Parquet: computed again each time, never misread."""
    from pipeline_kit.cache import stored_result

    calls: list[int] = []

    def compute() -> pl.DataFrame:
        calls.append(1)
        return pl.DataFrame({"x": [object()]}, schema={"x": pl.Object})

    stored_result(tmp_path, ("odd",), compute)
    stored_result(tmp_path, ("odd",), compute)
    assert len(calls) == 2
    plain = stored_result(tmp_path, ("plain",), lambda: pl.DataFrame({"n": [1, None]}))
    again = stored_result(tmp_path, ("plain",), lambda: pl.DataFrame({"n": [9]}))
    assert_frame_equal(again, plain)  # the stored frame, not the second computation


def test_a_teams_control_limits_are_its_own(sample, tmp_path):
    """The team report's control limits equal the metric run on the team's deals alone, with
    one pipeline or several, and for a team alone on its last date. (They were computed for
    every team at once; with the design effect's ICC pooled over a table's rows, that
    table's limits differ from each team's own.)"""
    from pipeline_kit.report_data import TeamData

    from .test_pipelines import write_two_pipelines

    one = _fresh(sample)
    two = pk.load(write_two_pipelines(tmp_path / "two"), cache=False)
    spread = pk.load(pk.synthetic.generate(600, seed=11))  # two teams share a last date
    for ds in (one, two, spread):
        for period in ("2025-Q4", "2025-Q2", "2024-Q3"):
            for team in [*ds.teams, "no such team"]:
                data = TeamData.of(ds, team, period)
                assert_frame_equal(
                    data.stage_conversion_control(),
                    pk.stage_conversion_control(data.team_deals, data.period),
                )
    assert not [k for k in one._memo if k[:2] == ("stage_conversion_control", "team")]


def test_every_teams_stalled_deals_at_once_are_each_teams_own(sample, tmp_path, monkeypatch):
    """The team report's stalled deals (its table and its appendix list) come from one table
    for the whole dataset, the team's rows kept: equal to the metrics on the team's deals; with
    several pipelines each team is computed alone."""
    from pipeline_kit.report_data import TeamData

    from .test_pipelines import write_two_pipelines

    calls = _counting(monkeypatch, pipeline_metrics, "_stalled_deals")
    one = _fresh(sample)
    for team in [*one.teams, "no such team"]:
        data = TeamData.of(one, team, "2025-Q4")
        alone = _fresh(data.team_deals)
        assert_frame_equal(
            data.stalled_deals(),
            pk.stalled_deals(alone, data.as_of)
            .filter("stalled")
            .sort(
                ["days_in_stage", "amount", "deal_id"],
                descending=[True, True, False],
                nulls_last=True,
            ),
        )
        assert_frame_equal(
            data.deal_list("stalled"),
            pk.deal_list(alone, data.period, kind="stalled", as_of=data.as_of),
        )
    assert len(calls) == 1 + len(one.teams) + 1  # the whole dataset once, each team alone
    two = pk.load(write_two_pipelines(tmp_path / "two"), cache=False)
    for team in two.teams:
        data = TeamData.of(two, team, "2025-Q1")
        alone = _fresh(data.team_deals)
        assert_frame_equal(
            data.deal_list("stalled"),
            pk.deal_list(alone, data.period, kind="stalled", as_of=data.as_of),
        )
    assert not [key for key in two._memo if key[:2] == ("stalled_deals", "whole")]


def test_the_backtest_in_threads_is_the_backtest_one_at_a_time(sample, monkeypatch):
    """Each forecast of a backtest has its own seed and only reads the data: run two at a time,
    the same figures, bit for bit, in the same order."""
    from pipeline_kit.forecasting import backtest

    def run(threads: int) -> backtest.Backtest:
        monkeypatch.setattr(backtest, "BACKTEST_THREADS", threads)
        return pk.backtest_forecast(_fresh(sample), by="team", draws=300)

    alone, threaded = run(1), run(2)
    assert alone.forecasts.height > 10  # several forecasts, so threads did overlap
    assert_frame_equal(threaded.forecasts, alone.forecasts)
    assert_frame_equal(threaded.deals, alone.deals)


def test_every_teams_win_rate_trend_and_collateral_are_each_teams_own(
    sample, tmp_path, monkeypatch
):
    """The team report's win-rate trend (from every team's, when the team has a row in each
    quarter) and its collateral win rates (each content's stage computed once for the dataset)
    equal the metrics run on the team's deals alone, for every team, several periods and
    datasets: one where teams have quarters without a closed deal (computed alone)."""
    from pipeline_kit.report_data import TeamData

    from .test_pipelines import write_two_pipelines

    one = _fresh(sample)
    two = pk.load(write_two_pipelines(tmp_path / "two"), cache=False)
    few = pk.load(pk.synthetic.generate(300, seed=3))  # small teams: empty quarters
    trends = _counting(monkeypatch, report_data, "quarterly_trend")
    stages = _counting(monkeypatch, report_data, "content_stages")
    computed = {}
    for name, ds in (("one", one), ("two", two), ("few", few)):
        for period in ("2025-Q4", "2025-Q2", "2024-Q3"):
            before = len(trends)
            for team in [*ds.teams, "no such team"]:
                data = TeamData.of(ds, team, period)
                alone = _fresh(data.team_deals)
                assert_frame_equal(
                    data.quarterly_trend("win_rate"),
                    pk.quarterly_trend(alone, "win_rate", end=data.period),
                    check_exact=True,
                )
                if ds.has("collateral_usage"):
                    assert_frame_equal(
                        data.collateral_win_rates(),
                        pk.collateral_win_rates(alone, data.period),
                        check_exact=True,
                    )
            computed[name, period] = len(trends) - before
    assert len(stages) == 2 * 3  # once per dataset with collateral and period
    # 2025-Q4: the sample's five teams have a row in each of the eight quarters, read from
    # every team's (computed once), the unknown team computed alone; in the small dataset
    # Partners closed deals in four of them only: computed alone too. 2025-Q2's quarters
    # start before the data: every team alone
    assert computed["one", "2025-Q4"] == 1 + 1
    assert computed["few", "2025-Q4"] == 1 + 1 + 1
    assert computed["one", "2025-Q2"] == 1 + 5 + 1
