"""A validated dataset: the canonical tables, the quarantine and what the loader did."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, ItemsView, Iterator, KeysView, ValuesView
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import polars as pl

from pipeline_kit.errors import DataError
from pipeline_kit.i18n import N_, Message
from pipeline_kit.schema import TABLES, describe_rule

__all__ = ["Dataset"]

T = TypeVar("T")


class Deferred(Protocol):
    """Tables whose validation waits for their first use (made by :func:`pipeline_kit.load`).

    Shared by a dataset and its copies, so that each table is validated once.
    """

    def unsettled(self) -> bool:
        """Whether the quarantine, counts, notes and exclusions of every table are still due."""
        ...

    def resolve(self, table: str) -> pl.DataFrame:
        """Validate ``table`` (once): its valid rows."""
        ...

    def settle(self) -> dict[str, Any]:
        """Validate every pending table.

        Returns the dataset's ``quarantine``, ``counts``, ``notes`` and ``excluded``, with
        every table counted.
        """
        ...

    def scan(self, table: str) -> pl.LazyFrame | None:
        """``table``'s valid rows as a scan of a file, when they are already on disk.

        None when the table must be validated first. A query on the scan reads only the
        columns it needs.
        """
        ...


class Tables(dict[str, pl.DataFrame]):
    """A dataset's tables by name; a table whose validation was deferred is validated on read.

    Names, membership and order are known from the start (``"leads" in ds.tables`` costs
    nothing); reading a deferred table, or iterating over the values, validates it. A table
    already validated on disk (a cached dataset) is also available as a scan
    (:meth:`lazy`, :meth:`schema`) without being read.
    """

    # a table kept on disk (a cached dataset) is scanned by its first uses, each reading only
    # the columns it needs; from this use on it is read whole, once, and kept in memory (a
    # report runs a hundred queries on its tables: decoding their columns each time would
    # cost more than reading the table once)
    SCANS_BEFORE_READING = 8

    def __init__(
        self, frames: dict[str, pl.DataFrame], order: list[str], deferred: Deferred
    ) -> None:
        super().__init__(frames)
        self._order = order
        self._deferred = deferred
        self._scans: dict[str, int] = {}

    def _fill(self, name: str) -> pl.DataFrame:
        frame = self._deferred.resolve(name)
        super().__setitem__(name, frame)
        return frame

    def __getitem__(self, name: str) -> pl.DataFrame:
        if not super().__contains__(name) and name in self._order:
            return self._fill(name)
        return super().__getitem__(name)

    def get(self, name: str, default: Any = None) -> Any:
        """The table ``name``, validated if it was deferred; ``default`` if absent."""
        if name not in self:
            return default
        return self[name]

    def __contains__(self, name: object) -> bool:
        return name in self._order

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def keys(self) -> KeysView[str]:  # type: ignore[override]
        """The names, in load order (nothing is validated)."""
        return dict.fromkeys(self._order).keys()

    def values(self) -> ValuesView[pl.DataFrame]:  # type: ignore[override]
        """Every table, the deferred ones validated."""
        return {name: self[name] for name in self._order}.values()

    def items(self) -> ItemsView[str, pl.DataFrame]:  # type: ignore[override]
        """(name, table) pairs, the deferred tables validated."""
        return {name: self[name] for name in self._order}.items()

    def lazy(self, name: str) -> pl.LazyFrame:
        """The table ``name`` as a LazyFrame: a scan of its file while it is on disk only.

        (See ``SCANS_BEFORE_READING``; a table read or validated is in memory from then on.)
        """
        if not super().__contains__(name) and name in self._order:
            used = self._scans.get(name, 0)
            scan = self._deferred.scan(name) if used < self.SCANS_BEFORE_READING else None
            if scan is not None:
                self._scans[name] = used + 1
                return scan
        return self[name].lazy()

    def schema(self, name: str) -> pl.Schema:
        """The columns and types of ``name`` (from its file's footer when it is on disk)."""
        if not super().__contains__(name) and name in self._order:
            scan = self._deferred.scan(name)
            if scan is not None:
                return scan.collect_schema()
        return self[name].schema

    def unsettled(self) -> bool:
        """Whether the totals over every table (quarantine, counts, ...) are still due."""
        return self._deferred.unsettled()

    def settle(self) -> dict[str, Any]:
        """See :meth:`Deferred.settle`."""
        return self._deferred.settle()

    def replacing(self, **frames: pl.DataFrame) -> Tables:
        """A copy with ``frames`` in place of those tables; the deferred ones stay deferred."""
        done = {n: dict.__getitem__(self, n) for n in self._order if dict.__contains__(self, n)}
        order = self._order + [n for n in frames if n not in self._order]
        copy = Tables({**done, **frames}, order, self._deferred)
        copy._scans = self._scans  # (shared, as the tables are)
        return copy


# what a deferred dataset completes on first read (the counts include every table)
_SETTLED_ON_READ = frozenset({"quarantine", "counts", "notes", "excluded"})


EXCLUDED_SCHEMA = {
    "table": pl.String,
    "file": pl.String,
    "source_row": pl.Int64,
    "reason": pl.String,
    "record": pl.String,
}


@dataclass(frozen=True)
class Dataset:
    """Valid rows of every canonical table present, plus the rows that were quarantined.

    Tables are attributes (``ds.deals``, ``ds.stage_history``, ``ds.stages``, ...); a table the
    export did not contain is ``None`` (``ds.has("leads")`` tells). ``stages`` and
    ``stage_history`` always exist: derived from the deals when absent, in which case
    ``stage_history_approximate`` is true.

    Made by :func:`pipeline_kit.load`; read-only: every change makes a copy.

    Examples
    --------
    >>> import pipeline_kit as pk
    >>> ds = pk.load("data/sample", cache=True)
    >>> ds.deals.height, ds.has("leads"), ds.quarantine.height
    (5000, True, 0)
    >>> ds.teams
    ['EMEA', 'Enterprise', 'Mid-Market', 'Partners', 'SMB']
    """

    tables: dict[str, pl.DataFrame]
    quarantine: pl.DataFrame
    counts: pl.DataFrame
    notes: list[str]
    source: str
    path: Path
    fingerprint: str
    stage_history_approximate: bool = False
    hints: dict[tuple[str, str], str] = field(default_factory=dict)
    # rows left out by design (deleted in the CRM, merged, not a stage change, exact copies):
    # table, file, source_row, reason, record
    excluded: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=EXCLUDED_SCHEMA))
    # no created_at column: a win/loss export, analysed over the whole export (period "all")
    undated: bool = False
    # rule or reason -> (problem, fix), for reasons an adapter defines
    rule_messages: dict[str, tuple[str, str]] = field(default_factory=dict)
    # optional columns the export did not have ("leads.qualified_at"): the kit adds them
    # empty, so that a figure built on one can say "unknown" rather than count no values
    absent_columns: frozenset[str] = frozenset()
    # when ``fingerprint`` is "": computes it on first read (a canonical export's files are
    # hashed only when a report, the cache or ``describe`` asks for the fingerprint)
    fingerprinter: Callable[[], str] | None = field(default=None, repr=False, compare=False)
    # results derived from this dataset (see memoised); never copied to a filtered copy
    _memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    # where results memoised with persist=True are kept on disk: set by load(..., cache_dir=)
    # for the dataset it read, never carried to a copy (whose data differ)
    _results_dir: Path | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the totals over every table are this dataset's own unless some validation waits
        # (a dataset made by dataclasses.replace from a settled one is settled)
        tables = self.tables
        object.__setattr__(
            self, "_settled", not (isinstance(tables, Tables) and tables.unsettled())
        )

    def __getattribute__(self, name: str) -> Any:
        if name in _SETTLED_ON_READ and not object.__getattribute__(self, "_settled"):
            object.__getattribute__(self, "_settle")()
        elif name == "fingerprint" and not object.__getattribute__(self, "fingerprint"):
            compute = object.__getattribute__(self, "fingerprinter")
            if compute is not None:
                object.__setattr__(self, "fingerprint", compute())
        return object.__getattribute__(self, name)

    def _settle(self) -> None:
        """Validate the deferred tables; the quarantine, counts, notes and exclusions of all."""
        settled = cast(Tables, object.__getattribute__(self, "tables")).settle()
        for name in _SETTLED_ON_READ:
            object.__setattr__(self, name, settled[name])
        object.__setattr__(self, "_settled", True)

    def _with_tables(self, tables: dict[str, pl.DataFrame]) -> Dataset:
        """A copy with other tables (deferred validation stays deferred and shared)."""
        new = copy.copy(self)
        object.__setattr__(new, "tables", tables)
        object.__setattr__(new, "_memo", {})
        object.__setattr__(new, "_results_dir", None)
        return new

    def __getattr__(self, name: str) -> pl.DataFrame | None:
        tables = self.__dict__.get("tables", {})
        if name in TABLES:
            return tables.get(name)
        raise AttributeError(name)

    def memoised(self, key: tuple, compute: Callable[[], T], *, persist: bool = False) -> T:
        """``compute()`` once per ``key`` for this dataset, then the stored result.

        For results several reports derive from the same data (the organisation-wide
        comparison). Sound because a Dataset is read-only: every change makes a copy
        (:meth:`filter_deals`, :meth:`with_deal_columns`), and a copy starts with no results.

        With ``persist``, a dataset loaded through the on-disk cache (``pk.load(...,
        cache_dir=...)``) also keeps the result there, next to its validated tables, keyed by
        the cache entry (the input files' bytes, the load arguments, the kit's version) and
        ``key``: the report kernels of a batch compute it once between them
        (:func:`pipeline_kit.cache.stored_result`; only the result types it lists).

        >>> import pipeline_kit as pk
        >>> ds = pk.load("data/sample", cache=True)
        >>> calls = []
        >>> def count_deals():
        ...     calls.append(1)
        ...     return ds.deals.height
        >>> ds.memoised(("n",), count_deals), ds.memoised(("n",), count_deals), len(calls)
        (5000, 5000, 1)
        """
        if key not in self._memo:
            if persist and self._results_dir is not None:
                from pipeline_kit.cache import stored_result

                self._memo[key] = stored_result(self._results_dir, key, compute)
            else:
                self._memo[key] = compute()
        return self._memo[key]

    def has(self, table: str) -> bool:
        """Whether the export provided (or the loader derived) ``table``.

        >>> import pipeline_kit as pk
        >>> ds = pk.load({"deals": pl.read_csv("data/sample/deals.csv", infer_schema=False)})
        >>> ds.has("deals"), ds.has("stage_history"), ds.has("leads")
        (True, True, False)
        """
        return table in self.tables

    def lazy(self, table: str) -> pl.LazyFrame:
        """``table`` as a LazyFrame (an error naming the missing file if absent).

        >>> import pipeline_kit as pk
        >>> ds = pk.load("data/sample", cache=True)
        >>> ds.filter_deals(pl.col("status") == "won").lazy("deals").collect().equals(
        ...     ds.deals.filter(pl.col("status") == "won"))
        True
        """
        if table not in self.tables:
            raise DataError(
                problem=f"this analysis needs the {table} table, which the export lacks",
                fix=f"add {table}.csv to the data folder",
                file=str(self.path),
            )
        if isinstance(self.tables, Tables):
            return self.tables.lazy(table)
        return self.tables[table].lazy()

    def schema(self, table: str) -> pl.Schema:
        """The columns and types of ``table``, without reading its rows where they are on disk.

        >>> import pipeline_kit as pk
        >>> ds = pk.load("data/sample", cache=True)
        >>> ds.schema("deals")["amount"]
        Float64
        """
        if isinstance(self.tables, Tables):
            return self.tables.schema(table)
        return self.tables[table].schema

    def with_deal_columns(self, **columns: pl.Expr) -> Dataset:
        """A copy whose deals carry extra computed columns (e.g. a grouping for ``by=``).

        >>> import pipeline_kit as pk
        >>> ds = pk.load("data/sample", cache=True)
        >>> ds2 = ds.with_deal_columns(emea=pl.col("team") == "EMEA")
        >>> ds2.deals["emea"].dtype, "emea" in ds.deals.columns
        (Boolean, False)
        """
        return self._with_tables(
            _replacing(self.tables, deals=self.tables["deals"].with_columns(**columns))
        )

    def filter_deals(self, predicate: pl.Expr) -> Dataset:
        """A copy keeping only the deals matching ``predicate`` (e.g. one team).

        Other tables are left whole: metrics reach them through the deals they keep.

        >>> import pipeline_kit as pk
        >>> ds = pk.load("data/sample", cache=True)
        >>> smb = ds.filter_deals(pl.col("team") == "SMB")
        >>> smb.teams, smb.stage_history.height == ds.stage_history.height
        (['SMB'], True)
        """
        return self._with_tables(
            _replacing(self.tables, deals=self.tables["deals"].filter(predicate))
        )

    @property
    def usable(self) -> bool:
        """True when at least one deal passed validation."""
        return self.tables["deals"].height > 0

    @property
    def leads_only(self) -> bool:
        """True for an export of leads without deals: no deal read, some lead valid.

        Lead figures (:func:`~pipeline_kit.lead_funnel`, :func:`~pipeline_kit.lead_response_time`)
        are computed; every deal figure needs deals. (A dataset filtered to no deal, such as
        a team without deals, is not one: its export had deals.)
        """
        if self.usable:
            return False
        leads = self.tables.get("leads")
        if leads is None or leads.height == 0:
            return False
        read = self.counts.filter(pl.col("table") == "deals")["read"]
        return read.len() == 0 or read[0] == 0

    def require_usable(self) -> None:
        """Raise a :class:`DataError` explaining why no analysis can run, if none can.

        >>> import pipeline_kit as pk
        >>> ds = pk.load("data/sample", cache=True)
        >>> ds.require_usable()
        >>> ds.filter_deals(pl.lit(False)).require_usable()
        Traceback (most recent call last):
        ...
        pipeline_kit.errors.DataError: file data/sample: no deal passed validation, ...
        """
        if self.leads_only:
            raise DataError(
                problem="the export has leads but no valid deal: this needs deals",
                fix="`pipeline-kit metrics` (pk.metrics_long) gives the lead figures; for deal "
                "figures, add the deals (opportunities) export",
                file=str(self.path),
            )
        if not self.usable:
            raise DataError(
                problem="no deal passed validation, so there is nothing to analyse",
                fix="fix the problems listed by `pipeline-kit validate` and load again",
                file=str(self.path),
            )

    @property
    def first_date(self) -> dt.date | None:
        """Earliest creation date of a deal.

        ``None`` when no deal passed validation or the export has no dates.
        """
        if self.undated:
            return None
        if self.leads_only:  # the leads' dates (Datetime) bound the periods
            first = self.tables["leads"]["created_at"].min()
            return cast("dt.datetime", first).date() if first is not None else None
        return cast("dt.date | None", self.tables["deals"]["created_at"].min())  # a Date column

    @property
    def has_amounts(self) -> bool:
        """Whether any deal has an amount (not so: no amount column, or every cell blank).

        Without one, every amount figure is unknown (null) and there is no bookings forecast.
        """
        amount = self.tables["deals"]["amount"]
        return amount.null_count() < amount.len()

    @property
    def last_date(self) -> dt.date | None:
        """Latest date in the deals (created or closed): the export's effective date.

        ``None`` when no deal passed validation.
        """
        deals = self.tables["deals"]
        if self.undated:
            return None
        if self.leads_only:  # the latest of the leads' dates (Datetime columns)
            leads = self.tables["leads"]
            stamps = [
                leads[c].max()
                for c in ("created_at", "qualified_at", "first_response_at", "converted_at")
                if c in leads.columns
            ]
            days = [cast("dt.datetime", t).date() for t in stamps if t is not None]
            return max(days) if days else None
        # Date columns: their max is a date, or None when all are null
        latest = (deals["created_at"].max(), deals["closed_at"].max())
        dates = [cast(dt.date, d) for d in latest if d]
        return max(dates) if dates else None

    @property
    def teams(self) -> list[str]:
        """Teams with at least one valid deal, sorted."""
        return sorted(self.tables["deals"]["team"].unique().to_list())

    def problems(self, examples: int = 3) -> pl.DataFrame:
        """Quarantine summary: one row per (table, rule) with count, message, fix and examples.

        Here a deal closed before it was created (the rows of an in-memory table are numbered
        from 1):

        >>> import pipeline_kit as pk
        >>> deals = pl.read_csv("data/sample/deals.csv", infer_schema=False).head(3)
        >>> deals = deals.with_columns(
        ...     closed_at=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("2020-01-01"))
        ...     .otherwise("closed_at"))
        >>> ds = pk.load({"deals": deals})
        >>> ds.problems().select("table", "rows", "example_rows").row(0)
        ('deals', 1, [1])
        """
        if self.quarantine.height == 0:
            return pl.DataFrame(
                schema={
                    "table": pl.String,
                    "file": pl.String,
                    "rule": pl.String,
                    "rows": pl.UInt32,
                    "problem": pl.String,
                    "fix": pl.String,
                    "example_rows": pl.List(pl.Int64),
                    "example_records": pl.List(pl.String),
                }
            )
        grouped = (
            self.quarantine.explode("rules")
            .rename({"rules": "rule"})
            .group_by("table", "file", "rule", maintain_order=True)
            .agg(
                pl.len().alias("rows"),
                pl.col("source_row").head(examples).alias("example_rows"),
                pl.col("record").head(examples).alias("example_records"),
            )
            .sort("table", "rows", descending=[False, True])
        )
        described = [
            self.problem_texts(t, r) for t, r in zip(grouped["table"], grouped["rule"], strict=True)
        ]
        return grouped.with_columns(
            pl.Series("problem", [p for p, _ in described], dtype=pl.String),
            pl.Series("fix", [f for _, f in described], dtype=pl.String),
        ).select(
            "table", "file", "rule", "rows", "problem", "fix", "example_rows", "example_records"
        )

    def problem_texts(self, table: str, rule: str) -> tuple[str, str]:
        """(problem, fix) of ``rule`` in ``table``, as :meth:`problems` words them.

        Each is a :class:`~pipeline_kit.i18n.Message` where the words come from a template
        (a report shows it in its language); ``str()`` of either is the English text.

        >>> import pipeline_kit as pk
        >>> ds = pk.load("data/sample", cache=True)
        >>> problem, fix = ds.problem_texts("deals", "amount|min")
        >>> problem, fix
        ('amount is below the allowed minimum', 'check the sign and units of amount')
        >>> problem.msgid, problem.params
        ('{col} is below the allowed minimum', {'col': 'amount'})
        """
        problem, fix = self.rule_messages.get(rule) or describe_rule(rule, table)
        if (table, rule) in self.hints:
            fix = Message(N_("{fix}. {hint}"), fix=fix, hint=self.hints[(table, rule)])
        return problem, fix

    def exclusions(self, examples: int = 3) -> pl.DataFrame:
        """Rows left out by design, one row per (table, reason): count, meaning, examples.

        >>> import pipeline_kit as pk
        >>> pk.load("data/sample", cache=True).exclusions().height  # a clean export
        0
        """
        grouped = (
            self.excluded.group_by("table", "file", "reason", maintain_order=True)
            .agg(
                pl.len().alias("rows"),
                pl.col("source_row").head(examples).alias("example_rows"),
                pl.col("record").head(examples).alias("example_records"),
            )
            .sort("table", "rows", descending=[False, True])
        )
        meaning = [self.rule_messages.get(r, (r, ""))[0] for r in grouped["reason"]]
        return grouped.with_columns(pl.Series("meaning", meaning, dtype=pl.String)).select(
            "table", "file", "reason", "rows", "meaning", "example_rows", "example_records"
        )

    def report(self) -> str:
        """Plain-text validation report.

        Counts per table, each problem with examples, rows excluded by design and why, notes.

        >>> import pipeline_kit as pk
        >>> print(pk.load("data/sample", cache=True).report())  # doctest: +ELLIPSIS
        Dataset data/sample (source: canonical, fingerprint ...)
        <BLANKLINE>
        table read valid quarantined excluded
        deals 5,000 5,000 0 0
        ...
        Usable: yes
        """
        lines = [f"Dataset {self.path} (source: {self.source}, fingerprint {self.fingerprint})", ""]
        width = max(len(t) for t in self.counts["table"])
        lines.append(
            f"{'table':<{width}}  {'read':>9}  {'valid':>9}  {'quarantined':>11}  {'excluded':>8}"
        )
        for row in self.counts.iter_rows(named=True):
            lines.append(
                f"{row['table']:<{width}}  {row['read']:>9,}  {row['valid']:>9,}  "
                f"{row['quarantined']:>11,}  {row['excluded']:>8,}"
            )
        problems = self.problems()
        if problems.height:
            lines += ["", "Quarantined rows (kept out of every figure):"]
            for p in problems.iter_rows(named=True):
                rows = ", ".join(str(r) for r in p["example_rows"])
                lines.append(f"- {p['file']}: {p['rows']:,} row(s): {p['problem']} [{p['rule']}]")
                lines.append(f"    e.g. line {rows}: {p['example_records'][0]}")
                lines.append(f"    What to do: {p['fix']}")
        exclusions = self.exclusions()
        if exclusions.height:
            lines += ["", "Excluded rows (left out by design, not errors):"]
            for x in exclusions.iter_rows(named=True):
                rows = ", ".join(str(r) for r in x["example_rows"])
                lines.append(f"- {x['file']}: {x['rows']:,} row(s): {x['meaning']} [{x['reason']}]")
                lines.append(f"    e.g. line {rows}")
        if self.notes:
            lines += ["", "Notes:"] + [f"- {n}" for n in self.notes]
        lines += ["", self._usable_line()]
        return "\n".join(lines)

    def _usable_line(self) -> str:
        """The report's verdict: usable, with how many deals the figures leave out."""
        if not self.usable:
            if self.leads_only:
                return "Usable: for lead figures only - no deals."
            return "Usable: NO - no deal passed validation."
        deals = self.counts.filter(pl.col("table") == "deals")
        quarantined = int(deals["quarantined"].sum()) if deals.height else 0
        if quarantined == 0:
            return "Usable: yes"
        # (a load with most deals quarantined read "Usable: yes" like a clean one)
        return (
            f"Usable: yes - {quarantined:,} of {int(deals['read'].sum()):,} deals are "
            "quarantined and left out of every figure (see above)."
        )

    def __repr__(self) -> str:
        sizes = ", ".join(f"{t}={f.height:,}" for t, f in self.tables.items())
        return (
            f"Dataset(source={self.source!r}, path={str(self.path)!r}, {sizes}, "
            f"quarantined={self.quarantine.height:,})"
        )


def _replacing(tables: dict[str, pl.DataFrame], **frames: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """``tables`` with ``frames`` in place of those tables, deferred tables left deferred."""
    if isinstance(tables, Tables):
        return tables.replacing(**frames)
    return {**tables, **frames}
