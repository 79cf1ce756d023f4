"""Reading export files: encodings, exact duplicates, physical line numbers, UTC offsets,
adapter options. Expected values are read off the fixtures written in each test."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeline_kit as pk
from pipeline_kit.adapters._tools import normalise_dates, parse_bool, squash
from tests.conftest import SAMPLE, STAGES_CSV, write_dataset

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
        # dots (German, Russian, Nordic spreadsheets) and dashes (Dutch, Indian) alike
        (
            ["13.02.2024", "01.02.2024 09:30"],
            None,
            ["2024-02-13 00:00:00", "2024-02-01 09:30:00"],
            "DD.MM.YYYY",
        ),
        (["02-13-2024"], None, ["2024-02-13 00:00:00"], "MM-DD-YYYY"),
        (["02.03.24"], None, ["02.03.24"], None),
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


_DATE_TEXT = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.dates().map(lambda d: f"{d.year}-{d.month}-{d.day}"),
    st.dates().map(lambda d: d.strftime("%Y/%m/%d")),
    st.datetimes().map(lambda t: t.isoformat(timespec="seconds") + "Z"),
    st.datetimes().map(lambda t: t.isoformat(sep=" ", timespec="milliseconds") + "+0200"),
    st.datetimes().map(lambda t: t.isoformat(sep=" ", timespec="seconds")),
    st.datetimes().map(lambda t: t.isoformat(sep=" ", timespec="seconds")[:-1] + "Z"),
    st.from_regex(r"\A[0-9 +\-/:TZ]{8,12}\Z"),
    st.from_regex(r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9 +\-:.Z]{8}\Z"),
    st.text(max_size=12),
    st.none(),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_DATE_TEXT, max_size=30), st.sampled_from(["date", "datetime"]))
def test_plain_iso_dates_first_then_the_full_parser_reads_as_the_full_parser(texts, kind):
    """Dates as text are read as plain ISO dates first and the rest by the full parser: the
    same values and the same unreadable rows as the full parser on every row."""
    from pipeline_kit.loading import _from_string, _iso_date, _reparse_dates

    dtype = pl.Date if kind == "date" else pl.Datetime("us")
    frame = pl.DataFrame({"d": texts}, schema={"d": pl.String})
    full = frame.select(_from_string(pl.col("d"), dtype).alias("x"))["x"]
    typed = frame.with_columns(_iso_date("d", dtype).alias("__d")).with_columns(
        (pl.col("d").is_not_null() & pl.col("__d").is_null()).alias("d|dtype")
    )
    two_step = _reparse_dates(typed, {"d": dtype})
    # (compared as series: a date with an offset can fall in year 0, which Python cannot hold)
    assert two_step["__d"].equals(full.alias("__d"), check_dtypes=True)
    assert two_step["d|dtype"].to_list() == (frame["d"].is_not_null() & full.is_null()).to_list()


# --------------------------------------------------------------- encoding detection on a sample

ONE_BYTE = ["cp1252", "latin-1", "cp1250", "cp775", "cp1006", "koi8_r", "mac_roman"]
ENCODINGS = [*ONE_BYTE, "gb18030", "shift_jis", "big5", "euc_kr", "utf-16"]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=64), st.sampled_from(ENCODINGS))
def test_a_file_decodes_when_its_distinct_bytes_do(data, encoding):
    """The check on distinct bytes (one-byte encodings) agrees with decoding the whole."""
    from pipeline_kit.adapters._encoding import _WholeFile

    try:
        data.decode(encoding)
        whole = True
    except UnicodeDecodeError:
        whole = False
    assert _WholeFile(data).decodes(encoding) == whole


NAMES = {
    "cp1252": ["José Müller", "Renée Þórsdóttir", "François Lefèvre", "Zoë Ærø"],
    "koi8_r": ["Иван Петров", "Мария Иванова", "Москва", "Сергей Смирнов"],
    "gb18030": ["张伟", "王芳", "李娜", "刘洋", "华南区", "销售部", "陈静", "杨帆"],
    "shift_jis": ["田中太郎", "鈴木花子", "営業部", "東京", "佐藤健", "高橋美咲"],
}


@pytest.mark.parametrize("encoding", sorted(NAMES))
def test_a_large_file_detected_on_a_sample_reads_as_detected_whole(encoding, monkeypatch):
    """Sampled detection names the encoding the whole file's detection names, and each
    alternative it names decodes the whole file."""
    import random

    from pipeline_kit.adapters import _encoding as _tools

    rng = random.Random(7)
    rows = [
        f"D{i},{rng.choice(NAMES[encoding]) if rng.random() < 0.2 else f'Rep {i % 89}'},{i}"
        for i in range(60_000)
    ]
    data = ("deal_id,owner,amount\n" + "\n".join(rows) + "\n").encode(encoding)
    whole = _tools._readings(_tools._evidence(data), _tools._WholeFile(data))
    monkeypatch.setattr(_tools, "DETECTION_SAMPLE_BYTES", 128 * 1024)
    sample = _tools._detection_sample(data)
    assert sample is not None and len(sample) < len(data) / 4
    name, others = _tools.detect_encoding(data)
    assert whole is not None and name == whole[0]
    for other in others:
        data.decode(other)  # (raises if it does not decode the whole file)


def test_a_sample_whose_choice_fails_on_the_whole_file_is_detected_whole(monkeypatch):
    from pipeline_kit.adapters import _encoding as _tools

    # cp1252 reads the sample's é but not byte 0x81, found only later in the file
    data = ("deal_id,owner\n" + "D1,José\n" * 2000).encode("cp1252") + b"D2,\x81\xe9\n"
    sample = ("deal_id,owner\n" + "D1,José\n" * 50).encode("cp1252")
    monkeypatch.setattr(_tools, "_detection_sample", lambda data: sample)
    assert _tools._readings(_tools._evidence(sample), _tools._WholeFile(sample))[0] == "cp1252"
    found = _tools.detect_encoding(data)
    assert found is not None and found[0] != "cp1252"
    assert found == _tools._readings(_tools._evidence(data), _tools._WholeFile(data))


def test_utf16_is_always_detected_whole(monkeypatch):
    from pipeline_kit.adapters import _encoding as _tools

    monkeypatch.setattr(_tools, "DETECTION_SAMPLE_BYTES", 1024)
    data = ("deal_id,owner\n" + "D1,José\n" * 2000).encode("utf-16")
    assert _tools._detection_sample(data) is None


SURNAMES, GIVEN = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹",
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰红",
)
KOREAN_SURNAMES, KOREAN_GIVEN = (
    "김이박최정강조윤장임한오서신권황안송류홍",
    "민준서연지호수빈하은도현예린우진성영",
)


def _names_export(folder: Path, surnames: str, given: str, encoding: str) -> list[str]:
    """A deals export whose owners are 40 three-character names, saved in ``encoding``."""
    import random

    rng = random.Random(0)
    owners = [rng.choice(surnames) + rng.choice(given) + rng.choice(given) for _ in range(40)]
    rows = [
        f"D{i},{owners[i % 40]},red,{100 + i},2025-10-01,Won,won,2025-10-20" for i in range(300)
    ]
    folder.mkdir()
    (folder / "deals.csv").write_bytes((HEADER + "\n".join(rows) + "\n").encode(encoding))
    (folder / "stages.csv").write_text(STAGES_CSV)
    return sorted(set(owners))


def test_chinese_names_saved_as_gbk_are_read_as_chinese(tmp_path):
    """Excel on Chinese Windows saves CSV as GBK; charset-normalizer read such names as
    Korean (cp949: Hangul mixed with rare Hanja) in 17 of 20 generated exports."""
    owners = _names_export(tmp_path / "gbk", SURNAMES, GIVEN, "gbk")
    ds = pk.load(tmp_path / "gbk")
    assert sorted(set(ds.deals["owner"])) == owners
    assert any("deals.csv is not UTF-8: read as gb18030" in n for n in ds.notes)


def test_korean_names_saved_as_cp949_stay_korean(tmp_path):
    owners = _names_export(tmp_path / "kr", KOREAN_SURNAMES, KOREAN_GIVEN, "cp949")
    assert sorted(set(pk.load(tmp_path / "kr").deals["owner"])) == owners


# Names as Excel saves them on a Windows system of each language: a few among thousands of
# ASCII rows (ids, amounts, dates, English stage names), the usual shape of a real export
NATIVE_NAMES = {
    "cp1252": ["José Müller", "Renée Lefèvre", "Björn Ångström", "Zoë Núñez", "“Key” account"],
    "cp1250": ["Łukasz Świątek", "Zofia Żółć", "Antonín Dvořák", "Gréta Kovács"],
    "cp1251": ["Иван Петров", "Мария Сидорова", "Сергей Смирнов"],
    "cp1253": ["Γιώργος Παπαδόπουλος", "Ελένη Νικολάου"],
    "cp1257": ["Jūratė Kazlauskienė", "Kęstutis Žukauskas", "Jānis Bērziņš"],
    "gbk": ["王伟", "李娜", "张敏", "华南区销售部"],
    "big5": ["陳志明", "林怡君", "黃雅婷", "台北業務部"],
    "cp932": ["佐藤太郎", "鈴木花子", "カトウ商事"],
    "cp949": ["김민준", "이서연", "박지호", "서울영업팀"],
}


@pytest.mark.parametrize("count", [3, 10, 50])
@pytest.mark.parametrize("encoding", sorted(NATIVE_NAMES))
def test_a_few_native_names_in_an_ascii_export_read_back_exactly(encoding, count):
    """The bundled sample's 5,000 deals with ``count`` owners renamed, saved in the code page
    of the names' language. Detected on the whole file, both charset-normalizer and chardet
    read every one of these but Windows-1252 as Windows-1252 (the ASCII rows outweigh the
    names); the kit's evidence is the fields that are not ASCII."""
    import random

    from pipeline_kit.adapters._encoding import detect_encoding

    rng = random.Random(count)
    lines = (SAMPLE / "deals.csv").read_text(encoding="utf-8").splitlines()
    for _ in range(count):
        i = rng.randrange(1, len(lines))
        fields = lines[i].split(",")
        fields[1] = rng.choice(NATIVE_NAMES[encoding])
        lines[i] = ",".join(fields)
    text = "\n".join(lines) + "\n"
    found = detect_encoding(text.encode(encoding))
    assert found is not None
    assert text.encode(encoding).decode(found[0]) == text, found


