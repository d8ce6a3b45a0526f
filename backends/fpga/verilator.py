"""Co-simulate the generated Verilog with Verilator, driven by a C++ harness written here.

Verilator escapes the double underscore of Amaranth's flattened port names (``i__payload``) as ``___05F``.
The harness runs a host program (:mod:`backends.fpga.program`) exactly as the Amaranth testbench does: it speaks
the two ``lib.stream`` ports (inputs presented back to back and taken when ``i.ready``; outputs sampled before the
clock edge while ``o.ready`` is held high), waits for ``idle`` between steps, sets ``train``, and reads weights
through the weight port; it reports each sample's output words and cycles, and the weights read.

Builds live in neurocc's cache (``$NEUROCC_CACHE_DIR``, else ``$XDG_CACHE_HOME/neurocc``, else
``~/.cache/neurocc``), under ``verilator/<key>``, the key the SHA-256 of the harness, Verilator's version and the
exact bytes of ``network.v``; nothing is ever built in or run from the folder. On a miss the folder's
``network.v`` must equal, byte for byte, the Verilog its ``model.ncm`` derives, and that derived text is what
Verilator compiles: a folder cannot smuggle ``$system``, ``$c`` or DPI code into a build. At most
:data:`CACHE_ENTRIES` builds are kept (the least recently used go first).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from tqdm.auto import tqdm

from backends.fpga.program import LoadWeights, ReadWeights, Result, Step, Streamed, Train
from errors import ModelFormatError, SimulationError, ToolNotFoundError

if TYPE_CHECKING:
    from backends.fpga.run import FpgaFolder

CACHE_ENTRIES = 32
_KEY_VERSION = b"neurocc-verilator-1"

HARNESS = r"""// neurocc: Verilator harness for neurocc_network, driven by a host program (backends/fpga/program.py).
#include <cstdint>
#include <cstdio>
#include <vector>
#include "Vneurocc_network.h"
#include "verilated.h"

static Vneurocc_network* top;
static long long cycle = 0;

static void tick() {
  top->clk = 0; top->eval();
  top->clk = 1; top->eval(); ++cycle;
}

static long long sign_extend(uint64_t raw, long bits) {
  if (bits < 64 && ((raw >> (bits - 1)) & 1)) return (long long)raw - (long long)(1ULL << bits);
  return (long long)raw;
}

static bool wait_idle() {  // between steps: nothing received, computing or sending
  for (long guard = 0; !top->idle; ++guard) {
    if (guard > 100000000L) return false;
    tick();
  }
  return true;
}

