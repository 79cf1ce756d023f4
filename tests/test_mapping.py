"""Any other export through a mapping (TOML file or dict), DataFrames, and `pipeline-kit inspect`.

The fixture ``tests/fixtures/mapped_export/opportunities.csv`` is a German CRM's export written
by hand: semicolons, Latin-1, CRLF line ends, decimal commas (``12.500,00``, ``1 250,75``,
``7.300``), DD/MM/YYYY dates, German status words, no team column, and a user-id column named
``Owner`` beside the rep's name (``Verkäufer``). Line by line (header = line 1):

====  =======  ===============================================  ==============================
line  deal     what is special                                  expected
====  =======  ===============================================  ==============================
2     A-1001   12.500,00; Gewonnen; 03/01 -> 15/02/2024         valid, won, 12500.0
3     A-1002   4.750,50; Verloren                               valid, lost, 4750.5
4     A-1003   980,00; Offen, no close date                     valid, open, 980.0
5     A-1004   1 250,75 (space as thousands separator)          valid, won, 1250.75
6     A-1005   7.300 (thousands only); status "offen" (lower)   valid, open, 7300.0
7     A-1006   created 31/02/2024 (no such day)                 quarantined created_at|dtype
8     A-1007   status "Pausiert" (not in the value map)         quarantined status|dtype
9     A-1008   amount "n. a."                                   quarantined amount|dtype
10    A-1009   created 2024-03-11 (ISO, not the format)         valid (ISO is read as it is)
11    A-1010   Gewonnen                                         valid, won, 6400.0
12    A-1010   exact copy of line 11                            excluded exact_duplicate
13    A-1011   amount "1.5" (not the 1.234,50 form),            valid, 1.5 (left as written),
               probability "12,5"                               probability 12.5/100 = 0.125
14    A-1012   closed 10/03 before created 25/03/2024           quarantined closed_not_...
====  =======  ===============================================  ==============================

So read 13 = valid 8 + quarantined 4 + excluded 1.
"""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from pathlib import Path

import polars as pl
import pytest

import pipeline_kit as pk
from pipeline_kit.adapters.frames import read_frames
from pipeline_kit.adapters.mapping import draft_mapping, read_mapped
from pipeline_kit.cli import main

from .conftest import SAMPLE

FIXTURE = Path(__file__).parent / "fixtures" / "mapped_export"
MAPPING = FIXTURE / "mapping.toml"
CSV = FIXTURE / "opportunities.csv"


@pytest.fixture(scope="module")
def mapped() -> pk.Dataset:
    return pk.load(FIXTURE, mapping=MAPPING)


def _counts(ds: pk.Dataset, table: str = "deals") -> tuple[int, int, int, int]:
    row = ds.counts.filter(pl.col("table") == table).row(0, named=True)
    return row["read"], row["valid"], row["quarantined"], row["excluded"]


def _deal(ds: pk.Dataset, deal_id: str) -> dict:
    return ds.deals.filter(pl.col("deal_id") == deal_id).row(0, named=True)


# ----------------------------------------------------------------------------- mapping file


def test_counts_add_up(mapped):
    assert mapped.source == "mapping"
    assert _counts(mapped) == (13, 8, 4, 1)  # see the module docstring, line by line
    assert sorted(mapped.deals["deal_id"]) == [
        "A-1001", "A-1002", "A-1003", "A-1004", "A-1005", "A-1009", "A-1010", "A-1011",
    ]  # fmt: skip


def test_values_read_as_the_mapping_says(mapped):
    first = _deal(mapped, "A-1001")
    assert first["source_row"] == 2  # physical line in the file (header = line 1)
    assert first["owner"] == "Jürgen Müller"  # Latin-1 decoded; from "Verkäufer", not "Owner"
    assert first["team"] == "Alle"  # constant
    assert first["amount"] == 12_500.0  # 12.500,00
    assert first["created_at"] == dt.date(2024, 1, 3)  # 03/01/2024 is 3 January
    assert first["closed_at"] == dt.date(2024, 2, 15)
    assert first["status"] == "won"  # Gewonnen
    assert first["stage"] == "Abschluss"
    assert first["account_id"] == "K-17"
    assert first["probability"] == 1.0  # 100 on a 0-100 scale, divided by 100
    assert first["region"] == "Süd"  # the "Region" header, used under its own name
    assert first["branche"] == "Maschinenbau"  # unmapped header kept as an extra column
    assert _deal(mapped, "A-1002")["amount"] == 4_750.5  # 4.750,50
    assert _deal(mapped, "A-1002")["status"] == "lost"  # Verloren
    assert _deal(mapped, "A-1004")["amount"] == 1_250.75  # 1 250,75
    assert _deal(mapped, "A-1005")["amount"] == 7_300.0  # 7.300: a thousands separator
    assert _deal(mapped, "A-1005")["status"] == "open"  # "offen": keys ignore case
    assert _deal(mapped, "A-1009")["created_at"] == dt.date(2024, 3, 11)  # ISO passes
    assert _deal(mapped, "A-1011")["amount"] == 1.5  # "1.5" left as written
    assert _deal(mapped, "A-1011")["probability"] == 0.125  # 12,5 -> 12.5 -> /100
    assert "owner" in mapped.deals.columns and "U01" not in set(mapped.deals["owner"])


def test_quarantine_and_exclusions(mapped):
    rules = {r["source_row"]: r["rules"] for r in mapped.quarantine.iter_rows(named=True)}
    assert rules == {
        7: ["created_at|dtype"],  # 31/02/2024
        8: ["status|dtype"],  # Pausiert
        9: ["amount|dtype"],  # n. a.
        14: ["closed_not_before_created"],  # closed 10/03 < created 25/03
    }
    assert set(mapped.quarantine["file"]) == {str(CSV)}
    assert mapped.excluded.select("source_row", "reason").rows() == [(12, "exact_duplicate")]
    fixes = dict(mapped.problems().select("rule", "fix").rows())
    assert "[deals.values.status]" in fixes["status|dtype"]
    assert "'%d/%m/%Y'" in fixes["created_at|dtype"]
    assert 'decimal = ","' in fixes["amount|dtype"]


