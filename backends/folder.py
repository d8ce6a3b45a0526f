"""A target's output folder: written all at once (a failure leaves nothing behind), and read back checked."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import ir
from ir import Graph
from ir.errors import ModelFormatError


def read_folder(out_dir: str | os.PathLike[str], target: str, required: tuple[str, ...]) -> tuple[Path, dict[str, Any],
                                                                                               Graph]:
    """Check a compiled ``target`` folder holds ``required`` files and a manifest of its format; returns the
    folder, the manifest and the lowered graph (``model.ncm``)."""
    path = Path(out_dir)
    for name in (*required, "manifest.json", "model.ncm"):
        if not (path / name).is_file():
            raise ModelFormatError(f"folder {str(path)!r} is not a compiled {target} target: {name} is missing")
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except json.JSONDecodeError as e:
        raise ModelFormatError(f"{str(path / 'manifest.json')!r} is not valid JSON ({e})") from e
    if not isinstance(manifest, dict) or manifest.get("format") != f"neurocc-{target}":
        raise ModelFormatError(f"{str(path / 'manifest.json')!r} is not a neurocc {target} manifest")
    return path, manifest, ir.load(path / "model.ncm")


def write_folder(out: str | os.PathLike[str], texts: dict[str, str], manifest: dict[str, Any], graph: Graph,
                 source: Graph | None = None) -> Path:
    """Write ``texts`` (relative name → content), ``manifest.json``, ``model.ncm`` (and ``source.ncm``) into a
    temporary folder beside ``out``, then rename it into place."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        for name, content in texts.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(content)
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        ir.save(graph, tmp / "model.ncm")
        if source is not None:
            ir.save(source, tmp / "source.ncm")
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
