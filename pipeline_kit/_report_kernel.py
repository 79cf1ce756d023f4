"""What a report kernel runs between two reports (:func:`pipeline_kit.reports._kernel`).

Imported by the kernel's warm-up, so it stays loaded when the namespace is wiped.
"""

from __future__ import annotations

import gc
from typing import Any


def reset_namespace(shell: Any) -> None:
    """IPython's ``%reset -f`` on ``shell`` with one full garbage collection instead of two.

    ``%reset`` collects while flushing the output cache, before the namespace is cleared (a
    walk over everything the finished report still holds, which frees only the cycles it left
    behind), then again once it is cleared. A report kernel runs with automatic collection
    off (``pipeline_kit.reports._KERNEL_WARMUP``), so the second collection alone frees both.
    Everything else is ``%reset -f``'s: ``shell.reset(new_session=False)``.
    """
    collect = gc.collect
    gc.collect = lambda generation=2: 0  # the output cache's flush calls gc.collect()
    try:
        shell.reset(new_session=False)
    finally:
        gc.collect = collect
    gc.collect()
