"""Board builds: resources, Fmax from nextpnr, cycles and throughput, for inference and on-chip learning designs.

    python bench/build.py [--board icebreaker] [--lanes 1 2 4 8] [--learn-lanes 1 2]

Trains the digits DFA network (64-64-10, seed 0) and its untrained start (0 epochs), compiles the trained one
for the fpga target at each lane count and the untrained one with the on-chip DFA engine, builds every folder
with ``neurocc build`` (yosys, nextpnr, the packer; the UART host link included) and reports what nextpnr placed
and routed: logic cells, block RAMs, multipliers, Fmax against the board clock, cycles per inference (per
training sample), inferences (samples) per second at the board clock and at Fmax. A lane count whose design
does not fit is reported with the error neurocc gives (before any tool for multipliers and block RAM; from
nextpnr for logic). Prints JSON; ``--markdown FILE`` also writes the README's table.
"""

from __future__ import annotations

import argparse
import json
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


def _row(source: Any, board: str, lanes: int, out: Path, learn: bool) -> dict[str, Any]:
    row: dict[str, Any] = {"board": board, "design": "on-chip dfa" if learn else "inference", "pe": lanes}
    try:
        folder = compile(source, "fpga", out, pe=lanes, **({"learn": "dfa"} if learn else {}))
        report = folder.build(board)
    except NeuroccError as e:
        return {**row, "error": str(e)}
    res = report["resources"]
    family = get_board(board).family
    row.update(
        logic=res[family.logic]["used"], logic_total=res[family.logic]["available"],
        bram=res[family.bram]["used"], dsp=res[family.dsp]["used"], fmax_mhz=report["fmax_mhz"],
        clock_mhz=report["clock_mhz"], critical_path=report["critical_path"],
        cycles=report.get("cycles_per_training_sample", report["cycles_per_inference"]),
        per_second_at_clock=report.get("training_samples_per_second", report["inferences_per_second"]),
        tools=report["tools"], build_seconds=report["build_seconds"])
    row["per_second_at_fmax"] = round(report["fmax_mhz"] * 1e6 / row["cycles"])
    return row


def _why(error: str) -> str:
    """The reason in an error, without the folder's path or the log's."""
    error = error.split(" (log: ")[0].split(" (nextpnr")[0].split("; try")[0]
    why = error[error.index("needs"):].split(":")[0] if "needs" in error else error.split(": ", 1)[-1]
    return why.replace("|", "\\|")


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = ["| board | design | P | logic cells | block RAM | DSP | Fmax (MHz) | cycles | per second at the board "
             "clock | at Fmax |", "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        head = f"| {r['board']} | {r['design']} | {r['pe']} |"
        if "error" in r:
            lines.append(f"{head} does not fit: {_why(r['error'])} |||||||")
        else:
            lines.append(f"{head} {r['logic']:,} / {r['logic_total']:,} | {r['bram']} | {r['dsp']} | {r['fmax_mhz']} "
                         f"| {r['cycles']:,} | {r['per_second_at_clock']:,} at {r['clock_mhz']:g} MHz | "
                         f"{r['per_second_at_fmax']:,} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--board", default="icebreaker")
    parser.add_argument("--lanes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--learn-lanes", type=int, nargs="*", default=[1, 2])
    parser.add_argument("--markdown", help="also write the README's table here")
    args = parser.parse_args()
    trained = from_trained(train(TrainConfig(rule="dfa"), progress=False))
    start = from_trained(train(TrainConfig(rule="dfa", epochs=0), progress=False))
    jobs = [(trained, p, False) for p in args.lanes] + [(start, p, True) for p in args.learn_lanes]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for k, (source, lanes, learn) in enumerate(tqdm(jobs, desc="bench build", unit="build", file=sys.stderr)):
            rows.append(_row(source, args.board, lanes, Path(tmp) / f"d{k}", learn))
    print(json.dumps({"benchmark": "build", "board": args.board, "rows": rows}, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(markdown(rows))


if __name__ == "__main__":
    main()
