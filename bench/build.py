"""Board builds: resources, Fmax from nextpnr, cycles and throughput, for inference and on-chip learning designs.

    python bench/build.py [--board icebreaker] [--lanes 1 2 4 8] [--learn-lanes 1 2] [--datapath both] [--fashion]

Trains the digits DFA network (64-64-10, seed 0) and its untrained start (0 epochs), compiles the trained one
for the fpga target at each lane count (on the shared datapath, on a datapath per layer, or both: ``--datapath``)
and the untrained one with the on-chip DFA engine (a datapath per layer; ``--board``, so the memories fit the
device), builds every folder with ``neurocc build`` (yosys, nextpnr, the packer; the UART host
link included) and reports what nextpnr placed and routed: logic cells, block RAMs, multipliers, Fmax against
the board clock, cycles per inference (per training sample), inferences (samples) per second at the board clock
and at Fmax (``--fashion`` adds Fashion-MNIST 784-128-10 at the lane count that fits: on the UP5K its weights go
to SPRAM). Beside them, the logic cells of the network core alone (``network.v`` packed by nextpnr, no host
link), the figure to compare with a hand-written core's. A lane count whose design does not fit is reported with
the error neurocc gives (before any tool for multipliers and block RAM; from nextpnr for logic). Prints JSON;
``--markdown FILE`` also writes the README's table.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from backends.fpga.boards import get_board
from compiler.api import compile
from compiler.frontend import from_trained
from errors import NeuroccError
from learning.trainer import TrainConfig, train

HAND_WRITTEN_LC = {1: 457, 8: 735}
"""Logic cells of a hand-written Amaranth int8 64-32-10 core on the UP5K with the same tools, by lane count (the
anchors of issue #12; the target is at most 1.5 times these)."""


def core_logic(folder: Path, board: str) -> int | None:
    """Logic cells of the network core alone (``network.v``, no host link), as nextpnr packs it for the board's
    iCE40 device: the figure to set beside a hand-written core's. ``None`` for other families."""
    b = get_board(board)
    if b.family.name != "ice40":
        return None
    size, package = b.device.removeprefix("iCE40").lower().split("-")
    with tempfile.TemporaryDirectory() as tmp:
        netlist = Path(tmp) / "core.json"
        subprocess.run(["yosys", "-q", "-p", f"read_verilog {folder / 'network.v'}; synth_ice40 -dsp -top "
                        f"neurocc_network; write_json {netlist}"], check=True, capture_output=True)
        packed = subprocess.run(["nextpnr-ice40", f"--{size}", "--package", package, "--json", str(netlist),
                                 "--pcf-allow-unconstrained", "--pack-only"], check=True, capture_output=True,
                                text=True)
    found = re.search(r"ICESTORM_LC:\s*(\d+)/", packed.stderr)
    assert found, "nextpnr printed no ICESTORM_LC utilisation"
    return int(found.group(1))


def _row(source: Any, board: str, lanes: int | str, out: Path, learn: bool, datapath: str,
         design: str = "") -> dict[str, Any]:
    row: dict[str, Any] = {"board": board, "design": design or ("on-chip dfa" if learn else "inference"),
                           "pe": lanes, "datapath": datapath}
    try:
        folder = compile(source, "fpga", out, pe=lanes, board=board, datapath=datapath,
                         **({"learn": "dfa"} if learn else {}))
        row.update(pe=folder.manifest["pe"], weights=folder.manifest["weights"])
        row["core_logic"] = core_logic(out, board)
        report = folder.build(board)
    except NeuroccError as e:
        return {**row, "error": str(e)}
    res = report["resources"]
    family = get_board(board).family
    row.update(
        logic=res[family.logic]["used"], logic_total=res[family.logic]["available"],
        flip_flops=report["flip_flops"], bram=res[family.bram]["used"], dsp=res[family.dsp]["used"],
        fmax_mhz=report["fmax_mhz"],
        clock_mhz=report["clock_mhz"], critical_path=report["critical_path"],
        cycles=report.get("cycles_per_training_sample", report["cycles_per_inference"]),
        per_second_at_clock=report.get("training_samples_per_second", report["inferences_per_second"]),
        spram=res.get(family.spram, {}).get("used", 0) if family.spram else 0,
        tools=report["tools"], build_seconds=report["build_seconds"])
    row["per_second_at_fmax"] = round(report["fmax_mhz"] * 1e6 / row["cycles"])
    if not learn and not design and row.get("core_logic") and lanes in HAND_WRITTEN_LC:
        row["ratio_to_hand_written"] = round(row["core_logic"] / HAND_WRITTEN_LC[lanes], 3)
    return row


def _why(error: str) -> str:
    """The reason in an error, without the folder's path or the log's."""
    error = error.split(" (log: ")[0].split(" (nextpnr")[0].split("; try")[0]
    why = error[error.index("needs"):].split(":")[0] if "needs" in error else error.split(": ", 1)[-1]
    return why.replace("|", "\\|")


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| board | design | datapath | P | logic cells (whole board) | core alone | flip-flops | block RAM | "
             "SPRAM | DSP | Fmax (MHz) | cycles | per second at the board clock | at Fmax |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        head = f"| {r['board']} | {r['design']} | {r['datapath']} | {r['pe']} |"
        core = "" if r.get("core_logic") is None else f"{r['core_logic']:,}"
        if r.get("ratio_to_hand_written"):
            core += f" ({r['ratio_to_hand_written']:.2f}× hand-written)"
        if "error" in r:
            lines.append(f"{head} does not fit: {_why(r['error'])} | {core} ||||||||")
        else:
            lines.append(f"{head} {r['logic']:,} / {r['logic_total']:,} | {core} | {r['flip_flops']:,} | {r['bram']} | "
                         f"{r['spram']} | {r['dsp']} | "
                         f"{r['fmax_mhz']} | {r['cycles']:,} | {r['per_second_at_clock']:,} at "
                         f"{r['clock_mhz']:g} MHz | {r['per_second_at_fmax']:,} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--board", default="icebreaker")
    parser.add_argument("--lanes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--learn-lanes", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--datapath", choices=("shared", "layer", "both"), default="both",
                        help="the inference designs' datapath (both: each lane count on each)")
    parser.add_argument("--fashion", action="store_true",
                        help="also Fashion-MNIST 784-128-10 (DFA, seed 0) at --pe auto on the board's own datapath "
                             "(on the UP5K its weights go to SPRAM)")
    parser.add_argument("--markdown", help="also write the README's table here")
    args = parser.parse_args()
    trained = from_trained(train(TrainConfig(rule="dfa"), progress=False))
    start = from_trained(train(TrainConfig(rule="dfa", epochs=0), progress=False))
    datapaths = ("shared", "layer") if args.datapath == "both" else (args.datapath,)
    jobs: list[tuple[Any, int | str, bool, str, str]] = \
        [(trained, p, False, d, "") for d in datapaths for p in args.lanes] + \
        [(start, p, True, "layer", "") for p in args.learn_lanes]
    if args.fashion:
        fashion = from_trained(train(TrainConfig(rule="dfa", dataset="fashion-mnist", hidden=(128,)),
                                     progress=False))
        jobs.append((fashion, "auto", False, get_board(args.board).family.datapath, "fashion-mnist 784-128-10"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (source, lanes, learn, datapath, design) in enumerate(tqdm(jobs, desc="bench build", unit="build",
                                                                           file=sys.stderr)):
            rows.append(_row(source, args.board, lanes, Path(tmp) / f"d{k}", learn, datapath, design))
    print(json.dumps({"benchmark": "build", "board": args.board, "rows": rows}, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(markdown(rows))


if __name__ == "__main__":
    main()
