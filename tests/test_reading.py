"""Reading export files: encodings, exact duplicates, physical line numbers, UTC offsets,
adapter options. Expected values are read off the fixtures written in each test."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.adapters._tools import normalise_dates, parse_bool, squash
from tests.conftest import STAGES_CSV, write_dataset

HEADER = "deal_id,owner,team,amount,created_at,stage,status,closed_at\n"


def test_latin1_file_is_detected_not_mangled(tmp_path):
    # two reps whose names differ only in accented letters: a lossy UTF-8 read would turn
    # both into "Jos\ufffd M\ufffdller"-like strings and merge them
    text = (
        HEADER
        + "D1,José Müller,red,100,2025-10-01,Won,won,2025-10-20\n"
        + "D2,Jose Muller,red,200,2025-10-02,Lost,lost,2025-10-21\n"
        + "D3,Renée Þórsdóttir,blue,300,2025-10-03,Won,won,2025-10-22\n"
    )
    folder = tmp_path / "latin1"
    folder.mkdir()
    (folder / "deals.csv").write_bytes(text.encode("latin-1"))
    (folder / "stages.csv").write_text(STAGES_CSV)
    ds = pk.load(folder)
    assert sorted(ds.deals["owner"]) == ["Jose Muller", "José Müller", "Renée Þórsdóttir"]
    assert not any("\ufffd" in o for o in ds.deals["owner"])
    assert any("not UTF-8" in n and "deals.csv" in n for n in ds.notes)


def test_explicit_wrong_encoding_is_one_clear_error(tmp_path):
    folder = write_dataset(
        tmp_path / "d",
        deals=HEADER + "D1,ann,red,1,2025-10-01,Won,won,2025-10-02\n",
        stages=STAGES_CSV,
    )
    (folder / "deals.csv").write_bytes("deal_id\n\u4e2d\n".encode("utf-16"))
    with pytest.raises(pk.DataError, match="cannot be read as ascii"):
        pk.load(folder, encoding="ascii")


def test_utf8_bom_header_is_read(tmp_path):
    folder = tmp_path / "bom"
    folder.mkdir()
    (folder / "deals.csv").write_bytes(
        ("\ufeff" + HEADER + "D1,ann,red,100,2025-10-01,Won,won,2025-10-20\n").encode()
    )
    (folder / "stages.csv").write_text(STAGES_CSV)
    assert pk.load(folder).deals["deal_id"].to_list() == ["D1"]


def test_exact_duplicate_rows_are_kept_once_and_counted(tmp_path):
    row = "D1,ann,red,100,2025-10-01,Won,won,2025-10-20\n"
    other = "D1,ann,red,999,2025-10-01,Won,won,2025-10-20\n"  # same id, other content
    folder = write_dataset(
        tmp_path / "d",
        deals=HEADER
        + row
        + row
        + row
        + "D2,bob,red,50,2025-10-01,Lost,lost,2025-10-05\n"
        + "D3,bob,red,5,2025-10-01,Lost,lost,2025-10-05\n"
        + other.replace("D1", "D3"),
        stages=STAGES_CSV,
    )
    ds = pk.load(folder)
    counts = ds.counts.filter(pl.col("table") == "deals").row(0, named=True)
    # 6 rows: D1 (lines 2-4, two exact copies excluded), D2 (line 5), D3 twice with different
    # amounts (lines 6-7: a duplicated id, both quarantined: the kit cannot tell which is right)
    assert (counts["read"], counts["valid"], counts["quarantined"], counts["excluded"]) == (
        6,
        2,
        2,
        2,
    )
    assert ds.excluded["source_row"].to_list() == [3, 4]
    assert set(ds.excluded["reason"]) == {"exact_duplicate"}
    assert "repeat an earlier row exactly" in ds.report()
    assert sorted(ds.deals["deal_id"]) == ["D1", "D2"]


def test_line_numbers_are_physical_lines_with_quoted_newlines(tmp_path):
    text = (
        HEADER.replace("closed_at\n", "closed_at,note\n")
        + 'D1,ann,red,100,2025-10-01,Won,won,2025-10-20,"two\nlines"\n'
        + 'D2,bob,red,oops,2025-10-01,Won,won,2025-10-20,"three\nphysical\nlines"\n'
        + "D3,bob,red,-5,2025-10-01,Lost,lost,2025-10-20,x\n"
    )
    folder = write_dataset(tmp_path / "d", deals=text, stages=STAGES_CSV)
    ds = pk.load(folder)
    # header line 1; D1 on lines 2-3; D2 starts on line 4 (lines 4-6); D3 on line 7
    assert ds.deals["source_row"].to_list() == [2]
    assert sorted(ds.quarantine["source_row"].to_list()) == [4, 7]


def test_utc_offsets_give_the_utc_day():
    frame = pl.DataFrame(
        {"t": ["2024-01-22T23:30:00.000+0000", "2024-01-23T00:30:00+01:00", "2024-01-22"]}
    )
    notes: list[str] = []
    out = normalise_dates(frame, ["t"], notes, file="x.csv")
    # 00:30 at +01:00 is 23:30 UTC the day before
    assert out["t"].to_list() == ["2024-01-22 23:30:00", "2024-01-22 23:30:00", "2024-01-22"]


@pytest.mark.parametrize(
    ("values", "prefer", "expected", "note"),
    [
        # 13 in the first place can only be a day
        (["13/02/24", "01/02/24"], None, ["2024-02-13 00:00:00", "2024-02-01 00:00:00"], "DD/MM"),
        # 13 in the second place can only be a day: month first
        (
            ["02/13/24 08:55 PM", "02/01/24"],
            None,
            ["2024-02-13 20:55:00", "2024-02-01 00:00:00"],
            "MM/DD",
        ),
        # nothing decides: the adapter's preference, said in a note
        (["02/03/24"], "month", ["2024-02-03 00:00:00"], "either way"),
        # nothing decides and no preference: left as written (the loader quarantines it)
        (["02/03/24"], None, ["02/03/24"], None),
        # both orders present: not guessed
        (["13/02/24", "02/13/24"], "month", ["13/02/24", "02/13/24"], "mix"),
    ],
)
def test_slash_dates_are_read_only_when_the_order_is_known(values, prefer, expected, note):
    notes: list[str] = []
    out = normalise_dates(pl.DataFrame({"d": values}), ["d"], notes, file="f.csv", prefer=prefer)
    assert out["d"].to_list() == expected
    if note is None:
        assert notes == []
    else:
        assert any(note in n for n in notes)


def test_booleans_in_every_crm_spelling():
    values = ["1", "", None, "TRUE", "false", "t", "No", "yes", "maybe"]
    got = pl.select(parse_bool(pl.Series(values), blank=False)).to_series().to_list()
    assert got == [True, False, False, True, False, True, False, True, None]


def test_squash_compares_api_fivetran_and_label_names():
    assert {squash(n) for n in ("StageName", "stage_name", "stagename", "Stage Name")} == {
        "stagename"
    }


def test_unknown_option_is_a_clear_error(sample):
    with pytest.raises(pk.DataError, match="unknown option"):
        pk.load(Path("data/sample"), team="role")


def test_unknown_source_suggests_a_mapping_file():
    with pytest.raises(pk.DataError, match="mapping"):
        pk.load("data/sample", source="zoho")


def test_header_named_like_an_internal_column_is_refused(tmp_path):
    folder = write_dataset(
        tmp_path / "d",
        deals=HEADER.replace("\n", ",source_row\n") + "D1,a,r,1,2025-10-01,Won,won,2025-10-02,9\n",
        stages=STAGES_CSV,
    )
    with pytest.raises(pk.DataError, match="source_row"):
        pk.load(folder)


@pytest.mark.parametrize(
    "content",
    [
        "\ufeffdeal_id,owner\nD1,Zoë\nD2,李雷\n",
        "deal_id;owner\r\nD1;Ann\r\nD2;Bo\r\n",
        'deal_id,note\nD1,"two\nlines"\nD2,plain\n',
        "deal_id,owner\nD1,Ann",
    ],
    ids=["bom", "semicolon-crlf", "quoted-newline", "no-final-newline"],
)
def test_utf8_bytes_read_as_the_decoded_text_is(tmp_path, content):
    """UTF-8 files go to the CSV reader as bytes; the result is that of reading the text."""
    from pipeline_kit.adapters._tools import read_export_file

    path = tmp_path / "deals.csv"
    path.write_bytes(content.encode())
    as_bytes = read_export_file(path, [])
    as_text = read_export_file(path, [], encoding="utf-8-sig")  # (decodes first)
    assert as_bytes.equals(as_text)
    assert as_bytes.columns[1] == "deal_id"
