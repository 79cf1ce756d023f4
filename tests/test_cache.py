"""The on-disk cache of validated datasets: a second load of an unchanged export reads it, any
change to the files, the mapping or the options is a new entry, a damaged entry is ignored."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import pipeline_kit as pk
from pipeline_kit.cli import main

from .conftest import ROOT, SAMPLE


def _same(a: pk.Dataset, b: pk.Dataset) -> None:
    assert list(a.tables) == list(b.tables)
    for name in a.tables:
        assert_frame_equal(a.tables[name], b.tables[name])
    for frame in ("quarantine", "excluded", "counts"):
        assert_frame_equal(getattr(a, frame), getattr(b, frame))
    assert b.notes[: len(a.notes)] == a.notes
    assert (a.hints, a.rule_messages, a.undated, a.fingerprint, a.source) == (
        b.hints,
        b.rule_messages,
        b.undated,
        b.fingerprint,
        b.source,
    )
    assert a.stage_history_approximate == b.stage_history_approximate


@pytest.mark.parametrize(
    ("folder", "source"),
    [(SAMPLE, "canonical"), (ROOT / "data" / "examples" / "salesforce", "salesforce")],
)
def test_a_cached_dataset_is_the_validated_one(tmp_path, folder, source):
    fresh = pk.load(folder, source=source)
    first = pk.load(folder, source=source, cache_dir=tmp_path)
    second = pk.load(folder, source=source, cache_dir=tmp_path)
    _same(fresh, first)
    _same(fresh, second)
    assert "Read from the validated cache" in second.notes[-1]
    assert not any("validated cache" in n for n in first.notes)


def test_a_changed_file_or_option_is_a_new_entry(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "examples" / "pipedrive", data)
    cache = tmp_path / "cache"
    pk.load(data, source="pipedrive", cache_dir=cache)
    converted = pk.load(data, source="pipedrive", cache_dir=cache, rates={"USD": 1, "EUR": 0.8})
    assert not any("validated cache" in n for n in converted.notes)  # another option: new
    export = next(data.glob("*.csv"))
    export.write_text(export.read_text().replace("Carla Diaz", "Carla Diaz-Ruiz"))
    changed = pk.load(data, source="pipedrive", cache_dir=cache)
    assert not any("validated cache" in n for n in changed.notes)
    assert "Carla Diaz-Ruiz" in set(changed.deals["owner"])
    assert len([entry for entry in cache.iterdir() if entry.is_dir()]) == 3


def test_a_damaged_entry_is_read_again_from_the_export(tmp_path):
    pk.load(SAMPLE, cache_dir=tmp_path)
    (entry,) = (p for p in tmp_path.iterdir() if p.is_dir())  # (beside it: the digest index)
    (entry / "table_deals.parquet").write_bytes(b"not parquet")
    again = pk.load(SAMPLE, cache_dir=tmp_path)
    assert not any("validated cache" in n for n in again.notes)
    assert again.deals.height == pk.load(SAMPLE).deals.height


def test_a_cached_table_is_scanned_by_its_first_uses_then_read(tmp_path, monkeypatch):
    """A query on a cached table reads only its columns, until the table is used often."""
    from pipeline_kit.dataset import Tables

    pk.load(SAMPLE, cache_dir=tmp_path)
    read: list[str] = []
    original = pk.cache._StoredTables.resolve
    monkeypatch.setattr(
        pk.cache._StoredTables,
        "resolve",
        lambda self, table: read.append(table) or original(self, table),
    )
    ds = pk.load(SAMPLE, cache_dir=tmp_path)
    fresh = pk.load(SAMPLE)
    assert read == [] and ds.has("leads") and ds.counts.height == len(ds.tables)
    assert_frame_equal(
        pk.win_rate(ds, "2025-Q4", by="team"), pk.win_rate(fresh, "2025-Q4", by="team")
    )
    assert read == []  # scans of the deals' file: no table read whole
    from pipeline_kit.metrics.activity import has_industry

    assert has_industry(ds) == has_industry(fresh) and read == []
    assert ds.schema("leads") == fresh.leads.schema and read == []
    for _ in range(Tables.SCANS_BEFORE_READING):
        ds.lazy("deals")
    assert read == ["deals"]  # used often: read whole, once
    ds.lazy("deals")
    assert read == ["deals"]
    assert ds.leads.height == fresh.leads.height and read == ["deals", "leads"]


@pytest.mark.parametrize("use", ["read", "scan"])
def test_a_cache_removed_after_loading_is_named_when_a_table_is_read(tmp_path, use):
    ds = pk.load(SAMPLE, cache_dir=tmp_path)
    ds = pk.load(SAMPLE, cache_dir=tmp_path)  # from the cache
    shutil.rmtree(tmp_path)
    with pytest.raises(pk.DataError, match="cached copy of this export was removed"):
        if use == "read":
            ds.tables["leads"]
        else:
            pk.win_rate(ds, "2025-Q4")


def test_the_command_line_uses_the_cache_unless_told_not_to(tmp_path, capsys):
    cache = tmp_path / "cache"
    args = ["validate", "--data", str(SAMPLE), "--cache", str(cache)]
    assert main(args) == 0 and main(args) == 0
    assert "Read from the validated cache" in capsys.readouterr().out
    other = tmp_path / "other"
    assert main(["validate", "--data", str(SAMPLE), "--cache", str(other), "--no-cache"]) == 0
    assert not other.exists()


# --- results derived from a cached dataset (the report's forecast and backtest) ---


@pytest.fixture
def small_export(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    for name, frame in pk.synthetic.generate(600, seed=11).items():
        frame.write_csv(folder / f"{name}.csv")
    return folder


@pytest.fixture
def counted(monkeypatch):
    """How often the Forecast section computes its forecast and its backtest."""
    from pipeline_kit.forecasting import sections

    calls = {"forecast": 0, "backtest": 0}

    def counting(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(sections, "forecast", counting("forecast", sections.forecast))
    monkeypatch.setattr(
        sections, "backtest_forecast", counting("backtest", sections.backtest_forecast)
    )
    return calls


def _shown(ds: pk.Dataset, team: str | None) -> list[str]:
    """What the report's Forecast section shows, as text (tables and chart specs)."""
    import datetime as dt

    from pipeline_kit.forecasting.sections import ForecastSection
    from pipeline_kit.periods import Period

    section = ForecastSection(ds, Period.parse("2025-Q4"), dt.date(2025, 12, 31), team)
    return [
        section.outlook_table().data,
        section.outlook_chart().to_json(),
        section.track_record_table().data,
        section.track_record_chart().to_json(),
    ]


