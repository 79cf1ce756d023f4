"""Exports read without an adapter or options: UTF-16 text, Unix times, month names.

Findings of the tenth session's sweep of a canonical folder as other tools write it:
- Excel's "Unicode Text" (UTF-16 with a byte-order mark, tab-separated) read as one garbled
  header ("required column(s) missing: deal_id, stage, status"); inspect drafted an encoding
  "detected, not certain";
- Unix times in milliseconds (an API export) or seconds (a database dump) quarantined every
  deal; inspect said "give date_format", and a mapping had no format for them;
- dates with the month by name (``May 01, 2024``, ``01-May-2024``) or in Chinese
  (``2024年3月5日``) quarantined every deal, though inspect knew their formats.

Expected values come from Python's codecs, ``datetime.strptime`` and
``datetime.fromtimestamp``, never from the kit.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.adapters._encoding import unicode_encoding
from pipeline_kit.adapters.mapping import draft_mapping

HEADER = ["deal_id", "owner", "team", "amount", "created_at", "stage", "status", "closed_at"]
ROWS = [
    ["D1", "Zoë Ångström", "EMEA", "1200", "2024-01-05", "Won", "won", "2024-02-01"],
    ["D2", "王芳", "APAC", "800", "2024-01-09", "Lost", "lost", "2024-03-02"],
    ["D3", "Łukasz", "EMEA", "950", "2024-02-11", "Proposal", "open", ""],
]


def _write(
    tmp_path: Path, rows: list[list[str]], *, encoding: str = "utf-8", sep: str = ","
) -> Path:
    folder = tmp_path / "data"
    folder.mkdir(exist_ok=True)
    text = io.StringIO()
    csv.writer(text, delimiter=sep, lineterminator="\r\n").writerows([HEADER, *rows])
    (folder / "deals.csv").write_bytes(text.getvalue().encode(encoding))
    return folder


def _expected_owners(rows: list[list[str]]) -> list[str]:
    return sorted(r[1] for r in rows)


# ----------------------------------------------------------------------------- UTF-16 and 32


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-32"])
def test_unicode_text_is_read_whole_with_a_note(tmp_path, encoding):
    # Excel's "Unicode Text": UTF-16 with a byte-order mark, tab-separated; the -le / -be
    # forms carry no mark (the NUL bytes of the ASCII header say the order)
    folder = _write(tmp_path, ROWS, encoding=encoding, sep="\t")
    ds = pk.load(folder)
    assert ds.quarantine.height == 0
    assert sorted(ds.deals["owner"].to_list()) == _expected_owners(ROWS)
    assert ds.deals.sort("deal_id")["amount"].to_list() == [1200.0, 800.0, 950.0]
    named = encoding.upper()
    assert any(f"is {named} text" in n and "certain" in n for n in ds.notes)
    # line numbers are the file's lines, as for UTF-8
    assert sorted(ds.deals["source_row"].to_list()) == [2, 3, 4]


@pytest.mark.parametrize("suffix", [".txt", ".tsv"])
def test_excel_text_files_are_read_as_table_files(tmp_path, suffix):
    # Excel saves "Unicode Text" and "Text (Tab delimited)" as .txt; other tools write .tsv
    folder = _write(tmp_path, ROWS, encoding="utf-16", sep="\t")
    (folder / "deals.csv").rename(folder / f"deals{suffix}")
    for path in (folder, folder / f"deals{suffix}"):
        ds = pk.load(path)
        assert sorted(ds.deals["owner"].to_list()) == _expected_owners(ROWS)


def test_unicode_encoding_reads_the_byte_order_mark_or_the_nul_bytes():
    assert unicode_encoding("deal_id".encode("utf-16")) == "utf-16"
    assert unicode_encoding("deal_id".encode("utf-32")) == "utf-32"
    assert unicode_encoding("deal_id,stage".encode("utf-16-le")) == "utf-16-le"
    assert unicode_encoding("deal_id,stage".encode("utf-16-be")) == "utf-16-be"
    for plain in (b"deal_id,stage", "Zoë,王芳".encode(), "Zoë".encode("cp1252"), b"", b"a"):
        assert unicode_encoding(plain) is None


def test_text_that_is_not_utf16_after_its_mark_is_one_clear_error(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    # a UTF-16 mark, then a lone high surrogate: no UTF-16 reader can read it
    (folder / "deals.csv").write_bytes(b"\xff\xfe" + "deal_id".encode("utf-16-le") + b"\x00\xd8")
    with pytest.raises(pk.DataError, match="UTF-16 text but cannot be read"):
        pk.load(folder)


def test_inspect_does_not_draft_an_encoding_the_reader_is_certain_of(tmp_path):
    folder = _write(tmp_path, ROWS, encoding="utf-16", sep="\t")
    text, _ = draft_mapping(folder / "deals.csv")
    assert "encoding" not in text
    assert 'separator = "\\t"' in text


# ----------------------------------------------------------------------------- Unix times


def _unix_rows(unit: str) -> tuple[list[list[str]], list[dt.date], list[dt.date | None]]:
    created = [
        dt.datetime(2024, 5, 1, 23, 30, tzinfo=dt.UTC),  # the day in UTC, late in it
        dt.datetime(2024, 6, 2, 0, 15, tzinfo=dt.UTC),
        dt.datetime(2024, 7, 3, 12, 0, tzinfo=dt.UTC),
    ]
    closed = [dt.datetime(2024, 8, 1, 9, 0, tzinfo=dt.UTC), created[1] + dt.timedelta(days=9)]

    def unix(t: dt.datetime) -> str:
        return str(int(t.timestamp() * (1000 if unit == "ms" else 1)))

    rows = [
        ["D1", "Ann", "EMEA", "100", unix(created[0]), "Won", "won", unix(closed[0])],
        ["D2", "Bo", "EMEA", "200", unix(created[1]), "Lost", "lost", unix(closed[1])],
        ["D3", "Ann", "EMEA", "300", unix(created[2]), "Proposal", "open", ""],
    ]
    days = [
        dt.datetime.fromtimestamp(int(r[4]) / (1000 if unit == "ms" else 1), dt.UTC) for r in rows
    ]
    return rows, [d.date() for d in days], [closed[0].date(), closed[1].date(), None]


@pytest.mark.parametrize("unit", ["ms", "s"])
def test_unix_times_in_a_canonical_folder_are_read_as_utc_dates(tmp_path, unit):
    rows, created, closed = _unix_rows(unit)
    ds = pk.load(_write(tmp_path, rows))
    assert ds.quarantine.height == 0
    deals = ds.deals.sort("deal_id")
    assert deals["created_at"].to_list() == created
    assert deals["closed_at"].to_list() == closed
    assert any("Unix times" in n and "created_at, closed_at" in n for n in ds.notes)


def test_a_value_that_is_not_a_unix_time_is_quarantined_alone(tmp_path):
    rows, created, _ = _unix_rows("ms")
    rows[2][4] = "n/a"
    ds = pk.load(_write(tmp_path, rows))
    assert ds.deals.height == 2
    assert ds.quarantine.height == 1
    assert ds.quarantine["rules"][0].to_list() == ["created_at|dtype"]
    assert ds.deals.sort("deal_id")["created_at"].to_list() == created[:2]


def test_whole_numbers_of_other_lengths_are_not_read_as_unix_times(tmp_path):
    rows, _, _ = _unix_rows("ms")
    rows[2][4] = "20240703"  # 8 digits: a date written without separators, not a Unix time
    ds = pk.load(_write(tmp_path, rows))
    assert ds.deals.height == 0  # (the column is left as written, and quarantined)
    # (closed_at, all Unix times, is read)
    assert any("Unix times" in n and "closed_at" in n for n in ds.notes)
    assert [n for n in ds.notes if "Unix times" in n] == [
        n for n in ds.notes if "Unix times" in n and "created_at" not in n
    ]


def test_a_mapping_reads_unix_times_with_or_without_date_format_unix(tmp_path):
    rows, created, closed = _unix_rows("ms")
    folder = _write(tmp_path, rows)
    columns = {c: c for c in HEADER}
    for extra in ({"date_format": "unix"}, {}):
        mapping = {"deals": {"columns": columns, **extra}}
        ds = pk.load(folder / "deals.csv", mapping=mapping)
        assert ds.deals.sort("deal_id")["created_at"].to_list() == created
        assert ds.deals.sort("deal_id")["closed_at"].to_list() == closed
    _, sentences = draft_mapping(folder / "deals.csv")
    assert any("Unix times" in s for s in sentences)
    assert not any("give date_format" in s for s in sentences)


# ----------------------------------------------------------------------------- month names


@pytest.mark.parametrize(
    "fmt",
    ["%b %d, %Y", "%d-%b-%Y", "%d %B %Y", "%B %d, %Y", "%b %d, %Y %I:%M %p", "%Y年%m月%d日"],
)
def test_dates_with_the_month_by_name_are_read_in_a_canonical_folder(tmp_path, fmt):
    days = [dt.datetime(2024, 1, 5, 9, 30), dt.datetime(2024, 3, 12, 15, 0)]
    closes = [dt.datetime(2024, 2, 1, 10, 0), dt.datetime(2024, 4, 30, 11, 0)]
    rows = [
        ["D1", "Ann", "EMEA", "100", days[0].strftime(fmt), "Won", "won", closes[0].strftime(fmt)],
        ["D2", "Bo", "EMEA", "200", days[1].strftime(fmt), "Proposal", "open", ""],
    ]
    ds = pk.load(_write(tmp_path, rows))
    assert ds.quarantine.height == 0
    deals = ds.deals.sort("deal_id")
    # (each written value read back by Python with the format it was written in)
    expected = [dt.datetime.strptime(r[4], fmt).date() for r in rows]
    assert deals["created_at"].to_list() == expected
    assert deals["closed_at"].to_list() == [dt.datetime.strptime(rows[0][7], fmt).date(), None]
    assert any("name their month" in n for n in ds.notes)


def test_malay_month_names_are_read(tmp_path):
    rows = [
        ["D1", "Ann", "EMEA", "100", "5 Mac 2024", "Won", "won", "12 Ogos 2024"],
        ["D2", "Bo", "EMEA", "200", "1 Mei 2024", "Proposal", "open", ""],
    ]
    ds = pk.load(_write(tmp_path, rows))
    assert ds.quarantine.height == 0
    deals = ds.deals.sort("deal_id")
    assert deals["created_at"].to_list() == [dt.date(2024, 3, 5), dt.date(2024, 5, 1)]
    assert deals["closed_at"].to_list() == [dt.date(2024, 8, 12), None]


def test_a_month_name_value_that_fits_no_format_is_quarantined_alone(tmp_path):
    rows = [
        ["D1", "Ann", "EMEA", "100", "May 01, 2024", "Won", "won", "Jun 02, 2024"],
        ["D2", "Bo", "EMEA", "200", "sometime in May", "Proposal", "open", ""],
        ["D3", "Bo", "EMEA", "300", "Jul 04, 2024", "Proposal", "open", ""],
    ]
    ds = pk.load(_write(tmp_path, rows))
    counts = ds.counts.filter(pl.col("table") == "deals").row(0, named=True)
    assert (counts["read"], counts["valid"], counts["quarantined"]) == (3, 2, 1)
    assert ds.quarantine["source_row"].to_list() == [3]


def test_month_names_among_iso_dates_are_left_as_written(tmp_path):
    # a date typed by hand among a spreadsheet's ISO dates is quarantined, not guessed
    rows = [
        ["D1", "Ann", "EMEA", "100", "May 01, 2024", "Won", "won", "2024-06-02"],
        ["D2", "Bo", "EMEA", "200", "2024-05-03", "Proposal", "open", ""],
    ]
    ds = pk.load(_write(tmp_path, rows))
    assert ds.deals["deal_id"].to_list() == ["D2"]
    assert not any("name their month" in n for n in ds.notes)


# ----------------------------------------------------------------------------- Data Loader


def test_a_salesforce_data_loader_export_of_any_name_is_recognised(tmp_path):
    # Opportunity's API fields in a file named deals.csv, with the org's own stage names:
    # only IsClosed / IsWon say which deals are won or lost (a mapping from the stage names
    # took every deal as open)
    folder = tmp_path / "export"
    folder.mkdir()
    header = "Id,OwnerId,Amount,CreatedDate,StageName,IsClosed,IsWon,CloseDate"
    lines = [
        "006A,005X,1200,2024-01-05T10:00:00.000+0000,Signed,true,true,2024-02-01",
        "006B,005X,800,2024-01-09T10:00:00.000+0000,No Decision,true,false,2024-03-02",
        "006C,005Y,950,2024-02-11T10:00:00.000+0000,Negotiation,false,false,2024-06-30",
    ]
    (folder / "deals.csv").write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    ds = pk.load(folder / "deals.csv")
    assert ds.source == "salesforce"
    status = dict(ds.deals.select("deal_id", pl.col("status").cast(pl.String)).iter_rows())
    assert status == {"006A": "won", "006B": "lost", "006C": "open"}
    assert any("recognised by deals.csv" in n for n in ds.notes)


# ----------------------------------------------------------------------------- yes/no flags

FLAGS_CSV = (
    "Deal,Owner,Value,Created,Pipeline Stage,Won?,{other},Close Date\n"
    "A1,Ann,100,2024-01-02,Signed,yes,{a1},2024-02-01\n"
    "A2,Bo,200,2024-01-03,Dead,no,{a2},2024-02-05\n"
    "A3,Ann,300,2024-01-04,Demo,no,{a3},\n"
)


@pytest.mark.parametrize(
    ("other", "values"),
    [("Closed?", ("yes", "yes", "no")), ("Lost", ("false", "true", "false"))],
)
def test_status_from_a_won_flag_and_a_closed_or_lost_flag(tmp_path, other, values):
    # a board or sheet whose own stage names say nothing: only the two flags tell won, lost
    # and open apart (the won flag alone read every lost deal as open)
    a1, a2, a3 = values
    path = tmp_path / "deals_export.csv"
    path.write_text(FLAGS_CSV.format(other=other, a1=a1, a2=a2, a3=a3), encoding="utf-8")
    text, sentences = draft_mapping(path)
    kind = "closed" if other == "Closed?" else "lost"
    assert f'status = {{ won = "Won?", {kind} = "{other}" }}' in text
    assert any("yes/no flags" in s for s in sentences)
    columns = {
        "deal_id": "Deal",
        "owner": "Owner",
        "amount": "Value",
        "created_at": "Created",
        "stage": "Pipeline Stage",
        "status": {"won": "Won?", kind: other},
        "closed_at": "Close Date",
    }
    ds = pk.load(path, mapping={"deals": {"columns": columns}})
    status = dict(ds.deals.select("deal_id", pl.col("status").cast(pl.String)).iter_rows())
    assert status == {"A1": "won", "A2": "lost", "A3": "open"}


def test_contradicting_flags_quarantine_the_deal(tmp_path):
    path = tmp_path / "deals_export.csv"
    # won but not closed: neither reading is right
    path.write_text(FLAGS_CSV.format(other="Closed?", a1="no", a2="yes", a3="no"), "utf-8")
    columns = {
        "deal_id": "Deal",
        "stage": "Pipeline Stage",
        "status": {"won": "Won?", "closed": "Closed?"},
        "closed_at": "Close Date",
    }
    ds = pk.load(path, mapping={"deals": {"columns": columns}})
    assert sorted(ds.deals["deal_id"]) == ["A2", "A3"]
    assert ds.quarantine["source_row"].to_list() == [2]


@pytest.mark.parametrize(
    "flags",
    [{"won": "Won?"}, {"won": "Won?", "closed": "C", "lost": "L"}, {"won": "", "lost": "L"}],
)
def test_malformed_status_flags_are_one_clear_error(tmp_path, flags):
    path = tmp_path / "deals_export.csv"
    path.write_text(FLAGS_CSV.format(other="Closed?", a1="y", a2="y", a3="n"), "utf-8")
    mapping = {
        "deals": {"columns": {"deal_id": "Deal", "stage": "Pipeline Stage", "status": flags}}
    }
    with pytest.raises(pk.DataError, match="status"):
        pk.load(path, mapping=mapping)


# ----------------------------------------------------------------------------- workbooks


def _workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


DEAL_ROWS: list[list[object]] = [
    ["D1", "Ann", "EMEA", 100, dt.date(2024, 1, 2), "Won", "won", dt.date(2024, 2, 1)],
    ["D2", "Bo", "EMEA", 200, dt.date(2024, 1, 3), "Proposal", "open", None],
]
SUMMARY: list[list[object]] = [["Pipeline summary"], ["Total", 300]]


def test_a_summary_sheet_before_the_deals_sheet_is_passed_over(tmp_path):
    # (the first sheet was read as the deals: "a title above the table, not its header")
    book = _workbook(
        tmp_path / "pipeline.xlsx", {"Summary": SUMMARY, "Opportunities": [HEADER, *DEAL_ROWS]}
    )
    ds = pk.load(book)
    assert sorted(ds.deals["deal_id"]) == ["D1", "D2"]
    assert any("'Opportunities'" in n and "'Summary'" in n for n in ds.notes)


def test_the_first_sheet_stays_the_deals_when_it_fits_best(tmp_path):
    other = [["deal_id", "note"], ["D1", "call back"]]
    book = _workbook(
        tmp_path / "pipeline.xlsx", {"Deals 2024": [HEADER, *DEAL_ROWS], "Notes": other}
    )
    ds = pk.load(book)
    assert sorted(ds.deals["deal_id"]) == ["D1", "D2"]
    assert not any("is not the deals table" in n for n in ds.notes)


def test_inspect_drafts_the_sheet_that_looks_like_the_deals(tmp_path):
    crm = ["Opportunity ID", "Opportunity Owner", "Amount", "Created Date", "Stage", "Close Date"]
    rows = [[r[0], r[1], r[3], r[4], r[5], r[7]] for r in DEAL_ROWS]
    book = _workbook(tmp_path / "export.xlsx", {"Pivot": SUMMARY, "Data": [crm, *rows]})
    text, sentences = draft_mapping(book)
    assert 'sheet = "Data"' in text
    assert 'deal_id = "Opportunity ID"' in text
    assert any("'Data' holds the table" in s for s in sentences)