@pytest.mark.parametrize(
    ("names", "encoding"),
    [
        (["张伟", "Chloé"], "gbk"),  # was KOI8-R: "уен╟", "Chlo╗╕"
        (["张伟"], "gbk"),  # was KOI8-R
        (["Ελένη"], "cp1253"),  # was Arabic cp1256: "إëفيç"
        (["佐藤 花子", "鈴木 一郎"], "cp932"),  # was Korean cp949: "뜴뱻 됓럔"
    ],
)
def test_a_short_export_with_few_names_is_not_read_as_nonsense(tmp_path, names, encoding):
    """A 12-row export with one or two native names gives chardet little to go on (its
    confidences are 0.01-0.08); its best reading was box-drawing characters or Latin letters
    joined to another script. Such readings give way to a plausible one nearly as likely."""
    rows = [
        f"D{i},{names[i % len(names)]},red,{100 + i},2025-10-01,Won,won,2025-10-20"
        for i in range(12)
    ]
    text = HEADER + "\n".join(rows) + "\n"
    (tmp_path / "deals.csv").write_bytes(text.encode(encoding))
    ds = pk.load(tmp_path)
    assert sorted(set(ds.deals["owner"])) == sorted(names)


_CSV_FIELD = st.text(
    alphabet=st.sampled_from("abcXYZ019 .-_éüßøŁżЖжΩ中文한글カナ€“”"), min_size=0, max_size=8
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.lists(_CSV_FIELD, min_size=1, max_size=4), min_size=1, max_size=12),
    st.sampled_from([",", ";", "\t"]),
    st.sampled_from(["gb18030", "big5", "cp932", "cp949", "utf-8"]),
    st.booleans(),
)
def test_evidence_is_each_field_holding_a_non_ascii_byte_once(rows, separator, encoding, quote):
    """Cutting the bytes at field ends keeps each non-ASCII field whole, in multi-byte
    encodings too (their trail bytes are never a separator, quote or line end)."""
    from pipeline_kit.adapters._encoding import _evidence

    encodable = [[f for f in row if _encodes(f, encoding)] or ["x"] for row in rows]
    cell = (lambda f: f'"{f}"') if quote else (lambda f: f)
    text = "\r\n".join(separator.join(cell(f) for f in row) for row in encodable) + "\r\n"
    expected = []
    for row in encodable:
        for field in row:
            raw = field.encode(encoding)
            if any(b >= 0x80 for b in raw) and raw not in expected:
                expected.append(raw)
    assert _evidence(text.encode(encoding)) == b"\n".join(expected)