def test_the_forecast_is_computed_once_and_read_back_identical(small_export, tmp_path, counted):
    cache = tmp_path / "cache"
    plain = _shown(pk.load(small_export), "EMEA")
    assert counted == {"forecast": 1, "backtest": 1}
    first = _shown(pk.load(small_export, cache_dir=cache), "EMEA")
    assert counted == {"forecast": 2, "backtest": 2}  # computed, and stored
    # another process's load: a new Dataset, nothing in memory; every team's result is stored
    again = pk.load(small_export, cache_dir=cache)
    assert _shown(again, "EMEA") == first == plain
    assert _shown(again, "SMB") == _shown(pk.load(small_export), "SMB")
    assert counted == {"forecast": 3, "backtest": 3}  # only the uncached SMB load computed
    entries = list((cache / "results").iterdir())
    assert len(entries) == 1 and len([p for p in entries[0].iterdir() if p.is_dir()]) == 2
    # the organisation's forecast (no team) is another result, stored apart
    assert _shown(again, None) == _shown(pk.load(small_export), None)
    assert counted == {"forecast": 5, "backtest": 5}


def test_a_changed_export_or_a_filtered_copy_computes_again(small_export, tmp_path, counted):
    cache = tmp_path / "cache"
    before = _shown(pk.load(small_export, cache_dir=cache), "EMEA")
    deals = small_export / "deals.csv"
    doubled = pl.read_csv(deals, infer_schema=False).with_columns(
        pl.when(pl.col("team") == "EMEA")
        .then((pl.col("amount").cast(pl.Float64) * 2).cast(pl.String))
        .otherwise(pl.col("amount"))
        .alias("amount")
    )
    doubled.write_csv(deals)  # every EMEA deal twice its amount
    after = _shown(pk.load(small_export, cache_dir=cache), "EMEA")
    assert counted == {"forecast": 2, "backtest": 2}
    assert after == _shown(pk.load(small_export), "EMEA")  # the new export's figures
    ds = pk.load(small_export, cache_dir=cache)
    _shown(ds.filter_deals(pl.col("team") == "EMEA"), "EMEA")  # a copy holds other data
    assert counted == {"forecast": 4, "backtest": 4}
    assert before != after


def test_a_damaged_result_is_computed_again(small_export, tmp_path, counted):
    cache = tmp_path / "cache"
    first = _shown(pk.load(small_export, cache_dir=cache), "EMEA")
    (entry,) = (cache / "results").iterdir()
    for result in entry.iterdir():
        if result.is_dir():
            (result / "meta.json").write_text("{not json")
    assert _shown(pk.load(small_export, cache_dir=cache), "EMEA") == first
    assert counted == {"forecast": 2, "backtest": 2}


