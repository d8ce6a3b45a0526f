"""``neurocc run``: a compiled folder's design on a board (or its Verilator model) through the UART host link,
checked against the integer reference exactly as ``neurocc verify`` checks the simulation.

Where the bitstream holds no weights (a shared datapath's SPRAM), every weight is written over the link first.
Inference streams the test inputs over the link and compares every output word with the reference; with
``learn_steps`` it trains that many samples over the link (``T`` commands), reads every weight back (``R``) and
compares them, and the predictions made on the way, with the reference trainer's.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from backends.fpga.board_top import link_shape
from backends.fpga.boards import get_board
from backends.fpga.emit import layer_specs, learn_spec
from backends.fpga.host import BATCH, HostLink, Transport
from backends.fpga.learn import Dataset, compare_training, training_samples
from backends.fpga.run import FpgaFolder, input_codes, model_weights
from circuits.digital.bridge import word_bytes
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



def samples_per_batch(folder: FpgaFolder, port: str, baud: int, training: bool) -> int:
    """How many samples the host may send before reading their answers: :data:`~backends.fpga.host.BATCH` where
    the network is done with a sample before the next has arrived over the link, else one (the link has no flow
    control: samples would back up past the board top's receive FIFO and be lost). The link's clocks per bit
    come from the Verilator model, or the folder's build report (the bitstream's), or the board's clock and
    ``baud``; where none of those can be read, one."""
    m = folder.manifest
    try:
        if port == SIMULATED_PORT:
            from backends.fpga.link_sim import SIM_DIVISOR

            divisor = SIM_DIVISOR
        elif (folder.path / "build" / "report.json").is_file():
            divisor = int(json.loads((folder.path / "build" / "report.json").read_text())["link"]["clocks_per_bit"])
        else:
            divisor = round(get_board(str(m["board"])).clock_hz / baud)
        cycles = int(m["learning"]["cycles_per_training_sample"] if training else m["cycles_per_inference"])
        word = word_bytes(int(m["input"]["bits"]))
        arriving = (1 + int(m["input"]["count"]) * word + (word if training else 0)) * 10 * divisor
    except (KeyError, TypeError, ValueError, OSError, ConfigError):
        return 1
    return BATCH if cycles < arriving else 1


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
        link = HostLink(transport, shape, batch=samples_per_batch(folder, port, baud, learn_steps is not None))
        report["samples_per_batch"] = link.batch
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
