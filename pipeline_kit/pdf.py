"""PDF copies of the reports, printed by Debian's headless Chromium.

``pipeline-kit report --pdf`` writes ``<slug>.pdf`` beside each ``<slug>.html``. The page is
printed from a print version of the HTML: a table of contents built from the ``h2`` section
headings at the top, each section on a new page, no chart or table row cut across two pages,
charts scaled to the page width. Interactive charts are drawn by Vega's JavaScript before the
page is printed (Chromium runs the page's scripts within a virtual time budget); static (SVG)
charts need no script.

Chromium is an external program, called through :mod:`subprocess` (``chromium`` or
``chromium-browser`` on the PATH); without it, :func:`find_chromium` raises a
:class:`~pipeline_kit.errors.DataError` saying how to install it.
"""

from __future__ import annotations

import datetime as dt
import html
import os
import re
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, gettext

__all__ = ["find_chromium", "pin_dates", "print_pdf", "print_version", "section_headings"]

CHROMIUM_NAMES = ("chromium", "chromium-browser")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
    "--run-all-compositor-stages-before-draw",
)
# Virtual milliseconds the page's scripts get before printing: Vega draws a report's charts in
# well under a second of page time; virtual time runs as fast as the page lets it.
VIRTUAL_TIME_BUDGET_MS = 30_000
# Wall-clock seconds one print may take before Chromium is stopped and the PDF reported missing.
PRINT_TIMEOUT = 180

PRINT_CSS = """
<style id="pk-print">
@page { size: A4; margin: 14mm 12mm 16mm; }
@media print {
  body.jp-Notebook { max-width: none; padding: 0; }
  h2 { break-before: page; }
  h1, h2, h3, h4 { break-after: avoid; }
  a.anchor-link { display: none; }
  .pk-chart, .jp-RenderedSVG, .jp-RenderedImage, .jp-OutputArea-output svg, img, figure,
  tr, .pk-toc { break-inside: avoid; }
  thead { display: table-header-group; }
  .pk-chart svg, .jp-OutputArea-output svg, .jp-OutputArea-output img {
    max-width: 100% !important; height: auto !important;
  }
  .jp-RenderedHTMLCommon table { font-size: 10px; }
}
.pk-toc { margin: 1.5rem 0 0; padding: .8rem 1.2rem; border: 1px solid #E4E7EB; }
.pk-toc-title { font-weight: 600; font-size: 1.1rem; margin: 0 0 .4rem; }
.pk-toc ol { margin: 0; padding-left: 1.4rem; }
.pk-toc a { color: #1F2933; text-decoration: none; }
</style>
"""

_H2 = re.compile(r"<h2(?P<attrs>\s[^>]*)?>(?P<inner>.*?)</h2>", re.S | re.I)
_ID = re.compile(r"""\bid\s*=\s*["']([^"']*)["']""", re.I)
_ANCHOR = re.compile(r"<a\s[^>]*class=[\"']anchor-link[\"'][^>]*>.*?</a>", re.S | re.I)
_TAG = re.compile(r"<[^>]+>")
_SCRIPT = re.compile(r"<script\b.*?</script\s*>", re.S | re.I)  # Vega's code holds "<h2"


