"""``neurocc sweep``: a model's analog accuracy over a grid of circuit options and seeds, every point a Dask task.

    neurocc sweep model.ncm --param r_wire=0,0.5,1,2.5 --param variation=0,0.05,0.1 --seeds 5 -o sweep/

Each grid point and seed is one task: lower the model with those spice options (``lower-analog``; the seed draws
the device non-idealities), write its netlist, and run the test set through the fast simulator
(:mod:`circuits.analog.fast`); the task's result is the circuit's accuracy. Tasks run on a Dask ``LocalCluster``
on this machine (``--workers`` processes), on a running cluster (``--scheduler tcp://HOST:8786``), or in this
process one after another (``--scheduler serial``).

Every finished task is written to ``OUT/tasks/<key>.json`` at once, the key a SHA-256 of the model file, the data
set, the limit and the task's options; a sweep run again into the same folder computes only the tasks whose file
is missing, so a killed sweep resumes where it stopped. A worker that dies takes no result with it: Dask runs its
tasks again elsewhere. The summary is ``table.json`` and ``table.csv`` (per grid point: accuracy mean and standard
deviation over the seeds) and one plot of accuracy against each swept option, ``accuracy_vs_<option>.png``.

Every value is checked (the option's own range, then each grid point's combination) before any task starts.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import hashlib
import io
import itertools
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backends.folder import Layout, check_output_folder
from compiler.options import flag
from compiler.targets.spice import SpiceOptions
from errors import BackendError, ConfigError

_PARTIAL = r"(?:tasks/)?\.[a-z0-9_.]+\.[a-z0-9_]+\.tmp"
"""A file :func:`_write` had not yet renamed into place when its sweep was killed (removed when a sweep resumes)."""

LAYOUT = Layout("sweep", (r"tasks/[0-9a-f]{64}\.json", r"table\.json", r"table\.csv", r"accuracy_vs_[a-z0-9_]+\.png",
                          _PARTIAL), dirs=("tasks",))
VERSION = 1
"""Part of every task's key: a change to what a task computes gets a new number, so old results are not reused."""
OPTIONS = {name: kind for name, kind, *_ in SpiceOptions.specs() if name != "seed"}
"""The circuit options a sweep varies (``--seeds`` gives the seeds)."""
LABELS = {name: re.sub(r"\s*\([^()]*\)$", "", text).strip() or name for name, _, _, text, _ in SpiceOptions.specs()}
"""Each option's words for a plot's axis: its help text less the default in parentheses."""


def parse_params(texts: Sequence[str]) -> dict[str, list[Any]]:
    """``["r_wire=0,0.5", "tile=32,64"]`` → ``{"r_wire": [0.0, 0.5], "tile": [32, 64]}``, each value checked
    against its option's range."""
    params: dict[str, list[Any]] = {}
    for text in texts:
        name, sep, values = text.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or not values:
            raise ConfigError(f"--param {text!r} must be written NAME=V1,V2,...")
        if name not in OPTIONS:
            raise ConfigError(f"--param {text!r}: {name!r} is not a circuit option; the options are "
                              f"{', '.join(OPTIONS)}")
        if name in params:
            raise ConfigError(f"--param {name} is given twice")
        kind = OPTIONS[name]
        parsed = []
        for raw in values.split(","):
            try:
                value = kind(raw.strip())
            except argparse.ArgumentTypeError as e:
                raise ConfigError(f"--param {name}: {flag(name)} {e}") from None
            if value in parsed:
                raise ConfigError(f"--param {name}: the value {raw.strip()} is given twice")
            parsed.append(value)
        params[name] = parsed
    return params


@dataclasses.dataclass(frozen=True)
class Task:
    options: dict[str, Any]
    seed: int
    key: str

    @property
    def point(self) -> tuple[Any, ...]:
        return tuple(self.options.values())


