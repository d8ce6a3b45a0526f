"""Build a compiled fpga folder into a board's bitstream: the UART host link around the folder's ``network.v``,
through Amaranth's build plan for the board's amaranth-boards platform, then yosys, nextpnr and the packer.

Everything lands in ``<folder>/build/``: what the build consumed (``neurocc_network.v``, the top level as RTLIL
``neurocc_board.il``, the yosys script, the pin constraints, ``build.sh`` that reruns the exact commands with the
tools this build used), what it produced (the bitstream ``neurocc_board.bin``, the placed design ``.asc`` or
``.config``, the tools' logs, nextpnr's JSON report) and ``report.json``/``report.txt``. The folder is built
beside and swapped in whole; a failed build's files go to ``<folder>/build-failed/`` for its logs, and the error
names the tool, its reason and the log.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from backends.folder import Layout, foreign_entry, swap_in
from backends.fpga.board_top import BoardTop, link_shape
from backends.fpga.boards import Board, Tool
from backends.fpga.emit import BUILD_FILES, layer_specs, learn_spec
from backends.fpga.pll import Ecp5Pll, Ice40Pll, pll_for, pll_range
from backends.fpga.resources import shortfall
from backends.fpga.run import FpgaFolder
from circuits.digital.bridge import word_bytes
from errors import BackendError, ConfigError

NAME = "neurocc_board"
BUILD_LAYOUT = Layout("fpga-build", BUILD_FILES)
"""What ``build/`` (and ``build-failed/``) hold: nothing else is ever deleted from them."""
BAUD = 115200
MAX_BAUD_ERROR = 0.02
BUILD_TIMEOUT_S = 3600


def _tool_version(tool: Tool) -> str:
    if tool.command == "icepack":  # icepack prints no version; its Debian package has one
        argv = ["dpkg-query", "-W", "-f", "fpga-icestorm ${Version}", "fpga-icestorm"]
    else:
        argv = [tool.command, "-V" if "yosys" in tool.command else "--version"]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)  # a YoWASP tool's first run compiles
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    lines = (done.stdout + done.stderr).strip().splitlines()
    return lines[0].strip() if done.returncode == 0 and lines else "unknown"


def check_tools(board: Board) -> dict[str, str]:
    """Each tool of the board's family on PATH, with its version; a missing one is an error naming where it
    comes from."""
    versions = {}
    for tool in board.family.tools:
        if shutil.which(tool.command) is None:
            raise ConfigError(f"building for {board.name} needs {tool.command} on PATH: install {tool.source}")
        versions[tool.name] = _tool_version(tool)
    return versions


def divisor_for(clock_hz: float, baud: int) -> int:
    divisor = round(clock_hz / baud)
    error = abs(clock_hz / divisor - baud) / baud if divisor else 1.0
    if divisor < 4 or error > MAX_BAUD_ERROR:
        raise ConfigError(f"--baud {baud} is not reachable from a {clock_hz / 1e6:g} MHz clock within "
                          f"{MAX_BAUD_ERROR:.0%} (try 115200 or 9600)")
    return divisor


def _pll(board: Board, clock_mhz: float | None) -> Ice40Pll | Ecp5Pll | None:
    if clock_mhz is None:
        return None
    return pll_for(board.family.name, board.clock_hz, clock_mhz * 1e6)


def _overrides(board: Board) -> dict[str, str]:
    nextpnr = "--report nextpnr.json --timing-allow-fail"
    if board.family.name == "ice40":
        return {"synth_opts": "-dsp", "nextpnr_opts": nextpnr}
    return {"nextpnr_opts": nextpnr}


def _env_var(tool: Tool) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", tool.name).upper()


def _rerun_script(board: Board) -> str:
    lines = ["#!/bin/sh", f"# neurocc build for {board.name} ({board.device}): reruns the commands of this build",
             'cd "$(dirname "$0")" || exit 1']
    lines += [f': "${{{_env_var(t)}:={t.command}}}"; export {_env_var(t)}' for t in board.family.tools]
    lines.append(f"exec sh build_{NAME}.sh")
    return "\n".join(lines) + "\n"


def _first_error(build: Path, log: str) -> str:
    for name in (f"{NAME}.tim", f"{NAME}.rpt"):  # nextpnr's log, then yosys's
        path = build / name
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("ERROR:"):
                    return line.removeprefix("ERROR:").strip()
    tail = [line for line in log.splitlines() if line.strip()]
    return tail[-1].strip() if tail else "no message"


def _overused(build: Path) -> tuple[str, int, int] | None:
    """The first cell type nextpnr's utilisation table shows over the device's count: (cell, used, available)."""
    path = build / f"{NAME}.tim"
    text = path.read_text(errors="replace") if path.is_file() else ""
    for cell, used, available in re.findall(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)", text, re.M):
        if int(used) > int(available):
            return cell, int(used), int(available)
    return None


def _failed_tool(build: Path, board: Board) -> Tool:
    yosys, pnr, pack = board.family.tools
    if not (build / f"{NAME}.json").is_file():
        return yosys
    placed = build / (f"{NAME}.asc" if board.family.name == "ice40" else f"{NAME}.config")
    return pnr if not placed.is_file() else pack


def _critical_path(tim: str) -> dict[str, Any]:
    """The first clock's critical path in nextpnr's log: where it starts and ends, and its delay."""
    section = re.search(r"Critical path report for clock '([^']+)'.*?\n(.*?)\n(?:Info: )?\s*([\d.]+) ns logic, "
                        r"([\d.]+) ns routing", tim, re.S)
    if not section:
        return {}
    # nextpnr-ice40 0.4 writes "Info:  1.4  1.4  Source X" and "... Setup Y"; nextpnr-ecp5 0.11 adds a type column
    # ("Info:   clk-to-q  0.52  0.52 Source X", "... setup 0.00 12.19 Source Y")
    steps = re.findall(r"Info:\s+(?:([a-z-]+)\s+)?[\d.]+\s+[\d.]+\s+(Source|Setup) (\S+)", section.group(2))
    cells = [(kind, name) for kind, what, name in steps if what == "Source" and kind != "setup"]
    sinks = [(kind, name) for kind, what, name in steps if what == "Setup" or kind == "setup"]
    logic, routing = float(section.group(3)), float(section.group(4))
    return {"clock": section.group(1), "from": cells[0][1] if cells else "?",
            "to": sinks[-1][1] if sinks else "?", "ns": round(logic + routing, 2), "logic_ns": logic,
            "routing_ns": routing}


def _place(tmp: Path, dest: Path) -> None:
    if dest.exists():
        stranger = foreign_entry(dest, BUILD_LAYOUT) if dest.is_dir() and not dest.is_symlink() else dest.name
        if stranger is not None:
            shutil.rmtree(tmp, ignore_errors=True)
            raise BackendError(f"{str(dest)!r} holds {stranger!r}, which neurocc did not write; move it away")
    swap_in(tmp, dest, BUILD_LAYOUT)


def build(folder: FpgaFolder, board: Board, baud: int = BAUD, clock_mhz: float | None = None) -> dict[str, Any]:
    """Build ``folder`` for ``board`` (at the board's clock, or the PLL's closest to ``clock_mhz`` from below);
    the report (also written to ``build/report.json``)."""
    specs, _ = layer_specs(folder.graph)
    lack = shortfall(specs, board, learn_spec(folder.graph))
    if lack is not None:
        cell, need, have = lack
        raise BackendError(f"folder {str(folder.path)!r} needs {need} {cell}, the {board.device} on {board.name} has "
                           f"{have}: compile it again with --board {board.name} (the lane count that fits)")
    pll = _pll(board, clock_mhz)
    clock_hz = board.clock_hz if pll is None else pll.hz
    divisor = divisor_for(clock_hz, baud)
    versions = check_tools(board)
    text = folder.verilog()
    if (folder.path / "network.v").read_text() != text:
        raise BackendError(f"folder {str(folder.path)!r}: network.v is not the Verilog model.ncm derives; recompile")
    platform = board.platform_object()
    platform.add_file("neurocc_network.v", text)
    top = BoardTop(link_shape(specs, learn_spec(folder.graph) is not None), divisor, pll)
    plan = platform.build(top, name=NAME, do_build=False, **_overrides(board))
    tmp = Path(tempfile.mkdtemp(dir=folder.path, prefix=".build."))
    try:
        plan.extract(str(tmp))
        (tmp / "build.sh").write_text(_rerun_script(board))
        env = {**os.environ, **{_env_var(t): t.command for t in board.family.tools}}
        start = time.perf_counter()
        try:
            done = subprocess.run(["sh", "build.sh"], cwd=tmp, env=env, capture_output=True, text=True,
                                  timeout=BUILD_TIMEOUT_S)
            log, failed = done.stdout + done.stderr, done.returncode != 0
        except subprocess.TimeoutExpired as e:
            partial = [s.decode(errors="replace") if isinstance(s, bytes) else (s or "") for s in (e.stdout, e.stderr)]
            log, failed = "".join(partial) + f"\ntimed out after {BUILD_TIMEOUT_S} s", True
        seconds = time.perf_counter() - start
        (tmp / "build.log").write_text(log)
        if failed:
            tool, reason = _failed_tool(tmp, board), _first_error(tmp, log)
            over = _overused(tmp)
            dest = folder.path / "build-failed"
            _place(tmp, dest)
            logname = f"{NAME}.tim" if tool is board.family.tools[1] else f"{NAME}.rpt"
            if over is not None:
                cell, need, have = over
                smaller = f"; try a smaller --pe than {folder.manifest['pe']}" if folder.manifest["pe"] > 1 else ""
                raise BackendError(f"the design does not fit the {board.device} on {board.name}: it needs {need} "
                                   f"{cell}, the device has {have}{smaller} ({tool.command}: {reason}; log: "
                                   f"{dest / logname})")
            raise BackendError(f"{tool.command} failed for {board.name}: {reason} (log: {dest / logname})")
        report = _report(folder, board, tmp, versions, baud, divisor, seconds, clock_hz)
        (tmp / "report.json").write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
        (tmp / "report.txt").write_text("\n".join(describe(report)) + "\n")
        _place(tmp, folder.path / "build")
        if not report["timing_met"]:
            source = "PLL" if report["clock_source"] == "pll" else "board"
            raise BackendError(f"timing not met for {board.name}: the design reaches {report['fmax_mhz']} MHz, the "
                               f"{source}'s clock is {report['clock_mhz']:g} MHz (report: "
                               f"{folder.path / 'build' / 'report.txt'})")
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return report


AUTO_MARGIN = 0.95
AUTO_TRIES = 3


def build_at_fmax(folder: FpgaFolder, board: Board, baud: int = BAUD) -> dict[str, Any]:
    """Build at the board's clock, then again on the PLL at :data:`AUTO_MARGIN` of the Fmax nextpnr reported,
    stepping down by the margin while timing is not met (at most :data:`AUTO_TRIES` PLL builds). Placement
    changes with the clock asked for, so each PLL build is checked by nextpnr again. A design no faster than the
    board's clock keeps the first build."""
    first = build(folder, board, baud)
    low, high = pll_range(board.family.name)
    want = min(first["fmax_mhz"] * AUTO_MARGIN, high / 1e6)
    for _ in range(AUTO_TRIES):
        if want * 1e6 <= board.clock_hz or want * 1e6 < low:
            break
        try:
            return {**build(folder, board, baud, want), "first_build_fmax_mhz": first["fmax_mhz"]}
        except BackendError as e:
            if not str(e).startswith("timing not met"):
                raise
            want *= AUTO_MARGIN
    return build(folder, board, baud)