def test_one_note_says_everything_done(mapped):
    notes = [n for n in mapped.notes if n.startswith("deals from opportunities.csv")]
    assert len(notes) == 1
    note = notes[0]
    for part in [
        "deal_id = 'Opp-Nr.'",
        "amount = 'Betrag (EUR)'",  # matched to "betrag (eur)" ignoring case
        "region = 'Region'",
        "constants team = 'Alle'",
        "'Gewonnen' -> 'won' (4 rows)",  # lines 2, 5, 11, 12
        "'Verloren' -> 'lost' (2 rows)",  # lines 3, 14
        "'Offen' -> 'open' (6 rows)",  # lines 4, 6 (offen), 7, 9, 10, 13
        "left as they were: 'Pausiert' (1 row)",
        "read as %d/%m/%Y",
        "1 value(s) match neither it nor ISO",
        "'31/02/2024'",
        "decimal comma in amount, probability",
        "'n. a.', '1.5'",
        "encoding 'latin-1'",
        "separator ';'",
        "branche (from 'Branche')",
        "dropped 'Owner'",  # its name is the canonical owner, mapped from Verkäufer
    ]:
        assert part in note, part
    assert note in mapped.report()


def test_extras_work_in_by(mapped):
    got = {
        r["branche"]: (r["won"], r["lost"])
        for r in pk.win_rate(mapped, "2024", by="branche").iter_rows(named=True)
    }
    # closed valid deals: A-1001 won, A-1010 won (Maschinenbau); A-1002 lost (Handel);
    # A-1004 won (Logistik)
    assert got == {"Maschinenbau": (2, 0), "Handel": (0, 1), "Logistik": (1, 0)}


def test_dict_mapping_and_a_single_file(mapped):
    with MAPPING.open("rb") as handle:
        as_dict = tomllib.load(handle)
    by_dict = pk.load(FIXTURE, mapping=as_dict)
    assert by_dict.deals.equals(mapped.deals)
    # the file itself as path: [deals] needs no file
    del as_dict["deals"]["file"]
    by_file = pk.load(CSV, mapping=as_dict)
    assert by_file.deals.equals(mapped.deals)
    assert _counts(by_file) == (13, 8, 4, 1)
    # a mapping file's `file` is relative to its own folder when path is a file
    assert pk.load(CSV, mapping=MAPPING).deals.equals(mapped.deals)
    # load options take the place of the top-level settings
    bare = {k: v for k, v in as_dict.items() if k not in ("date_format", "decimal")}
    with_options = pk.load(CSV, mapping=bare, date_format="%d/%m/%Y", decimal=",")
    assert with_options.deals.equals(mapped.deals)


def test_wildcard_glob_formats_and_implausible_years(tmp_path):
    (tmp_path / "crm_export_2024.csv").write_text(
        "Opportunity ID,Sales Rep,Value,Created,Stage,Closed\n"
        'O1,Ann,"1.234,5",2024-01-05 09:30,Closed Won,06/02/2024\n'
        "O2,Bob,200,05/01/24,Closed Lost,10/02/2024\n"
        'O3,Ann,"3 000",07/01/2024 14:00,Negotiation,\n',
        encoding="utf-8",
    )
    mapping = {
        "date_format": ["%d/%m/%Y %H:%M", "%d/%m/%Y"],
        "decimal": ",",
        "deals": {
            "file": "crm_export_*.csv",
            "columns": {
                "deal_id": "opportunity id",
                "owner": "Sales Rep",
                "amount": "Value",
                "created_at": "Created",
                "stage": "Stage",
                "status": "Stage",  # one header, two canonical columns
                "closed_at": "Closed",
            },
            "values": {"status": {"closed won": "won", "Closed Lost": "lost", "*": "open"}},
            "constants": {"team": "Direct"},
        },
    }
    ds = pk.load(tmp_path, mapping=mapping)
    assert _counts(ds) == (3, 2, 1, 0)
    o1, o3 = _deal(ds, "O1"), _deal(ds, "O3")
    assert (o1["amount"], o1["status"], o1["stage"]) == (1234.5, "won", "Closed Won")
    assert o1["created_at"] == dt.date(2024, 1, 5)  # ISO with a time, read by the loader
    assert o1["closed_at"] == dt.date(2024, 2, 6)
    assert (o3["amount"], o3["status"], o3["created_at"]) == (3000.0, "open", dt.date(2024, 1, 7))
    # 05/01/24 read with %Y would be the year 24: left as it was, so quarantined
    assert ds.quarantine.select("source_row", "rules").rows() == [(3, ["created_at|dtype"])]
    assert "any other value -> 'open' (1 row)" in " ".join(ds.notes)


# ----------------------------------------------------------------------------- errors


def _error(path, mapping, **options) -> str:
    with pytest.raises(pk.DataError) as info:
        read_mapped(Path(path), mapping, **options)
    return str(info.value)


def _fixture_mapping(**deals) -> dict:
    with MAPPING.open("rb") as handle:
        mapping = tomllib.load(handle)
    mapping["deals"].update(deals)
    return mapping


