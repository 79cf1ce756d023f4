"""The command line on the example export of every source (data/examples): validate, metrics
and report work with --source / --mapping and print no traceback."""

from __future__ import annotations

import polars as pl
import pytest

from pipeline_kit.cli import main

from .conftest import ROOT

EXAMPLES = ROOT / "data" / "examples"
MAPPING = ROOT / "tests" / "fixtures" / "mapped_export" / "mapping.toml"

SOURCES = [
    (["--source", "salesforce"], EXAMPLES / "salesforce"),
    (["--source", "hubspot"], EXAMPLES / "hubspot"),
    (["--source", "pipedrive", "--option", 'rates={"USD": 1, "EUR": 0.8}'], EXAMPLES / "pipedrive"),
    (["--mapping", str(MAPPING)], EXAMPLES / "other_crm" / "opportunities.csv"),
]


@pytest.mark.parametrize(("args", "data"), SOURCES, ids=["sf", "hubspot", "pipedrive", "map"])
def test_validate_and_metrics_on_every_source(args, data, tmp_path, capsys):
    assert main(["validate", "--data", str(data), *args]) == 0
    out = capsys.readouterr().out
    assert "read" in out and "excluded" in out and "Usable: yes" in out
    target = tmp_path / "m.csv"
    assert (
        main(
            [
                "metrics",
                "--data",
                str(data),
                *args,
                "--period",
                "latest",
                "--by",
                "team",
                "--out",
                str(target),
            ]
        )
        == 0
    )
    frame = pl.read_csv(target)
    assert "win_rate" in set(frame["metric"])


def test_report_on_a_salesforce_export(tmp_path, capsys):
    code = main(
        [
            "report",
            "--data",
            str(EXAMPLES / "salesforce"),
            "--source",
            "salesforce",
            "--period",
            "latest",
            "--jobs",
            "1",
            "--out",
            str(tmp_path / "r"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "AE EMEA: ok" in out and "could not be produced" not in out


def test_an_unknown_option_is_exit_2(capsys):
    code = main(
        [
            "validate",
            "--data",
            str(EXAMPLES / "hubspot"),
            "--source",
            "hubspot",
            "--option",
            "colour=blue",
        ]
    )
    assert code == 2
    assert "unknown option" in capsys.readouterr().err


def test_metrics_xlsx_writes_the_table_and_the_definitions(tmp_path, capsys):
    import re
    import zipfile

    from .conftest import SAMPLE

    out = tmp_path / "metrics.csv"
    args = ["metrics", "--data", str(SAMPLE), "--period", "2025-Q4", "--by", "team"]
    assert main([*args, "--out", str(out), "--xlsx", "--no-cache"]) == 0
    book = zipfile.ZipFile(tmp_path / "metrics.xlsx")
    sheets = re.findall(r'name="([^"]+)"', book.read("xl/workbook.xml").decode())
    assert sheets[0] == "metrics" and sheets[-1] == "definitions" and "share" in sheets
    strings = book.read("xl/sharedStrings.xml").decode()
    assert "win_rate" in strings and "Wilson score 95%" in strings
    rows = len(re.findall(r"<row ", book.read("xl/worksheets/sheet1.xml").decode()))
    assert rows == pl.read_csv(out).height + 1  # the header and every metric row
    assert not list(tmp_path.glob(".*"))  # no temporary file left
