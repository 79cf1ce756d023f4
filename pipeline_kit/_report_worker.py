"""What a report worker process runs: the only module its spawned interpreter imports first.

jsonschema (imported by nbformat) compiles an IRI grammar for about 1.2 s at import when the
optional rfc3987_syntax is installed (it comes with Jupyter's event schemas); nbformat never
checks "iri" formats. Worker processes belong to :func:`pipeline_kit.reports.run_reports`,
so they skip that import here, before anything else is imported; the report kernels do the
same (``pipeline_kit.reports._KERNEL_WARMUP``). User processes are left alone.
"""

from __future__ import annotations

import sys

# None in sys.modules makes that import fail (ModuleNotFoundError), as the import system
# documents; typeshed types sys.modules as holding modules only
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

from pipeline_kit.reports import TeamResult, _run_one  # noqa: E402


def run_one(*args) -> TeamResult:
    """:func:`pipeline_kit.reports._run_one` in a worker process."""
    return _run_one(*args)
