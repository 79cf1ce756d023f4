"""The reports open in a real browser: every chart renders and the console stays clean.

Drives Debian's chromium through Playwright (``executable_path``; no browser download). Skips
with a reason where chromium is not installed, except under CI, where ``make test`` installs it
and its absence is a failure.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest

import pipeline_kit as pk
from pipeline_kit.reports import run_reports

from .conftest import SAMPLE
from .shapes import SHAPES

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is missing in CI: `make test` should have installed it")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser_reports")
    results = run_reports(SAMPLE, "2025-Q4", out, teams=["EMEA"], progress=False, jobs=2)
    assert all(r.ok for r in results), [r.error for r in results]
    return out


def _open(browser, path):
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    return page, errors, requests


# Every chart container has been drawn by vega-embed (an <svg> inside) or marked as failed.
_SETTLED = (
    "Array.from(document.querySelectorAll('.pk-chart'))"
    ".every(e => e.querySelector('svg') || e.classList.contains('pk-chart-error'))"
)
_CHARTS = (
    "Array.from(document.querySelectorAll('.pk-chart')).map(e => {"
    "const s = e.querySelector('svg');"
    "return {drawn: !!s, width: s ? s.getBoundingClientRect().width : 0,"
    " marks: s ? s.querySelectorAll('.role-mark path, .role-mark line, .role-mark rect,"
    " .role-mark text').length : 0, text: e.textContent.slice(0, 200)};})"
)


@pytest.mark.parametrize("name", ["index.html", "emea.html", "organisation.html"])
def test_report_renders_offline_in_chromium(browser, reports, name):
    page, errors, requests = _open(browser, reports / name)
    if name != "index.html":
        page.wait_for_function(_SETTLED, timeout=30_000)
        charts = page.evaluate(_CHARTS)
        assert len(charts) >= 5, "charts missing"
        assert all(c["drawn"] and c["width"] > 100 for c in charts), charts
        assert sum(c["marks"] > 0 for c in charts) >= 5, "charts drawn without marks"
        assert page.locator("h1").first.inner_text().startswith(("EMEA", "Organisation"))
        # every Markdown table rendered as a table: no raw "| a | b |" line left in the text
        body = page.locator("body").inner_text()
        assert not re.search(r"^\s*\|.*\s\|\s", body, re.M), "a Markdown table did not render"
    else:
        links = page.eval_on_selector_all("a", "els => els.map(e => e.getAttribute('href'))")
        assert {"emea.html", "organisation.html"} <= set(links)
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    page.close()


SHAPES_IN_BROWSER = sorted(SHAPES)


@pytest.fixture(scope="module")
def shape_reports(tmp_path_factory):
    """One team report per export shape (tests/shapes.py), built in one process."""
    from .shapes import PERIODS, write_shape

    root = tmp_path_factory.mktemp("shape_reports")
    pages = {}
    for shape in SHAPES_IN_BROWSER:
        data = write_shape(shape, root / "data" / shape)
        period = "latest" if PERIODS[shape] == "all" else PERIODS[shape]
        out = root / shape
        results = run_reports(
            data,
            period,
            out,
            progress=False,
            jobs=1,
            org_summary=False,
            teams=[pk.load(data).teams[0]],
        )
        assert all(r.ok and not r.section_errors for r in results), results
        pages[shape] = out / f"{results[0].slug}.html"
    return pages


@pytest.mark.parametrize("shape", SHAPES_IN_BROWSER)
def test_every_shape_report_renders_in_chromium(browser, shape_reports, shape):
    page, errors, requests = _open(browser, shape_reports[shape])
    page.wait_for_function(_SETTLED, timeout=30_000)
    charts = page.evaluate(_CHARTS)
    assert all(c["drawn"] for c in charts), charts  # every chart drawn (or none needed)
    body = page.locator("body").inner_text()
    assert "Traceback" not in body and "could not be produced" not in body
    assert not re.search(r"^\s*\|.*\s\|\s", body, re.M), "a Markdown table did not render"
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    page.close()
