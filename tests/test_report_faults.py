"""The report batch survives faults: a kernel that dies, a worker process that dies, a report
that never ends; file names and the index do not depend on which teams a run includes; a
re-run gives the same bytes."""

from __future__ import annotations

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.reports import run_reports, team_slugs

from .test_reports import _template


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    tables = pk.synthetic.generate(400, seed=5)
    for name in ("deals", "stages", "stage_history"):
        tables[name].write_csv(folder / f"{name}.csv")
    return folder


def test_a_kernel_killed_mid_report_fails_that_team_only(data, tmp_path):
    # SMB's kernel kills itself; jobs=1 runs both teams in this process, one after the other
    template = _template(
        tmp_path / "t.ipynb",
        'import os, signal, time\nif team == "SMB":\n    os.kill(os.getpid(), signal.SIGKILL)\n'
        "    time.sleep(60)\nprint(team)",
    )
    results = run_reports(
        data,
        "2025-Q4",
        tmp_path / "out",
        teams=["SMB", "EMEA"],
        template=template,
        progress=False,
        jobs=1,
        timeout=120,
    )
    status = {r.team: r for r in results}
    assert not status["SMB"].ok and "kernel died" in status["SMB"].error
    assert status["EMEA"].ok, status["EMEA"].error


def test_a_report_past_its_time_limit_is_stopped(data, tmp_path):
    template = _template(
        tmp_path / "t.ipynb", 'import time\nif team == "SMB":\n    time.sleep(120)\nprint(team)'
    )
    results = run_reports(
        data,
        "2025-Q4",
        tmp_path / "out",
        teams=["SMB", "EMEA"],
        template=template,
        progress=False,
        jobs=1,
        timeout=4,
    )
    status = {r.team: r for r in results}
    assert not status["SMB"].ok and "time limit (4 s)" in status["SMB"].error
    assert status["SMB"].seconds < 30
    assert status["EMEA"].ok, status["EMEA"].error


def test_a_worker_process_killed_fails_only_its_team(data, tmp_path):
    # the kernel kills its parent, the worker process: the pool breaks; the other teams are
    # run again in a new pool and succeed, the culprit fails after its second try
    template = _template(
        tmp_path / "t.ipynb",
        'import os, signal, time\nif team == "SMB":\n    os.kill(os.getppid(), signal.SIGKILL)\n'
        "    time.sleep(60)\nprint(team)",
    )
    results = run_reports(
        data,
        "2025-Q4",
        tmp_path / "out",
        teams=["SMB", "EMEA", "Enterprise"],
        template=template,
        progress=False,
        jobs=2,
        timeout=60,
    )
    status = {r.team: r for r in results}
    assert not status["SMB"].ok and "died" in status["SMB"].error
    assert status["EMEA"].ok and status["Enterprise"].ok


def test_file_names_do_not_depend_on_the_teams_in_the_run():
    slugs = team_slugs(["EMEA", "emea", "SMB", "Index"])
    # EMEA and emea would both be emea.html: both get a hash of their exact name
    assert slugs["EMEA"] != slugs["emea"]
    assert slugs["EMEA"].startswith("emea-") and slugs["emea"].startswith("emea-")
    assert slugs["SMB"] == "smb" and slugs["Index"].startswith("index-")
    # the same names give the same files whatever else is in the data
    assert team_slugs(["EMEA", "emea"]) == {k: slugs[k] for k in ("EMEA", "emea")}


def test_emea_and_EMEA_get_their_own_reports(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    tables = pk.synthetic.generate(300, seed=3)
    deals = tables["deals"].with_columns(
        pl.when(pl.col("team") == "SMB")
        .then(pl.lit("emea"))
        .otherwise(pl.col("team"))
        .alias("team")
    )
    deals.write_csv(folder / "deals.csv")
    tables["stages"].write_csv(folder / "stages.csv")
    template = _template(tmp_path / "t.ipynb", "print(team)")
    out = tmp_path / "out"
    run_reports(folder, "2025-Q4", out, teams=["EMEA"], template=template, progress=False)
    run_reports(folder, "2025-Q4", out, teams=["emea"], template=template, progress=False)
    pages = sorted(p.name for p in out.glob("emea*.html"))
    assert len(pages) == 2
    # the second run added to the index instead of replacing it
    index = (out / "index.html").read_text()
    assert ">EMEA</a>" in index and ">emea</a>" in index


def test_stale_temporary_files_are_cleaned_by_a_rerun(data, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / ".emea.x1y2.ipynb").write_text("{}")
    (out / ".index.html.abc.tmp").write_text("")
    template = _template(tmp_path / "t.ipynb", "print(team)")
    run_reports(data, "2025-Q4", out, teams=["EMEA"], template=template, progress=False)
    assert not list(out.glob(".*"))


def test_a_rerun_gives_byte_identical_reports(data, tmp_path):
    for name in ("a", "b"):
        results = run_reports(
            data, "2025-Q4", tmp_path / name, teams=["EMEA"], progress=False, jobs=1
        )
        assert all(r.ok for r in results), [(r.team, r.error) for r in results]
    for page in ("emea.html", "emea.ipynb", "organisation.html", "organisation.ipynb"):
        assert (tmp_path / "a" / page).read_bytes() == (tmp_path / "b" / page).read_bytes(), page
