"""What every report section is made of.

Markdown text and tables with data values escaped, and sections that fail softly (one
sentence on the page, the traceback for the log).

Used by :mod:`pipeline_kit.team_report` and :mod:`pipeline_kit.org_report`.
"""

from __future__ import annotations

import functools
import traceback
from collections.abc import Callable
from typing import Any

from IPython.display import Markdown

from pipeline_kit.i18n import gettext

__all__ = ["SECTION_ERROR_KEY", "SectionError", "escape", "fail_softly", "markdown", "md_table"]

# notebook output metadata key under which a failed section leaves its traceback (read by the
# report runner into <team>.log; the page itself shows one sentence)
SECTION_ERROR_KEY = "pipeline_kit_section_error"


class SectionError:
    """What a report section shows when it fails.

    One sentence on the page, the traceback in the output's metadata for the log (never a
    Python traceback in the report).
    """

    def __init__(self, section: str, exc: BaseException, lang: str = "en") -> None:
        self.section = section
        self.lang = lang
        self.error = (
            f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        )
        self.traceback = "".join(traceback.format_exception(exc))

    def _repr_markdown_(self) -> tuple[str, dict[str, Any]]:
        _ = gettext(self.lang)
        text = _(
            "*This section could not be produced ({error}). The other sections are not "
            "affected; the report log has the details.*"
        ).format(error=escape(self.error))
        return text, {SECTION_ERROR_KEY: {"section": self.section, "traceback": self.traceback}}

    def __repr__(self) -> str:
        return f"SectionError({self.section!r}, {self.error!r})"


def fail_softly(cls: type) -> type:
    """Wrap every public method of a report class so that an exception is shown softly.

    The exception becomes a :class:`SectionError` shown in place of the section.
    """

    def wrap(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def section(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except Exception as exc:
                return SectionError(name, exc, getattr(self, "lang", "en"))

        return section

    for name, value in list(vars(cls).items()):
        if callable(value) and not name.startswith("_"):
            setattr(cls, name, wrap(name, value))
    return cls


def md_table(header: list[str], rows: list[list[str]]) -> str:
    """A Markdown table of ``header`` and ``rows``, cells as given (see :func:`escape`)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def escape(text: str) -> str:
    """Escape Markdown/HTML-active characters in data values (team names, reasons)."""
    out = str(text)
    for ch in ("\\", "`", "*", "_", "[", "]", "<", ">", "|", "#"):
        out = out.replace(ch, "\\" + ch)
    return out


def markdown(text: str) -> Markdown:
    """Markdown output with dollar signs escaped (Jupyter reads ``$...$`` as maths)."""
    return Markdown(text.replace("$", r"\$"))
