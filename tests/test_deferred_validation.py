"""Tables no rule of deals, stages or stage_history depends on are validated on first use.

Leads, activities, collateral usage, marketing spend, customers, targets and benchmarks are
parsed and checked when first read (``ds.leads``, ``ds.tables["leads"]``); the quarantine,
counts, notes and exclusions (``ds.quarantine``, ``ds.counts``, ``ds.report()``) validate
the rest first, so they are those of a load that validates everything up front.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest

import pipeline_kit as pk
import pipeline_kit.loading as loading

from .conftest import SAMPLE

DEFERRED = {"leads", "activities", "collateral_usage", "marketing_spend", "customers", "targets"}


@pytest.fixture
def dirty(tmp_path) -> Path:
    """The sample with known faults in leads and activities.

    Leads: the first 2 rows repeated (exact copies, excluded), row 4 (file line 5) with an
    unreadable created_at, row 6 (line 7) padded team ' SMB ', row 8 (line 9) linked to an
    unknown deal. Activities: row 3 (line 4) with an unknown deal_id (quarantined).
    """
    folder = tmp_path / "dirty"
    shutil.copytree(SAMPLE, folder)
    leads = pl.read_csv(folder / "leads.csv", infer_schema=False)
    row = pl.int_range(pl.len())
    leads = pl.concat([leads, leads.head(2)]).with_columns(
        pl.when(row == 3).then(pl.lit("not a date")).otherwise("created_at").alias("created_at"),
        pl.when(row == 5).then(pl.lit(" SMB ")).otherwise("team").alias("team"),
        pl.when(row == 7).then(pl.lit("D_NOPE")).otherwise("deal_id").alias("deal_id"),
    )
    leads.write_csv(folder / "leads.csv")
    activities = pl.read_csv(folder / "activities.csv", infer_schema=False)
    activities.with_columns(
        pl.when(row == 2).then(pl.lit("D_NOPE")).otherwise("deal_id").alias("deal_id")
    ).write_csv(folder / "activities.csv")
    return folder


@pytest.fixture
def validated(monkeypatch) -> list[str]:
    """The names of the tables validated (parsed and checked), in order."""
    names: list[str] = []
    real = loading._validate_table

    def spy(table, notes=None):
        names.append(table.name)
        return real(table, notes)

    monkeypatch.setattr(loading, "_validate_table", spy)
    return names


def test_only_deals_stages_and_history_are_validated_up_front(dirty, validated):
    ds = pk.load(dirty)
    assert sorted(validated) == ["deals", "stage_history", "stages"]
    assert ds.has("leads") and "activities" in ds.tables  # known without validating
    assert sorted(validated) == ["deals", "stage_history", "stages"]
    assert ds.leads is not None  # first use
    assert validated[3:] == ["leads"]
    assert ds.tables["leads"].height  # once
    assert validated[3:] == ["leads"]


def test_the_quarantine_counts_every_table(dirty, validated):
    ds = pk.load(dirty)
    counts = {r["table"]: r for r in ds.counts.iter_rows(named=True)}
    assert set(validated) >= DEFERRED  # the counts validated the rest
    n_leads = pl.read_csv(SAMPLE / "leads.csv", infer_schema=False).height
    assert counts["leads"]["read"] == n_leads + 2
    assert counts["leads"]["excluded"] == 2
    # the unreadable date; the unknown deal is a dropped link, not a quarantined lead
    assert counts["leads"]["quarantined"] == 1
    assert counts["leads"]["valid"] == n_leads - 1
    assert counts["activities"]["quarantined"] == 1
    rules = {(r["table"], r["source_row"]): r["rules"] for r in ds.quarantine.iter_rows(named=True)}
    assert rules[("leads", 5)] == ["created_at|dtype"]
    assert rules[("activities", 4)] == ["deal_unknown"]
    assert any(n.startswith("leads.team: 1 value(s) had surrounding spaces") for n in ds.notes)
    assert "leads: 2 row(s) repeat an earlier row exactly" in ds.report()


@pytest.mark.parametrize("first", ["leads", "quarantine", "filtered copy"])
def test_same_results_as_validating_everything_up_front(dirty, monkeypatch, first):
    lazy = pk.load(dirty)
    if first == "leads":
        assert lazy.leads is not None
    elif first == "filtered copy":
        lazy = lazy.filter_deals(pl.lit(True))
    monkeypatch.setattr(loading, "DEFERRED_TABLES", frozenset())
    eager = pk.load(dirty)
    assert type(eager.tables) is dict
    assert lazy.quarantine.equals(eager.quarantine)
    assert lazy.counts.equals(eager.counts)
    assert lazy.excluded.equals(eager.excluded)
    assert lazy.notes == eager.notes  # in the same order
    assert list(lazy.tables) == list(eager.tables)
    for name, frame in eager.tables.items():
        assert lazy.tables[name].equals(frame), name


def test_a_filtered_copy_shares_the_deferred_validation(dirty, validated):
    ds = pk.load(dirty)
    smb = ds.filter_deals(pl.col("team") == "SMB")
    assert sorted(validated) == ["deals", "stage_history", "stages"]
    assert smb.leads.equals(ds.leads)
    assert validated.count("leads") == 1
    assert smb.counts.equals(ds.counts)
    assert sorted(validated) == sorted(
        ["deals", "stage_history", "stages", *DEFERRED, "benchmarks"]
    )


def test_win_rate_and_open_pipeline_validate_nothing_else(dirty, validated):
    ds = pk.load(dirty)
    pk.win_rate(ds, "2025-Q4", by="team")
    pk.open_pipeline(ds, "2025-12-31", by="team")
    pk.deal_flow(ds, "2025-Q4", by="team")
    assert sorted(validated) == ["deals", "stage_history", "stages"]


@pytest.fixture
def dirty_parquet(dirty) -> Path:
    """The same export as Parquet files (strings, as a CSV reads)."""
    folder = dirty.parent / "dirty_parquet"
    folder.mkdir()
    for file in dirty.glob("*.csv"):
        pl.read_csv(file, infer_schema=False).write_parquet(folder / f"{file.stem}.parquet")
    return folder


def test_parquet_tables_are_read_on_first_use(dirty_parquet, monkeypatch):
    import pipeline_kit.adapters.canonical as canonical

    read: list[str] = []
    real = canonical.read_table_file

    def spy(file, notes=None, **options):
        if not options.get("header_only"):
            read.append(Path(file).stem)
        return real(file, notes, **options)

    monkeypatch.setattr(canonical, "read_table_file", spy)
    ds = pk.load(dirty_parquet)
    pk.win_rate(ds, "2025-Q4", by="team")
    assert sorted(read) == ["deals", "stage_history", "stages"]
    assert ds.leads is not None
    assert read[3:] == ["leads"]
    assert ds.counts.height == 10  # every table counted: the rest read
    assert sorted(read) == sorted(["deals", "stage_history", "stages", *DEFERRED, "benchmarks"])


@pytest.mark.parametrize("first", ["leads", "quarantine"])
def test_parquet_read_on_use_gives_the_results_of_reading_up_front(
    dirty, dirty_parquet, monkeypatch, first
):
    lazy = pk.load(dirty_parquet)
    if first == "leads":
        assert lazy.leads is not None
    monkeypatch.setattr(loading, "DEFERRED_TABLES", frozenset())
    eager = pk.load(dirty_parquet)
    assert lazy.quarantine.equals(eager.quarantine)
    assert lazy.counts.equals(eager.counts)
    assert lazy.excluded.equals(eager.excluded)
    assert lazy.notes == eager.notes
    for name, frame in eager.tables.items():
        assert lazy.tables[name].equals(frame), name
    # and those of the CSV export, but for the file names
    csv = pk.load(dirty)
    assert lazy.quarantine.drop("file").equals(csv.quarantine.drop("file"))
    assert lazy.counts.drop("file").equals(csv.counts.drop("file"))


def test_a_parquet_table_changed_after_the_load_is_not_read(dirty_parquet):
    ds = pk.load(dirty_parquet)
    leads = pl.read_parquet(dirty_parquet / "leads.parquet")
    leads.head(5).write_parquet(dirty_parquet / "leads.parquet")
    with pytest.raises(pk.DataError, match="changed after the dataset was loaded"):
        ds.tables["leads"]