def _encodes(text: str, encoding: str) -> bool:
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------- workbooks (Excel's Export)


def _as_workbook(csv_file: Path, workbook: Path) -> None:
    """The CSV's rows in a workbook with typed cells, as Excel or a CRM's XLSX export holds
    them (numbers, dates and times as values, not text)."""
    frame = pl.read_csv(csv_file, try_parse_dates=True)
    zoned = [c for c, t in frame.schema.items() if isinstance(t, pl.Datetime) and t.time_zone]
    # (Excel holds no time zone: a UTC time is written as it reads in UTC)
    frame = frame.with_columns(pl.col(zoned).dt.convert_time_zone("UTC").dt.replace_time_zone(None))
    frame.write_excel(workbook, worksheet="Export")


@pytest.mark.parametrize(
    ("folder", "source", "table_file"),
    [
        ("data/sample", "canonical", "deals.csv"),
        ("data/examples/hubspot", "hubspot", "hubspot-crm-exports-all-deals-2025-06-02.csv"),
        ("data/examples/pipedrive", "pipedrive", "deals-7785302-17.csv"),
        ("data/examples/salesforce", "salesforce", "Opportunity.csv"),
    ],
)
def test_a_workbook_reads_as_the_same_export_in_csv(tmp_path, folder, source, table_file):
    """The same rows as an .xlsx with typed cells: the same valid rows and quarantine."""
    import shutil

    root = Path(__file__).resolve().parents[1]
    copy = tmp_path / "export"
    shutil.copytree(root / folder, copy)
    _as_workbook(copy / table_file, copy / table_file.replace(".csv", ".xlsx"))
    (copy / table_file).unlink()
    from_csv, from_workbook = pk.load(root / folder, source=source), pk.load(copy, source=source)
    assert from_workbook.tables.keys() == from_csv.tables.keys()
    for name in from_csv.tables:
        assert from_workbook.tables[name].equals(from_csv.tables[name]), name
    columns = ["table", "source_row", "rules"]
    assert from_workbook.quarantine.select(columns).equals(from_csv.quarantine.select(columns))


def test_a_workbook_first_sheet_is_read_with_its_rows_numbered(tmp_path):
    import xlsxwriter

    folder = tmp_path / "wb"
    folder.mkdir()
    (folder / "stages.csv").write_text(STAGES_CSV)
    book = xlsxwriter.Workbook(folder / "deals.xlsx")
    sheet = book.add_worksheet("Deals")
    sheet.write_row(0, 0, HEADER.strip().split(","))
    sheet.write_row(1, 0, ["D1", "ann", "red", 100, "2025-10-01", "Won", "won", "2025-10-20"])
    # row 3 left empty (skipped, as a blank line of a CSV); row 4 has an unreadable amount
    sheet.write_row(3, 0, ["D2", "bo", "red", "lots", "2025-10-02", "Lost", "lost", "2025-10-21"])
    book.add_worksheet("Pivot").write(0, 0, "summary")
    book.close()
    ds = pk.load(folder)
    assert ds.deals["deal_id"].to_list() == ["D1"] and ds.deals["amount"].to_list() == [100.0]
    assert ds.quarantine["source_row"].to_list() == [4]
    assert any(
        "deals.xlsx: its first sheet, Deals, was read; not the others (Pivot)" in n
        for n in ds.notes
    )
    assert ds.counts.filter(pl.col("table") == "deals")["read"].item() == 2


def test_a_workbook_repeating_a_header_is_one_clear_error(tmp_path):
    import xlsxwriter

    folder = tmp_path / "wb"
    folder.mkdir()
    book = xlsxwriter.Workbook(folder / "deals.xlsx")
    book.add_worksheet().write_row(0, 0, ["deal_id", "amount", "amount"])
    book.close()
    with pytest.raises(pk.DataError, match="the header repeats column"):
        pk.load(folder)


def test_excel_error_cells_are_read_as_excel_shows_them(tmp_path):
    """A failed formula's cell (#DIV/0!, #N/A) is not read as an empty cell: its row is
    quarantined where a number was expected, and a note says so."""
    import xlsxwriter

    folder = tmp_path / "wb"
    folder.mkdir()
    (folder / "stages.csv").write_text(STAGES_CSV)
    book = xlsxwriter.Workbook(folder / "deals.xlsx")
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, HEADER.strip().split(","))
    sheet.write_row(1, 0, ["D1", "ann", "red", 100, "2025-10-01", "Won", "won", "2025-10-20"])
    sheet.write_row(2, 0, ["D2", "bo", "red", None, "2025-10-02", "Lost", "lost", "2025-10-21"])
    sheet.write_formula(2, 3, "=1/0", None, "#DIV/0!")
    sheet.write_row(3, 0, ["D3", None, "red", 300, "2025-10-03", "Won", "won", "2025-10-22"])
    sheet.write_formula(3, 1, '=VLOOKUP("x",A1:A2,2,FALSE)', None, "#N/A")
    book.close()
    ds = pk.load(folder)
    assert ds.quarantine.select("source_row", "rules").rows() == [(3, ["amount|dtype"])]
    assert ds.deals.select("deal_id", "owner").rows() == [("D1", "ann"), ("D3", "#N/A")]
    assert any(
        "deals.xlsx: 2 cell(s) hold an Excel error (a formula that failed), read as Excel "
        "shows it, e.g. row 3, amount: #DIV/0!" in n
        for n in ds.notes
    )


