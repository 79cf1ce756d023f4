"""`pipeline-kit report --pdf --xlsx`: the PDF and the workbook beside each team's HTML.

The PDF is printed by Debian's chromium (the tests needing it skip where it is missing, and
fail under CI, where ``make test`` installs it); its text is read back with pypdf. The workbook
is read back with openpyxl (values and number formats) and checked against figures computed
here in plain Python from the sample's CSV rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import shutil
import time
import unicodedata
from collections import Counter
from pathlib import Path

import pytest

import pipeline_kit as pk
from pipeline_kit import cli, reports
from pipeline_kit.errors import DataError
from pipeline_kit.pdf import find_chromium, print_pdf, print_version, section_headings
from pipeline_kit.report_workbook import write_team_workbook
from pipeline_kit.reports import run_reports

from .conftest import MAVEN, ROOT, SAMPLE

openpyxl = pytest.importorskip("openpyxl")
pypdf = pytest.importorskip("pypdf")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
Q4 = (dt.date(2025, 10, 1), dt.date(2025, 12, 31))


def _need_chromium() -> None:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI: `make test` should have installed it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """EMEA's report of 2025-Q4 with its PDF (when chromium is there) and workbook (the CLI)."""
    out = tmp_path_factory.mktemp("exports")
    argv = ["report", "--data", str(SAMPLE), "--period", "2025-Q4", "--team", "EMEA"]
    argv += ["--jobs", "2", "--xlsx", "--out", str(out)]
    status = cli.main(argv + (["--pdf"] if CHROMIUM is not None else []))
    assert status == 0
    return out


def _pdf_pages(path: Path) -> list[str]:
    """Each page's text, ligatures (ﬁ) undone and whitespace collapsed."""
    reader = pypdf.PdfReader(path)
    return [
        " ".join(unicodedata.normalize("NFKC", page.extract_text()).split())
        for page in reader.pages
    ]


def _template_sections() -> list[str]:
    """The ``##`` headings of the team report template, read from the notebook itself."""
    notebook = json.loads((ROOT / "templates" / "team_report.ipynb").read_text())
    return [
        "".join(cell["source"]).splitlines()[0].removeprefix("## ").strip()
        for cell in notebook["cells"]
        if cell["cell_type"] == "markdown" and "".join(cell["source"]).startswith("## ")
    ]


# ---------------------------------------------------------------------------------- PDF


def test_pdf_has_contents_a_page_per_section_and_drawn_charts(exported):
    _need_chromium()
    path = exported / "emea.pdf"
    assert path.read_bytes()[:5] == b"%PDF-"
    pages = _pdf_pages(path)
    assert len(pages) > 1
    sections = _template_sections()
    assert len(sections) >= 10
    first = pages[0]
    assert first.startswith("EMEA: pipeline report 2025-Q4")
    assert "Contents" in first
    # the contents list every section, numbered, in the report's order
    listed = [first.index(f"{i}. {name}") for i, name in enumerate(sections, start=1)]
    assert listed == sorted(listed)
    # each section starts a page of its own
    starts = [p for p in pages[1:]]
    for name in sections:
        assert any(p.startswith(name) for p in starts), f"section {name!r} does not open a page"
    # the charts were drawn before printing: a chart title exists only in the drawn SVG (the
    # page holds the chart's spec in a script, which prints nothing)
    text = " ".join(pages)
    assert "Open pipeline by stage: EMEA" in text


def test_pdfs_are_dated_by_the_snapshot_so_a_reprint_is_byte_identical(exported, tmp_path):
    _need_chromium()
    first = (exported / "emea.pdf").read_bytes()
    assert b"/CreationDate (D:20251231000000+00'00')" in first  # 2025-Q4's last day
    assert b"/ModDate (D:20251231000000+00'00')" in first
    # two prints of one page, seconds apart: the same bytes (a page without scripts, so the
    # comparison does not hang on how far Vega got under the virtual time budget)
    page = tmp_path / "page.html"
    page.write_text("<html><body><h1>Report</h1><h2>Section</h2><p>1,234</p></body></html>")
    prints = []
    for name in ("a.pdf", "b.pdf"):
        print_pdf(page, tmp_path / name, dated=dt.date(2025, 12, 31))
        prints.append((tmp_path / name).read_bytes())
        time.sleep(1.1)  # Chromium's stamp has whole seconds
    assert prints[0] == prints[1]


def test_organisation_summary_is_printed_too(exported):
    _need_chromium()
    pages = _pdf_pages(exported / "organisation.pdf")
    assert len(pages) > 1 and "Contents" in pages[0]


def test_index_links_the_pdf_and_the_workbook(exported):
    index = (exported / "index.html").read_text()
    assert 'href="emea.xlsx"' in index
    manifest = {r["team"]: r for r in json.loads((exported / "index.json").read_text())["results"]}
    assert manifest["EMEA"]["has_xlsx"] is True
    assert manifest["Organisation summary"]["has_xlsx"] is False  # no workbook of its own
    if CHROMIUM is not None:
        assert 'href="emea.pdf"' in index and 'href="organisation.pdf"' in index
        assert manifest["EMEA"]["has_pdf"] is True


