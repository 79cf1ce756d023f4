"""Wrong input gets one clear answer: exit 2 and a message, or the row quarantined with its
reason; nothing lost, nothing silently rescaled. Expected values are read off each fixture."""

from __future__ import annotations

import datetime as dt
import errno
import re

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.cli import main
from pipeline_kit.errors import DataError

from .conftest import SAMPLE, STAGES_CSV, write_dataset

HEADER = "deal_id,owner,team,amount,created_at,stage,status,closed_at\n"


def _deals(tmp_path, body: str, header: str = HEADER):
    return write_dataset(tmp_path / "d", deals=header + body, stages=STAGES_CSV)


def _row(counts: pl.DataFrame, table: str = "deals") -> dict:
    return counts.filter(pl.col("table") == table).row(0, named=True)


def test_validate_strict_does_not_say_usable_yes_alone(tmp_path, capsys):
    folder = _deals(
        tmp_path,
        "D1,a,r,1,2025-10-01,Won,won,2025-10-02\nD2,a,r,-5,2025-10-01,Won,won,2025-10-02\n",
    )
    assert main(["validate", "--data", str(folder), "--strict"]) == 2
    out = capsys.readouterr().out
    assert "Usable: yes, but --strict fails: 1 row(s) quarantined." in out
    assert out.count("Usable:") == 1


