"""The package layering of the architecture guide, enforced on every import statement (top level or inside a
function): errors is a leaf, circuits never import ir, ir never imports torch, PySpice or Amaranth, backends never
import learning or torch, and only compiler sees everything."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("errors", "circuits", "ir", "learning", "backends", "compiler")
ALLOWED = {
    "errors": set(),
    "circuits": {"errors"},
    "ir": {"errors", "circuits"},
    "learning": {"errors"},
    "backends": {"errors", "ir", "circuits"},
    "compiler": {"errors", "ir", "circuits", "backends", "learning"},
}
"""Which of the project's packages each package may import."""
FORBIDDEN = {
    "errors": {"numpy", "torch", "PySpice", "amaranth"},
    "circuits": {"torch"},
    "ir": {"torch", "PySpice", "amaranth"},
    "learning": {"PySpice", "amaranth"},
    "backends": {"torch", "sklearn"},
    "compiler": set(),
}
"""Third-party packages each may not import."""


def imports(path: Path) -> set[str]:
    """The top-level names of every module ``path`` imports (absolute imports; the project uses no others)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_only_what_the_layering_allows(package):
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        found = imports(path)
        for name in sorted(found & (set(PACKAGES) - ALLOWED[package] - {package})):
            bad.append(f"{path.relative_to(ROOT)} imports {name}")
        for name in sorted(found & FORBIDDEN[package]):
            bad.append(f"{path.relative_to(ROOT)} imports {name}")
    assert bad == []


def test_the_layer_table_covers_every_package():
    on_disk = {p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name not in ("tests",)}
    assert on_disk == set(PACKAGES)
