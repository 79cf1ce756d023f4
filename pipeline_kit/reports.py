"""Quarterly per-team reports: papermill runs the template once per team, nbconvert writes HTML.

Outputs in ``out``: ``<team-slug>.ipynb`` (executed notebook), ``<team-slug>.html`` (no input
cells, charts inline as SVG, no script or stylesheet loaded from the network) and
``index.html`` linking every team, with failures listed instead of hidden. Files are written
to a temporary name and renamed, so a crash never leaves a half-written report.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import datetime as dt
import hashlib
import html
import json
import multiprocessing
import multiprocessing.util
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import traceback
import unicodedata
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import nbformat
import papermill
import papermill.log
from jupyter_client.blocking import BlockingKernelClient
from jupyter_client.manager import KernelManager
from nbconvert import HTMLExporter
from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, papermill_engines
from tqdm.auto import tqdm

from pipeline_kit._files import write_atomic
from pipeline_kit.dataset import Dataset
from pipeline_kit.errors import DataError
from pipeline_kit.formatting import Formatter
from pipeline_kit.i18n import N_, gettext
from pipeline_kit.loading import CACHE_DIR_VARIABLE, load
from pipeline_kit.pdf import find_chromium
from pipeline_kit.periods import Period, check_covered, parse_date, resolve_period
from pipeline_kit.vega_bundle import VEGALITE_MIME, vega_bundle

__all__ = [
    "TeamResult",
    "localised_template",
    "render_html",
    "run_reports",
    "slugify",
    "team_slugs",
    "template_path",
]

_NBCONVERT_TEMPLATES = Path(__file__).parent / "_nbconvert"


def template_path(name: str = "team_report.ipynb") -> Path:
    """The report template: ``templates/`` of a source checkout, else the installed copy."""
    for folder in (
        Path(__file__).resolve().parent.parent / "templates",
        Path(__file__).resolve().parent / "_templates",
    ):
        if (folder / name).exists():
            return folder / name
    raise FileNotFoundError(f"report template {name} not found")


def localised_template(template: Path, lang: str, folder: Path) -> Path:
    """A copy of ``template`` in ``folder`` whose Markdown cells are in ``lang``.

    Each Markdown cell is looked up whole in the kit's catalogs (a cell without a translation
    stays as written); the code cells are untouched (the report object translates what they
    show).
    """
    _ = gettext(lang)
    notebook = nbformat.read(template, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            cell.source = _(cell.source)
    title = notebook.metadata.get("title")
    if isinstance(title, str):  # the page's <title>
        notebook.metadata["title"] = _(title)
    target = folder / template.name
    nbformat.write(notebook, target)
    return target


def slugify(name: str, taken: set[str] | None = None) -> str:
    """A safe file name for a team: ASCII letters, digits and dashes; unique within ``taken``.

    >>> slugify("Mid-Market / EMEA")
    'mid-market-emea'
    >>> slugify("../<script>")
    'script'
    """
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:60].strip("-") or "team"
    if taken is not None:
        base, i = slug, 2
        while slug in taken:
            slug, i = f"{base}-{i}", i + 1
        taken.add(slug)
    return slug


def team_slugs(teams: list[str]) -> dict[str, str]:
    """A file name per team that depends only on the team names in the data.

    Never on which teams a run includes: names whose plain slug would clash (``EMEA`` and
    ``emea``, or a team called ``Index``) all get a short hash of the exact name.

    >>> team_slugs(["EMEA", "emea", "SMB"])["SMB"]
    'smb'
    """
    plain = {team: slugify(team) for team in teams}
    counts: dict[str, int] = {}
    for slug in plain.values():
        counts[slug] = counts.get(slug, 0) + 1
    return {
        team: slug
        if counts[slug] == 1 and slug not in RESERVED_SLUGS
        else f"{slug}-{hashlib.sha1(team.encode()).hexdigest()[:6]}"
        for team, slug in plain.items()
    }


RESERVED_SLUGS = {"index", "organisation"}


@dataclass
class TeamResult:
    """How one team's report went."""

    team: str
    slug: str
    ok: bool
    seconds: float
    error: str | None = None
    has_html: bool = False
    # sections that could not be produced (the page says so; <slug>.log has the tracebacks)
    section_errors: tuple[str, ...] = ()
    has_pdf: bool = False  # <slug>.pdf printed from the HTML (run_reports(pdf=True))
    has_xlsx: bool = False  # <slug>.xlsx with the report's tables (run_reports(xlsx=True))
    # why a PDF or workbook that was asked for could not be written
    export_errors: tuple[str, ...] = ()


def failures_for_log(notebook: nbformat.NotebookNode) -> tuple[list[str], str]:
    """(failed section names, log text) from an executed report.

    The sections that returned a SectionError, cell errors and warnings written to stderr.
    """
    from pipeline_kit.sections import SECTION_ERROR_KEY

    sections: list[str] = []
    parts: list[str] = []
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            meta = output.get("metadata", {})
            failure = meta.get(SECTION_ERROR_KEY) or meta.get("text/markdown", {}).get(
                SECTION_ERROR_KEY
            )
            if failure:
                sections.append(failure["section"])
                parts.append(f"cell {index}, section {failure['section']}:\n{failure['traceback']}")
            elif output.get("output_type") == "error":
                trace = "\n".join(output.get("traceback", []))
                parts.append(
                    f"cell {index}, {output.get('ename')}: {output.get('evalue')}\n"
                    + _ANSI.sub("", trace)
                )
            elif output.get("output_type") == "stream" and output.get("name") == "stderr":
                parts.append(f"cell {index}, stderr:\n{output.get('text', '')}")
    return sections, "\n\n".join(parts)


