"""A target's output folder: written all at once, never over anything neurocc did not write, and read back as data.

Writing (:func:`write_folder`): every file goes into a temporary folder beside the destination, the manifest last,
recording the SHA-256 of every other file; then the new folder takes the old one's place in one atomic exchange
(``renameat2(RENAME_EXCHANGE)`` where the kernel has it), so there is never a moment with neither, and a failure
leaves nothing behind. The destination may be replaced only if it is empty or a neurocc folder of the same target
holding nothing but files neurocc writes (:func:`check_output_folder`); the input model, the current directory,
anything above either, and symbolic links are refused by name.

Reading (:func:`read_folder`): the manifest within size and depth limits, its format and version, then every file
it lists hashed and compared: a file changed after compile is an error naming it (``circuit.cir`` may be accepted
as hand-edited with ``trust_edits``; what reaches ngspice is still checked card by card). Symbolic links inside a
folder are refused, so a folder cannot point neurocc at files elsewhere.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ir
from errors import BackendError, ModelFormatError
from ir import Graph
from ir.archive import parse_json
from ir.schema import convert

MAX_MANIFEST_BYTES = 16 << 20
MAX_FILE_BYTES = 1 << 30


@dataclass(frozen=True)
class Layout:
    """What one target's folders hold: the files neurocc writes there (regular expressions over relative paths;
    at compile time, or later: plots), the sub-folders they live in, and those a user may edit by hand on purpose
    (accepted with ``--trust-edits``). A folder holding anything else is not replaced."""

    target: str
    files: tuple[str, ...]
    dirs: tuple[str, ...] = ()
    editable: tuple[str, ...] = ()

    @property
    def format(self) -> str:
        return f"neurocc-{self.target}"

    def written(self) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{p})" for p in ("manifest\\.json", *self.files)))

    def folders(self) -> re.Pattern[str]:
        return re.compile("|".join(f"(?:{p})" for p in self.dirs) or "(?!)")


# -- writing ----------------------------------------------------------------------------------------------------

def _is_within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def _folder_format(path: Path) -> str | None:
    """The ``format`` its manifest names, if ``path`` holds a readable neurocc manifest."""
    manifest = path / "manifest.json"
    try:
        if not stat.S_ISREG(manifest.lstat().st_mode) or manifest.stat().st_size > MAX_MANIFEST_BYTES:
            return None
        doc = parse_json(manifest.read_bytes(), repr(str(manifest)))
    except (OSError, ModelFormatError):
        return None
    return doc.get("format") if isinstance(doc, dict) and isinstance(doc.get("format"), str) else None


def foreign_entry(path: Path, layout: Layout) -> str | None:
    """The first entry of folder ``path`` that neurocc does not write there (a link counts), if any."""
    files, dirs = layout.written(), layout.folders()
    for root, subdirs, names in os.walk(path):
        for name, pattern in [(d, dirs) for d in sorted(subdirs)] + [(n, files) for n in sorted(names)]:
            full = Path(root) / name
            rel = full.relative_to(path).as_posix()
            if full.is_symlink() or not pattern.fullmatch(rel):
                return rel
    return None


def check_output_folder(out: str | os.PathLike[str], layout: Layout,
                        inputs: Iterable[str | os.PathLike[str]] = (), flag: str = "-o") -> Path:
    """Check that compiling to ``out`` can destroy nothing neurocc did not write; returns it as a :class:`Path`.
    ``inputs`` are the files the compile reads (the input model): ``out`` may not be or hold any of them."""
    path = Path(out)
    where = f"{flag} {str(out)!r}"
    if path.is_symlink():
        raise BackendError(f"{where} is a symbolic link: give the folder itself")
    for parent in path.absolute().parents:
        if parent.is_symlink() or not parent.exists():
            continue
        if not parent.is_dir():
            raise BackendError(f"{where} lies under {str(parent)!r}, which is a file, not a folder")
    resolved = path.resolve()
    cwd = Path.cwd().resolve()
    if _is_within(cwd, resolved):
        what = "the current directory" if resolved == cwd else "a folder above the current directory"
        raise BackendError(f"{where} is {what}; choose a new folder")
    for item in inputs:
        source = Path(item).resolve()
        if _is_within(source, resolved):
            what = "the input" if source == resolved else f"a folder holding the input {str(item)!r}"
            raise BackendError(f"{where} is {what}; choose another -o")
    if not path.exists():
        return path
    if not path.is_dir():
        raise BackendError(f"{where} is a file, not a folder; choose another -o or remove it yourself")
    if not any(path.iterdir()):
        return path
    found = _folder_format(path)
    if found is None or not found.startswith("neurocc-"):
        raise BackendError(f"{where} is not a neurocc output folder; choose another -o or remove it yourself")
    if found != layout.format:
        raise BackendError(f"{where} is a neurocc {found.removeprefix('neurocc-')!r} folder, not "
                           f"{layout.target!r}; choose another -o or remove it yourself")
    stranger = foreign_entry(path, layout)
    if stranger is not None:
        raise BackendError(f"{where} holds {stranger!r}, which neurocc did not write; choose another -o or remove "
                           "it yourself")
    return path


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def exchange(a: Path, b: Path) -> bool:
    """Swap paths ``a`` and ``b`` atomically (Linux ``renameat2``); ``False`` where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def _remove_written(path: Path, layout: Layout) -> None:
    """Delete the files of an old folder that neurocc writes, then the folders left empty; anything else stays."""
    pattern = layout.written()
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files:
            full = Path(root) / name
            if pattern.fullmatch(full.relative_to(path).as_posix()) and not full.is_symlink():
                full.unlink()
        for name in dirs:
            full = Path(root) / name
            if not full.is_symlink() and not any(full.iterdir()):
                full.rmdir()
    if not any(path.iterdir()):
        path.rmdir()


