"""bench/exports.py builds each export shape, and pk.load reads every one of them.

The bench times these at 1M deals; here they are built small (each bundled example repeated to
300 deals) so that the shapes, the drafted mapping and the floor stay runnable.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "bench_exports", Path(__file__).resolve().parents[1] / "bench" / "exports.py"
)
exports = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(exports)


def test_every_export_shape_is_built_and_loads(tmp_path, monkeypatch):
    monkeypatch.setattr(exports, "OUT", tmp_path)
    base = exports.prepare(300)
    assert base == tmp_path / "exports_300" and (base / ".complete").exists()
    for shape in exports.SHAPES:
        counts = exports._load(base, shape)
        # every repeated row is read: valid, quarantined or excluded (the examples' own warts)
        assert counts["read"] == 300, shape
        assert 0 < counts["valid"] <= 300 and counts["quarantined"] < 300, shape
        assert exports._floor(base, shape) == {}
    cp1252 = (base / "canonical cp1252" / "deals.csv").read_bytes()
    assert "Détail".encode("cp1252") in cp1252  # (accented: the encoding must be detected)
