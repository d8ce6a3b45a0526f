"""``neurocc run``: a compiled folder's design on a board (or its Verilator model) through the UART host link,
checked against the integer reference exactly as ``neurocc verify`` checks the simulation.

Where the bitstream holds no weights (a shared datapath's SPRAM), every weight is written over the link first.
Inference streams the test inputs over the link and compares every output word with the reference; with
``learn_steps`` it trains that many samples over the link (``T`` commands), reads every weight back (``R``) and
compares them, and the predictions made on the way, with the reference trainer's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from backends.fpga.board_top import link_shape
from backends.fpga.emit import layer_specs, learn_spec
from backends.fpga.host import HostLink, Transport
from backends.fpga.learn import Dataset, compare_training, training_samples
from backends.fpga.run import FpgaFolder, input_codes, model_weights
from errors import ConfigError, ToolNotFoundError
from ir import interp
from ir.dialects import digital

SIMULATED_PORT = "verilator"
TIMEOUT_S = 5.0


@contextlib.contextmanager
def open_port(folder: FpgaFolder, port: str, baud: int) -> Iterator[Transport]:
    """The serial port ``port`` (pyserial), or with ``port="verilator"`` the design's Verilator model."""
    try:
        import serial
    except ImportError as e:
        raise ToolNotFoundError("neurocc run needs pyserial: pip install pyserial") from e
    with contextlib.ExitStack() as stack:
        if port == SIMULATED_PORT:
            from backends.fpga.link_sim import serial_model

            port = stack.enter_context(serial_model(folder))
        try:
            link = stack.enter_context(serial.Serial(port, baud, timeout=TIMEOUT_S))
        except (serial.SerialException, OSError, ValueError) as e:
            raise ConfigError(f"--port {port!r} cannot be opened: {e}") from e
        link.reset_input_buffer()
        yield link



def run_over_link(folder: FpgaFolder, data: Dataset, port: str, baud: int, limit: int | None = None,
                  learn_steps: int | None = None, progress: bool = False) -> dict[str, Any]:
    graph = folder.graph
    specs, _ = layer_specs(graph)
    shape = link_shape(specs, learn_spec(graph) is not None)
    if learn_steps is not None and not shape.learns:
        raise ConfigError(f"folder {str(folder.path)!r} has no learning engine: compile it with --learn "
                          "dfa|fa|pepita|ff|hebbian|oja")
    report: dict[str, Any] = {"dataset": data.name, "port": port, "baud": baud}
    with open_port(folder, port, baud) as transport:
        link = HostLink(transport, shape)
        link.identify()
        if folder.manifest.get("weights") == "loaded":  # not in the bitstream (SPRAM): the host writes them first
            weights = model_weights(graph)
            with tqdm(total=sum(w.size for w in weights), desc="loading weights", unit="weight",
                      disable=not progress, leave=False) as bar:
                link.write_weights(weights, bar.update)
            report["weights_loaded"] = int(sum(w.size for w in weights))
        total = learn_steps if learn_steps is not None else len(data.x_test[:limit])
        with tqdm(total=total, desc="host link", unit="sample", disable=not progress, leave=False) as bar:
            link.progress = bar.update
            if learn_steps is None:
                x, y = data.x_test[:limit], data.y_test[:limit]
                hardware = link.infer(input_codes(graph, x))
                last = [n for n, op in graph.nodes() if isinstance(op, digital.Dense)][-1]
                reference = interp.run(graph, x.astype(np.float64), keep=(last,))[last]
                report.update(samples=len(x), output_words=int(reference.size),
                              mismatched_words=int((hardware != reference).sum()),
                              hardware_accuracy=float((hardware.argmax(axis=1) == y).mean()),
                              predictions_equal_reference=bool((hardware.argmax(axis=1) ==
                                                                reference.argmax(axis=1)).all()))
                report["passed"] = report["mismatched_words"] == 0
                return report
            codes, labels = training_samples(folder, data, learn_steps)
            predictions = link.train(codes, labels)
            weights = link.read_weights([(s.n_out, s.columns) for s in specs])
    report.update(samples=learn_steps, **compare_training(folder, codes, labels, predictions, weights))
    report["passed"] = report["mismatched_weights"] == 0 and report["mismatched_output_words"] == 0
    return report