def _markup(page: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` spans of ``page`` outside its ``<script>`` elements."""
    spans, start = [], 0
    for script in _SCRIPT.finditer(page):
        spans.append((start, script.start()))
        start = script.end()
    return [*spans, (start, len(page))]


def _headings(page: str) -> list[re.Match[str]]:
    """Every ``h2`` element of ``page`` outside its scripts."""
    return [m for start, end in _markup(page) for m in _H2.finditer(page, start, end)]


def section_headings(page: str) -> list[tuple[str, str]]:
    """The ``(id, text)`` of every ``h2`` heading of an HTML page, in order.

    The text is the heading without its tags and without nbconvert's ``¶`` anchor link; the id
    is the heading's own (empty when it has none).

    >>> section_headings('<h2 id="a">Pipeline <em>now</em><a class="anchor-link">¶</a></h2>')
    [('a', 'Pipeline now')]
    """
    found = []
    for match in _headings(page):
        ident = _ID.search(match.group("attrs") or "")
        text = html.unescape(_TAG.sub("", _ANCHOR.sub("", match.group("inner"))))
        found.append((ident.group(1) if ident else "", " ".join(text.split())))
    return found


def print_version(page: str) -> str:
    """The HTML ``page`` prepared for printing: print CSS and a table of contents.

    Every ``h2`` without an id gets one (``pk-section-<n>``); the contents, a numbered list of
    links to those headings, goes before the first ``h2`` (after the report's title block), or
    at the top of the body when the page has no section heading to place it after.

    >>> out = print_version('<html><head></head><body><h1>T</h1><h2>One</h2></body></html>')
    >>> '<a href="#pk-section-1">One</a>' in out and out.index('pk-toc') < out.index('>One</h2>')
    True
    """
    parts, last = [], 0
    for n, match in enumerate(_headings(page), start=1):
        attrs = match.group("attrs") or ""
        if not _ID.search(attrs):
            parts += [page[last : match.start()], f'<h2 id="pk-section-{n}"{attrs}>']
            parts += [match.group("inner"), "</h2>"]
            last = match.end()
    page = "".join([*parts, page[last:]])
    sections = section_headings(page)
    items = "".join(
        f'<li><a href="#{html.escape(ident)}">{html.escape(text)}</a></li>'
        for ident, text in sections
    )
    toc = (
        f'<nav class="pk-toc"><p class="pk-toc-title">{html.escape(_contents(page))}</p>'
        f"<ol>{items}</ol></nav>\n"
    )
    css = PRINT_CSS
    head_end = page.lower().find("</head>")
    page = page[:head_end] + css + page[head_end:] if head_end >= 0 else css + page
    if not sections:
        return page
    first = _headings(page)[0].start()
    return page[:first] + toc + page[first:]


def _contents(page: str) -> str:
    """The contents heading in the language of the page (its html lang; English if none).

    >>> _contents('<html lang="zh-Hans"><body></body></html>'), _contents("<html>")
    ('目录', 'Contents')
    """
    tag = re.search(r"<html[^>]*\blang=\"([^\"]+)\"", page[:2000])
    try:
        _ = gettext(tag.group(1) if tag else "en")
    except ValueError:  # a language the kit has no catalog for
        return "Contents"
    return _(N_("Contents"))


def find_chromium() -> str:
    """The path of the Chromium program (``chromium`` or ``chromium-browser`` on the PATH).

    Raises
    ------
    DataError
        When neither is installed, saying how to install Debian's package.
    """
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise DataError(
        problem="PDF reports need the Chromium browser, and neither `chromium` nor "
        "`chromium-browser` is on the PATH",
        fix="install Debian's chromium (`sudo apt-get install chromium`), or run the report "
        "without --pdf; nothing was written",
    )


_PDF_DATE = re.compile(rb"/(CreationDate|ModDate) \(D:\d{14}[^)]*\)")


def pin_dates(pdf: bytes, day: dt.date) -> bytes:
    """``pdf`` with its creation and modification dates set to midnight UTC of ``day``.

    Chromium stamps the print's clock time, the only bytes that differ between two prints of
    one page; the reports stamp their snapshot day instead (as their workbooks do), so a
    re-run writes the same file. Each date keeps its length, so the cross-reference offsets
    stay right; a date of another length is left as it is.

    >>> pin_dates(b"<</CreationDate (D:20261124024101+00'00')>>", dt.date(2025, 12, 31))
    b"<</CreationDate (D:20251231000000+00'00')>>"
    """

    def stamp(match: re.Match[bytes]) -> bytes:
        pinned = b"/%s (D:%s000000+00'00')" % (match.group(1), day.strftime("%Y%m%d").encode())
        return pinned if len(pinned) == len(match.group(0)) else match.group(0)

    return _PDF_DATE.sub(stamp, pdf)


def print_pdf(
    html_path: Path,
    pdf_path: Path,
    *,
    chromium: str | None = None,
    timeout: float = PRINT_TIMEOUT,
    dated: dt.date | None = None,
) -> None:
    """Print the report ``html_path`` to ``pdf_path`` through headless Chromium.

    The print version (:func:`print_version`) is written to a temporary folder with a
    Chromium profile of its own (several prints may run at once), printed, and the PDF renamed
    into place: a failed print leaves no partial file. ``dated``: the day stamped as the PDF's
    creation date (:func:`pin_dates`; the reports pass their snapshot day), else the print's time.

    Raises
    ------
    DataError
        When Chromium is missing.
    RuntimeError
        When Chromium fails, runs past ``timeout`` seconds or writes no PDF.
    """
    program = chromium or find_chromium()
    with tempfile.TemporaryDirectory(prefix="pk-print-") as work:
        folder = Path(work)
        source = folder / "report.html"
        source.write_text(print_version(html_path.read_text(encoding="utf-8")), encoding="utf-8")
        printed = folder / "report.pdf"
        command = [
            program,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={folder / 'profile'}",
            f"--virtual-time-budget={VIRTUAL_TIME_BUDGET_MS}",
            f"--print-to-pdf={printed}",
            source.as_uri(),
        ]
        # a session of its own: on a timeout the whole browser (all its processes) is stopped
        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise RuntimeError(
                f"Chromium took longer than {timeout:g} s to print {html_path.name}"
            ) from None
        if not printed.exists() or printed.read_bytes()[:5] != b"%PDF-":
            last = stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise RuntimeError(
                f"Chromium printed no PDF of {html_path.name} (exit status "
                f"{process.returncode}{': ' + last[0] if last else ''})"
            )
        fd, tmp = tempfile.mkstemp(dir=pdf_path.parent, prefix=f".{pdf_path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            if dated is None:
                shutil.copyfile(printed, tmp)
            else:
                Path(tmp).write_bytes(pin_dates(printed.read_bytes(), dated))
            os.chmod(tmp, 0o644)
            os.replace(tmp, pdf_path)
        finally:
            Path(tmp).unlink(missing_ok=True)
