"""Errors a user can fix, worded so they can fix them.

A :class:`DataError` is raised for problems that make a dataset unusable (a missing file or
column, no valid deal left). Its message names the file, the column, shows example rows and
says what to do. The CLI prints it without a traceback and exits with status 2.
Row-level problems are *not* errors: those rows are quarantined (see :mod:`pipeline_kit.loading`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["DataError"]


@dataclass
class DataError(Exception):
    """A problem in the input data that stops the analysis, with what to do about it.

    Parameters
    ----------
    problem
        What is wrong, in plain words.
    fix
        What to do about it.
    file, column
        Where, when known.
    examples
        A few offending values or rows.

    Examples
    --------
    >>> err = DataError(problem="no StageName column", fix="export Opportunity.StageName",
    ...                 file="Opportunity.csv", column="StageName")
    >>> print(err)
    file Opportunity.csv, column 'StageName': no StageName column
      What to do: export Opportunity.StageName
    """

    problem: str
    fix: str
    file: str | None = None
    column: str | None = None
    examples: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ", ".join(
            part
            for part in (
                f"file {self.file}" if self.file else "",
                f"column {self.column!r}" if self.column else "",
            )
            if part
        )
        lines = [f"{where}: {self.problem}" if where else self.problem]
        if self.examples:
            lines.append("  e.g. " + "\n       ".join(self.examples))
        lines.append(f"  What to do: {self.fix}")
        return "\n".join(lines)