def test_a_workbook_whose_first_sheet_is_empty_is_one_clear_error(tmp_path):
    import xlsxwriter

    folder = tmp_path / "wb"
    folder.mkdir()
    book = xlsxwriter.Workbook(folder / "deals.xlsx")
    book.add_worksheet("Cover")
    book.add_worksheet("Data").write_row(0, 0, ["deal_id", "owner"])
    book.close()
    with pytest.raises(pk.DataError, match="its sheet Cover is empty") as error:
        pk.load(folder)
    assert "(the others: Data)" in str(error.value)


def _two_sheet_workbook(path: Path) -> None:
    """Deals on a sheet "Deals", their stage changes on "History", a cover sheet first."""
    import xlsxwriter

    book = xlsxwriter.Workbook(path)
    book.add_worksheet("Cover").write(0, 0, "Q4 pipeline")
    deals = book.add_worksheet("Deals")
    deals.write_row(0, 0, HEADER.strip().split(","))
    deals.write_row(1, 0, ["D1", "ann", "red", 100, "2025-10-01", "Won", "won", "2025-10-20"])
    deals.write_row(2, 0, ["D2", "bo", "red", 200, "2025-10-02", "Lost", "lost", "2025-10-21"])
    history = book.add_worksheet("History")
    history.write_row(0, 0, ["deal_id", "stage", "entered_at"])
    for i, row in enumerate(
        [
            ("D1", "Prospecting", "2025-10-01"),
            ("D1", "Won", "2025-10-20"),
            ("D2", "Prospecting", "2025-10-02"),
        ]
    ):
        history.write_row(i + 1, 0, row)
    book.close()