int main(int argc, char** argv) {
  if (argc != 3) { std::fprintf(stderr, "usage: %s program.txt results.txt\n", argv[0]); return 2; }
  std::FILE* in = std::fopen(argv[1], "r");
  std::FILE* out = std::fopen(argv[2], "w");
  if (!in || !out) { std::fprintf(stderr, "cannot open the program or results file\n"); return 2; }
  long n_in, n_out, in_bits, out_bits, w_bits, n_layers;
  if (std::fscanf(in, "%ld %ld %ld %ld %ld %ld", &n_in, &n_out, &in_bits, &out_bits, &w_bits, &n_layers) != 6)
    return 2;
  std::vector<long> rows(n_layers), cols(n_layers);
  for (long k = 0; k < n_layers; ++k)
    if (std::fscanf(in, "%ld %ld", &rows[k], &cols[k]) != 2) return 2;
  const uint64_t in_mask = (in_bits >= 64) ? ~0ULL : ((1ULL << in_bits) - 1);
  top = new Vneurocc_network;
  top->rst = 1; tick(); tick(); top->rst = 0;
  top->o___05Fready = 1;
  char step;
  long n;
  while (std::fscanf(in, " %c %ld", &step, &n) == 2) {
    if (!wait_idle()) { std::fprintf(stderr, "the hardware never became idle\n"); return 3; }
    if (step == 'L') {  // write n weights through the weight port, one per cycle, layer by layer, row by row
      long a = 0;
      for (long k = 0; k < n_layers; ++k)
        for (long r = 0; r < rows[k]; ++r)
          for (long c = 0; c < cols[k]; ++c, ++a) {
            long long v;
            if (a >= n || std::fscanf(in, "%lld", &v) != 1) return 2;
            top->w_layer = k; top->w_row = r; top->w_col = c;
            top->w_data = (uint64_t)v & ((w_bits >= 64) ? ~0ULL : ((1ULL << w_bits) - 1));
            top->w_we = 1;
            tick();
          }
      top->w_we = 0; tick(); tick();  // the last write lands one cycle after the port's registers
      std::fprintf(out, "\n");
      std::printf("step\n"); std::fflush(stdout);
      continue;
    }
    if (step == 'W') {  // every weight through the weight port: one address per cycle, data two cycles later
      std::vector<long> layer, row, col;
      for (long k = 0; k < n_layers; ++k)
        for (long r = 0; r < rows[k]; ++r)
          for (long c = 0; c < cols[k]; ++c) { layer.push_back(k); row.push_back(r); col.push_back(c); }
      for (size_t a = 0; a < layer.size() + 2; ++a) {
        if (a < layer.size()) { top->w_layer = layer[a]; top->w_row = row[a]; top->w_col = col[a]; }
        top->clk = 0; top->eval();
        if (a >= 2) std::fprintf(out, "%lld ", sign_extend((uint64_t)top->w_rdata, w_bits));
        top->clk = 1; top->eval(); ++cycle;
      }
      std::fprintf(out, "\n");
      std::printf("step\n"); std::fflush(stdout);
      continue;
    }
    const long per = n_in + (step == 'T' ? 1 : 0);  // training: each input is followed by its label
    std::vector<long long> xs((size_t)(n * per));
    for (auto& v : xs) if (std::fscanf(in, "%lld", &v) != 1) return 2;
    top->train = step == 'T';
    size_t k = 0;
    long got = 0, done = 0;
    long long previous = cycle;
    while (done < n) {
      top->i___05Fvalid = k < xs.size();
      if (k < xs.size()) top->i___05Fpayload = (uint64_t)xs[k] & in_mask;
      top->clk = 0; top->eval();  // the falling edge settles the new inputs before the handshake is sampled
      const bool taken = k < xs.size() && top->i___05Fready;
      if (top->o___05Fvalid) {
        std::fprintf(out, "%lld ", sign_extend((uint64_t)top->o___05Fpayload, out_bits));
        if (++got % n_out == 0) {
          std::fprintf(out, "%lld\n", cycle + 1 - previous);
          previous = cycle + 1;
          ++done;
        }
      }
      top->clk = 1; top->eval(); ++cycle;
      if (taken) ++k;
      if (cycle - previous > 100000000L) { std::fprintf(stderr, "no output after 1e8 cycles\n"); return 3; }
    }
    top->i___05Fvalid = 0;
    std::printf("step\n"); std::fflush(stdout);  // progress for the host
  }
  top->final();
  delete top;
  std::fclose(out);
  return 0;
}
"""


def verilator_path() -> str:
    path = shutil.which("verilator")
    if path is None:
        raise ToolNotFoundError("verilator is not installed: apt-get install verilator")
    return path


def cache_root() -> Path:
    """Where neurocc keeps what it builds (see the module docstring)."""
    if os.environ.get("NEUROCC_CACHE_DIR"):
        return Path(os.environ["NEUROCC_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "neurocc"


def _version(tool: str) -> bytes:
    proc = subprocess.run([tool, "--version"], capture_output=True, check=False)
    return proc.stdout.strip()


def build(folder: FpgaFolder) -> Path:
    """The Verilator model of ``folder``'s ``network.v`` with the harness, from the cache or built into it."""
    tool = verilator_path()
    where = f"folder {str(folder.path)!r}"
    try:
        source = (folder.path / "network.v").read_bytes()
    except OSError as e:
        raise ModelFormatError(f"{where}: network.v cannot be read: {e.strerror or e}") from e

    def sources() -> dict[str, str]:
        derived = folder.verilog()
        if derived.encode() != source:
            raise ModelFormatError(f"{where}: network.v does not match the Verilog of its model.ncm; recompile")
        return {"network.v": derived, "harness.cpp": HARNESS}

    key = [_KEY_VERSION, HARNESS.encode(), _version(tool), source]
    return cached_build(key, sources, "neurocc_network", f"the network.v of {where}")


