"""Co-simulate the generated Verilog with Verilator, driven by a C++ harness written here.

Verilator escapes the double underscore of Amaranth's flattened port names (``i__payload``) as ``___05F``.
The harness speaks the network's two ``lib.stream`` ports exactly as the Amaranth testbench does (inputs are
presented back to back and taken when ``i.ready``; outputs are sampled before the clock edge while ``o.ready`` is
held high) and reports each inference's output words and its cycles since the previous inference finished. The build goes to ``<folder>/verilator/`` and is reused.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from ir.errors import SimulationError, ToolNotFoundError

HARNESS = r"""// neurocc: Verilator harness for neurocc_network (stream in, stream out).
#include <cstdint>
#include <cstdio>
#include <vector>
#include "Vneurocc_network.h"
#include "verilated.h"

static void tick(Vneurocc_network* top) {
  top->clk = 0; top->eval();
  top->clk = 1; top->eval();
}

int main(int argc, char** argv) {
  if (argc != 3) { std::fprintf(stderr, "usage: %s inputs.txt outputs.txt\n", argv[0]); return 2; }
  std::FILE* in = std::fopen(argv[1], "r");
  std::FILE* out = std::fopen(argv[2], "w");
  if (!in || !out) { std::fprintf(stderr, "cannot open the input or output file\n"); return 2; }
  long n, n_in, n_out, in_bits, out_bits;
  if (std::fscanf(in, "%ld %ld %ld %ld %ld", &n, &n_in, &n_out, &in_bits, &out_bits) != 5) return 2;
  const uint64_t in_mask = (in_bits >= 64) ? ~0ULL : ((1ULL << in_bits) - 1);
  std::vector<long long> xs((size_t)(n * n_in));
  for (auto& v : xs) if (std::fscanf(in, "%lld", &v) != 1) return 2;
  Vneurocc_network* top = new Vneurocc_network;
  top->rst = 1; tick(top); tick(top); top->rst = 0;
  top->o___05Fready = 1;
  size_t k = 0;
  long got = 0, done = 0, cycle = 0, previous = 0;
  while (done < n) {
    top->i___05Fvalid = k < xs.size();
    if (k < xs.size()) top->i___05Fpayload = (uint64_t)xs[k] & in_mask;
    top->clk = 0; top->eval();  // the falling edge settles the new inputs before the handshake is sampled
    const bool taken = k < xs.size() && top->i___05Fready;
    if (top->o___05Fvalid) {
      uint64_t raw = (uint64_t)top->o___05Fpayload;
      long long v = (long long)raw;
      if (out_bits < 64 && ((raw >> (out_bits - 1)) & 1)) v -= (long long)(1ULL << out_bits);
      std::fprintf(out, "%lld ", v);
      if (++got % n_out == 0) {
        std::fprintf(out, "%ld\n", cycle + 1 - previous);
        previous = cycle + 1;
        ++done;
      }
    }
    top->clk = 1; top->eval(); ++cycle;
    if (taken) ++k;
    if (cycle - previous > 100000000L) { std::fprintf(stderr, "no output after 1e8 cycles\n"); return 3; }
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


def build(folder: Path) -> Path:
    """Compile ``folder/network.v`` with the harness (once; reused while network.v is unchanged)."""
    exe_dir = folder / "verilator"
    exe = exe_dir / "Vneurocc_network"
    verilog = folder / "network.v"
    if exe.is_file() and exe.stat().st_mtime >= verilog.stat().st_mtime:
        return exe
    tool = verilator_path()
    tmp = Path(tempfile.mkdtemp(dir=folder, prefix=".verilator."))
    try:
        (tmp / "harness.cpp").write_text(HARNESS)
        cmd = [tool, "--cc", str(verilog.resolve()), "--exe", "harness.cpp", "--build", "-j", "2", "-O3", "-MAKEFLAGS", "OPT_FAST=-O2 OPT_SLOW=-O1",
               "--top-module", "neurocc_network", "-Wno-fatal", "-Wno-lint", "-Wno-style", "--Mdir", "."]
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not (tmp / "Vneurocc_network").is_file():
            tail = " | ".join((proc.stdout + proc.stderr).strip().splitlines()[-3:])
            raise SimulationError(f"verilator could not build {str(verilog)!r}: {tail}")
        if exe_dir.exists():
            shutil.rmtree(exe_dir)
        tmp.rename(exe_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return exe


def simulate_verilator(folder: Path, codes: np.ndarray, n_out: int, in_bits: int,
                       out_bits: int) -> tuple[np.ndarray, list[int], float]:
    """Output words and cycles per inference for input codes ``(n, inputs)``; also the run's seconds."""
    exe = build(folder)
    with tempfile.TemporaryDirectory(prefix="neurocc-verilator-") as tmp:
        inputs, outputs = Path(tmp) / "in.txt", Path(tmp) / "out.txt"
        header = f"{len(codes)} {codes.shape[1]} {n_out} {in_bits} {out_bits}\n"
        inputs.write_text(header + "\n".join(" ".join(map(str, row)) for row in codes.tolist()) + "\n")
        start = time.perf_counter()
        proc = subprocess.run([str(exe), str(inputs), str(outputs)], capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise SimulationError(f"the Verilator model failed (exit {proc.returncode}): {proc.stderr.strip()}")
        rows = [list(map(int, line.split())) for line in outputs.read_text().splitlines()]
    words = np.array([r[:-1] for r in rows], dtype=np.int64)
    return words, [r[-1] for r in rows], seconds