def test_usable_says_how_many_deals_the_figures_leave_out(tmp_path, capsys):
    """A load with most deals quarantined read "Usable: yes", like a clean one."""
    folder = _deals(
        tmp_path,
        "D1,a,r,1,2025-10-01,Won,won,2025-10-02\nD2,a,r,-5,2025-10-01,Won,won,2025-10-02\n"
        "D3,a,r,-5,2025-10-01,Won,won,2025-10-02\n",
    )
    assert main(["validate", "--data", str(folder), "--no-cache"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().endswith(
        "Usable: yes - 2 of 3 deals are quarantined and left out of every figure (see above)."
    )
    clean = _deals(tmp_path / "clean", "D1,a,r,1,2025-10-01,Won,won,2025-10-02\n")
    assert pk.load(clean).report().endswith("\nUsable: yes")


def test_amounts_too_large_to_sum_are_quarantined(tmp_path):
    folder = _deals(
        tmp_path,
        "D1,a,r,1e16,2025-10-01,Won,won,2025-10-02\n"
        "D2,a,r,9.3e18,2025-10-01,Won,won,2025-10-02\n"
        "D3,a,r,999999999999999,2025-10-01,Won,won,2025-10-02\n",
    )
    ds = pk.load(folder)
    assert ds.deals["deal_id"].to_list() == ["D3"]  # just under 10^15 is kept
    problems = ds.problems()
    assert problems["rule"].to_list() == ["amount|max"]
    assert "implausibly large" in problems["problem"][0]


def test_parquet_with_nested_columns_is_a_clear_error(tmp_path):
    folder = tmp_path / "p"
    folder.mkdir()
    pl.DataFrame(
        {
            "deal_id": ["D1"],
            "owner": ["a"],
            "team": ["r"],
            "amount": [1.0],
            "created_at": ["2025-10-01"],
            "stage": ["Won"],
            "status": ["won"],
            "closed_at": ["2025-10-02"],
            "tags": [["x", "y"]],
        }
    ).write_parquet(folder / "deals.parquet")
    with pytest.raises(pk.DataError, match="tags hold lists or records"):
        pk.load(folder)


def test_percent_probabilities_are_read_not_quarantined(tmp_path):
    header = HEADER.replace("\n", ",probability\n")
    body = "".join(
        f"D{i},a,r,100,2025-10-01,Proposal,open,,{p}\n" for i, p in enumerate(["40%", "10%", "75%"])
    )
    ds = pk.load(_deals(tmp_path, body, header))
    assert ds.quarantine.height == 0
    # "40%" reads as 40 on the 0-100 scale, then the column is put on 0-1
    assert sorted(ds.deals["probability"].to_list()) == [0.1, 0.4, 0.75]


def test_one_typo_does_not_rescale_every_probability(tmp_path):
    header = HEADER.replace("\n", ",probability\n")
    probs = ["0.2", "0.5", "0.6", "1.5", "0.9"]  # 1.5 is a typo among 0-1 values
    body = "".join(f"D{i},a,r,100,2025-10-01,Proposal,open,,{p}\n" for i, p in enumerate(probs))
    ds = pk.load(_deals(tmp_path, body, header))
    assert sorted(ds.deals["probability"].to_list()) == [0.2, 0.5, 0.6, 0.9]  # not divided
    assert ds.quarantine["rules"].to_list() == [["probability_off_scale"]]
    assert ds.quarantine["source_row"].to_list() == [5]


def test_an_optional_column_in_another_format_is_left_out_with_a_note(tmp_path):
    header = HEADER.replace("\n", ",expected_close\n")
    body = "".join(f"D{i},a,r,100,2025-10-01,Proposal,open,,next month\n" for i in range(3))
    ds = pk.load(_deals(tmp_path, body, header))
    assert ds.deals.height == 3 and ds.quarantine.height == 0
    assert ds.deals["expected_close"].null_count() == 3
    assert ds.deals["expected_close_as_given"].to_list() == ["next month"] * 3
    assert any("expected_close" in n and "left out" in n for n in ds.notes)


def test_names_with_spaces_or_nul_bytes_are_one_name(tmp_path):
    body = (
        "D1,Ann,r,1,2025-10-01,Won,won,2025-10-02\n"
        "D2,Ann ,r,1,2025-10-01,Won,won,2025-10-02\n"
        "D3,Ann\x00,r,1,2025-10-01,Won,won,2025-10-02\n"
    )
    ds = pk.load(_deals(tmp_path, body))
    assert set(ds.deals["owner"]) == {"Ann"}
    assert any("deals.owner: 2 value(s)" in n for n in ds.notes)


def test_out_with_a_missing_parent_creates_nothing(tmp_path, capsys):
    target = tmp_path / "missing" / "deeper" / "reports"
    code = main(["report", "--data", str(SAMPLE), "--period", "2025-Q4", "--out", str(target)])
    assert code == 2 and not (tmp_path / "missing").exists()
    assert "does not exist" in capsys.readouterr().err
    assert (
        main(
            [
                "metrics",
                "--data",
                str(SAMPLE),
                "--period",
                "2025-Q4",
                "--metric",
                "win_rate",
                "--out",
                str(target / "m.csv"),
            ]
        )
        == 2
    )


def test_dates_far_in_the_future_are_quarantined(tmp_path):
    body = "".join(f"D{i},a,r,1,2025-10-0{i + 1},Won,won,2025-11-01\n" for i in range(5))
    body += "D9,a,r,1,2099-01-01,Proposal,open,\nD8,a,r,1,1900-01-01,Won,won,2025-11-01\n"
    ds = pk.load(_deals(tmp_path, body))
    assert sorted(ds.deals["deal_id"]) == ["D0", "D1", "D2", "D3", "D4"]
    assert ds.quarantine["rules"].to_list() == [["date_implausible"]] * 2
    # and "latest" is no longer 2099
    assert ds.last_date.year == 2025
    # the horizon is the caller's to set
    wide = pk.load(tmp_path / "d", date_horizon_days=30_000)
    assert "D9" in wide.deals["deal_id"].to_list()


def test_ambiguous_thousands_separator_is_not_guessed(tmp_path):
    body = (
        "D1,a,r,12.500,2025-10-01,Won,won,2025-10-02\n"
        "D2,a,r,12.5,2025-10-01,Won,won,2025-10-02\n"
        'D3,a,r,"12,500",2025-10-01,Won,won,2025-10-02\n'
    )
    ds = pk.load(_deals(tmp_path, body))
    # 12.500: twelve and a half, or twelve thousand five hundred? quarantined, never guessed
    assert dict(zip(ds.deals["deal_id"], ds.deals["amount"], strict=True)) == {
        "D2": 12.5,
        "D3": 12500.0,
    }
    assert ds.quarantine["rules"].to_list() == [["amount|dtype"]]


def test_duplicate_header_names_the_repeated_column(tmp_path):
    folder = _deals(
        tmp_path, "D1,a,r,1,2025-10-01,Won,won,2025-10-02,5\n", HEADER.replace("\n", ",amount\n")
    )
    with pytest.raises(pk.DataError, match="repeats column"):
        pk.load(folder)


def test_ragged_rows_name_the_physical_line(tmp_path):
    body = (
        'D1,a,r,1,2025-10-01,Won,won,2025-10-02\n"D2\nx",a,r,1,2025-10-01,Won,won,\n'
        "D3,a,r,1,2025-10-01,Won,won,2025-10-02,extra,more\n"
    )
    with pytest.raises(pk.DataError, match="more fields") as err:
        pk.load(_deals(tmp_path, body))
    assert "line 5: 10 fields" in str(err.value)  # D2 spans lines 3-4


def test_garbage_file_is_one_message(tmp_path, capsys):
    folder = tmp_path / "g"
    folder.mkdir()
    (folder / "deals.csv").write_bytes(b"\x00\x01\x02garbage\xff\xfe binary")
    assert main(["validate", "--data", str(folder)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_metrics_on_a_full_disk_leave_no_file(tmp_path, monkeypatch, capsys):
    import pipeline_kit._files as files

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files, "write_atomic", full)
    out = tmp_path / "m.csv"
    code = main(
        [
            "metrics",
            "--data",
            str(SAMPLE),
            "--period",
            "2025-Q4",
            "--metric",
            "win_rate",
            "--out",
            str(out),
        ]
    )
    assert code == 2 and not out.exists() and not list(tmp_path.iterdir())
    assert "No space left on device" in capsys.readouterr().err


def test_as_of_after_the_data_is_refused(capsys):
    code = main(
        [
            "metrics",
            "--data",
            str(SAMPLE),
            "--period",
            "2025-Q4",
            "--as-of",
            "2031-01-01",
            "--out",
            "/tmp/never.csv",
        ]
    )
    assert code == 2
    assert "after the last date in the data (2025-12-31)" in capsys.readouterr().err


def test_latest_without_any_dated_deal_is_a_clear_error():
    """Every deal quarantined (as in some connector seeds): 'latest' has no date to be."""
    deals = pl.DataFrame(
        {
            "deal_id": ["a", "b"],
            "owner": ["x", "y"],
            "team": ["t", "t"],
            "amount": ["10", "20"],
            "created_at": ["not a date", "2025-13-45"],
            "stage": ["Won", "Lost"],
            "status": ["won", "lost"],
            "closed_at": ["", ""],
        }
    )
    ds = pk.load({"deals": deals})
    assert ds.deals.height == 0 and ds.quarantine.height == 2
    with pytest.raises(pk.DataError, match="no valid deal has one"):
        pk.open_pipeline(ds, as_of="latest")


def test_a_deals_file_in_another_format_is_named_with_what_to_do(tmp_path, capsys):
    """deals.numbers (an Apple Numbers file): the error names it, not only 'no deals.csv'."""
    folder = tmp_path / "numbers"
    folder.mkdir()
    (folder / "deals.numbers").write_bytes(b"PK\x03\x04 (a spreadsheet)")
    (folder / "stages.csv").write_text(STAGES_CSV)
    with pytest.raises(pk.DataError, match=r"deals\.numbers is not a file the kit reads") as error:
        pk.load(folder)
    assert "save deals.numbers as CSV UTF-8 (deals.csv), Parquet or an Excel" in str(error.value)
    assert main(["validate", "--data", str(folder)]) == 2
    assert "Traceback" not in capsys.readouterr().err


def test_a_deals_file_named_in_capitals_is_named_with_what_to_do(tmp_path):
    import shutil

    folder = tmp_path / "caps"
    shutil.copytree(SAMPLE, folder)
    (folder / "deals.csv").rename(folder / "Deals.CSV")
    with pytest.raises(pk.DataError, match=r"rename it to deals\.csv"):
        pk.load(folder)


def test_another_table_in_another_format_or_case_is_said_in_a_note(tmp_path):
    import shutil

    folder = tmp_path / "d"
    shutil.copytree(SAMPLE, folder)
    (folder / "stage_history.csv").rename(folder / "Stage_History.XLSX")
    (folder / "leads.csv").rename(folder / "leads.json")
    notes = pk.load(folder).notes
    assert any(
        "Stage_History.XLSX was not read: table files are named in lower case "
        "(stage_history.xlsx)" in n
        for n in notes
    )
    assert any(
        "leads.json was not read: the kit reads each table from a .csv, .parquet or .xlsx" in n
        for n in notes
    )


# ----------------------------------------------------------------------------- seventh session


def _zip(path, members: dict[str, str]):
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return path


@pytest.mark.parametrize("source", ["canonical", "hubspot", "salesforce", "pipedrive"])
def test_a_folder_holding_only_a_zip_says_to_unzip_it(tmp_path, source, capsys):
    """HubSpot and Salesforce e-mail their exports as a zip: the folder holding it was said to
    hold no file at all ("files found: none")."""
    folder = tmp_path / "export"
    folder.mkdir()
    _zip(folder / "export.zip", {"deals.csv": HEADER, "stages.csv": STAGES_CSV})
    with pytest.raises(pk.DataError, match=r"export\.zip is a zip archive \(2 file\(s\) inside\)"):
        pk.load(folder, source=source)
    assert main(["validate", "--data", str(folder), "--source", source, "--no-cache"]) == 2
    out = capsys.readouterr()
    assert "inside: deals.csv, stages.csv" in out.out + out.err
    assert "unzip export.zip -d export" in out.out + out.err
    assert "Traceback" not in out.err


def test_a_zip_gz_json_or_web_page_given_as_the_file_is_named_for_what_it_is(tmp_path, capsys):
    """Each was read as a CSV or a workbook: 'not UTF-8 ... line 1: PK', 'some rows have more
    fields than the header's 1', 'Cfb error: Invalid OLE (signature \\x3c\\x68...)'."""
    import gzip

    files = {
        "export.zip": (_zip(tmp_path / "export.zip", {"deals.csv": HEADER}), "a zip archive"),
        "deals.csv.gz": (tmp_path / "deals.csv.gz", "compressed with gzip"),
        "deals.json": (tmp_path / "deals.json", "is JSON"),
        "deals.xls": (tmp_path / "deals.xls", "a web page (an HTML table)"),
        "old.xls": (tmp_path / "old.xls", "an Excel 2003 XML spreadsheet"),
        # a printed report saved under a table's name: "columns found: %pdf-1.4"
        "deals.csv": (tmp_path / "deals.csv", "a PDF document (a printed report)"),
    }
    files["deals.csv"][0].write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    files["deals.csv.gz"][0].write_bytes(gzip.compress(HEADER.encode()))
    files["deals.json"][0].write_text('[{"deal_id": "D1"}]')
    files["deals.xls"][0].write_text("<html><body><table><tr><th>deal_id</th></tr></table>")
    files["old.xls"][0].write_text(
        '<?xml version="1.0"?><Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet">'
    )
    for name, (path, said) in files.items():
        with pytest.raises(pk.DataError, match=re.escape(said)) as error:
            pk.load(path)
        assert error.value.file == str(path), name
        assert main(["inspect", str(path)]) == 2, name
        err = capsys.readouterr().err
        assert said in err and "Traceback" not in err, name


def test_a_title_above_the_header_is_named_with_the_header_line(tmp_path, capsys):
    """A board saved with its name on top (monday.com): the error was "column 2 has no name
    in the header but holds values", which sent the user to name a column."""
    (tmp_path / "board.csv").write_text(
        "Sales Pipeline,,,,\n"
        "Exported by,Ana,,,\n"  # (two values above the header: not clearly a title)
        "Name,Person,Status,Deal Value,Date\n"
        "Deal 1,Ana,Won,100,2024-01-01\n"
        "Deal 2,Ben,Lost,50,2024-01-02\n"
    )
    with pytest.raises(pk.DataError) as error:
        pk.load(tmp_path / "board.csv")
    message = str(error.value)
    assert "the first line names 1 of the 5 columns ('Sales Pipeline'): a title above" in message
    assert "line 3: Name, Person, Status, Deal Value, Date" in message
    assert "delete the lines above the table's header (line 3 looks like it)" in message
    assert main(["inspect", str(tmp_path / "board.csv")]) == 2
    assert "a title above the table" in capsys.readouterr().err
    # a header naming most columns, one of them left empty: the message as before
    (tmp_path / "gap.csv").write_text("a,,c,d\n1,2,3,4\n")
    with pytest.raises(pk.DataError, match="column 2 has no name in the header"):
        pk.load(tmp_path / "gap.csv")


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_a_title_above_the_header_is_skipped_when_the_header_is_clear(tmp_path, suffix):
    """monday.com's board export: the board's name, a blank line, a group's name, then the
    header. The lines above the header had to be deleted by hand (a sweep-7 leftover); the
    rows keep their lines in the file."""
    lines = [
        ["Sales Pipeline", "", "", "", "", "", ""],
        ["", "", "", "", "", "", ""],
        ["Q1 deals", "", "", "", "", "", ""],
        ["Item ID", "Person", "Team", "Deal Value", "Date", "Status", "Close Date"],
        ["1", "Ana", "EMEA", "100", "2024-01-01", "won", "2024-02-01"],
        ["2", "Ben", "EMEA", "50", "2024-01-02", "lost", "2024-02-02"],
    ]
    path = tmp_path / f"board{suffix}"
    if suffix == ".csv":
        path.write_text("".join(",".join(r) + "\n" for r in lines))
    else:
        import openpyxl

        book = openpyxl.Workbook()
        for r in lines:
            book.active.append([v or None for v in r])
        book.save(path)
    mapping = {
        "deals": {
            "columns": {
                "deal_id": "Item ID",
                "owner": "Person",
                "amount": "Deal Value",
                "created_at": "Date",
                "stage": "Status",
                "closed_at": "Close Date",
            }
        }
    }
    ds = pk.load(path, mapping=mapping)
    got = ds.deals.sort("deal_id").select("deal_id", "amount", "status", "source_row").rows()
    assert got == [("1", 100.0, "won", 5), ("2", 50.0, "lost", 6)]
    assert any(
        "the table's header is line 4; the lines above it (a title: 'Sales Pipeline', "
        "'Q1 deals') were skipped" in n
        for n in ds.notes
    ), ds.notes


def test_swiss_apostrophe_thousands_are_read(tmp_path):
    """`10'005.00` (Swiss Excel, and `CHF 1’234.50` with a typographic apostrophe) was
    quarantined as unreadable; an apostrophe is never a decimal mark. Groups of three only:
    `12'5` is still quarantined."""
    body = (
        "D1,a,r,10'005.00,2025-10-01,Won,won,2025-10-02\n"
        "D2,a,r,CHF 1’234.50,2025-10-01,Won,won,2025-10-02\n"
        "D3,a,r,1'234'567,2025-10-01,Won,won,2025-10-02\n"
        "D4,a,r,12'5,2025-10-01,Won,won,2025-10-02\n"
    )
    ds = pk.load(_deals(tmp_path, body))
    assert dict(ds.deals.select("deal_id", "amount").rows()) == {
        "D1": 10005.0,
        "D2": 1234.5,
        "D3": 1234567.0,
    }
    assert ds.quarantine["rules"].to_list() == [["amount|dtype"]]


def test_full_width_digits_and_asian_currency_symbols_are_read(tmp_path):
    """Amounts typed with a Chinese or Japanese input method (`１０００．５０`, `￥１，２３４`,
    the full-width ￥ of a Japanese Salesforce report) and Taiwan's `NT$` were quarantined as
    unreadable: 20 of 30 deals of a sweep case. `12.5万` (ten-thousands) is never read."""
    body = (
        "D1,a,r,１０００．５０,2025-10-01,Won,won,2025-10-02\n"
        "D2,a,r,￥１，２３４,2025-10-01,Won,won,2025-10-02\n"
        "D3,a,r,￥100050,2025-10-01,Won,won,2025-10-02\n"
        'D4,a,r,"NT$1,000.50",2025-10-01,Won,won,2025-10-02\n'
        "D5,a,r,12.5万,2025-10-01,Won,won,2025-10-02\n"
    )
    ds = pk.load(_deals(tmp_path, body))
    assert dict(ds.deals.select("deal_id", "amount").rows()) == {
        "D1": 1000.5,
        "D2": 1234.0,
        "D3": 100050.0,
        "D4": 1000.5,
    }
    assert ds.quarantine["rules"].to_list() == [["amount|dtype"]]


@pytest.mark.parametrize(
    ("created", "closed", "said"),
    [
        ("3/31/2024", "4/15/2024", "MM/DD/YYYY dates"),
        ("3/31/24", "4/15/24", "MM/DD/YY dates"),
        ("3/31/2024", "4/15/24", "MM/DD/YY(YY) dates"),
    ],
)
def test_the_slash_date_note_names_the_years_as_written(tmp_path, created, closed, said):
    """The note said "MM/DD/YY dates" of `3/31/2024` (a sweep-7 leftover)."""
    ds = pk.load(_deals(tmp_path, f"D1,a,r,10,{created},Won,won,{closed}\n"))
    assert ds.deals["closed_at"].to_list() == [dt.date(2024, 4, 15)]
    assert any(said in n for n in ds.notes), ds.notes


def test_ids_written_as_excel_text_formulas_are_read_as_their_text(tmp_path):
    """`="00001"` (a tool writing a CSV for Excel keeps the leading zeros so) was kept as the
    id `="00001"`, without a note (a sweep-7 leftover); the stage history then could not
    name the deal by its id."""
    body = (
        '="00001",a,r,10,2025-10-01,Won,won,2025-10-02\n'
        '"=""00002""",a,r,10,2025-10-01,Won,won,2025-10-02\n'
    )
    ds = pk.load(_deals(tmp_path, body))
    assert sorted(ds.deals["deal_id"]) == ["00001", "00002"]
    assert any("2 value(s) in deal_id are written as Excel text formulas" in n for n in ds.notes)


def test_grouping_by_a_column_named_like_the_figures_own_is_a_clear_error():
    """An export's `won` flag kept as a column: win_rate's frame has a `won` column too."""
    deals = pl.DataFrame(
        {
            "deal_id": ["1", "2"],
            "owner": ["ann", "bob"],
            "team": ["T", "T"],
            "amount": ["10", "20"],
            "created_at": ["2024-01-02", "2024-01-03"],
            "stage": ["Won", "Lost"],
            "status": ["won", "lost"],
            "closed_at": ["2024-02-01", "2024-02-02"],
            "won": ["true", "false"],
        }
    )
    ds = pk.load({"deals": deals})
    with pytest.raises(DataError, match="cannot group by won: the figure's frame has a column"):
        pk.win_rate(ds, "2024-Q1", by="won")
    assert pk.cycle_length(ds, "2024-Q1", by="won")["won"].to_list() == ["false", "true"]