def tasks(params: dict[str, list[Any]], seeds: int, model_digest: str, dataset: str, limit: int | None) -> list[Task]:
    """Every grid point times every seed, each point's options checked together (``SpiceOptions``)."""
    names = list(params)
    out = []
    for values in itertools.product(*(params[n] for n in names)):
        options = dict(zip(names, values, strict=True))
        for seed in range(seeds):
            try:
                SpiceOptions(**options, seed=seed)
            except ConfigError as e:
                shown = ", ".join(f"{k}={v}" for k, v in options.items())
                raise ConfigError(f"grid point {shown}: {e}") from None
            ident = json.dumps({"version": VERSION, "model": model_digest, "dataset": dataset, "limit": limit,
                                "options": options, "seed": seed}, sort_keys=True)
            out.append(Task(options, seed, hashlib.sha256(ident.encode()).hexdigest()))
    return out


def run_task(model: bytes, dataset: str, limit: int | None, options: dict[str, Any], seed: int) -> dict[str, Any]:
    """One task, where it runs (a Dask worker): compile ``model`` with ``options`` and ``seed`` for the spice
    target in memory and run the test set through the fast simulator."""
    import ir
    from backends.spice.emit import derive
    from backends.spice.run import simulate_netlist
    from circuits.analog.cards import check_netlist
    from compiler.accelerate import batch_ops
    from compiler.passes import PassManager
    from compiler.pipelines import spice_pipeline
    from learning.datasets import load_dataset

    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="neurocc-sweep-") as tmp:
        path = Path(tmp) / "model.ncm"
        path.write_bytes(model)
        graph = ir.load(path)
    data = load_dataset(dataset)
    opts = SpiceOptions(**options, seed=seed)
    PassManager(spice_pipeline(data.x_train, **{n: getattr(opts, n) for n, *_ in opts.specs()})).run(graph)
    text, manifest = derive(graph)
    x, y = data.x_test[:limit].astype(np.float64), data.y_test[:limit]
    sim = simulate_netlist(check_netlist(text, f"model {graph.name!r}"), manifest, x, name=graph.name,
                           ops=batch_ops(len(x)))
    return {"options": options, "seed": seed, "samples": len(x), "elements": manifest["elements"],
            "accuracy": float((sim["logits"].argmax(axis=1) == y).mean()), "seconds": time.perf_counter() - start}