def test_mapping_errors_name_what_to_fix(tmp_path):
    message = _error(FIXTURE, {"deal": {"file": "opportunities.csv"}})
    assert "unknown table 'deal'" in message and "did you mean deals" in message

    mapping = _fixture_mapping()
    mapping["deals"]["columns"]["deal_idd"] = mapping["deals"]["columns"].pop("deal_id")
    message = _error(FIXTURE, mapping)
    assert "'deal_idd'" in message and "not a column of the deals table" in message
    assert "deal_id" in message

    mapping = _fixture_mapping()
    mapping["deals"]["columns"]["owner"] = "Verkaeufer"
    message = _error(FIXTURE, mapping)
    assert "opportunities.csv" in message and "no column 'Verkaeufer'" in message
    assert "closest: 'Verkäufer'" in message

    message = _error(FIXTURE, _fixture_mapping(file="opps.csv"))
    assert "'opps.csv'" in message and "closest: opportunities.csv" in message

    (tmp_path / "a.csv").write_text("x\n1\n")
    (tmp_path / "b.csv").write_text("x\n1\n")
    message = _error(tmp_path, {"deals": {"file": "*.csv"}})
    assert "matches 2 files" in message

    mapping = _fixture_mapping()
    del mapping["deals"]["columns"]["stage"]
    message = _error(FIXTURE, mapping)
    assert "needs stage" in message and "[deals.constants]" in message

    assert "unknown key(s) colums" in _error(FIXTURE, {"deals": {"colums": {}}})
    assert 'only "," or "."' in _error(FIXTURE, _fixture_mapping(decimal=";"))
    message = _error(FIXTURE, _fixture_mapping(date_format="%d/%Q/%Y"))
    assert "cannot read the dates it writes" in message and "'31/%Q/2024'" in message
    assert "both mapped to a column and given as a constant" in _error(
        FIXTURE, _fixture_mapping(constants={"owner": "x"})
    )
    assert "unknown option(s)" in _error(FIXTURE, _fixture_mapping(), team="EMEA")
    # (a reporting currency is understood, for deals with a currency column)
    assert "no currency column" in _error(FIXTURE, _fixture_mapping(), reporting_currency="EUR")
    assert "not a table of currency = rate" in _error(
        FIXTURE, _fixture_mapping(), rates={"EUR": "x"}
    )
    assert "mapping file does not exist" in _error(FIXTURE, tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("[deals\n")
    assert "not valid TOML" in _error(FIXTURE, tmp_path / "bad.toml")
    with pytest.raises(pk.DataError, match=r"both source='maven' and a mapping"):
        pk.load(FIXTURE, source="maven", mapping=MAPPING)


# ----------------------------------------------------------------------------- DataFrames


@pytest.fixture(scope="module")
def sample() -> pk.Dataset:
    return pk.load(SAMPLE)


def _same_tables(a: pk.Dataset, b: pk.Dataset) -> None:
    assert set(a.tables) == set(b.tables)
    for name in a.tables:
        left, right = a.tables[name].drop("source_row"), b.tables[name].drop("source_row")
        assert left.schema == right.schema, name
        assert left.equals(right), name


def test_polars_and_lazy_frames_give_the_csv_tables(sample):
    frames = {name: frame for name, frame in sample.tables.items()}
    ds = pk.load(frames)
    assert ds.source == "frames" and ds.quarantine.height == 0
    _same_tables(sample, ds)
    assert ds.deals["source_row"].to_list()[:3] == [1, 2, 3]  # row position + 1
    assert ds.counts["file"][0] == "<DataFrame 'deals'>"
    assert "had a source_row column" in " ".join(ds.notes)
    lazy = pk.load({name: frame.lazy() for name, frame in frames.items()})
    _same_tables(sample, lazy)
    assert lazy.fingerprint == ds.fingerprint
    changed = dict(frames, deals=frames["deals"].with_columns(pl.col("amount") + 1))
    assert read_frames(changed).fingerprint != ds.fingerprint


def test_pandas_frames_give_the_csv_tables(sample):
    pytest.importorskip("pandas")
    ds = pk.load({name: frame.to_pandas() for name, frame in sample.tables.items()})
    assert ds.quarantine.height == 0
    _same_tables(sample, ds)


def test_pandas_quirks():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame(
        {
            "deal_id": ["D1", "D2", "D3"],
            "owner": ["Ann", "Bob", "Ann"],
            "team": pd.Categorical(["Red", "Blue", "Red"]),
            "amount": [100.0, 250.5, 90.0],
            "created_at": pd.to_datetime(
                ["2024-01-01 00:30", "2024-01-02 12:00", "2024-01-03 10:00"]
            ).tz_localize("Europe/Berlin"),
            "stage": pd.Categorical(["Won", "Proposal", "Won"]),
            "status": ["won", "open", "maybe"],
            "closed_at": [dt.date(2024, 2, 1), None, dt.date(2024, 2, 3)],
            "account_id": [17.0, None, 4.0],  # ids made floats by a missing value
            "Memo Text": [1, "x", None],  # mixed object column
        }
    ).set_index("deal_id")
    ds = pk.load({"deals": frame})
    assert _counts(ds) == (3, 2, 1, 0)
    d1, d2 = _deal(ds, "D1"), _deal(ds, "D2")  # the index came back as deal_id
    assert d1["created_at"] == dt.date(2023, 12, 31)  # 00:30 in Berlin is 23:30 UTC the day before
    assert d2["created_at"] == dt.date(2024, 1, 2)
    assert (d1["team"], d1["stage"], d1["account_id"]) == ("Red", "Won", "17")
    assert d2["account_id"] is None
    assert (d1["memo_text"], d2["memo_text"]) == ("1", "x")
    bad = ds.quarantine.row(0, named=True)
    assert (bad["file"], bad["source_row"], bad["rules"]) == (
        "<DataFrame 'deals'>",
        3,  # the third row, counted from 1
        ["status|dtype"],
    )
    notes = " ".join(ds.notes)
    assert "converted to UTC" in notes and "Memo Text" in notes and "read as 123" in notes


def test_polars_columns_the_loader_cannot_read():
    deals = pl.DataFrame(
        {
            "Deal ID": ["D1", "D2"],  # header normalised as for CSV files
            "owner": ["Ann", "Bob"],
            "team": pl.Series(["Red", "Red"], dtype=pl.Enum(["Red", "Blue"])),
            "amount": [10, 20],  # integers for a Float64 column
            "created_at": [dt.date(2024, 1, 1), dt.date(2024, 1, 2)],
            "stage": ["Open", "Open"],
            "status": ["open", "open"],
            "tags": [["a", "b"], None],
            "extra": [{"x": 1}, {"x": 2}],
            "age": [dt.timedelta(days=1), dt.timedelta(days=2)],
            "blob": pl.Series([{1}, None], dtype=pl.Object),
        }
    )
    leads = pl.DataFrame(
        {
            "lead_id": ["L1"],
            "created_at": [dt.datetime(2024, 1, 1, 0, 30)],
            "source": ["web"],
            "deal_id": ["D1"],
        }
    ).with_columns(pl.col("created_at").dt.replace_time_zone("Europe/Paris"))
    ds = pk.load({"deals": deals, "leads": leads})
    assert _counts(ds) == (2, 2, 0, 0)
    d1 = _deal(ds, "D1")
    assert (d1["team"], d1["amount"], d1["tags"], d1["extra"]) == ("Red", 10.0, "a, b", '{"x":1}')
    assert (d1["age"], d1["blob"]) == ("P1D", "{1}")
    # 00:30 in Paris (UTC+1 in winter) is 23:30 UTC the day before
    assert ds.leads["created_at"][0] == dt.datetime(2023, 12, 31, 23, 30)


def test_frames_with_a_mapping():
    crm = pl.DataFrame(
        {
            "Opportunity ID": ["O1", "O2"],
            "Sales Rep": ["Ann", "Bob"],
            "Amount": ["1.200,50", "300"],
            "Created": ["05/01/2024", "20/01/2024"],
            "Stage": ["Closed Won", "Discovery"],
            "Region Code": ["N", "S"],
        }
    )
    mapping = {
        "decimal": ",",
        "date_format": "%d/%m/%Y",
        "deals": {
            "file": "crm",
            # amount and stage by their own name ("Stage" also feeds status)
            "columns": {
                "deal_id": "Opportunity ID",
                "owner": "Sales Rep",
                "created_at": "Created",
                "status": "Stage",
            },
            "values": {"status": {"Closed Won": "won", "*": "open"}},
            "constants": {"team": "All", "closed_at": dt.date(2024, 2, 1)},
        },
    }
    # closed_at constant for every row: the open deal O2 breaks open_deal_has_no_closed_at
    ds = pk.load({"crm": crm}, mapping=mapping)
    assert _counts(ds) == (2, 1, 1, 0)
    o1 = _deal(ds, "O1")
    assert (o1["amount"], o1["created_at"], o1["status"]) == (1200.5, dt.date(2024, 1, 5), "won")
    assert (o1["stage"], o1["region_code"], o1["closed_at"]) == (
        "Closed Won",
        "N",
        dt.date(2024, 2, 1),
    )
    assert ds.counts["file"][0] == "<DataFrame 'crm'>"
    with pytest.raises(
        pk.DataError, match=r"(?s)'deal' \(did you mean deals\?\).*deals, stage_history"
    ):
        pk.load({"deal": crm})
    with pytest.raises(pk.DataError, match=r"names DataFrame\(s\) 'crm'"):
        pk.load({"other": crm}, mapping=mapping)
    with pytest.raises(pk.DataError, match="'junk'"):
        pk.load({"crm": crm, "junk": crm}, mapping=mapping)
    with pytest.raises(pk.DataError, match="not a DataFrame"):
        pk.load({"deals": [1, 2]})


# ----------------------------------------------------------------------------- inspect


def _fill(text: str, line_start: str, value: str) -> str:
    lines = text.splitlines()
    hits = [i for i, line in enumerate(lines) if line.startswith(line_start)]
    assert len(hits) == 1, (line_start, text)
    lines[hits[0]] = value
    return "\n".join(lines) + "\n"


def test_inspect_drafts_a_mapping_that_loads(tmp_path, capsys):
    out = tmp_path / "drafted.toml"
    assert main(["inspect", str(FIXTURE), "--out", str(out)]) == 0
    said = capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert "opportunities.csv looks like the deals table" in said
    assert "%d/%m/%Y (certain: some values only fit day first)" in said  # 22/01/2024 etc.
    assert "'31/02/2024'" in said  # fits no format
    assert "decimal comma in amount, probability" in said and "'1.5'" in said
    assert "encoding" in said and "not certain" in said
    assert "'Owner' chosen, but 'Verkäufer' also fit(s)" in said
    assert "'Region' proposed: check" in said  # no Team column
    assert 'separator = ";"' in text and 'date_format = "%d/%m/%Y"' in text
    assert 'decimal = ","' in text
    assert '"Gewonnen" = "won"' in text and '"Verloren" = "lost"' in text
    assert '"Offen" = "open"' in text
    assert '# deal_id = "?"' in text  # "Opp-Nr." is no known name for an id
    # fill the ? lines, then load
    text = _fill(text, '# deal_id = "?"', 'deal_id = "Opp-Nr."')
    text = _fill(text, '# "Pausiert" = "?"', '"Pausiert" = "open"')
    out.write_text(text, encoding="utf-8")
    ds = pk.load(FIXTURE, mapping=out)
    # Pausiert is now open (line 8 valid); lines 7, 9, 14 quarantined, 12 excluded
    assert _counts(ds) == (13, 9, 3, 1)
    assert set(ds.deals["team"]) == {"Süd", "Nord", "West"}  # from Region, as drafted
    assert _deal(ds, "A-1001")["amount"] == 12_500.0


def test_inspect_prints_the_mapping_and_says_when_unsure(tmp_path, capsys):
    (tmp_path / "opportunities.csv").write_text(
        "Opportunity ID,Opportunity Owner,Team,Amount,Created,Stage,Close Date\n"
        "O1,Ann,Red,100,01/02/2024,Closed Won,03/04/2024\n"
        "O2,Bob,Blue,200,02/03/2024,Closed Lost,04/05/2024\n"
        "O3,Ann,Red,300,05/06/2024,Negotiation,07/08/2024\n",
        encoding="utf-8",
    )
    assert main(["inspect", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    text = captured.out  # the TOML on stdout, the guesses on stderr
    mapping = tomllib.loads(text)
    assert mapping["deals"]["columns"]["status"] == "Stage"  # no status column
    assert mapping["deals"]["values"]["status"] == {
        "Closed Won": "won",
        "Closed Lost": "lost",
        "*": "open",
    }
    assert "AMBIGUOUS" in text and "AMBIGUOUS" in captured.err  # no day above 12
    assert mapping["deals"]["date_format"] == "%m/%d/%Y"  # a guess, said to be one
    assert "filled for 1 open deal(s)" in captured.err  # O3 has a Close Date
    _, guesses = draft_mapping(tmp_path / "opportunities.csv")
    assert guesses[0].startswith("opportunities.csv looks like the deals table")


def test_inspect_of_nothing_is_an_error(tmp_path, capsys):
    assert main(["inspect", str(tmp_path)]) == 2
    assert "no CSV" in capsys.readouterr().err


def test_draft_fills_status_words_only_when_sure():
    text, _ = draft_mapping(CSV)
    assert re.search(r'^# file = "opportunities.csv"', text, re.M)  # the file given to load
    assert '# "Pausiert" = "?"  # not recognised' in text


# ----------------------------------------------------------------- sheets without ids or teams

ID_LESS = """Deal Name,Value,Stage,Sales Rep,Close Date,Created
Acme renewal,12000,Closed Won,Ann,2025-11-02,2025-09-01
Beta pilot,5000,Closed Lost,Bob,2025-10-15,2025-08-20
Gamma,7500,Negotiation,Ann,2025-12-30,2025-10-01
Delta,900,Closed Lost,Bob,2025-12-01,2025-10-05
"""


def test_line_numbers_as_deal_ids(tmp_path):
    (tmp_path / "deals.csv").write_text(ID_LESS)
    columns = {
        "deal_id": "@line",
        "owner": "Sales Rep",
        "amount": "Value",
        "created_at": "Created",
        "stage": "Stage",
        "status": "Stage",
        "closed_at": "Close Date",
    }
    mapping = {
        "deals": {
            "columns": columns,
            "constants": {"team": "All"},
            "values": {"status": {"Closed Won": "won", "Closed Lost": "lost", "*": "open"}},
        }
    }
    ds = pk.load(tmp_path / "deals.csv", mapping=mapping)
    # the header is line 1: Acme is line 2, Delta line 5
    got = dict(zip(ds.deals["deal_name"], ds.deals["deal_id"], strict=True))
    assert got == {"Acme renewal": "2", "Beta pilot": "3", "Gamma": "4", "Delta": "5"}
    assert any("deal_id = each row's line in the file" in n for n in ds.notes)
    # only a table's own id may be numbered so
    bad = {"deals": {**mapping["deals"], "columns": {**columns, "owner": "@line"}}}
    with pytest.raises(pk.DataError, match=r"line numbers can only be the deals table's own id"):
        pk.load(tmp_path / "deals.csv", mapping=bad)
    # without deal_id: the advice is a column of ids or "@line", never one constant for all
    del columns["deal_id"]
    with pytest.raises(pk.DataError) as info:
        pk.load(tmp_path / "deals.csv", mapping=mapping)
    assert 'deal_id = "@line"' in str(info.value) and "[deals.constants]" not in str(info.value)


def test_inspect_drafts_an_id_less_one_team_sheet_that_loads_as_drafted(tmp_path):
    (tmp_path / "sheet.csv").write_text(ID_LESS)
    text, said = draft_mapping(tmp_path / "sheet.csv")
    assert '\ndeal_id = "@line"' in text and '\nteam = "All"' in text
    assert any("no id column found" in s for s in said)
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    ds = pk.load(tmp_path / "sheet.csv", mapping=tmp_path / "m.toml")
    assert ds.deals.height == 4 and set(ds.deals["team"]) == {"All"}
    assert sorted(ds.deals["deal_id"]) == ["2", "3", "4", "5"]


def test_inspect_keeps_the_question_when_a_column_may_hold_ids_or_teams(tmp_path):
    header, *rows = ID_LESS.splitlines()
    zone = ["Alpha", "Alpha", "Beta", "Beta"]
    lines = [f"Ref,Zone,{header}"] + [f"X-{i},{zone[i - 1]},{row}" for i, row in enumerate(rows, 1)]
    (tmp_path / "sheet.csv").write_text("\n".join(lines) + "\n")
    text, _ = draft_mapping(tmp_path / "sheet.csv")
    assert "@line" not in text and 'unique in every row: "Ref"' in text
    assert '\nteam = "All"' not in text and '# team = "?"' in text  # Zone repeats: teams?


def test_inspect_takes_a_deals_sheet_with_stage_and_created_date_as_deals(tmp_path):
    """Id, stage and a date also fit stage_history's three columns; the status read from the
    stage names makes the sheet a whole deals table, so it wins (it was drafted as a history)."""
    (tmp_path / "opps.csv").write_text(
        "Opportunity ID,Owner,Team,Amount,Created Date,Stage,Close Date\n"
        'O1,Ann,East,"$12,000.00","Jan 5, 2025",Closed Won,"Mar 3, 2025"\n'
        'O2,Bob,West,"$5,000.00","Feb 11, 2025",Closed Lost,"Apr 20, 2025"\n'
        'O3,Ann,East,"$7,500.00","Mar 14, 2025",Proposal,"Jun 30, 2025"\n'
    )
    text, said = draft_mapping(tmp_path / "opps.csv")
    assert "[deals]" in text and "[stage_history]" not in text
    assert any("unambiguous: year first, or the month by name" in s for s in said)
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    ds = pk.load(tmp_path / "opps.csv", mapping=tmp_path / "m.toml")
    row = ds.deals.filter(pl.col("deal_id") == "O1").row(0, named=True)
    assert row["amount"] == 12_000.0 and row["created_at"] == dt.date(2025, 1, 5)
    assert row["closed_at"] == dt.date(2025, 3, 3) and row["status"] == "won"


# ----------------------------------------------------------------------------- seventh session

DYNAMICS = (
    "(Do Not Modify) Opportunity,(Do Not Modify) Row Checksum,(Do Not Modify) Modified On,Topic,"
    "Est. Revenue,Est. Close Date,Actual Close Date,Status,Status Reason,Sales Stage,Owner,"
    "Owning Business Unit,Created On\n"
    "6f1c0a2e-0000-0000-0000-000000000001,abc,2024-06-01 09:00:00,Deal 1,1000.5,2024-03-01,"
    "2024-02-20,Won,Won,Close,Ana,EMEA,2024-01-01 14:05:00\n"
    "6f1c0a2e-0000-0000-0000-000000000002,abd,2024-06-01 09:00:00,Deal 2,250,2024-03-05,"
    "2024-02-25,Lost,Canceled,Propose,Ben,Americas,2024-01-04 14:05:00\n"
    "6f1c0a2e-0000-0000-0000-000000000003,abe,2024-06-01 09:00:00,Deal 3,80,2024-06-30,,Open,"
    "In Progress,Develop,Ana,EMEA,2024-01-07 14:05:00\n"
)


def test_inspect_knows_a_dynamics_365_export_and_it_loads_as_drafted(tmp_path):
    """Dynamics 365's headers (the hidden GUID column, Est. Revenue, Actual Close Date, ...)
    were left to the user: 3 of 7 required columns found, six `?` lines."""
    (tmp_path / "Active Opportunities.csv").write_text(DYNAMICS)
    text, _ = draft_mapping(tmp_path / "Active Opportunities.csv")
    for line in (
        'deal_id = "(Do Not Modify) Opportunity"',
        'team = "Owning Business Unit"',
        'amount = "Est. Revenue"',
        'stage = "Sales Stage"',
        'closed_at = "Actual Close Date"',
        'expected_close = "Est. Close Date"',
    ):
        assert f"\n{line}" in text, line
    assert '= "?"' not in text
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    ds = pk.load(tmp_path / "Active Opportunities.csv", mapping=tmp_path / "m.toml")
    got = {r["topic"]: (r["status"], r["amount"], r["closed_at"]) for r in ds.deals.to_dicts()}
    assert got == {
        "Deal 1": ("won", 1000.5, dt.date(2024, 2, 20)),
        "Deal 2": ("lost", 250.0, dt.date(2024, 2, 25)),
        "Deal 3": ("open", 80.0, None),
    }


def test_inspect_knows_close_freshsales_and_copper_headers(tmp_path):
    (tmp_path / "close.csv").write_text(
        "id,status_type,status_label,value,user_name,date_created\n"
        "oppo_1,won,Won,100050,Ana,2024-01-01\noppo_2,active,Demo,5000,Ben,2024-01-02\n"
    )
    text, said = draft_mapping(tmp_path / "close.csv")
    for line in ('owner = "user_name"', 'stage = "status_label"', 'status = "status_type"'):
        assert f"\n{line}" in text, line
    assert any("'active' -> open" in s for s in said)
    (tmp_path / "fs.csv").write_text("Id,Sales owner,Deal value\n1,Ana,10\n")
    assert '\nowner = "Sales owner"' in draft_mapping(tmp_path / "fs.csv")[0]
    (tmp_path / "copper.csv").write_text("Name,Owned By,Value\nX,Ana,10\n")
    assert '\nowner = "Owned By"' in draft_mapping(tmp_path / "copper.csv")[0]
    (tmp_path / "fr.csv").write_text("Identifiant;Propriétaire;Montant\nD1;Ana;10\n")
    assert '\ndeal_id = "Identifiant"' in draft_mapping(tmp_path / "fr.csv")[0]


def test_inspect_drafts_odoos_crm_lead_export_as_deals(tmp_path):
    """Odoo keeps opportunities in its model crm.lead; the file's name made it a leads table."""
    (tmp_path / "crm.lead.csv").write_text(
        "ID,Opportunity,Expected Revenue,Salesperson,Sales Team,Stage,Created on,Closed Date\n"
        "__export__.crm_lead_1,Deal 1,1000,Ana,EMEA,Won,2024-01-01 09:30:00,2024-02-01\n"
        "__export__.crm_lead_2,Deal 2,500,Ben,EMEA,New,2024-01-02 09:30:00,\n"
    )
    text, _ = draft_mapping(tmp_path / "crm.lead.csv")
    assert "[deals]" in text and "[leads]" not in text
    assert '\namount = "Expected Revenue"' in text


@pytest.mark.parametrize(
    ("written", "fmt"),
    [
        (["Monday, January 1, 2024", "Sunday, March 31, 2024"], "%A, %B %d, %Y"),
        (["Mon 01 Jan 2024", "Sun 31 Mar 2024"], "%a %d %b %Y"),
        (["Mon, 01 Jan 2024", "Sun, 31 Mar 2024"], "%a, %d %b %Y"),
        (["January 1, 2024", "March 31, 2024"], "%B %d, %Y"),
        (["1 January 2024", "31 March 2024"], "%d %B %Y"),
        (["2024-01-01 07:00:00 -0800", "2024-03-31 15:30:00 -0800"], "%Y-%m-%d %H:%M:%S %z"),
    ],
)
def test_inspect_drafts_weekday_month_name_and_offset_dates(tmp_path, written, fmt):
    """inspect found no format for these ("give date_format") and every row was quarantined."""
    rows = [f'D{i},ann,red,10,"{w}",Won,won,"{w}"' for i, w in enumerate(written, 1)]
    (tmp_path / "x.csv").write_text(
        "Deal ID,Owner,Team,Amount,Created,Stage,Status,Close Date\n" + "\n".join(rows) + "\n"
    )
    text, _ = draft_mapping(tmp_path / "x.csv")
    assert f'date_format = "{fmt}"' in text
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    ds = pk.load(tmp_path / "x.csv", mapping=tmp_path / "m.toml")
    # (-0800 at 07:00 and 15:30 is the same day in UTC)
    assert ds.deals.sort("deal_id")["created_at"].to_list() == [
        dt.date(2024, 1, 1),
        dt.date(2024, 3, 31),
    ]


def test_inspect_ignores_repeated_header_lines_and_a_footer(tmp_path):
    """Two exports joined (the header again mid-file) and a report's footer: their words were
    read as values ('Status' an unknown status word to fill in, 'Close Date' an unreadable
    date: "no date format found for closed_at (e.g. 'Close Date')")."""
    header = "Item ID,Person,Team,Deal Value,Date,Status,Close Date"
    (tmp_path / "board.csv").write_text(
        f"{header}\n1,Ana,EMEA,100,1/21/2024,Won,2/1/2024\n"
        f"{header}\n2,Ben,EMEA,50,1/22/2024,Lost,2/2/2024\n3,Ana,EMEA,7,1/23/2024,Open,\n"
        "Total,,,157,,,\n"
    )
    text, said = draft_mapping(tmp_path / "board.csv")
    assert '\ndeal_id = "Item ID"' in text and '\nowner = "Person"' in text
    assert '\nstatus = "Status"' in text and "not recognised" not in " ".join(said)
    assert 'date_format = "%m/%d/%Y"' in text
    assert not any("no date format" in s for s in said)


def test_amounts_in_minor_units_are_read_when_the_mapping_says_so(tmp_path):
    """Close writes 1000.50 USD as 100050: read as written, every amount figure was 100 times
    too large, and the mapping had no way to say so. amount_unit = "minor" divides by the
    currency's minor unit (JPY has none); a value that is not a whole number is quarantined,
    never divided."""
    (tmp_path / "opps.csv").write_text(
        "id,user_name,status_type,value,currency,date_created\n"
        "o1,Ana,won,100050,USD,2024-01-01\n"
        "o2,Ben,won,15000,JPY,2024-01-02\n"
        "o3,Ana,active,10.5,USD,2024-01-03\n"
        "o4,Ana,active,-2500,usd,2024-01-03\n"
    )
    mapping = {
        "deals": {
            "amount_unit": "minor",
            "columns": {
                "deal_id": "id",
                "owner": "user_name",
                "status": "status_type",
                "stage": "status_type",
                "amount": "value",
                "created_at": "date_created",
                "closed_at": "date_created",
            },
            "values": {"status": {"active": "open"}},
            "constants": {"team": "All"},
        }
    }
    ds = pk.load(tmp_path / "opps.csv", mapping=mapping, rates={"JPY": 150.0})
    # 100050 cents = 1000.50 USD; 15000 yen (no minor unit) / 150 = 100 USD; -25.00 negative
    got = dict(ds.deals.select("deal_id", "amount").rows())
    assert got == {"o1": 1000.5, "o2": 100.0}
    rules = ds.quarantine.sort("source_row").select("source_row", "rules").rows()
    assert rules == [(4, ["amount_not_minor_units"]), (5, ["amount|min"])]
    assert any(
        "divided by 100 (1 for JPY, 1000 for KWD), e.g. 100050 is 1000.5" in n for n in ds.notes
    )
    with pytest.raises(pk.DataError, match="amount_unit = 'cents': only \"minor\""):
        pk.load(tmp_path / "opps.csv", mapping={**mapping, "amount_unit": "cents"})


# ----------------------------------------------------------------------------- eighth session

# Exports from CRM UIs in other languages; each row: deal 1 won, deal 2 lost, deal 3 open
LOCALISED = {
    # Salesforce report, German UI (Excel CSV: ';', decimal comma, day first)
    "sf_de.csv": (
        "Opportunity-ID;Opportunity-Inhaber;Inhaberrolle;Betrag;Erstelldatum;Phase;Abschlussdatum\n"
        "D1;Ana;EMEA;1.000,50;05.01.2024;Geschlossen und gewonnen;20.02.2024\n"
        "D2;Ben;EMEA;250,00;06.01.2024;Geschlossen und verloren;21.02.2024\n"
        "D3;Ana;EMEA;80,00;07.01.2024;Angebot;30.06.2024\n"
    ),
    # Salesforce report, Simplified-Chinese UI (结束日期 is CloseDate)
    "sf_zh.csv": (
        "业务机会 ID,业务机会所有人,所有人角色,金额,创建日期,阶段,结束日期\n"
        "D1,Ana,EMEA,1000.50,2024-01-05,赢单,2024-02-20\n"
        "D2,Ben,EMEA,250,2024-01-06,输单,2024-02-21\n"
        "D3,Ana,EMEA,80,2024-01-07,需求分析,2024-06-30\n"
    ),
    # Salesforce report, Japanese UI
    "sf_ja.csv": (
        "商談 ID,商談 所有者,所有者 ロール,金額,作成日,フェーズ,完了予定日\n"
        "D1,Ana,EMEA,1000.50,2024/01/05,成立,2024/02/20\n"
        "D2,Ben,EMEA,250,2024/01/06,不成立,2024/02/21\n"
        "D3,Ana,EMEA,80,2024/01/07,提案,2024/06/30\n"
    ),
    # HubSpot deals export, Spanish UI
    "hs_es.csv": (
        "ID del registro,Propietario del negocio,Equipo,Importe,Fecha de creación,"
        "Etapa del negocio,Fecha de cierre\n"
        "D1,Ana,EMEA,1000.50,2024-01-05 09:00,Cierre ganado,2024-02-20 10:00\n"
        "D2,Ben,EMEA,250,2024-01-06 09:00,Cierre perdido,2024-02-21 10:00\n"
        "D3,Ana,EMEA,80,2024-01-07 09:00,Cita programada,\n"
    ),
    # HubSpot deals export, Chinese UI
    "hs_zh.csv": (
        "记录 ID,交易所有者,团队,金额,创建日期,交易阶段,成交日期\n"
        "D1,Ana,EMEA,1000.50,2024-01-05,成交,2024-02-20\n"
        "D2,Ben,EMEA,250,2024-01-06,丢单,2024-02-21\n"
        "D3,Ana,EMEA,80,2024-01-07,已安排约见,\n"
    ),
    # a Malay sheet, and a Chinese one with 2024年1月5日 dates
    "ms.csv": (
        "ID,Jurujual,Pasukan,Jumlah,Tarikh Dibuat,Peringkat,Status,Tarikh Tutup\n"
        "D1,Ana,EMEA,1000.50,2024-01-05,Tutup,Menang,2024-02-20\n"
        "D2,Ben,EMEA,250,2024-01-06,Tutup,Kalah,2024-02-21\n"
        "D3,Ana,EMEA,80,2024-01-07,Cadangan,Dalam proses,\n"
    ),
    "zh.csv": (
        "编号,销售,团队,金额,创建日期,阶段,状态,成交日期\n"
        "D1,Ana,EMEA,1000.50,2024年1月5日,赢单,赢单,2024年2月20日\n"
        "D2,Ben,EMEA,250,2024年1月6日,输单,输单,2024年2月21日\n"
        "D3,Ana,EMEA,80,2024年1月7日,报价,进行中,\n"
    ),
}


@pytest.mark.parametrize("name", sorted(LOCALISED))
def test_inspect_drafts_exports_from_crm_uis_in_other_languages(tmp_path, name):
    """A Salesforce report from a German, Chinese or Japanese UI, a HubSpot export from a
    Spanish or Chinese UI, Malay and Chinese sheets: 2 to 5 `?` lines each (the owner, the
    owner's role, 结束日期, ID del registro, Dalam proses, 2024年1月5日 ...)."""
    (tmp_path / name).write_text(LOCALISED[name], encoding="utf-8")
    text, said = draft_mapping(tmp_path / name)
    assert '= "?"' not in text, text
    assert "[deals]" in text and not any("no date format" in s for s in said)
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    ds = pk.load(tmp_path / name, mapping=tmp_path / "m.toml")
    got = {
        r["deal_id"]: (r["owner"], r["team"], r["status"], r["amount"], r["created_at"])
        for r in ds.deals.to_dicts()
    }
    assert got == {
        "D1": ("Ana", "EMEA", "won", 1000.5, dt.date(2024, 1, 5)),
        "D2": ("Ben", "EMEA", "lost", 250.0, dt.date(2024, 1, 6)),
        "D3": ("Ana", "EMEA", "open", 80.0, dt.date(2024, 1, 7)),
    }
    closed = ds.deals.sort("deal_id")["closed_at"].to_list()
    assert closed == [dt.date(2024, 2, 20), dt.date(2024, 2, 21), None]


def test_inspect_drafts_a_salesforce_closed_deals_report_as_deals(tmp_path):
    """An English Salesforce report of closed deals (Owner Role, Closed, Won) was drafted as a
    stage_history table: id, stage and Created Date are its three columns, and the deals
    lacked the team (the owner's role, the Salesforce adapter's team)."""
    (tmp_path / "report1717.csv").write_text(
        "Opportunity Owner,Owner Role,Opportunity ID,Stage,Amount,Created Date,Close Date,Closed,"
        "Won\nAna,EMEA,O1,Closed Won,100,1/5/2024,2/20/2024,true,true\n"
        "Ben,EMEA,O2,Closed Lost,50,1/6/2024,2/21/2024,true,false\n"
    )
    text, _ = draft_mapping(tmp_path / "report1717.csv")
    assert "[deals]" in text and "[stage_history]" not in text
    assert '\nteam = "Owner Role"' in text and '= "?"' not in text


def test_dates_with_malay_month_names_are_drafted_and_read(tmp_path):
    """`5 Mac 2024`, `12 Ogos 2024` (Malay month names): inspect drafted `%d %b %Y` from the
    English-looking ones and said the others "fit no format tried"; they were quarantined."""
    (tmp_path / "jualan.csv").write_text(
        "ID,Jurujual,Pasukan,Jumlah,Tarikh Dibuat,Peringkat,Status,Tarikh Tutup\n"
        "D1,Ana,Utara,10,5 Mac 2024,Tutup,Menang,12 Ogos 2024\n"
        "D2,Ana,Utara,10,7 Mei 2024,Tutup,Kalah,1 Dis 2024\n"
        "D3,Ana,Utara,10,3 Okt 2024,Tutup,Menang,2 Disember 2024\n"
        "D4,Ana,Utara,10,9 Jan 2024,Tutup,Kalah,9 Julai 2024\n"
    )
    text, said = draft_mapping(tmp_path / "jualan.csv")
    assert not any("fit no format" in s or "no date format" in s for s in said), said
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    ds = pk.load(tmp_path / "jualan.csv", mapping=tmp_path / "m.toml")
    got = ds.deals.sort("deal_id").select("created_at", "closed_at").rows()
    assert got == [
        (dt.date(2024, 3, 5), dt.date(2024, 8, 12)),
        (dt.date(2024, 5, 7), dt.date(2024, 12, 1)),
        (dt.date(2024, 10, 3), dt.date(2024, 12, 2)),
        (dt.date(2024, 1, 9), dt.date(2024, 7, 9)),
    ]


def test_a_dataframe_holding_its_header_as_a_row_excludes_that_row():
    """Two sheets joined in pandas keep the second header as a row; in a file it is excluded
    as a repeated header, in a DataFrame it was quarantined four times (amount, created_at,
    status and closed_at unreadable), a sweep-7 leftover."""
    header = ["deal_id", "owner", "team", "amount", "created_at", "stage", "status", "closed_at"]
    rows = [
        ["D1", "Ana", "EMEA", "100", "2024-01-01", "Won", "won", "2024-02-01"],
        header,
        ["D2", "Ben", "EMEA", "50", "2024-01-02", "Lost", "lost", "2024-02-02"],
    ]
    deals = pl.DataFrame(rows, schema=header, orient="row")
    crm = [*header[:1], "Rep", *header[2:]]
    mapped = pl.DataFrame([crm if r is header else r for r in rows], schema=crm, orient="row")
    mapping = {"deals": {"file": "crm", "columns": {"owner": "Rep"}}}
    for ds in (pk.load({"deals": deals}), pk.load({"crm": mapped}, mapping=mapping)):
        counts = ds.counts.filter(pl.col("table") == "deals")
        assert counts.select("read", "valid", "quarantined", "excluded").row(0) == (3, 2, 0, 1)
        assert ds.excluded["reason"].to_list() == ["repeated_header"]
        assert ds.excluded["source_row"].to_list() == [2]


def test_amounts_in_wan_are_never_rescaled_and_said_to_be(tmp_path):
    """A Chinese sheet's 金额（万元） (amounts in ten-thousands) loaded without a word: every
    amount figure was in 万; `12.5万` cells were quarantined with the generic "write a plain
    number". The figures stay as written (never multiplied out), with a note and a fix."""
    (tmp_path / "deals.csv").write_text(
        "编号,负责人,团队,金额（万元）,创建日期,阶段,状态,结单日期\n"
        "D1,Ana,EMEA,12.5,2024-01-05,赢单,赢单,2024-02-01\n"
        "D2,Ana,EMEA,3万,2024-01-06,输单,输单,2024-02-02\n",
        encoding="utf-8",
    )
    mapping = {
        "deals": {
            "columns": {
                "deal_id": "编号",
                "owner": "负责人",
                "team": "团队",
                "amount": "金额（万元）",
                "created_at": "创建日期",
                "stage": "阶段",
                "status": "状态",
                "closed_at": "结单日期",
            },
            "values": {"status": {"赢单": "won", "输单": "lost"}},
        }
    }
    ds = pk.load(tmp_path / "deals.csv", mapping=mapping)
    assert ds.deals["amount"].to_list() == [12.5]
    assert any("'金额（万元）', whose header gives a unit" in n for n in ds.notes)
    assert ds.quarantine["source_row"].to_list() == [3]
    assert "the kit never rescales a value" in ds.report()
    # the canonical route says the same of a 万 value
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "deals.csv").write_text(
        "deal_id,owner,team,amount,created_at,stage,status,closed_at\n"
        "D1,Ana,EMEA,3万,2024-01-06,Lost,lost,2024-02-02\n",
        encoding="utf-8",
    )
    assert "the kit never rescales a value" in pk.load(tmp_path / "c").report()


def test_inspect_reads_mondays_default_status_labels():
    """monday.com's "Working on it" and "Stuck" were left to the user ("won, lost or open?")."""
    values = pl.Series("Status", ["Won", "Lost", "Working on it", "Stuck", "Done"])
    from pipeline_kit.adapters.mapping import _status_words

    assert _status_words(values) == {
        "Won": "won",
        "Lost": "lost",
        "Working on it": "open",
        "Stuck": "open",
        "Done": None,  # (won? delivered? left to the user)
    }


def test_a_mapping_may_leave_out_owner_team_and_created_at_as_a_canonical_file_may(tmp_path):
    # a hand-kept sheet: an id, a stage that says won or lost, an amount; the loader fills
    # owner ('(unknown)') and team ('All') and reads it as a win/loss export, each with a note
    (tmp_path / "sheet.csv").write_text(
        "Deal,Stage,Value\nA,Closed Won,100\nB,Closed Lost,50\nC,Proposal,70\nD,Closed Won,30\n",
        encoding="utf-8",
    )
    mapping = {
        "deals": {
            "file": "sheet.csv",
            "columns": {"deal_id": "Deal", "stage": "Stage", "status": "Stage", "amount": "Value"},
            "values": {"status": {"Closed Won": "won", "Closed Lost": "lost", "*": "open"}},
        }
    }
    ds = pk.load(tmp_path, mapping=mapping)
    assert ds.undated and ds.quarantine.height == 0
    deals = ds.deals.sort("deal_id")
    assert deals["owner"].unique().to_list() == ["(unknown)"]
    assert deals["team"].unique().to_list() == ["All"]
    assert deals["status"].to_list() == ["won", "lost", "open", "won"]
    notes = " ".join(ds.notes)
    assert "no owner column" in notes and "no team column" in notes
    assert "no created_at column" in notes
    # 2 won of 3 closed, over the whole export
    assert pk.win_rate(ds, "all")["win_rate"].to_list() == [2 / 3]


def test_inspect_drafts_a_loadable_mapping_for_a_sheet_without_owner_or_dates(tmp_path):
    sheet = tmp_path / "sheet.csv"
    sheet.write_text(
        "deal_id,stage,amount\n1,Closed Won,100\n2,Closed Lost,50\n3,Negotiation,70\n",
        encoding="utf-8",
    )
    text, guessed = draft_mapping(sheet)
    assert any("owner: not found (optional)" in g for g in guessed)
    assert any("created_at: not found (optional)" in g for g in guessed)
    (tmp_path / "m.toml").write_text(text, encoding="utf-8")
    ds = pk.load(sheet, mapping=tmp_path / "m.toml")
    assert ds.deals.height == 3 and ds.undated
