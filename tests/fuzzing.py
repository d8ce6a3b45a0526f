"""A fuzzer of neurocc's inputs: mutations of valid model files and compiled folders, run through the CLI in-process.

Used by ``tests/test_fuzz.py`` (hypothesis picks the seeds) and ``bench/fuzz.py`` (many cases, counted as JSON).
One case is a kind and a seed: ``model`` mutates a trained model file (byte flips, truncation, archive entries
removed/renamed/duplicated/added, JSON fields retyped/deleted/deep-nested, ``.npy`` headers with huge shapes or
other dtypes, pickled object arrays) and runs ``inspect``, ``eval`` and ``compile`` for both targets on it;
``spice`` and ``fpga`` mutate a copy of a compiled folder (its manifest as JSON, its netlist or Verilog with
hostile lines, its model files as above, files deleted or replaced by links), sometimes forging the manifest's hash
of the changed file as an attacker would, and run ``simulate`` and ``verify``. Every command must end in success
or a :class:`NeuroccError` whose message is one line; hostile lines try to ``touch`` a canary file, which must
never appear.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import random
import shutil
import traceback
import warnings
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

KINDS = ("model", "spice", "fpga")

PALETTE: list[Any] = [None, True, False, 0, -1, 1, 7, 2**31, 2**63, 2**64, 10**30, 0.5, -2.5, 1e308, -1e-308,
                      float("nan"), float("inf"), "", "x", "fc1", "nn.dense", "\x1b[31m", "\ud800", "a\nb",
                      "a" * 70_000, [], [1, 2], [[1, 2], [3]], {}, {"a": 1}, [[[[]]]], ["x"] * 3]
HOSTILE_NETLIST = [".control", ".CONTROL", ".Control", "shell touch {canary}", ".endc", ".include /etc/passwd",
                   ".lib /etc/passwd x", "*# shell touch {canary}", ".param x={{1}}", "+ 1", "R1 A B 1K",
                   "rx a b 1 ; shell touch {canary}", "ax a b m", "xsub a b s", ".options klu", "", "* comment",
                   "rbad a b 1e999", "v1 a 0 dc 1meg", "bx y 0 v = 1*tanh((1*v(a)))", ".end"]
HOSTILE_VERILOG = ['initial $system("touch {canary}");', 'initial $c("system(\\"touch {canary}\\");");',
                   'import "DPI-C" function int system(input string c);', "`include \"/etc/passwd\"",
                   "module m; endmodule", "wire x;"]
DTYPES = ["|O", "<U4", "<c16", "|V8", ">f8", "<f2", "|b1", "<i8", "<u1", "<f16", "|S3"]
SHAPES = [(10**12,), (2**28 + 1,), (0,), (1, 1), (3, 4, 5), (2**20, 2**10), ()]


# -- mutations ------------------------------------------------------------------------------------------------

def _paths(doc: Any, at: tuple = ()) -> list[tuple]:
    """Every place in a JSON document: key paths into dicts and lists."""
    out = [at]
    if len(at) > 24:  # inside a nesting made by an earlier mutation: deep enough
        return out
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*at, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc[:20]):
            out += _paths(v, (*at, i))
    return out


def _get(doc: Any, path: tuple) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def mutate_json(doc: Any, rng: random.Random) -> Any:
    """One structural mutation of a decoded JSON document (returned; the input may be changed too)."""
    paths = _paths(doc)
    path = rng.choice(paths)
    op = rng.choice(["retype", "retype", "delete", "nest", "rename", "duplicate", "whole"])
    if op == "whole" or not path:
        return rng.choice([[], {}, None, 3, "x", [doc], {"format": "neurocc-model"}])
    parent, key = _get(doc, path[:-1]), path[-1]
    value = parent[key]
    if op == "retype":
        parent[key] = rng.choice(PALETTE)
    elif op == "delete":
        del parent[key]
    elif op == "nest":
        depth = rng.choice([1, 3, 40, 1000, 20000])
        for _ in range(depth):
            value = [value]
        parent[key] = value
    elif op == "rename" and isinstance(parent, dict):
        parent[rng.choice(["", "name", "kind", "fields", "x", str(key) + "_"])] = parent.pop(key)
    elif op == "duplicate" and isinstance(parent, list):
        try:
            parent.insert(key, json.loads(json.dumps(value)))
        except RecursionError:  # nested too deep to copy (an earlier "nest"): the same value twice, shared
            parent.insert(key, value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        parent[key] = rng.choice([0, -1, -value, value * 1000, 2**62, 1e300])
    return doc


def _dumps(doc: Any) -> bytes:
    try:
        return json.dumps(doc).encode()
    except (ValueError, RecursionError):  # too deep for json.dumps itself: write the nesting by hand
        return b"[" * 50_000 + b"]" * 50_000


def _npy(header: dict[str, Any], payload: bytes, version: int = 1) -> bytes:
    buf = io.BytesIO()
    if version == 1:
        np.lib.format.write_array_header_1_0(buf, header)
    else:
        np.lib.format.write_array_header_2_0(buf, header)
    return buf.getvalue() + payload


def mutate_npy(data: bytes, rng: random.Random) -> bytes:
    """An ``.npy`` entry with a hostile header or payload."""
    op = rng.choice(["shape", "dtype", "pickle", "fortran", "version", "truncate", "garbage"])
    try:
        arr = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError):
        arr = np.zeros(3)
    payload = np.ascontiguousarray(arr).tobytes()
    if op == "shape":
        return _npy({"descr": arr.dtype.str, "fortran_order": False, "shape": rng.choice(SHAPES)}, payload)
    if op == "dtype":
        return _npy({"descr": rng.choice(DTYPES), "fortran_order": False, "shape": arr.shape}, payload)
    if op == "pickle":
        buf = io.BytesIO()
        np.save(buf, np.array([{"evil": 1}, None], dtype=object), allow_pickle=True)
        return buf.getvalue()
    if op == "fortran":
        return _npy({"descr": arr.dtype.str, "fortran_order": True, "shape": arr.shape[::-1]}, payload)
    if op == "version":
        return b"\x93NUMPY\x03\x00" + data[8:]
    if op == "truncate":
        return data[: rng.randrange(len(data) + 1)]
    raw = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        raw[rng.randrange(min(len(raw), 128))] = rng.randrange(256)
    return bytes(raw)


def mutate_model(data: bytes, rng: random.Random) -> bytes:
    """A model archive (bytes) with one mutation: of the bytes, the archive, its JSON or one of its arrays."""
    op = rng.choice(["flip", "truncate", "entries", "json", "json", "json", "npy", "npy", "bomb", "values", "values",
                     "rename"])
    if op == "flip":
        raw = bytearray(data)
        for _ in range(rng.randint(1, 16)):
            raw[rng.randrange(len(raw))] ^= 1 << rng.randrange(8)
        return bytes(raw)
    if op == "truncate":
        return data[: rng.randrange(len(data))]
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        entries = [(i.filename, zf.read(i.filename)) for i in zf.infolist()]
    names = [n for n, _ in entries]
    zeros: dict[str, int] = {}
    if op == "entries":
        which = rng.randrange(len(entries))
        how = rng.choice(["remove", "rename", "duplicate", "add", "swap"])
        if how == "remove":
            entries.pop(which)
        elif how == "rename":
            entries[which] = (rng.choice(["x", "neurocc.json", "arrays/9999.npy", names[0]]), entries[which][1])
        elif how == "duplicate":
            entries.append(entries[which])
        elif how == "add":
            entries.append((rng.choice(["evil.py", "arrays/0000.npy", "../x"]), b"import os"))
        else:
            other = rng.randrange(len(entries))
            entries[which], entries[other] = (entries[which][0], entries[other][1]), (entries[other][0],
                                                                                     entries[which][1])
    elif op == "json":
        doc = json.loads(dict(entries)["neurocc.json"])
        for _ in range(rng.choice([1, 1, 2, 3])):
            doc = mutate_json(doc, rng)
        entries = [(n, _dumps(doc) if n == "neurocc.json" else d) for n, d in entries]
    elif op == "npy":
        arrays = [i for i, (n, _) in enumerate(entries) if n.endswith(".npy")]
        if arrays:
            i = rng.choice(arrays)
            entries[i] = (entries[i][0], mutate_npy(entries[i][1], rng))
    elif op == "values":  # a valid file whose numbers are extreme: what passes and lowering make of them
        arrays = [i for i, (n, _) in enumerate(entries) if n.endswith(".npy")]
        i = rng.choice(arrays)
        arr = np.load(io.BytesIO(entries[i][1]), allow_pickle=False).copy()
        if arr.size:
            value = rng.choice([0.0, 1e300, -1e300, 1e-300, 1e30, 7.5, -1.0])
            mask = np.random.default_rng(rng.randrange(2**32)).random(arr.shape) < rng.choice([0.01, 0.5, 1.0])
            arr[mask] = value if arr.dtype.kind == "f" else int(min(abs(value), 100))
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=False)
        entries[i] = (entries[i][0], buf.getvalue())
    elif op == "rename":  # every node renamed consistently, to names a netlist or a terminal could trip on
        doc = json.loads(dict(entries)["neurocc.json"])
        pool = ["fc1_t0_rp0", "0x", "1 layer", "a\nb", "\x1b[31m", "xb2", "dac1_0", "", "é", "x" * 300]
        names = {n["name"]: rng.choice(pool) + str(k) for k, n in enumerate(doc["nodes"])}
        for n in doc["nodes"]:
            n["name"] = names[n["name"]]
            for key in ("target", "source"):
                if key in n["fields"] and n["fields"][key] in names:
                    n["fields"][key] = names[n["fields"][key]]
        for e in doc["edges"]:
            e["src"], e["dst"] = names[e["src"]], names[e["dst"]]
        entries = [(n, _dumps(doc) if n == "neurocc.json" else d) for n, d in entries]
    else:  # a small honest header in front of a large run of zeros: deflates to almost nothing
        arrays = [i for i, (n, _) in enumerate(entries) if n.endswith(".npy")]
        i = rng.choice(arrays)
        count = rng.choice([1 << 20, 1 << 24, 1 << 26])
        zeros[entries[i][0]] = 8 * count
        entries[i] = (entries[i][0], _npy({"descr": "<f8", "fortran_order": False, "shape": (count,)}, b""))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, payload in entries:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a duplicated entry, on purpose
                f = zf.open(name, "w", force_zip64=True)
            with f:
                f.write(payload)
                left = zeros.get(name, 0)
                while left:  # zeros written in chunks: the fuzzer itself stays small
                    f.write(bytes(min(left, 1 << 20)))
                    left -= min(left, 1 << 20)
    return buf.getvalue()


def _forge(folder: Path, name: str) -> None:
    path = folder / "manifest.json"
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError, AttributeError):
        manifest = json.loads(path.read_text())
        manifest["files"][name] = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        path.write_text(json.dumps(manifest))


def _insert_lines(text: str, lines: list[str], rng: random.Random) -> str:
    rows = text.split("\n")
    for line in lines:
        rows.insert(rng.randrange(len(rows) + 1), line)
    return "\n".join(rows)


def mutate_folder(folder: Path, rng: random.Random, canary: Path) -> bool:
    """Mutate a compiled folder in place; returns whether to pass ``--trust-edits``."""
    netlist = "circuit.cir" if (folder / "circuit.cir").exists() else "network.v"
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    op = rng.choice(["manifest", "manifest", "text", "text", "text", "model", "model", "file"])
    changed = None
    if op == "manifest":
        path = folder / "manifest.json"
        doc = json.loads(path.read_text())
        for _ in range(rng.choice([1, 1, 2])):
            doc = mutate_json(doc, rng)
        path.write_bytes(_dumps(doc))
    elif op == "text":
        path = folder / netlist
        text = path.read_text()
        how = rng.choice(["hostile", "hostile", "truncate", "empty", "flip"])
        palette = HOSTILE_NETLIST if netlist == "circuit.cir" else HOSTILE_VERILOG
        if how == "hostile":
            lines = [rng.choice(palette).format(canary=canary) for _ in range(rng.randint(1, 4))]
            text = _insert_lines(text, lines, rng)
        elif how == "truncate":
            text = text[: rng.randrange(len(text))]
        elif how == "empty":
            text = ""
        else:
            raw = bytearray(text.encode())
            for _ in range(rng.randint(1, 8)):
                raw[rng.randrange(len(raw))] = rng.randrange(256)
            text = raw.decode("latin-1")
        path.write_text(text, encoding="latin-1")
        changed = netlist
    elif op == "model":
        name = rng.choice([n for n in ("model.ncm", "source.ncm") if n in files])
        (folder / name).write_bytes(mutate_model((folder / name).read_bytes(), rng))
        changed = name
    else:
        name = rng.choice(files)
        how = rng.choice(["delete", "link", "folder"])
        (folder / name).unlink()
        if how == "link":
            (folder / name).symlink_to("/etc/passwd")
        elif how == "folder":
            (folder / name).mkdir()
    if changed and rng.random() < 0.5:
        _forge(folder, changed)
    return rng.random() < 0.5


# -- running ------------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What one case did: each command's end (``ok``, ``error`` or ``traceback``) and the details of failures."""
    kind: str
    seed: int
    peak_mb: float = 0.0
    """The process's peak resident size while the commands ran (the mutation itself excluded)."""
    growth_mb: float = 0.0
    """That peak less the resident size just before the commands."""
    ends: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    canary: bool = False

    @property
    def end(self) -> str:
        if self.canary:
            return "executed"
        for worst in ("traceback", "multi_line", "error"):
            if worst in self.ends:
                return worst
        return "ok"


