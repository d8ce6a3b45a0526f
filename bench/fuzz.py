"""Fuzz neurocc's inputs: mutated model files and compiled folders through the CLI, in-process; counts as JSON.

    python bench/fuzz.py [--cases 10000] [--seed 0] [--work DIR] [--show 20]

Each case mutates a valid input (``tests/fuzzing.py`` says how) and runs ``inspect``/``eval``/``compile`` (model
files) or ``simulate``/``verify`` (folders) on it. A case ends ``ok`` (every command succeeded), ``error`` (some
command ended in a one-line NeuroccError, the rest succeeded), ``multi_line`` (an error message of more than one
line), ``traceback`` (any other exception: a bug) or ``executed`` (a hostile line's canary file appeared).
Targets: 0 tracebacks, 0 multi-line messages and 0 executions in 10,000 cases; peak memory per case under 512 MB
(the process's peak resident size while the case's commands run, reset before them on Linux; the growth over
the size before them is reported too). The case seeds are ``seed + i``; a failing
case reruns alone with ``--seed N --cases 1``. The 2 MB zip bomb's refusal is timed here too (tests bound its
memory, not its time).
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import tempfile
import time
import warnings
import zipfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fuzzing import KINDS, prepare, run_case  # noqa: E402


def bomb_seconds(seed_model: Path, work: Path) -> dict[str, float]:
    """Seconds to refuse a 2 MB model file whose first array is 1 GiB of deflated zeros behind an honest header."""
    import numpy as np

    import ir
    from errors import ModelFormatError

    with zipfile.ZipFile(seed_model) as zf:
        entries = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    first = sorted(e for e in entries if e.startswith("arrays/"))[0]
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": (1 << 27,)})
    entries[first] = header.getvalue() + bytes(1 << 30)
    path = work / "bomb.ncm"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    del entries
    start = time.perf_counter()
    try:
        ir.load(path)
        refused = False
    except ModelFormatError:
        refused = True
    return {"bomb_file_bytes": path.stat().st_size, "bomb_refused": refused,
            "bomb_seconds": time.perf_counter() - start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", help="working folder (default: a temporary one)")
    ap.add_argument("--show", type=int, default=20, help="print this many failing cases")
    args = ap.parse_args()
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    with tempfile.TemporaryDirectory(prefix="neurocc-fuzz-") as tmp:
        work = Path(args.work) if args.work else Path(tmp)
        seeds = prepare(work / "seeds")
        report: dict = bomb_seconds(seeds.model, work)
        ends: Counter[str] = Counter()
        by_kind: dict[str, Counter[str]] = {k: Counter() for k in KINDS}
        failures, peaks = [], []
        start = time.perf_counter()
        from tqdm.auto import tqdm

        for i in tqdm(range(args.cases), desc="fuzz", unit="case", disable=not sys.stderr.isatty()):
            seed = args.seed + i
            kind = KINDS[seed % len(KINDS)]
            outcome = run_case(seeds, kind, seed, work / "case")
            peaks.append((outcome.peak_mb, outcome.growth_mb, seed, kind))
            ends[outcome.end] += 1
            by_kind[kind][outcome.end] += 1
            if not sys.stderr.isatty() and (i + 1) % 500 == 0:
                print(f"fuzz: {i + 1} of {args.cases} cases, {dict(ends)}", file=sys.stderr, flush=True)
            if outcome.end in ("traceback", "multi_line", "executed"):
                failures.append({"seed": seed, "kind": kind, "end": outcome.end, "problems": outcome.problems})
        report.update({
            "cases": args.cases, "seconds": time.perf_counter() - start,
            "ends": dict(ends), "by_kind": {k: dict(v) for k, v in by_kind.items()},
            "tracebacks": ends["traceback"], "multi_line": ends["multi_line"], "executed": ends["executed"],
            "peak_rss_mb_max": max(p[0] for p in peaks),
            "peak_rss_mb_median": sorted(p[0] for p in peaks)[len(peaks) // 2],
            "case_rss_growth_mb_max": max(p[1] for p in peaks),
            "largest_cases": [{"seed": s, "kind": k, "peak_rss_mb": round(m, 1), "growth_mb": round(g, 1)}
                              for m, g, s, k in sorted(peaks, reverse=True)[:5]],
            "failures": failures[: args.show],
        })
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