def test_a_mapping_reads_each_table_from_its_sheet(tmp_path):
    _two_sheet_workbook(tmp_path / "crm.xlsx")
    (tmp_path / "stages.csv").write_text(STAGES_CSV)
    mapping = {
        "deals": {"file": "crm.xlsx", "sheet": "Deals"},
        "stage_history": {"file": "crm.xlsx", "sheet": 3},
        "stages": {"file": "stages.csv"},
    }
    ds = pk.load(tmp_path, mapping=mapping)
    assert ds.deals["deal_id"].to_list() == ["D1", "D2"]
    assert ds.stage_history.select("deal_id", "stage").rows() == [
        ("D1", "Prospecting"),
        ("D1", "Won"),
        ("D2", "Prospecting"),
    ]
    assert not any("its first sheet" in n for n in ds.notes)
    assert any("read with sheet 'Deals'" in n for n in ds.notes)


def test_a_sheet_the_workbook_lacks_is_one_clear_error(tmp_path):
    _two_sheet_workbook(tmp_path / "crm.xlsx")
    with pytest.raises(pk.DataError, match="the workbook has no sheet 'Opportunities'") as error:
        pk.load(tmp_path / "crm.xlsx", mapping={"deals": {"sheet": "Opportunities"}})
    assert "sheets: Cover, Deals, History" in str(error.value)
    with pytest.raises(pk.DataError, match="give a sheet's name or its number from 1"):
        pk.load(tmp_path / "crm.xlsx", mapping={"deals": {"sheet": 0}})