def _report(folder: FpgaFolder, board: Board, build_dir: Path, versions: dict[str, str], baud: int, divisor: int,
            seconds: float, clock_hz: float) -> dict[str, Any]:
    pnr = json.loads((build_dir / "nextpnr.json").read_text())
    used = {cell: {"used": v["used"], "available": v["available"]} for cell, v in pnr["utilization"].items()
            if cell in board.totals() or cell.endswith("_PLL") or cell.startswith("EHXPLL") or
            cell == "TRELLIS_FF"}
    fmax = min(v["achieved"] for v in pnr["fmax"].values())
    clock = round(clock_hz / 1e6, 4)
    m = folder.manifest
    n_in, n_out = m["input"]["count"], m["output"]["count"]
    in_bytes, out_bytes = 1 + n_in * word_bytes(m["input"]["bits"]), n_out * word_bytes(m["output"]["bits"])
    report: dict[str, Any] = {
        "board": board.name, "device": board.device, "pe": m["pe"], "tools": versions,
        "resources": used, "flip_flops": _flip_flops(build_dir, pnr), "fmax_mhz": round(fmax, 2),
        "clock_mhz": clock, "timing_met": fmax >= clock,
        "critical_path": _critical_path((build_dir / f"{NAME}.tim").read_text(errors="replace")),
        "cycles_per_inference": m["cycles_per_inference"],
        "clock_source": "board" if clock_hz == board.clock_hz else "pll",
        "inferences_per_second": round(clock_hz / m["cycles_per_inference"]),
        "link": {"baud": baud, "clocks_per_bit": divisor, "bytes_per_inference": [in_bytes, out_bytes],
                 "inferences_per_second": round(baud / 10 / max(in_bytes, out_bytes), 1),
                 # a sample arrives in in_bytes · 10 · divisor cycles; the network must be done with one by then,
                 # or streamed samples back up in the receive FIFO (the host then has to send one at a time)
                 "keeps_up": max(m["cycles_per_inference"], m.get("learning", {}).get("cycles_per_training_sample", 0))
                 < in_bytes * 10 * divisor},
        "bitstream": f"build/{NAME}.bin" if board.family.name == "ice40" else f"build/{NAME}.bit",
        "build_seconds": round(seconds, 1), "command": "sh " + shlex.quote(str(folder.path / "build" / "build.sh")),
    }
    if "learning" in m:
        cycles = m["learning"]["cycles_per_training_sample"]
        report["cycles_per_training_sample"] = cycles
        report["training_samples_per_second"] = round(clock_hz / cycles)
    return report


