"""A known CRM export is recognised when no source is named (``source="auto"``).

Every fixture export of the adapters' tests, loaded without ``source``, gives the same tables
as with its source named, plus one note saying which adapter read it and why; canonical data
is read as before, without a note; a path two adapters claim is an error naming both.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.adapters.detect import recognise
from pipeline_kit.cli import main
from pipeline_kit.errors import DataError

FIXTURES = Path(__file__).parent / "fixtures"
SAMPLE = Path(__file__).parents[1] / "data" / "sample"

# fixture folder -> (source, the file that gives it away)
KNOWN = {
    "hubspot_api": ("hubspot", "deal.csv"),
    "hubspot_export": ("hubspot", "hubspot-crm-exports-all-deals-2025-06-02.csv"),
    "maven_minimal": ("maven", "sales_pipeline.csv"),
    "maven_quarantined": ("maven", "sales_pipeline.csv"),
    "pipedrive_api": ("pipedrive", "deals.csv"),
    "pipedrive_api_v1": ("pipedrive", "deals.csv"),
    "pipedrive_export": ("pipedrive", "deals-7785302-17.csv"),
    "salesforce_data_export": ("salesforce", "Opportunity.csv"),
    "salesforce_fivetran": ("salesforce", "sf_opportunity_data.csv"),
    "salesforce_import_history": ("salesforce", "Opportunity.csv"),
    "salesforce_report": ("salesforce", "report1706000000000.csv"),
}
LABEL = {
    "hubspot": "HubSpot",
    "maven": "Maven CRM",
    "pipedrive": "Pipedrive",
    "salesforce": "Salesforce",
}


@pytest.mark.parametrize("folder", sorted(KNOWN))
def test_a_known_export_reads_as_with_its_source_named(folder):
    source, evidence = KNOWN[folder]
    named = pk.load(FIXTURES / folder, source=source)
    auto = pk.load(FIXTURES / folder)
    assert auto.source == source
    assert auto.deals.equals(named.deals)
    assert auto.counts.equals(named.counts)
    assert auto.quarantine.height == named.quarantine.height
    first = str(auto.notes[0])
    assert first.startswith(f"Read as a {LABEL[source]} export (recognised by {evidence}).")
    assert [str(n) for n in auto.notes[1:]] == [str(n) for n in named.notes]


def test_the_export_file_itself_is_recognised_too():
    file = FIXTURES / "hubspot_export" / KNOWN["hubspot_export"][1]
    assert recognise(file) == ("hubspot", file.name)
    assert pk.load(file).source == "hubspot"


def test_canonical_data_reads_as_before_without_a_note():
    assert recognise(SAMPLE) is None
    assert recognise(SAMPLE / "deals.csv") is None
    ds = pk.load(SAMPLE)
    assert ds.source == "canonical"
    assert not any("Read as a" in str(n) for n in ds.notes)


def test_a_named_source_is_not_second_guessed():
    with pytest.raises(DataError, match=r"no deals\.csv"):
        pk.load(FIXTURES / "maven_minimal", source="canonical")


def test_another_crms_opportunities_file_is_not_taken_for_salesforce(tmp_path):
    """A Close export named opportunities.csv: no StageName, no report labels."""
    (tmp_path / "opportunities.csv").write_text(
        "id,lead_name,status_type,value,date_created\n1,Acme,won,120000,2024-01-02\n"
    )
    assert recognise(tmp_path) is None
    with pytest.raises(DataError) as raised:
        pk.load(tmp_path)
    message = str(raised.value)
    assert "no deals.csv" in message
    assert f"pipeline-kit inspect {tmp_path / 'opportunities.csv'}" in message


def test_a_folder_two_crms_claim_is_an_error_naming_both(tmp_path):
    for folder in ("maven_minimal", "pipedrive_export"):
        for file in (FIXTURES / folder).iterdir():
            shutil.copy(file, tmp_path / file.name)
    with pytest.raises(DataError) as raised:
        pk.load(tmp_path)
    message = str(raised.value)
    assert "Maven CRM (sales_pipeline.csv)" in message
    assert "Pipedrive (deals-7785302-17.csv)" in message
    assert "maven or pipedrive" in message
    assert pk.load(tmp_path, source="maven").source == "maven"  # naming one settles it


def test_a_canonical_folder_with_a_stray_opportunity_file_stays_canonical(tmp_path):
    for file in SAMPLE.iterdir():
        shutil.copy(file, tmp_path / file.name)
    (tmp_path / "Opportunity.csv").write_text("Id,StageName\n1,Closed Won\n")  # (a stray file)
    assert recognise(tmp_path) is None


def test_cli_validate_and_inspect_name_the_recognised_crm(capsys):
    file = FIXTURES / "pipedrive_export" / KNOWN["pipedrive_export"][1]
    assert main(["validate", str(file)]) == 0
    out = capsys.readouterr().out
    assert "(source: pipedrive," in out
    assert "Read as a Pipedrive export (recognised by deals-7785302-17.csv)." in out
    assert main(["inspect", str(file)]) == 0
    err = capsys.readouterr().err
    assert err.startswith(
        f"This is a Pipedrive export (recognised by {file.name}): `pipeline-kit validate {file}` "
        "reads it as it is, without a mapping."
    )


def test_a_single_csv_or_parquet_export_is_recognised_by_its_header(tmp_path):
    """Its header line (CSV) or schema (Parquet) gives it away, whatever its name."""
    header = "Record ID,Deal Name,Deal Stage,Amount\n"
    (tmp_path / "big.csv").write_text(header + "1,a,Closed won,5\n" * 1000)
    assert recognise(tmp_path / "big.csv") == ("hubspot", "big.csv")
    frame = pl.DataFrame({"Record ID": ["1"], "Deal Stage": ["won"]})
    frame.write_parquet(tmp_path / "deals_export.parquet")
    assert recognise(tmp_path / "deals_export.parquet") == ("hubspot", "deals_export.parquet")


def test_a_sheet_with_opportunity_name_and_stage_but_no_amount_is_not_a_salesforce_report(
    tmp_path,
):
    (tmp_path / "export.csv").write_text(
        "Opportunity Name,Owner,Value,Created,Stage,Outcome\nAcme,ann,10,2024-01-02,Won,won\n"
    )
    assert recognise(tmp_path) is None
    (tmp_path / "export.csv").write_text(
        "Opportunity Name,Owner,Amount,Created Date,Stage\nAcme,ann,10,2024-01-02,Closed Won\n"
    )
    assert recognise(tmp_path) == ("salesforce", "export.csv")