def test_maven_report_prints_to_pdf(tmp_path):
    _need_chromium()
    if not (MAVEN / "sales_pipeline.csv").exists():
        pytest.skip(f"Maven export not found at {MAVEN} (../shared is not part of this checkout)")
    team = pk.load(MAVEN, source="maven").teams[0]
    results = run_reports(
        MAVEN,
        "2017-Q4",
        tmp_path,
        source="maven",
        teams=[team],
        progress=False,
        jobs=1,
        org_summary=False,
        pdf=True,
    )
    assert results[0].ok and results[0].has_pdf, results
    pages = _pdf_pages(tmp_path / f"{results[0].slug}.pdf")
    assert len(pages) > 1 and pages[0].startswith(f"{team}: pipeline report 2017-Q4")


def test_without_chromium_the_cli_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("pipeline_kit.pdf.shutil.which", lambda _name: None)
    with pytest.raises(DataError, match="apt-get install chromium"):
        find_chromium()
    out = tmp_path / "reports"
    argv = ["report", "--data", str(SAMPLE), "--period", "2025-Q4", "--team", "EMEA"]
    status = cli.main([*argv, "--pdf", "--out", str(out)])
    err = capsys.readouterr().err
    assert status == 2
    assert "chromium" in err and "Traceback" not in err
    assert not list(out.glob("*.html"))  # checked before any report ran


def test_print_version_lists_sections_and_ignores_scripts():
    page = (
        "<html><head><title>t</title></head><body><h1>Team</h1><p>intro</p>"
        '<h2 id="one">First &amp; <em>main</em><a class="anchor-link" href="#one">¶</a></h2>'
        "<script>const s = '<h2>not a heading</h2>';</script>"
        "<h2>Second</h2></body></html>"
    )
    assert section_headings(page) == [("one", "First & main"), ("", "Second")]
    printed = print_version(page)
    assert printed.index("pk-print") < printed.index("</head>")  # the print CSS, in the head
    toc = printed.index('class="pk-toc"')
    assert printed.index("intro") < toc < printed.index('<h2 id="one"')
    assert '<a href="#one">First &amp; main</a>' in printed
    assert '<h2 id="pk-section-2">Second</h2>' in printed and '<a href="#pk-section-2">' in printed
    assert "'<h2>not a heading</h2>'" in printed  # the script is left as it was
    assert "break-before: page" in printed and "break-inside: avoid" in printed


def test_exports_not_asked_for_are_removed(tmp_path):
    """A PDF or workbook from an earlier run would no longer match the new HTML."""
    ds = pk.load(SAMPLE)
    period = pk.periods.resolve_period("2025-Q4", ds.last_date, ds.first_date)
    for name in ("emea.html", "emea.pdf", "emea.xlsx"):
        (tmp_path / name).write_text("old")
    result = reports.TeamResult("EMEA", "emea", True, 1.0, None, True)
    (after,) = reports._export(ds, period, None, tmp_path, [result], 1, None, False)
    assert not after.has_pdf and not after.has_xlsx
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emea.html"]