def run_command(argv: list[str], outcome: Outcome) -> None:
    from compiler.cli import run
    from errors import NeuroccError

    try:
        with contextlib.redirect_stdout(io.StringIO()):
            run(argv)
        outcome.ends.append("ok")
    except NeuroccError as e:
        if "\n" in str(e) or not str(e):
            outcome.ends.append("multi_line")
            outcome.problems.append(f"{argv[0]}: multi-line message {str(e)[:300]!r}")
        else:
            outcome.ends.append("error")
    except Exception as e:  # anything else is a bug, counted and shown
        outcome.ends.append("traceback")
        frame = traceback.extract_tb(e.__traceback__)[-1]
        outcome.problems.append(f"{argv[0]}: {type(e).__name__}: {str(e)[:200]} at {frame.filename}:{frame.lineno}")


@dataclass(frozen=True)
class Seeds:
    """The valid inputs every case starts from."""
    model: Path
    spice: Path
    fpga: Path


def prepare(work: Path) -> Seeds:
    """Train a small digits model (64-8-10, one epoch) and compile it for both targets, in ``work``."""
    from compiler.cli import run

    work.mkdir(parents=True, exist_ok=True)
    model = work / "seed.ncm"
    with contextlib.redirect_stdout(io.StringIO()):
        run(["train", "--rule", "dfa", "--epochs", "1", "--hidden", "8", "-o", str(model), "--quiet"])
        run(["compile", str(model), "--target", "spice", "-o", str(work / "seed-spice")])
        run(["compile", str(model), "--target", "fpga", "--pe", "2", "-o", str(work / "seed-fpga")])
    return Seeds(model, work / "seed-spice", work / "seed-fpga")