def _flip_flops(build_dir: Path, pnr: dict[str, Any]) -> int:
    """The design's flip-flops: nextpnr's count on the ECP5 (TRELLIS_FF); on the iCE40, where a logic cell is a
    LUT and a flip-flop and nextpnr counts the cells, the SB_DFF* cells of the netlist yosys handed it."""
    if "TRELLIS_FF" in pnr["utilization"]:
        return int(pnr["utilization"]["TRELLIS_FF"]["used"])
    netlist = json.loads((build_dir / f"{NAME}.json").read_text())
    return sum(cell["type"].startswith("SB_DFF") for module in netlist["modules"].values()
               for cell in module.get("cells", {}).values())


def describe(r: dict[str, Any]) -> list[str]:
    res = ", ".join(f"{cell} {v['used']}/{v['available']}" for cell, v in r["resources"].items())
    res += f"; {r['flip_flops']} flip-flops"
    lines = [f"built for {r['board']} ({r['device']}, {r['pe']} lanes): {r['bitstream']} in {r['build_seconds']} s",
             f"resources: {res}",
             f"Fmax {r['fmax_mhz']} MHz against the {'PLL' if r['clock_source'] == 'pll' else 'board'}'s "
             f"{r['clock_mhz']:g} MHz clock: " + ("met" if r["timing_met"] else "NOT MET")]
    path = r["critical_path"]
    if path:
        lines.append(f"critical path {path['ns']} ns ({path['logic_ns']} logic, {path['routing_ns']} routing): "
                     f"{path['from']} -> {path['to']}")
    rate = f"{r['cycles_per_inference']} cycles per inference, {r['inferences_per_second']:,} inferences/s"
    if "cycles_per_training_sample" in r:
        rate += (f"; {r['cycles_per_training_sample']} cycles per training sample, "
                 f"{r['training_samples_per_second']:,} samples/s")
    lines.append(rate + f" at {r['clock_mhz']:g} MHz")
    link = r["link"]
    lines.append(f"host link: UART {link['baud']} baud, {link['inferences_per_second']} inferences/s over it"
                 + ("" if link["keeps_up"] else "; the network is slower than the link: send one sample at a time"))
    lines.append("tools: " + "; ".join(r["tools"].values()))
    return lines