# --------------------------------------------------------------- columns without a name


def _with_trailing(text: str, suffix: str) -> str:
    return "".join(line + suffix + "\n" for line in text.splitlines())


@pytest.mark.parametrize("suffix", [",", ",,,"])
def test_a_separator_ending_every_line_adds_no_column(tmp_path, suffix):
    """Excel writes a separator at the end of every line after a formatted empty column: the
    unnamed, empty columns are left out with a note and every deal loads as without them."""
    from tests.conftest import DEALS_CSV

    folder = write_dataset(
        tmp_path / "d",
        deals=_with_trailing(DEALS_CSV, suffix),
        stages=STAGES_CSV,
        leads=_with_trailing(
            "lead_id,created_at,source,owner,team\nL1,2025-10-01,web,ann,red", suffix
        ),
    )
    ds = pk.load(folder)
    plain = pk.load(write_dataset(tmp_path / "plain", deals=DEALS_CSV, stages=STAGES_CSV))
    assert ds.deals.equals(plain.deals)
    assert ds.tables["leads"].columns == [
        "source_row",
        "lead_id",
        "created_at",
        "source",
        "owner",
        "team",
        "qualified_at",
        "first_response_at",
        "converted_at",
        "deal_id",
    ]
    columns = len(suffix)
    assert any(
        n == f"deals.csv: {columns} column(s) without a name and without values were left out "
        "(a separator at the end of every line)."
        for n in ds.notes
    )
    assert "leads" in ds.report()  # (a table validated on first use reads too)