def test_a_report_batch_shares_its_forecast_and_is_the_same_report(small_export, tmp_path):
    import os

    from pipeline_kit.loading import CACHE_DIR_VARIABLE
    from pipeline_kit.reports import run_reports

    def batch(out, **load_options):
        results = run_reports(
            small_export,
            "2025-Q4",
            tmp_path / out,
            teams=["EMEA", "SMB"],
            org_summary=False,
            jobs=1,
            progress=False,
            load_options=load_options,
        )
        assert all(r.ok for r in results)
        return {p.name: p.read_bytes() for p in (tmp_path / out).glob("*.html")}

    without = batch("without", cache_dir=False)  # each kernel computes its own
    shared = batch("shared")  # a temporary cache for the batch
    assert CACHE_DIR_VARIABLE not in os.environ  # set for the batch's kernels only
    named = batch("named", cache_dir=str(tmp_path / "cache"))
    assert shared.keys() == without.keys() == named.keys()
    for name in ("emea.html", "smb.html"):
        assert shared[name] == without[name]
        assert b"Read from the validated cache" in named[name]  # a cache the caller named
    (entry,) = (tmp_path / "cache" / "results").iterdir()
    stored = [json.loads((p / "meta.json").read_text()) for p in entry.iterdir() if p.is_dir()]
    kinds = sorted(s["type"].rpartition(".")[2] for s in stored)
    # one forecast, one backtest; frames: the organisation-wide comparison, the stalled deals
    # of every team; no table of every team's control limits: no two teams of this export
    # share their last date
    assert kinds == ["Backtest", "BookingsForecast", "DataFrame", "DataFrame"]


def test_file_digests_are_remembered_across_processes_only_for_settled_files(tmp_path, monkeypatch):
    """The cache folder remembers each export's digest by its files' states (as git's index).

    A digest is reused only for files that had last changed 2 s before they were hashed, and
    a rewrite with the same size and a restored modification time is still seen (the change
    time moves).
    """
    import hashlib
    import json
    import os

    from pipeline_kit.adapters import base

    file = tmp_path / "deals.csv"
    file.write_text("aaaa")
    index = tmp_path / "cache" / "file-digests.json"

    def sha(text: str) -> str:
        return hashlib.sha256(b"deals.csv" + text.encode()).hexdigest()

    def new_process() -> None:
        monkeypatch.setattr(base, "_DIGESTS", {})

    assert base.content_digest([file], index) == sha("aaaa")
    ((key, (digest, hashed_at)),) = json.loads(index.read_text()).items()
    assert digest == sha("aaaa")
    # hashed right after the write: not settled, so another process hashes again
    index.write_text(json.dumps({key: ["not the digest", hashed_at]}))
    new_process()
    assert base.content_digest([file], index) == sha("aaaa")
    # settled (hashed 10 s after the last change): reused without reading the file
    index.write_text(json.dumps({key: ["remembered", hashed_at + 10**10]}))
    new_process()
    assert base.content_digest([file], index) == "remembered"
    # same size, modification time put back: the change time differs, so it is hashed
    stat = file.stat()
    file.write_text("bbbb")
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    new_process()
    assert base.content_digest([file], index) == sha("bbbb")


def test_the_fingerprint_of_files_changed_after_the_load_is_an_error(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(ROOT / "data" / "sample", data)
    ds = pk.load(data)
    (data / "deals.csv").write_text((data / "deals.csv").read_text() + "\n")
    with pytest.raises(pk.DataError, match="changed after the dataset was loaded"):
        assert ds.fingerprint
    same = pk.load(data)
    assert len(same.fingerprint) == 12


def test_the_least_recently_used_entries_beyond_the_budget_are_removed(tmp_path, monkeypatch):
    """Entries past PIPELINE_KIT_CACHE_MAX_MB go, the least recently used first (a read
    counts as a use); the entry just written always stays."""
    import os

    exports = []
    for i in range(3):
        data = tmp_path / f"export{i}"
        shutil.copytree(ROOT / "data" / "examples" / "pipedrive", data)
        (data / "note.txt").write_text(str(i))  # (another export: another entry)
        exports.append(data)
    cache = tmp_path / "cache"
    pk.load(exports[0], source="pipedrive", cache_dir=cache)
    (entry,) = [p for p in cache.iterdir() if p.is_dir()]
    entry_bytes = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
    # room for two entries
    monkeypatch.setenv("PIPELINE_KIT_CACHE_MAX_MB", str(2.5 * entry_bytes / 1e6))
    pk.load(exports[1], source="pipedrive", cache_dir=cache)
    first, second = sorted((p for p in cache.iterdir() if p.is_dir()), key=lambda p: p != entry)
    os.utime(first / "meta.json", ns=(0, 0))  # long unused ...
    os.utime(second / "meta.json", ns=(10**9, 10**9))
    again = pk.load(exports[0], source="pipedrive", cache_dir=cache)  # ... until read again
    assert "Read from the validated cache" in again.notes[-1]
    pk.load(exports[2], source="pipedrive", cache_dir=cache)
    kept = {p.name for p in cache.iterdir() if p.is_dir()}
    assert first.name in kept and second.name not in kept and len(kept) == 2
    # a budget below one entry keeps the newest alone
    monkeypatch.setenv("PIPELINE_KIT_CACHE_MAX_MB", "0")
    pk.load(exports[1], source="pipedrive", cache_dir=cache)
    assert len([p for p in cache.iterdir() if p.is_dir()]) == 1
