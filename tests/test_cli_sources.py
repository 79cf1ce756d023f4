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
