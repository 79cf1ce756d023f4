"""The Vega libraries as one inline script, for report pages that draw Vega-Lite charts.

Kept apart from :mod:`pipeline_kit.charts` so that the report workers, which only write
HTML, need vl-convert but not Altair.
"""

from __future__ import annotations

import os
import re
from functools import cache
from pathlib import Path

import vl_convert as vlc

from pipeline_kit._files import write_atomic

__all__ = ["VEGALITE_MIME", "vega_bundle"]

# JupyterLab 4 renders Vega-Lite under the v5 MIME type (Altair 6 announces "v6", which it
# does not draw). Every chart of the kit compiles to the same SVG under Vega-Lite 5 and 6
# (tests/test_charts.py checks each builder), so the v5 type is honest.
VEGALITE_MIME = "application/vnd.vegalite.v5+json"


@cache
def vega_bundle() -> str:
    """Vega, Vega-Lite and vega-embed as one script (about 0.9 MB), safe inside ``<script>``.

    Built by vl-convert from the copies it ships (no download) and cached on disk per
    vl-convert version, since building it takes over a second.
    """
    folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "pipeline_kit"
    # vl_convert's stub omits __version__, which the compiled module has
    path = folder / f"vega-embed-{vlc.__version__}.js"  # type: ignore[attr-defined]
    if path.exists():
        return path.read_text(encoding="utf-8")
    # the stub makes ``snippet`` required; the compiled function defaults it to None (the
    # snippet that assigns vegaEmbed, vegaLite and vega to window)
    bundle = vlc.javascript_bundle()  # type: ignore[call-arg]
    script = re.sub(r"</(script)", r"<\\/\1", bundle, flags=re.IGNORECASE)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(path, script)
    except OSError:  # no writable cache folder: build it in every process instead
        pass
    return script