def run_case(seeds: Seeds, kind: str, seed: int, work: Path,
             on_command: Callable[[list[str]], None] | None = None) -> Outcome:
    """Mutate one input (``kind``, ``seed``) in ``work`` (emptied first) and run the commands on it."""
    rng = random.Random(seed)
    outcome = Outcome(kind, seed)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    canary = work / "canary"
    commands: list[list[str]] = []
    if kind == "model":
        path = work / "m.ncm"
        path.write_bytes(mutate_model(seeds.model.read_bytes(), rng))
        commands = [["inspect", str(path)], ["eval", str(path)],
                    ["compile", str(path), "-o", str(work / "sp")],
                    ["compile", str(path), "--target", "fpga", "--pe", str(rng.choice([1, 2, 3])), "-o",
                     str(work / "hw")]]
    else:
        folder = Path(shutil.copytree(seeds.spice if kind == "spice" else seeds.fpga, work / "f", symlinks=True))
        trust = mutate_folder(folder, rng, canary)
        extra = ["--trust-edits"] if trust else []
        if kind == "spice":
            extra += ["--runner", rng.choice(["shared", "subprocess"])]
        else:
            extra += ["--simulator", rng.choice(["verilator", "verilator", "amaranth"])]
        commands = [["simulate", str(folder), "--limit", "2", "--quiet", *extra],
                    ["verify", str(folder), "--limit", "2", "--quiet", "--plot", str(work / "v.png"), *extra]]
    before = rss_mb()
    measured = peak_rss_reset()
    for argv in commands:
        if on_command:
            on_command(argv)
        run_command(argv, outcome)
    if measured:
        outcome.peak_mb = peak_rss_mb()
        outcome.growth_mb = outcome.peak_mb - before
    outcome.canary = canary.exists()
    return outcome


def peak_rss_reset() -> bool:
    """Reset this process's peak resident size (Linux), so :func:`peak_rss_mb` measures from now on."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _status(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    """This process's peak resident size in MiB since the last :func:`peak_rss_reset`."""
    return _status("VmHWM")


def rss_mb() -> float:
    """This process's resident size now, in MiB."""
    return _status("VmRSS")


__all__ = ["KINDS", "Outcome", "Seeds", "mutate_folder", "mutate_json", "mutate_model", "peak_rss_mb", "peak_rss_reset",
           "prepare", "rss_mb", "run_case"]
