"""Writing a target's output folder all at once: a failure leaves nothing behind, success replaces the old one."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import ir
from ir import Graph


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