def cached_build(key: list[bytes], sources: Callable[[], dict[str, str]], top: str, what: str) -> Path:
    """The executable ``V<top>`` Verilator builds from ``sources()`` (file name → text; the ``.v`` files and one
    ``harness.cpp``), cached under the SHA-256 of ``key``: ``sources`` is called only on a miss."""
    tool = verilator_path()
    store = cache_root() / "verilator"
    digest = hashlib.sha256(b"\0".join(key)).hexdigest()
    exe = store / digest / f"V{top}"
    if exe.is_file():
        os.utime(store / digest)
        return exe
    files = sources()
    try:
        store.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = Path(tempfile.mkdtemp(dir=store, prefix=".build-"))
    except OSError as e:
        raise SimulationError(f"the Verilator cache {str(store)!r} cannot be written: {e.strerror or e}") from e
    try:
        for name, text in files.items():
            (tmp / name).write_text(text)
        verilog = [name for name in files if name.endswith(".v")]
        cmd = [tool, "--cc", *verilog, "--exe", "harness.cpp", "--build", "-j", "2", "-O3",
               "-MAKEFLAGS", "OPT_FAST=-O2 OPT_SLOW=-O1",
               "--top-module", top, "-Wno-fatal", "-Wno-lint", "-Wno-style", "--Mdir", "."]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not (tmp / f"V{top}").is_file():
            tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
            raise SimulationError(f"verilator could not build {what}: {tail}")
        try:
            tmp.rename(store / digest)
        except OSError:  # built meanwhile by another run: use that one
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(store)
    return exe


def _prune(store: Path) -> None:
    """Keep the :data:`CACHE_ENTRIES` most recently used builds."""
    entries = sorted((p for p in store.iterdir() if p.is_dir() and not p.name.startswith(".")),
                     key=lambda p: p.stat().st_mtime, reverse=True)
    for old in entries[CACHE_ENTRIES:]:
        shutil.rmtree(old, ignore_errors=True)


def simulate_verilator(folder: FpgaFolder, steps: list[Step], progress: bool = False) -> tuple[list[Result], float]:
    """Each step's result (as :func:`backends.fpga.sim.simulate_amaranth` gives it), and the run's seconds."""
    exe = build(folder)
    manifest = folder.manifest
    n_in, n_out = manifest["input"]["count"], manifest["output"]["count"]
    shapes = manifest["layer_shapes"]
    lines = [f"{n_in} {n_out} {manifest['input']['bits']} {manifest['output']['bits']} {max(manifest['w_bits'])} "
             f"{len(shapes)}", " ".join(f"{r} {c}" for r, c in shapes)]
    for step in steps:
        if isinstance(step, ReadWeights):
            lines.append("W 0")
        elif isinstance(step, LoadWeights):
            values = step.values()
            lines += [f"L {len(values)}", " ".join(map(str, values))]
        else:
            lines.append(f"{'T' if isinstance(step, Train) else 'I'} {len(step.x)}")
            lines.append(" ".join(map(str, step.words())))
    with tempfile.TemporaryDirectory(prefix="neurocc-verilator-") as tmp:
        program, output = Path(tmp) / "program.txt", Path(tmp) / "results.txt"
        program.write_text("\n".join(lines) + "\n")
        start = time.perf_counter()
        with subprocess.Popen([str(exe), str(program), str(output)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) as proc, tqdm(total=len(steps), desc="verilator", unit="step",
                                                       disable=not progress, leave=False) as bar:
            assert proc.stdout is not None and proc.stderr is not None
            for _ in proc.stdout:
                bar.update()
            errors = proc.stderr.read()
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise SimulationError(f"the Verilator model failed (exit {proc.returncode}): {errors.strip()}")
        rows = iter(output.read_text().splitlines())
    results: list[Result] = []
    for step in steps:
        if isinstance(step, LoadWeights):
            next(rows)
            results.append([])
        elif isinstance(step, ReadWeights):
            flat = np.array(next(rows).split(), dtype=np.int64)
            mats, at = [], 0
            for r, c in shapes:
                mats.append(flat[at: at + r * c].reshape(r, c))
                at += r * c
            results.append(mats)
        else:
            got = [list(map(int, next(rows).split())) for _ in range(len(step.x))]
            results.append(Streamed(np.array([g[:-1] for g in got], dtype=np.int64).reshape(len(got), n_out),
                                    [g[-1] for g in got]))
    return results, seconds
