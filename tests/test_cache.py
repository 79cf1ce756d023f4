"""The on-disk cache of validated datasets: a second load of an unchanged export reads it, any
change to the files, the mapping or the options is a new entry, a damaged entry is ignored."""

from __future__ import annotations

import shutil

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
    assert len(list(cache.iterdir())) == 3


def test_a_damaged_entry_is_read_again_from_the_export(tmp_path):
    pk.load(SAMPLE, cache_dir=tmp_path)
    entry = next(tmp_path.iterdir())
    (entry / "table_deals.parquet").write_bytes(b"not parquet")
    again = pk.load(SAMPLE, cache_dir=tmp_path)
    assert not any("validated cache" in n for n in again.notes)
    assert again.deals.height == pk.load(SAMPLE).deals.height


def test_a_cached_table_is_read_when_first_used(tmp_path, monkeypatch):
    pk.load(SAMPLE, cache_dir=tmp_path)
    read: list[str] = []
    original = pk.cache._StoredTables.resolve
    monkeypatch.setattr(
        pk.cache._StoredTables,
        "resolve",
        lambda self, table: read.append(table) or original(self, table),
    )
    ds = pk.load(SAMPLE, cache_dir=tmp_path)
    assert read == [] and ds.has("leads") and ds.counts.height == len(ds.tables)
    pk.win_rate(ds, "2025-Q4", by="team")
    assert read == ["deals"]  # the other nine files are not read
    assert ds.leads.height == pk.load(SAMPLE).leads.height and read == ["deals", "leads"]


def test_a_cache_removed_after_loading_is_named_when_a_table_is_read(tmp_path):
    ds = pk.load(SAMPLE, cache_dir=tmp_path)
    ds = pk.load(SAMPLE, cache_dir=tmp_path)  # from the cache
    shutil.rmtree(tmp_path)
    with pytest.raises(pk.DataError, match="cached copy of this export was removed"):
        ds.tables["leads"]


def test_the_command_line_uses_the_cache_unless_told_not_to(tmp_path, capsys):
    cache = tmp_path / "cache"
    args = ["validate", "--data", str(SAMPLE), "--cache", str(cache)]
    assert main(args) == 0 and main(args) == 0
    assert "Read from the validated cache" in capsys.readouterr().out
    other = tmp_path / "other"
    assert main(["validate", "--data", str(SAMPLE), "--cache", str(other), "--no-cache"]) == 0
    assert not other.exists()