_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _deterministic(notebook: nbformat.NotebookNode, final: Path) -> nbformat.NotebookNode:
    """The executed notebook without what changes from run to run.

    Cell ids (papermill gives its parameter cell a random one) become their position,
    execution timestamps and durations go, the output path is the final one. Same data and
    as_of, same bytes.
    """
    for index, cell in enumerate(notebook.cells):
        cell["id"] = f"cell-{index}"
        cell.get("metadata", {}).pop("execution", None)
        for key in ("start_time", "end_time", "duration"):
            cell.get("metadata", {}).get("papermill", {}).pop(key, None)
    meta = notebook.get("metadata", {}).get("papermill", {})
    for key in ("start_time", "end_time", "duration"):
        meta.pop(key, None)
    if "output_path" in meta:
        meta["output_path"] = final.name
    return notebook


def _without_tracebacks(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy for the page: a cell error becomes one sentence, stderr output is dropped.

    Both are in the log; papermill's error banner goes. A notebook with none of them is
    returned as it is (nbconvert copies what it converts): a copy of a report costs a few
    tenths of a second.
    """
    if not any(_dropped_or_replaced(cell) for cell in notebook.cells):
        return notebook
    page = copy.deepcopy(notebook)
    cells = []
    for cell in page.cells:
        if "papermill-error-cell-tag" in cell.get("metadata", {}).get("tags", []):
            continue
        outputs = []
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                first = str(output.get("evalue") or "").strip().splitlines()[:1]
                outputs.append(
                    nbformat.v4.new_output(
                        "display_data",
                        data={
                            "text/markdown": "*The report stopped here: "
                            f"{html.escape(str(output.get('ename')))}: "
                            f"{html.escape(first[0] if first else '')}"
                            ". The report log has the details.*"
                        },
                    )
                )
            elif not (output.get("output_type") == "stream" and output.get("name") == "stderr"):
                outputs.append(output)
        if "outputs" in cell:
            cell["outputs"] = outputs
        cells.append(cell)
    page.cells = cells
    return page


def _dropped_or_replaced(cell: nbformat.NotebookNode) -> bool:
    """Whether :func:`_without_tracebacks` changes anything in ``cell``."""
    if "papermill-error-cell-tag" in cell.get("metadata", {}).get("tags", []):
        return True
    return any(
        output.get("output_type") == "error"
        or (output.get("output_type") == "stream" and output.get("name") == "stderr")
        for output in cell.get("outputs", [])
    )


class _LeanHTMLExporter(HTMLExporter):
    """nbconvert's HTMLExporter without its extra copies, validations and tree.

    The same page, byte for byte: the closing BeautifulSoup pass is streamed
    (:mod:`pipeline_kit._page_markup`, a quarter of that pass's CPU); the preprocessors work on
    the copy ``from_notebook_node`` made (nbconvert copies the notebook once more first, and
    normalising it copies it a third time); the notebook is validated once after the
    preprocessors (nbconvert's ``optimistic_validation``) rather than after each of them.
    """

    def _preprocess(self, nb: Any, resources: Any) -> tuple[Any, Any]:
        """Exporter._preprocess on ``nb`` itself: from_notebook_node's own copy."""
        from nbformat import validator

        resources = copy.deepcopy(resources)
        _, nb = validator.normalize(nb)  # a copy again: normalised as nbconvert does
        for preprocessor in self._preprocessors:
            nb, resources = preprocessor(nb, resources)
        self._validate_preprocessor(nb, preprocessor)
        return nb, resources

    def from_notebook_node(  # type: ignore[override]
        self, nb: nbformat.NotebookNode, resources: dict[str, Any] | None = None, **kw: Any
    ) -> tuple[str, dict[str, Any]]:
        from nbconvert.exporters.templateexporter import TemplateExporter
        from nbconvert.filters.highlight import Highlight2HTML
        from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

        from pipeline_kit._page_markup import soup_markup

        langinfo = nb.metadata.get("language_info", {})
        lexer = langinfo.get("pygments_lexer", langinfo.get("name", None))
        highlight_code = self.filters.get(
            "highlight_code", Highlight2HTML(pygments_lexer=lexer, parent=self)
        )
        resources = self._init_resources(resources)
        filter_data_type = WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources
        )
        self.register_filter("highlight_code", highlight_code)
        self.register_filter("filter_data_type", filter_data_type)
        page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        markup, missing_alt = soup_markup(page)
        if missing_alt:
            self.log.warning("Alternative text is missing on %s image(s).", missing_alt)
        return markup, resources


def _exporter_options() -> dict[str, Any]:
    return {
        "template_name": "offline",
        "extra_template_basedirs": [str(_NBCONVERT_TEMPLATES)],
        "exclude_input": True,
        "exclude_input_prompt": True,
        "exclude_output_prompt": True,
    }


@cache
def _html_exporter() -> HTMLExporter:
    return _LeanHTMLExporter(**_exporter_options())


def render_html(notebook: nbformat.NotebookNode) -> str:
    """Notebook -> standalone HTML without input cells and without any CDN reference.

    SVG charts are inlined as images; Vega-Lite charts as specs, drawn in the browser by the
    Vega libraries inlined once per page (only when the notebook has such a chart).
    """
    interactive = any(
        VEGALITE_MIME in output.get("data", {})
        for cell in notebook.cells
        for output in cell.get("outputs", [])
    )
    body, _ = _html_exporter().from_notebook_node(
        _without_tracebacks(notebook), resources={"vega_charts": interactive}
    )
    if interactive:  # added after nbconvert, which would otherwise re-parse 0.9 MB of script
        marker = "<script>/* pipeline_kit: Vega libraries */</script>"
        body = body.replace(marker, f"<script>{vega_bundle()}</script>", 1)
    # the report's language (a run_reports parameter): browsers pick CJK glyphs and fonts by it
    lang = notebook.get("metadata", {}).get("papermill", {}).get("parameters", {}).get("lang")
    if lang and lang != "en":
        tag = html.escape(str(lang).replace("_", "-"), quote=True)
        body = body.replace('<html lang="en">', f'<html lang="{tag}">', 1)
    return body


def _kernel_env() -> None:
    # The "python3" kernelspec launches `python` from PATH: make it this environment's python.
    bindir = str(Path(sys.executable).parent)
    if os.environ.get("PATH", "").split(os.pathsep)[0] != bindir:
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")


# One kernel per process, reused for every report that process runs: starting a kernel and
# importing the stack costs more than most reports' own work. Its client stays connected too:
# a new client must handshake (kernel_info plus an IOPub check that polls for 0.2 s at a time)
# before every notebook. Between reports the kernel's namespace is wiped and its execution
# counter reset, so no state carries over.
_KERNELS: dict[str, tuple[KernelManager, BlockingKernelClient]] = {}
_SOCKET_DIRS: dict[str, str] = {}  # the folder of each kernel's Unix sockets
_EXIT_HOOK: list[bool] = []

# Run in each report kernel before the first report: the heavy imports, once per kernel,
# without jsonschema's optional IRI grammar (why: pipeline_kit/_report_worker.py). Then the
# imported modules are
# moved out of the garbage collector's sight (gc.freeze) and automatic collection is off:
# the full collection of the namespace reset between reports (_KERNEL_RESET) frees each
# report's cycles, and only walks what that report created.
_KERNEL_WARMUP = """
import gc
import sys
sys.modules.setdefault("rfc3987_syntax", None)
import pipeline_kit.charts, pipeline_kit.metrics, pipeline_kit.org_report, pipeline_kit.team_report
import pipeline_kit._report_kernel
gc.collect()
gc.freeze()
gc.disable()
"""
# Between two reports: %reset -f with one garbage collection instead of two (why:
# pipeline_kit/_report_kernel.py), and the execution counter back to 1. Binds no name.
_KERNEL_RESET = (
    '__import__("pipeline_kit._report_kernel", fromlist=["_"]).reset_namespace(get_ipython())\n'
    "get_ipython().execution_count = 1"
)
# No input history database: nobody reads a report kernel's history.
_KERNEL_ARGS = ["--HistoryManager.enabled=False"]


class _ConnectedKernelClient(PapermillNotebookClient):
    """papermill's notebook client on an already connected kernel client."""

    def __init__(self, nb_man, *, kc: BlockingKernelClient, **kwargs) -> None:
        super().__init__(nb_man, km=kc.parent, **kwargs)
        self.kc = kc  # nbclient then neither starts nor handshakes a client of its own


class _ConnectedKernelEngine(NBClientEngine):
    """The ``nbclient`` engine of papermill, executing on a kernel client it is handed."""

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man,
        kernel_name,
        log_output=False,
        start_timeout=60,
        execution_timeout=None,
        *,
        kc: BlockingKernelClient,
        **_unused,
    ):
        client = _ConnectedKernelClient(
            nb_man,
            kc=kc,
            kernel_name=kernel_name,
            timeout=execution_timeout,
            startup_timeout=start_timeout,
            log=papermill.log.logger,
            log_output=log_output,
        )
        return client.execute()


papermill_engines.register("pipeline_kit", _ConnectedKernelEngine)


def _kernel(cwd: Path) -> BlockingKernelClient:
    """Get this process's connected kernel for ``cwd``.

    Started (and warmed up) on first use, wiped before every later use, shut down at exit.
    """
    key = str(cwd)
    if key in _KERNELS:
        manager, client = _KERNELS[key]
        if manager.is_alive():
            _execute(client, _KERNEL_RESET)
            return client
        _shutdown_kernels()
    # at exit only: a callback tied to the manager would also run when an abandoned manager
    # (a dead kernel's) is collected, and shut down the kernel that replaced it
    if not _EXIT_HOOK:
        multiprocessing.util.Finalize(None, _shutdown_kernels, exitpriority=10)
        _EXIT_HOOK.append(True)
    for attempt in range(3):  # a kernel that dies while starting is started again
        # Unix sockets in a folder of this kernel's own: TCP ports picked by two worker
        # processes at once could collide ("Address already in use", a dead kernel)
        sockets = tempfile.mkdtemp(prefix="pk-kernel-")
        manager = KernelManager(
            kernel_name="python3", transport="ipc", ip=os.path.join(sockets, "kernel")
        )
        try:
            manager.start_kernel(cwd=key, extra_arguments=_KERNEL_ARGS)
            client = manager.client()
            client.start_channels()
            _KERNELS[key] = (manager, client)
            _SOCKET_DIRS[key] = sockets
            client.wait_for_ready(timeout=60)
            client.allow_stdin = False
            _execute(client, _KERNEL_WARMUP + "get_ipython().execution_count = 1")
            return client
        except RuntimeError:
            _shutdown_kernels()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _execute(client: BlockingKernelClient, code: str) -> None:
    reply = client.execute_interactive(
        code, store_history=False, timeout=120, output_hook=lambda _msg: None
    )
    if reply["content"]["status"] != "ok":
        raise RuntimeError(f"report kernel set-up failed: {reply['content'].get('evalue')}")


def _abandon_kernels() -> None:
    """Kill this process's kernels without touching their clients' sockets.

    A blocked thread may still be reading them: for a kernel that died or a report past its
    time limit.
    """
    while _KERNELS:
        key, (manager, _client) = _KERNELS.popitem()
        with contextlib.suppress(Exception):
            manager.shutdown_kernel(now=True)
        shutil.rmtree(_SOCKET_DIRS.pop(key, ""), ignore_errors=True)


def _shutdown_kernels() -> None:
    while _KERNELS:
        key, (manager, client) = _KERNELS.popitem()
        client.stop_channels()
        with contextlib.suppress(Exception):
            manager.shutdown_kernel(now=True)
        shutil.rmtree(_SOCKET_DIRS.pop(key, ""), ignore_errors=True)


# Default per-report time limit (seconds): no team can hang a batch.
REPORT_TIMEOUT = 900


def _execute_template(
    template: Path, output: Path, parameters: dict, kc: BlockingKernelClient
) -> nbformat.NotebookNode:
    """``papermill.execute_notebook(template, output, parameters)`` on the kernel ``kc``.

    Papermill's steps (papermill 2.7's ``execute_notebook`` with ``kernel_name="python3"``,
    the ``pipeline_kit`` engine, no progress bar or output log, and no save after each cell:
    each re-serialises and re-validates the whole notebook) but its last: writing the executed
    notebook to ``output``. The caller writes the notebook once, made deterministic; papermill's
    copy was deleted unread, and serialising it cost about 0.015 s of CPU per report. On an
    error, papermill still writes the notebook with the error marked to ``output`` and raises.
    """
    from papermill.execute import (
        prepare_notebook_metadata,
        raise_for_execution_errors,
        remove_error_markers,
    )
    from papermill.inspection import _infer_parameters
    from papermill.iorw import load_notebook_node, local_file_io_cwd
    from papermill.parameterize import (
        add_builtin_parameters,
        parameterize_notebook,
        parameterize_path,
    )

    engine, kernel = "pipeline_kit", "python3"
    path_parameters = add_builtin_parameters(parameters)
    input_path = parameterize_path(str(template), path_parameters)
    output_path = parameterize_path(str(output), path_parameters)
    with local_file_io_cwd():
        nb = load_notebook_node(input_path)
        if parameters:
            known = {p.name for p in _infer_parameters(nb, name=kernel, language=None)}
            for name in parameters:
                if name not in known:
                    papermill.log.logger.warning(f"Passed unknown parameter: {name}")
            nb = parameterize_notebook(
                nb, parameters, False, kernel_name=kernel, language=None, engine_name=engine
            )
        nb = prepare_notebook_metadata(nb, input_path, output_path, False)
        nb = remove_error_markers(nb)
        kernel = papermill_engines.nb_kernel_name(engine_name=engine, nb=nb, name=kernel)
        nb = papermill_engines.execute_notebook_with_engine(
            engine,
            nb,
            input_path=input_path,
            output_path=None,  # no save after each cell
            kernel_name=kernel,
            progress_bar=False,
            log_output=False,
            start_timeout=60,
            stdout_file=None,
            stderr_file=None,
            kc=kc,
        )
        raise_for_execution_errors(nb, output_path)  # writes output_path, then raises
    return nb


def _run_one(
    team: str,
    slug: str,
    out: Path,
    parameters: dict,
    template: Path,
    timeout: float | None = REPORT_TIMEOUT,
) -> TeamResult:
    """Execute ``template`` with ``parameters`` into ``out/<slug>.ipynb`` and ``.html``.

    The notebook runs in a thread watched from here: when the kernel dies or the report runs
    past ``timeout`` seconds, the kernel is shut down, the team is reported as failed and the
    next report gets a fresh kernel (jupyter's blocking client would otherwise wait forever
    for a dead kernel's reply).
    """
    start = time.perf_counter()
    error = None
    fd, tmp_name = tempfile.mkstemp(dir=out, prefix=f".{slug}.", suffix=".ipynb")
    os.close(fd)
    tmp = Path(tmp_name)
    notebook = None
    kc = _kernel(out.resolve())
    outcome: dict[str, Any] = {}

    def execute() -> None:
        try:
            outcome["notebook"] = _execute_template(template, tmp, parameters, kc)
        except BaseException as exc:  # handed to the watching thread
            outcome["error"] = exc

    runner = threading.Thread(target=execute, name=f"report-{slug}", daemon=True)
    runner.start()
    manager = kc.parent
    while runner.is_alive():
        runner.join(0.25)
        if not runner.is_alive():
            break
        if manager is not None and not manager.is_alive():
            error = "the report kernel died while running the report (out of memory?)"
        elif timeout is not None and time.perf_counter() - start > timeout:
            error = f"the report took longer than the time limit ({timeout:g} s)"
        if error:
            _abandon_kernels()  # the thread stays blocked on the dead kernel; never joined
            break
    if error is None:
        exc = outcome.get("error")
        notebook = outcome.get("notebook")
        if isinstance(exc, papermill.PapermillExecutionError):
            error = f"{exc.ename}: {exc.evalue}"
        elif exc is not None:  # kernel died, template unreadable, ...: report it, go on
            error = f"{type(exc).__name__}: {exc}"
            _shutdown_kernels()  # the next report starts from a fresh kernel
    sections: list[str] = []
    try:
        if notebook is None and tmp.exists() and tmp.stat().st_size:  # failed part-way
            notebook = nbformat.read(tmp, as_version=4)
        log = out / f"{slug}.log"
        if notebook is not None:
            notebook = _deterministic(notebook, out / f"{slug}.ipynb")
            sections, text = failures_for_log(notebook)
            if text or error:
                write_atomic(log, f"{team}\n{error or ''}\n\n{text}\n")
            else:
                log.unlink(missing_ok=True)
            write_atomic(out / f"{slug}.html", render_html(notebook))
            write_atomic(out / f"{slug}.ipynb", nbformat.writes(notebook))
    except Exception:
        error = error or traceback.format_exc(limit=1).strip().splitlines()[-1]
    finally:
        tmp.unlink(missing_ok=True)
    has_html = (out / f"{slug}.html").exists()
    return TeamResult(
        team, slug, error is None, time.perf_counter() - start, error, has_html, tuple(sections)
    )


def run_reports(
    data: str | Path,
    period: str | Period,
    out: str | Path,
    *,
    source: str = "auto",
    load_options: dict[str, Any] | None = None,
    teams: list[str] | None = None,
    as_of: str | dt.date | None = None,
    template: str | Path | None = None,
    progress: bool = True,
    jobs: int | None = None,
    org_summary: bool = True,
    static_charts: bool = False,
    timeout: float | None = REPORT_TIMEOUT,
    pdf: bool = False,
    xlsx: bool = False,
    lang: str = "en",
    currency: str = "USD",
) -> list[TeamResult]:
    """Run the team report for every team (or ``teams``) and write ``out/index.html``.

    ``period`` is a label such as ``2025-Q4`` or ``"latest"`` (the last complete quarter of
    the data).
    The dataset is loaded once here to list the teams and fail early on unusable data
    (:class:`~pipeline_kit.errors.DataError`); each notebook loads it again in its kernel.
    A team whose notebook fails is listed with its error on the index page; the others
    still finish. ``jobs`` teams run at once (default: the number of cores) in worker
    processes; each worker keeps one kernel for all its teams, wiped between reports (a
    failure replaces it with a fresh one). With the default template, ``org_summary`` also runs
    ``templates/org_summary.ipynb`` into ``organisation.html`` (returned last, slug
    ``organisation``). Charts are interactive Vega-Lite drawn by Vega inlined in each HTML
    (tooltips; about 0.9 MB per page), or with ``static_charts`` SVG images that need no
    JavaScript (e-mail, print) but take ten times longer to produce. A report that runs past
    ``timeout`` seconds, or whose kernel or worker process dies, fails alone; the others run.

    With ``pdf``, each report's HTML is also printed to ``<slug>.pdf`` by Debian's headless
    Chromium (:mod:`pipeline_kit.pdf`; checked before any report runs: a DataError without
    it). With ``xlsx``, each team also gets ``<slug>.xlsx``, the tables of its report with
    number formats and definitions (:mod:`pipeline_kit.report_workbook`). Both are listed on
    the index; one that cannot be written is named in the result's ``export_errors``.

    ``lang`` ("en", "zh-Hans", "zh-Hant", "ms") is the reports' language, ``currency`` the ISO
    4217 code of the amounts (:class:`~pipeline_kit.formatting.Formatter`).
    """
    fmt = Formatter(lang, currency)  # unknown language or currency: ValueError, before any work
    from pipeline_kit.adapters.database import absolute, is_database_uri, redact

    data = absolute(data) if is_database_uri(data) else Path(data).resolve()
    if isinstance(data, str) and redact(data) != data:
        raise DataError(
            problem="the database URI holds a password, which the executed report notebooks "
            "would keep among their parameters",
            fix="leave the password out of the URI: set PGPASSWORD, or use ~/.pgpass",
            file=redact(data),
        )
    load_options = dict(load_options or {})
    if load_options.get("mapping") is not None and not isinstance(load_options["mapping"], dict):
        load_options["mapping"] = str(Path(load_options["mapping"]).resolve())
    # One on-disk cache for the batch, so that what every report derives from the dataset
    # (the organisation-wide comparison, the forecast and its backtest) is computed once for
    # all the kernels: the one the caller names, else a temporary folder the kernels are
    # pointed to (CACHE_DIR_VARIABLE)
    shared = None
    if not (
        isinstance(data, str) or "cache_dir" in load_options or os.environ.get(CACHE_DIR_VARIABLE)
    ):
        shared = tempfile.TemporaryDirectory(prefix="pipeline-kit-cache-")
    parent_options = {**load_options, "cache_dir": shared.name} if shared else load_options
    ds = load(data, source=source, **parent_options)
    ds.require_usable()
    chromium = find_chromium() if pdf else None  # fail before hours of reports, not after
    period = resolve_period(period, ds.last_date, ds.first_date)
    check_covered(period, parse_date(as_of), ds.first_date, ds.last_date, undated=ds.undated)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    unknown = [t for t in (teams or []) if t not in ds.teams]
    if unknown:
        import difflib

        lower = {t.lower(): t for t in ds.teams}
        close = sorted(
            {
                lower[m]
                for t in unknown
                for m in difflib.get_close_matches(t.lower(), list(lower), n=3, cutoff=0.5)
            }
        )
        raise DataError(
            problem=f"no valid deals for team(s) {', '.join(repr(t) for t in unknown)}",
            fix="use a team name from the data (names are case-sensitive)"
            + (f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""),
            file=redact(data) if isinstance(data, str) else str(data),
            column="team",
            examples=[
                f"teams in the data: {', '.join(ds.teams[:12])}"
                + (" ..." if len(ds.teams) > 12 else "")
            ],
        )
    chosen = teams or ds.teams
    template = Path(template) if template else template_path()
    parameters = {
        "period": period.label,
        "data_path": str(data),
        "source": source,
        "load_options": load_options,
        "as_of": str(as_of) if as_of else None,
        "static_charts": static_charts,
    }
    if (fmt.lang, fmt.currency) != ("en", "USD"):  # English reports keep their parameters
        parameters |= {"lang": fmt.lang, "currency": fmt.currency}
    if not static_charts:
        vega_bundle()  # built (and cached on disk) here once, not in every worker
    _kernel_env()
    slugs = team_slugs(sorted(set(ds.teams) | set(chosen)))
    _remove_stale_temporary_files(out)
    org_template = template_path("org_summary.ipynb") if template == template_path() else None
    translated = tempfile.TemporaryDirectory(prefix="pipeline-kit-templates-")
    if fmt.lang != "en":
        template = localised_template(template, fmt.lang, Path(translated.name))
        if org_template is not None:
            org_template = localised_template(org_template, fmt.lang, Path(translated.name))
    tasks = [(team, slugs[team], {**parameters, "team": team}, template) for team in chosen]
    if org_summary and org_template is not None:
        tasks.append((ORG_LABEL, "organisation", parameters, org_template))
    workers = max(1, min(jobs or os.cpu_count() or 1, len(tasks)))
    bar = tqdm(total=len(tasks), desc="reports", unit="report", disable=not progress)
    done: dict[str, TeamResult] = {}
    # while the workers start their kernels, this process forecasts (into the shared cache)
    forecasts = threading.Thread(
        target=_forecast_once,
        args=(ds, period, as_of, chosen[0] if chosen else None, org_summary),
        name="pipeline-kit-forecast",
        daemon=True,
    )
    with _environment(CACHE_DIR_VARIABLE, shared.name if shared else None):
        if template == template_path() and ds._results_dir is not None:  # kernels can read
            forecasts.start()
        if workers == 1:
            try:
                for label, slug, params, notebook in tasks:
                    bar.set_postfix_str(label[:30])
                    done[label] = _run_one(label, slug, out, params, notebook, timeout)
                    bar.update()
            finally:
                _shutdown_kernels()
        else:
            _run_in_pool(tasks, out, workers, timeout, done, bar)
    if forecasts.ident is not None:  # started
        forecasts.join()
    bar.close()
    translated.cleanup()
    if shared is not None:
        shared.cleanup()
    results = [done[label] for label, *_ in tasks]
    results = _export(ds, period, as_of, out, results, workers, chromium, xlsx, fmt)
    listed = _merge_with_earlier_run(out, ds, period, as_of, results)
    write_atomic(out / "index.html", _index_html(ds, period, as_of, listed, set(ds.teams), fmt))
    return results


def _forecast_once(
    ds: Dataset, period: Period, as_of: str | dt.date | None, team: str | None, org: bool
) -> None:
    """What every report of the default template derives from the dataset, into its cache.

    The organisation-wide comparison, the stage control limits of every team (for the teams
    whose last date is ``team``'s), then the forecast and backtest: the team reports'
    (every team's at once) and, with ``org``, the organisation summary's. The kernels then read
    them (:meth:`Dataset.memoised` with ``persist``) instead of each computing them. A failure
    is left for the reports to show.
    """
    from pipeline_kit.comparisons import compare_teams
    from pipeline_kit.forecasting.sections import ForecastSection
    from pipeline_kit.report_data import TeamData, report_period

    with contextlib.suppress(Exception):
        resolved, day = report_period(ds, period, as_of)
        compare_teams(ds, resolved)  # the first section of every report: before the forecast
        if team is not None and not (resolved.is_all or ds.undated):  # every team's limits
            TeamData.of(ds, team, resolved, as_of).stage_conversion_control()
        whose = ([team] if team is not None else []) + ([None] if org else [])
        for who in whose:
            section = ForecastSection(ds, resolved, day, who)
            if section._why_not() is None:
                section.outlook, section.track_record  # noqa: B018 (computed and stored)


@contextlib.contextmanager
def _environment(name: str, value: str | None) -> Any:
    """``os.environ[name] = value`` inside the block (nothing when ``value`` is None)."""
    if value is None:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


# Chromium runs several processes of its own per print: a few prints at once keep every core
# busy without one browser per core in memory.
PDF_PRINTS_AT_ONCE = 4


def _export(
    ds: Dataset,
    period: Period,
    as_of: str | dt.date | None,
    out: Path,
    results: list[TeamResult],
    workers: int,
    chromium: str | None,
    xlsx: bool,
    fmt: Formatter | None = None,
) -> list[TeamResult]:
    """Write the workbooks (``xlsx``) and PDFs (``chromium`` given) of ``results``.

    The workbooks are in the language and currency of ``fmt`` (default: English, USD).

    A team's PDF or workbook not asked for this time is removed: an older one would no longer
    match its HTML. PDFs print ``workers`` at a time (at most :data:`PDF_PRINTS_AT_ONCE`).
    """
    from concurrent.futures import ThreadPoolExecutor

    from pipeline_kit.pdf import print_pdf
    from pipeline_kit.report_data import report_period
    from pipeline_kit.report_workbook import write_team_workbook

    fmt = fmt or Formatter()
    errors: dict[str, list[str]] = {r.slug: [] for r in results}
    for r in results:
        workbook = out / f"{r.slug}.xlsx"
        if not xlsx or r.slug == "organisation":
            workbook.unlink(missing_ok=True)
            continue
        try:
            write_team_workbook(
                ds, r.team, period, workbook, as_of, lang=fmt.lang, currency=fmt.currency
            )
        except Exception as exc:  # one team's workbook: reported, the others go on
            errors[r.slug].append(f"workbook not written: {type(exc).__name__}: {exc}")
    printable = [r for r in results if r.ok and r.has_html]  # a failed report: no PDF
    snapshot = report_period(ds, period, as_of)[1]  # the PDFs' creation date: a re-run matches
    for r in results:
        if chromium is None or r not in printable:
            (out / f"{r.slug}.pdf").unlink(missing_ok=True)

    def one_pdf(r: TeamResult) -> None:
        try:
            print_pdf(
                out / f"{r.slug}.html", out / f"{r.slug}.pdf", chromium=chromium, dated=snapshot
            )
        except Exception as exc:
            errors[r.slug].append(f"PDF not printed: {exc}")

    if chromium is not None and printable:
        with ThreadPoolExecutor(max_workers=max(1, min(workers, PDF_PRINTS_AT_ONCE))) as pool:
            list(pool.map(one_pdf, printable))
    return [
        dataclasses.replace(
            r,
            has_pdf=(out / f"{r.slug}.pdf").exists(),
            has_xlsx=(out / f"{r.slug}.xlsx").exists(),
            export_errors=tuple(errors[r.slug]),
        )
        for r in results
    ]


def _remove_stale_temporary_files(out: Path) -> None:
    """Temporary files a killed run left behind (``.<name>.<random>.ipynb`` / ``.tmp``)."""
    for stale in [*out.glob(".*.ipynb"), *out.glob(".*.tmp")]:
        stale.unlink(missing_ok=True)


def _merge_with_earlier_run(
    out: Path, ds: Dataset, period: Period, as_of, results: list[TeamResult]
) -> list[TeamResult]:
    """The index lists every team reported in ``out`` for this data, period and snapshot.

    A run for some teams (``--team``) adds to the index instead of replacing it. The list is
    kept in ``out/index.json``; a different dataset, period or as_of starts a new list.
    """
    key = {"fingerprint": ds.fingerprint, "period": period.label, "as_of": str(as_of)}
    manifest = out / "index.json"
    earlier: list[TeamResult] = []
    if manifest.exists():
        with contextlib.suppress(ValueError, TypeError, KeyError):
            saved = json.loads(manifest.read_text())
            if saved.get("key") == key:
                earlier = [
                    TeamResult(
                        **{
                            **r,
                            "section_errors": tuple(r["section_errors"]),
                            "export_errors": tuple(r.get("export_errors", ())),
                        }
                    )
                    for r in saved["results"]
                ]
    now = {r.team for r in results}
    merged = [r for r in earlier if r.team not in now and (out / f"{r.slug}.html").exists()]
    merged += results
    merged.sort(key=lambda r: (r.team == ORG_LABEL, r.team))
    write_atomic(
        manifest,
        json.dumps({"key": key, "results": [dataclasses.asdict(r) for r in merged]}, indent=1)
        + "\n",
    )
    return merged


ORG_LABEL = "Organisation summary"
# the templates' titles (notebook metadata: the pages' <title>), translated by localised_template
TEMPLATE_TITLES = (N_("Team pipeline report"), N_("Organisation summary"))


def _run_in_pool(
    tasks: list[tuple[str, str, dict, Path]],
    out: Path,
    workers: int,
    timeout: float | None,
    done: dict[str, TeamResult],
    bar: Any,
) -> None:
    """Run ``tasks`` in worker processes; a worker that dies fails only its own team.

    A worker that dies (killed, out of memory) breaks the pool and every team still in it:
    those teams are then run one at a time, each in a process of its own, so that only the
    team that kills its worker fails.
    """
    context = multiprocessing.get_context("spawn")  # fresh interpreters: no forked zmq state
    from pipeline_kit._report_worker import run_one

    def finish(label: str, result: TeamResult) -> None:
        done[label] = result
        bar.set_postfix_str(label[:30])
        bar.update()

    broken: list[tuple[str, str, dict, Path]] = []
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {
            pool.submit(run_one, task[0], task[1], out, task[2], task[3], timeout): task
            for task in tasks
        }
        for future in as_completed(futures):
            task = futures[future]
            try:
                finish(task[0], future.result())
            except BrokenProcessPool:  # a worker died: this team may be innocent
                broken.append(task)
            except Exception as exc:
                finish(
                    task[0],
                    TeamResult(task[0], task[1], False, 0.0, f"{type(exc).__name__}: {exc}"),
                )
    for task in sorted(broken, key=tasks.index):
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as alone:
            try:
                finish(
                    task[0],
                    alone.submit(
                        run_one, task[0], task[1], out, task[2], task[3], timeout
                    ).result(),
                )
            except Exception as exc:
                finish(
                    task[0],
                    TeamResult(
                        task[0],
                        task[1],
                        False,
                        0.0,
                        f"the report's worker process died ({type(exc).__name__}); the other "
                        "teams were run again without it",
                    ),
                )


def _export_links(r: TeamResult) -> str:
    """Links to a report's PDF and workbook, when it has them."""
    links = [
        f'<a href="{html.escape(r.slug)}.{ext}">{label}</a>'
        for ext, label, present in (("pdf", "PDF", r.has_pdf), ("xlsx", "Excel", r.has_xlsx))
        if present
    ]
    return f' <span class="files">({", ".join(links)})</span>' if links else ""


def _index_html(
    ds: Dataset,
    period: Period,
    as_of,
    results: list[TeamResult],
    known: set[str],
    fmt: Formatter | None = None,
) -> str:
    from pipeline_kit.charts.theme import FONT, FONTS  # here: workers never import altair

    esc = html.escape
    f = fmt or Formatter()
    _ = f._
    rows = []
    org = next((r for r in results if r.team == ORG_LABEL and r.slug == "organisation"), None)
    results = [r for r in results if r is not org]
    org_line = ""
    failed_word = '<span class="fail">' + esc(_("failed")) + "</span>"
    if org is not None:
        org_line = (
            '<p class="org">'
            + _("{summary}{files}: all teams side by side").format(
                summary='<a href="organisation.html">' + esc(_("Organisation summary")) + "</a>",
                files=_export_links(org),
            )
            + "</p>"
            if org.ok
            else '<p class="org">'
            + _("{summary} {failed}").format(
                summary=esc(_("Organisation summary")), failed=failed_word
            )
            + f" <code>{esc(org.error or '')}</code></p>"
        )
    for r in results:
        log = f'<a href="{esc(r.slug)}.log">{esc(r.slug)}.log</a>'
        if r.ok:
            status = '<span class="ok">' + esc(_("ready")) + "</span>"
            if r.section_errors:
                status += (
                    ' <span class="fail">'
                    + esc(
                        _("{n} section(s) could not be produced").format(
                            n=f.number(len(r.section_errors))
                        )
                    )
                    + "</span> "
                    + _("({sections}; see {log})").format(
                        sections=esc(", ".join(r.section_errors)), log=log
                    )
                )
            link = f'<a href="{esc(r.slug)}.html">{esc(r.team)}</a>{_export_links(r)}'
        else:
            first = (r.error or "").strip().splitlines()[:1]
            status = f"{failed_word} <code>{esc(first[0] if first else '')}</code> " + _(
                "(see {log})"
            ).format(log=log)
            link = f'<a href="{esc(r.slug)}.html">{esc(r.team)}</a>' if r.has_html else esc(r.team)
        if r.team not in known:
            status += " " + esc(_("(no valid deals for this team in the data)"))
        if r.export_errors:
            status += f' <span class="fail">{esc("; ".join(r.export_errors))}</span>'

        # the run time is the one part of the index that changes from run to run
        rows.append(
            f'<tr><td>{link}</td><td>{status}</td><td class="run-time">{r.seconds:.1f} s</td></tr>'
        )
    failed = sum(not r.ok for r in results)
    summary = _("{ready} of {teams} team reports ready").format(
        ready=f.number(len(results) - failed), teams=f.number(len(results))
    ) + (_(", {failed} failed").format(failed=f.number(failed)) if failed else "")
    snapshot = as_of or period.end
    tag = esc(f.lang.replace("_", "-"), quote=True)
    font = esc(FONTS.get(f.lang, FONT), quote=False)
    meta = _(
        "Snapshot as of {day} · data {data} (source {source}, fingerprint {fingerprint}) · "
        "{summary}"
    ).format(
        day=esc(f.date(snapshot) if f.lang != "en" else str(snapshot)),
        data=esc(str(ds.path.name)),
        source=esc(ds.source),
        fingerprint=f"<code>{esc(ds.fingerprint)}</code>",
        summary=esc(summary),
    )
    title = esc(_("Pipeline reports {period}").format(period=period.label))
    heading = esc(_("Quarterly pipeline reports: {period}").format(period=period.label))
    head = "".join(f"<th>{esc(_(h))}</th>" for h in (N_("Team"), N_("Status"), N_("Run time")))
    return f"""<!DOCTYPE html>
<html lang="{tag}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: {font}; color: #1F2933;
       max-width: 860px; margin: 2.5rem auto; padding: 0 1rem; }}
h1 {{ font-size: 1.6rem; margin-bottom: .2rem; }}
.meta {{ color: #52606D; margin-top: 0; }}
table {{ border-collapse: collapse; width: 100%; margin-top: 1.5rem; }}
th, td {{ text-align: left; padding: .55rem .6rem; border-bottom: 1px solid #E4E7EB; }}
th {{ font-weight: 600; font-size: .85rem; text-transform: uppercase; color: #52606D; }}
a {{ color: #0072B2; }}
.ok {{ color: #009E73; font-weight: 600; }} .fail {{ color: #D55E00; font-weight: 600; }}
code {{ font-size: .85em; }}
.org {{ font-size: 1.1rem; margin-top: 1.5rem; }}
</style></head>
<body>
<h1>{heading}</h1>
<p class="meta">{meta}</p>
{org_line}
<table><thead><tr>{head}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody></table>
</body></html>
"""
