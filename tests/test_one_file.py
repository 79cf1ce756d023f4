"""A canonical export given as one file: a CSV is the table its name names (else the deals),
a workbook's sheets are the tables they are named after (else its first sheet is the deals)."""

from __future__ import annotations

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.cli import main

from .conftest import SAMPLE


@pytest.fixture(scope="module")
def sample_tables():
    deals = pl.read_csv(SAMPLE / "deals.csv", infer_schema=False).head(200)
    ids = deals["deal_id"].implode()
    history = pl.read_csv(SAMPLE / "stage_history.csv", infer_schema=False).filter(
        pl.col("deal_id").is_in(ids)
    )
    return deals, history


def test_one_csv_is_the_deals(tmp_path, sample_tables):
    deals, _ = sample_tables
    deals.write_csv(tmp_path / "my export.csv")
    ds = pk.load(tmp_path / "my export.csv", cache=False)
    assert ds.deals.height == deals.height
    assert sorted(ds.deals["deal_id"]) == sorted(deals["deal_id"])


def test_one_csv_named_leads_is_the_leads(tmp_path):
    pl.read_csv(SAMPLE / "leads.csv", infer_schema=False).head(50).write_csv(tmp_path / "leads.csv")
    ds = pk.load(tmp_path / "leads.csv", cache=False)
    assert ds.leads_only and ds.leads.height == 50


def test_a_workbook_of_named_sheets(tmp_path, sample_tables):
    deals, history = sample_tables
    import xlsxwriter

    with xlsxwriter.Workbook(tmp_path / "crm.xlsx") as book:
        deals.write_excel(book, worksheet="Deals")
        history.write_excel(book, worksheet="Stage History")
        pl.DataFrame({"x": ["not a table"]}).write_excel(book, worksheet="Notes")
    ds = pk.load(tmp_path / "crm.xlsx", cache=False)
    assert ds.deals.height == deals.height
    assert ds.stage_history.height == history.height  # the real history, not a derived one
    assert not ds.stage_history_approximate
    assert any("deals = 'Deals', stage_history = 'Stage History'" in n for n in ds.notes)


def test_a_workbook_of_one_unnamed_sheet_is_the_deals(tmp_path, sample_tables):
    deals, _ = sample_tables
    deals.write_excel(tmp_path / "book.xlsx", worksheet="Sheet1")
    ds = pk.load(tmp_path / "book.xlsx", cache=False)
    assert ds.deals.height == deals.height


def test_one_file_with_its_own_columns_points_to_inspect(tmp_path, capsys):
    (tmp_path / "sheet.csv").write_text("Name,Value,Stage\nAcme,100,Won\n")
    assert main(["validate", str(tmp_path / "sheet.csv"), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "`pipeline-kit inspect sheet.csv` drafts one" in err and "Traceback" not in err
    (tmp_path / "deals.json").write_text("{}")
    with pytest.raises(pk.DataError, match=r"deals\.json is JSON; the kit reads CSV"):
        pk.load(tmp_path / "deals.json", cache=False)


EXAMPLES = SAMPLE.parent / "examples"


@pytest.mark.parametrize("source", ["hubspot", "pipedrive"])
def test_a_crm_export_file_given_alone(source):
    """The one file a CRM's Deals export is: the same dataset as its folder."""
    folder = EXAMPLES / source
    (file,) = sorted(folder.glob("*.csv"))
    alone = pk.load(file, source=source, cache=False)
    whole = pk.load(folder, source=source, cache=False)
    assert alone.counts.equals(whole.counts)
    assert alone.deals.equals(whole.deals)


def test_a_salesforce_object_other_than_opportunity_is_named():
    with pytest.raises(pk.DataError, match=r"CurrencyType\.csv is a Salesforce CurrencyType table"):
        pk.load(EXAMPLES / "salesforce" / "CurrencyType.csv", source="salesforce", cache=False)