def test_a_failed_print_is_reported_not_hidden(tmp_path):
    ds = pk.load(SAMPLE)
    period = pk.periods.resolve_period("2025-Q4", ds.last_date, ds.first_date)
    (tmp_path / "emea.html").write_text("<html><body><h2>One</h2></body></html>")
    result = reports.TeamResult("EMEA", "emea", True, 1.0, None, True)
    # a "browser" that exits at once without printing anything
    (after,) = reports._export(ds, period, None, tmp_path, [result], 1, "/bin/false", False)
    assert not after.has_pdf and not (tmp_path / "emea.pdf").exists()
    assert len(after.export_errors) == 1
    assert after.export_errors[0].startswith(
        "PDF not printed: Chromium printed no PDF of emea.html"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emea.html"]  # no temporary file left


# ------------------------------------------------------------------------------ workbook


def _sample_deals() -> list[dict[str, str]]:
    with (SAMPLE / "deals.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def _closed_in_q4(deal: dict[str, str]) -> bool:
    if deal["status"] not in ("won", "lost") or not deal["closed_at"]:
        return False
    return Q4[0] <= dt.date.fromisoformat(deal["closed_at"][:10]) <= Q4[1]


def _sheet(workbook, name: str) -> list[dict]:
    rows = list(workbook[name].iter_rows())
    header = [c.value for c in rows[0]]
    return [{h: c for h, c in zip(header, row, strict=True)} for row in rows[1:]]


@pytest.fixture(scope="module")
def workbook(exported):
    return openpyxl.load_workbook(exported / "emea.xlsx")


def test_workbook_sheets(workbook):
    names = workbook.sheetnames
    assert names[0] == "Contents" and names[-1] == "Definitions"
    for sheet in (
        "Key metrics",
        "Pipeline by stage",
        "Win rate by team",
        "Win rate by segment",
        "Reps",
        "Lost reasons",
        "Stalled deals",
        "Forecast",
    ):
        assert sheet in names
    # the contents name every other sheet; on the sample every table can be produced
    contents = [row[0].value for row in workbook["Contents"].iter_rows(min_row=5)]
    assert contents == names[1:-1]
    definitions = {row["metric"].value for row in _sheet(workbook, "Definitions")}
    assert {"win_rate", "bookings", "deals_won", "stage_conversion"} <= definitions


def test_workbook_key_metrics_match_the_csv(workbook):
    closed = [d for d in _sample_deals() if d["team"] == "EMEA" and _closed_in_q4(d)]
    won = [d for d in closed if d["status"] == "won"]
    lost = [d for d in closed if d["status"] == "lost"]
    rows = {row["metric"].value: row for row in _sheet(workbook, "Key metrics")}
    assert rows["deals_won"]["team"].value == len(won)
    assert rows["deals_lost"]["team"].value == len(lost)
    assert rows["win_rate"]["team"].value == pytest.approx(len(won) / (len(won) + len(lost)))
    assert rows["win_rate"]["team n"].value == len(won) + len(lost)
    bookings = sum(float(d["amount"]) for d in won)
    assert rows["bookings"]["team"].value == pytest.approx(bookings)
    # each row in its metric's unit: shares as percentages, money and counts with separators
    assert rows["win_rate"]["team"].number_format == "0.0%"
    assert rows["win_rate"]["team low"].number_format == "0.0%"
    assert rows["bookings"]["team"].number_format == "#,##0"
    assert rows["deals_won"]["team"].number_format == "#,##0"
    assert rows["cycle_length_days"]["team"].number_format == "0.0"


def test_workbook_win_rate_by_team_and_lost_reasons_match_the_csv(workbook):
    closed = [d for d in _sample_deals() if _closed_in_q4(d)]
    won = Counter(d["team"] for d in closed if d["status"] == "won")
    total = Counter(d["team"] for d in closed)
    by_team = {row["team"].value: row for row in _sheet(workbook, "Win rate by team")}
    assert set(by_team) == set(total)
    for team, row in by_team.items():
        assert row["won"].value == won[team]
        assert row["win_rate"].value == pytest.approx(won[team] / total[team])
        assert row["win_rate"].number_format == "0.0%"
    reasons = Counter(
        d["lost_reason"] or None for d in closed if d["team"] == "EMEA" and d["status"] == "lost"
    )
    sheet = {
        row["lost_reason"].value: row["lost"].value for row in _sheet(workbook, "Lost reasons")
    }
    assert sheet == {reason: n for reason, n in reasons.items() if reason is not None} | (
        {None: reasons[None]} if None in reasons else {}
    )


def test_workbook_says_which_tables_the_export_cannot_give(tmp_path):
    from .shapes import write_shape

    data = write_shape("only_closed", tmp_path / "data")  # deals only, none open
    path = tmp_path / "team.xlsx"
    write_team_workbook(pk.load(data), pk.load(data).teams[0], "2025-Q4", path)
    book = openpyxl.load_workbook(path)
    notes = {
        row[0].value: row[3].value for row in book["Contents"].iter_rows(min_row=5) if row[0].value
    }
    assert notes["Lead funnel"] == "not produced: the export has no leads table"
    assert notes["Churn"] == "not produced: the export has no customers table"
    assert notes["Velocity"].startswith("not produced: velocity needs at least one open stage")
    assert "Lead funnel" not in book.sheetnames and "Velocity" not in book.sheetnames
    assert "Key metrics" in book.sheetnames and "Win rate by team" in book.sheetnames


def test_workbook_is_the_same_bytes_every_time(exported, tmp_path):
    again = tmp_path / "emea.xlsx"
    write_team_workbook(pk.load(SAMPLE), "EMEA", "2025-Q4", again)
    assert again.read_bytes() == (exported / "emea.xlsx").read_bytes()


def test_text_from_the_export_is_never_a_live_formula_or_link(tmp_path):
    """A team named ``=1+1`` or a value like a URL is written as text (spreadsheet
    injection: XlsxWriter writes text starting with '=' as a formula by default)."""
    from tests.conftest import DEALS_CSV, STAGES_CSV, write_dataset

    deals = DEALS_CSV.replace(",red,", ",=1+1,").replace(",blue,", ",https://evil.example,")
    ds = pk.load(write_dataset(tmp_path / "d", deals=deals, stages=STAGES_CSV))
    path = tmp_path / "team.xlsx"
    write_team_workbook(ds, "=1+1", "2025-Q4", path)
    book = openpyxl.load_workbook(path)
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row if c.value is not None]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    assert not [c.coordinate for c in cells if c.hyperlink is not None]
    assert any(c.value == "=1+1" and c.data_type == "s" for c in cells)