def _write(path: Path, text: str) -> None:
    """``text`` into ``path`` atomically (a temporary file beside it, then a rename)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _cached(folder: Path, task: Task) -> dict[str, Any] | None:
    path = folder / "tasks" / f"{task.key}.json"
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # absent, or unreadable: computed again
    return doc if isinstance(doc, dict) and isinstance(doc.get("accuracy"), float) else None


Done = Callable[[Task, dict[str, Any], Any], None]
"""Called with each finished task, its result and the Dask client (``None`` when serial)."""
Runner = Callable[[list[Task], Done], None]


def _serial(model: bytes, dataset: str, limit: int | None) -> Runner:
    def run(todo: list[Task], done: Done) -> None:
        for task in todo:
            done(task, run_task(model, dataset, limit, task.options, task.seed), None)
    return run


def _dask(model: bytes, dataset: str, limit: int | None, scheduler: str, workers: int) -> Runner:
    def run(todo: list[Task], done: Done) -> None:
        from distributed import Client, LocalCluster, as_completed

        for name in ("distributed", "dask"):  # its start-up and shut-down news is not the user's business
            logging.getLogger(name).setLevel(logging.WARNING)
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.WARNING) if scheduler == "local" else None
        try:
            client = Client(cluster if cluster is not None else scheduler)
        except (OSError, TimeoutError) as e:
            raise BackendError(f"--scheduler {scheduler}: no Dask scheduler answers there ({e})") from e
        try:
            shared = client.scatter(model, broadcast=True)
            futures = {client.submit(run_task, shared, dataset, limit, t.options, t.seed, key=f"neurocc-{t.key}",
                                     retries=2): t for t in todo}
            for future in as_completed(futures):
                done(futures[future], future.result(), client)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    return run


def sweep(model: str | os.PathLike[str], params: dict[str, list[Any]], seeds: int, output: str | os.PathLike[str],
          dataset: str | None = None, limit: int | None = None, scheduler: str = "local", workers: int = 2,
          progress: bool = False, on_result: Callable[[Any, int], None] | None = None) -> dict[str, Any]:
    """Run the sweep into ``output`` (resuming what is there) and return its report (the table and where the files
    are). ``on_result(client, n)`` is called after the n-th result of this run is written (the tests kill a
    worker there, or stop the sweep)."""
    from tqdm.auto import tqdm

    import ir

    if not params:
        raise ConfigError("a sweep needs at least one --param NAME=V1,V2,...")
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, not {seeds}")
    folder = check_output_folder(output, LAYOUT, [model])
    raw = Path(model).read_bytes() if Path(model).is_file() else b""
    graph = ir.load(model)  # checks the file before any task starts
    dataset = dataset or graph.meta.get("dataset")
    if not dataset:
        raise ConfigError(f"model file {str(model)!r} records no data set: pass --dataset")
    todo_all = tasks(params, seeds, hashlib.sha256(raw).hexdigest(), dataset, limit)
    (folder / "tasks").mkdir(parents=True, exist_ok=True)
    partial = re.compile(_PARTIAL)
    for leftover in [*folder.glob(".*.tmp"), *(folder / "tasks").glob(".*.tmp")]:  # a killed run's, unfinished
        if partial.fullmatch(leftover.relative_to(folder).as_posix()) and leftover.is_file() and \
                not leftover.is_symlink():
            leftover.unlink()
    _write(folder / "manifest.json", json.dumps({"format": LAYOUT.format, "version": VERSION, "model": str(model),
                                                  "dataset": dataset, "limit": limit, "params": params,
                                                  "seeds": seeds}, indent=1))
    results: dict[str, dict[str, Any]] = {}
    for task in todo_all:
        hit = _cached(folder, task)
        if hit is not None:
            results[task.key] = hit
    todo = [t for t in todo_all if t.key not in results]
    bar = tqdm(total=len(todo_all), initial=len(results), desc="sweep", unit="task", disable=not progress)

    computed = 0

    def done(task: Task, result: dict[str, Any], client: Any) -> None:
        nonlocal computed
        _write(folder / "tasks" / f"{task.key}.json", json.dumps(result, indent=1))
        results[task.key] = result
        computed += 1
        bar.update(1)
        if on_result is not None:
            on_result(client, computed)

    runner = _serial(raw, dataset, limit) if scheduler == "serial" else _dask(raw, dataset, limit, scheduler, workers)
    try:
        if todo:
            runner(todo, done)
    finally:
        bar.close()
    table = summarize(todo_all, results)
    _write(folder / "table.json", json.dumps({"model": str(model), "dataset": dataset, "limit": limit,
                                              "seeds": seeds, "rows": table}, indent=1))
    _write(folder / "table.csv", to_csv(params, table))
    plots = []
    from compiler.plots import sweep_curves

    for name, values in params.items():
        if len(values) > 1:
            path = folder / f"accuracy_vs_{name}.png"
            words = LABELS[name]
            sweep_curves(table, list(params), name, path, f"{name} ({words})" if len(words) <= 60 else name)
            plots.append(str(path))
    return {"output": str(folder), "tasks": len(todo_all), "computed": len(todo), "cached": len(todo_all) - len(todo),
            "rows": table, "plots": plots}


def summarize(todo: list[Task], results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Per grid point (in grid order): its options, the mean and standard deviation of accuracy over the seeds."""
    points: dict[tuple[Any, ...], list[float]] = {}
    options: dict[tuple[Any, ...], dict[str, Any]] = {}
    for task in todo:
        points.setdefault(task.point, []).append(results[task.key]["accuracy"])
        options[task.point] = task.options
    return [{**options[p], "accuracy_mean": float(np.mean(acc)), "accuracy_std": float(np.std(acc)),
             "seeds": len(acc)} for p, acc in points.items()]


def to_csv(params: dict[str, list[Any]], table: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    columns = [*params, "accuracy_mean", "accuracy_std", "seeds"]
    writer.writerow(columns)
    for row in table:
        writer.writerow([repr(row[c]) if isinstance(row[c], float) else row[c] for c in columns])
    return buf.getvalue()