def swap_in(new: Path, out: Path, layout: Layout) -> None:
    """Put folder ``new`` where ``out`` is (atomically where the system can), then delete from the old folder
    the files ``layout`` says neurocc writes; anything else in it stays, in a folder named ``.<out>.old.*``
    beside it. The caller has checked that ``out`` may be replaced."""
    if not out.exists():
        os.rename(new, out)
    elif exchange(new, out):
        _remove_written(new, layout)  # ``new`` now holds the old folder
    else:
        old = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.old."))
        os.rename(out, old / "folder")
        os.rename(new, out)
        _remove_written(old / "folder", layout)
        old.rmdir()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_folder(out: str | os.PathLike[str], layout: Layout, texts: dict[str, str], manifest: dict[str, Any],
                 graph: Graph, source: Graph | None = None, inputs: Iterable[str | os.PathLike[str]] = (),
                 finish: Callable[[Path], None] | None = None) -> Path:
    """Write ``texts`` (relative name → content), ``model.ncm`` (and ``source.ncm``), whatever ``finish`` writes
    into the new folder (plots), then ``manifest.json`` with every file's SHA-256; then put the folder in place
    of ``out`` (see the module docstring). ``inputs``: files the compile read, which ``out`` must not hold."""
    out = check_output_folder(out, layout, inputs)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    except OSError as e:
        raise BackendError(f"-o {str(out)!r} cannot be written: {e.strerror or e}") from e
    try:
        for name, content in texts.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(content)
        ir.save(graph, tmp / "model.ncm")
        if source is not None:
            ir.save(source, tmp / "source.ncm")
        if finish is not None:
            finish(tmp)
        files = sorted(p.relative_to(tmp).as_posix() for p in tmp.rglob("*") if p.is_file())
        manifest = {**manifest, "files": {name: sha256_file(tmp / name) for name in files}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
        check_output_folder(out, layout, inputs)  # once more, just before anything is replaced
        swap_in(tmp, out, layout)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise BackendError(f"-o {str(out)!r} cannot be written: {e.strerror or e}") from e
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


# -- reading ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ManifestHead:
    """The part of every manifest read before anything else: what it is and what the folder holds."""
    format: str
    version: int
    files: dict[str, str]


def _regular(path: Path, where: str, limit: int = MAX_FILE_BYTES) -> os.stat_result:
    try:
        info = path.lstat()
    except FileNotFoundError as e:
        raise ModelFormatError(f"{where} is missing") from e
    except OSError as e:
        raise ModelFormatError(f"{where} cannot be read: {e.strerror or e}") from e
    if stat.S_ISLNK(info.st_mode):
        raise ModelFormatError(f"{where} is a symbolic link; a compiled folder holds its own files")
    if not stat.S_ISREG(info.st_mode):
        raise ModelFormatError(f"{where} is not a regular file")
    if info.st_size > limit:
        raise ModelFormatError(f"{where} is {info.st_size} bytes, more than the {limit} this neurocc reads")
    return info


def folder_target(path: str | os.PathLike[str]) -> str:
    """The target a compiled folder names in its manifest (``neurocc-<target>``)."""
    where = f"folder {str(path)!r}"
    if not Path(path).is_dir():
        raise ModelFormatError(f"{where} does not exist or is not a folder")
    found = _folder_format(Path(path))
    if not found or not re.fullmatch(r"neurocc-[a-z0-9-]+", found):
        raise ModelFormatError(f"{where} is not a compiled neurocc folder: it has no readable manifest.json naming "
                               "its target")
    return found.removeprefix("neurocc-")


def read_manifest(path: Path, layout: Layout, version: int) -> dict[str, Any]:
    """``path/manifest.json`` decoded, with its head checked: the layout's format, ``version`` and a ``files``
    table naming only files neurocc writes there."""
    target = layout.target
    where = f"folder {str(path)!r}"
    if not path.is_dir():
        raise ModelFormatError(f"{where} does not exist or is not a folder")
    mpath = path / "manifest.json"
    _regular(mpath, f"{where}: manifest.json", MAX_MANIFEST_BYTES)
    try:
        doc = parse_json(mpath.read_bytes(), repr(str(mpath)), MAX_MANIFEST_BYTES)
    except OSError as e:
        raise ModelFormatError(f"{str(mpath)!r} cannot be read: {e.strerror or e}") from e
    if not isinstance(doc, dict) or doc.get("format") != layout.format:
        raise ModelFormatError(f"{str(mpath)!r} is not a neurocc {target} manifest")
    if doc.get("version") != version or isinstance(doc.get("version"), bool):
        raise ModelFormatError(f"{where} holds a version {repr(doc.get('version'))[:20]} {target} manifest; this "
                               f"neurocc reads version {version}: compile it again")
    head = convert({k: doc.get(k) for k in ("format", "version", "files")}, ManifestHead, f"{str(mpath)!r}")
    pattern = layout.written()
    for name, digest in head.files.items():
        if name == "manifest.json" or not pattern.fullmatch(name):
            raise ModelFormatError(f"{str(mpath)!r} lists {name[:80]!r}, which is not a file neurocc writes")
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ModelFormatError(f"{str(mpath)!r}: the SHA-256 of {name!r} must be 64 hex digits")
    return doc


def read_folder(out_dir: str | os.PathLike[str], layout: Layout, version: int, required: tuple[str, ...],
                trust_edits: bool = False) -> tuple[Path, dict[str, Any], Graph, set[str]]:
    """Check a compiled folder of ``layout``: its manifest, every file it lists against its SHA-256
    (``required`` among them), and its lowered model; returns the folder, the manifest, the graph (``model.ncm``)
    and the names of hand-edited files accepted with ``trust_edits``."""
    path = Path(out_dir)
    target = layout.target
    manifest = read_manifest(path, layout, version)
    where = f"folder {str(path)!r}"
    files: dict[str, str] = manifest["files"]
    for name in (*required, "model.ncm"):
        if name not in files:
            raise ModelFormatError(f"{where} is not a compiled {target} target: its manifest lists no {name}")
    edited = set()
    for name, digest in sorted(files.items()):
        file = path / name
        _regular(file, f"{where}: {name}")
        if sha256_file(file) == digest:
            continue
        if name in layout.editable:
            if not trust_edits:
                raise ModelFormatError(f"{where}: {name} was changed after compile; recompile or pass --trust-edits")
            edited.add(name)
        else:
            raise ModelFormatError(f"{where}: {name} was changed after compile; recompile")
    return path, manifest, ir.load(path / "model.ncm"), edited


def without_files(manifest: dict[str, Any]) -> dict[str, Any]:
    """A manifest as its target derives it from the model (the ``files`` table is added on writing)."""
    return {k: v for k, v in manifest.items() if k != "files"}


def check_derived(path: Path, stored: dict[str, Any], derived: dict[str, Any]) -> None:
    """The stored manifest must say exactly what the model says (JSON-normalized), key by key."""
    derived = json.loads(json.dumps(derived, sort_keys=True))
    stored = without_files(stored)
    for key in sorted(set(stored) | set(derived)):
        if stored.get(key) != derived.get(key):
            raise ModelFormatError(f"folder {str(path)!r}: manifest.json does not match model.ncm (at {key!r}); "
                                   "recompile")