def test_a_column_without_a_name_holding_values_is_one_error(tmp_path):
    text = "deal_id,owner,team,,amount\nD1,ann,red,,100\nD2,bob,red,x,200\n"
    with pytest.raises(pk.DataError) as caught:
        pk.load(write_dataset(tmp_path, deals=text))
    message = str(caught.value)
    assert "column 4 has no name in the header but holds values" in message
    assert "line 3: 'x'" in message


def test_lines_ended_by_a_carriage_return_alone_are_lines(tmp_path):
    """Excel for Mac's "CSV (Macintosh)" ends lines with \\r alone: read as one header line
    it gave 'the header repeats column(s) Americas, Ana, ...'."""
    from tests.conftest import DEALS_CSV

    folder = tmp_path / "mac"
    folder.mkdir()
    (folder / "deals.csv").write_bytes(DEALS_CSV.replace("\n", "\r").encode())
    ds = pk.load(folder)
    plain = pk.load(write_dataset(tmp_path / "plain", deals=DEALS_CSV))
    assert ds.deals.equals(plain.deals)  # (source_row included: the same line numbers)
    assert any("carriage return alone" in str(n) for n in ds.notes)


def test_a_utf8_file_with_a_stray_line_names_that_line(tmp_path):
    """One appended row written in cp1252 into a UTF-8 file: the error names the line (it gave
    a byte position) and does not advise another encoding, which would garble the rest."""
    text = HEADER + "D1,José Núñez,red,100,2025-10-01,Won,won,2025-10-20\n"
    data = text.encode("utf-8") + "D2,Renée,red,100,2025-10-01,Won,won,2025-10-20\n".encode(
        "cp1252"
    )
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "deals.csv").write_bytes(data)
    with pytest.raises(pk.DataError) as caught:
        pk.load(folder)
    message = str(caught.value)
    assert "1 line(s) are not" in message and "line 3: D2,Ren\ufffde,red" in message
    assert "latin-1" not in message


def test_utf8_read_as_latin1_on_request_is_said_in_a_note(tmp_path):
    folder = tmp_path / "asked"
    folder.mkdir()
    (folder / "deals.csv").write_text(
        HEADER + "D1,José Núñez,red,100,2025-10-01,Won,won,2025-10-20\n", encoding="utf-8"
    )
    ds = pk.load(folder, encoding="latin-1")
    assert any("read as latin-1 as asked, holds text such as 'Ã©'" in str(n) for n in ds.notes)


# ----------------------------------------------------------------------------- seventh session


@pytest.mark.parametrize("bom", [b"", b"\xef\xbb\xbf"])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_excels_separator_hint_line_is_the_separator_not_the_header(tmp_path, bom, newline):
    """A first line `sep=;` (written so that European Excel opens the file): the export was
    unreadable ("more fields than the header's 2") by load and by inspect."""
    lines = [
        b"sep=;",
        b"deal_id;owner;team;amount;created_at;stage;status;closed_at",
        b"D1;ann;red;100,5;2025-10-01;Won;won;2025-10-20",
        b'D2;"bob; jr";red;50;2025-10-02;Lost;lost;2025-10-21',
        b"D3;cat;blue;7;2025-10-03;Proposal;open;",
    ]
    folder = tmp_path / "d"
    folder.mkdir()
    (folder / "deals.csv").write_bytes(bom + newline.join(lines) + newline)
    ds = pk.load(folder, decimal=",")
    assert ds.quarantine.height == 0
    got = ds.deals.sort("deal_id").select("source_row", "deal_id", "owner", "amount").rows()
    # the file's lines: hint 1, header 2, deals on 3-5
    assert got == [(3, "D1", "ann", 100.5), (4, "D2", "bob; jr", 50.0), (5, "D3", "cat", 7.0)]
    assert any("the first line 'sep=;' is Excel's separator hint" in n for n in ds.notes)
    from pipeline_kit.adapters.mapping import draft_mapping

    text, _ = draft_mapping(folder / "deals.csv")
    assert 'separator = ";"' in text and '\ndeal_id = "deal_id"' in text
