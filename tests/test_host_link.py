"""The UART host link: UART, bridge and network together in the Amaranth simulator, driven over the serial lines
with the host driver's own encoding; answers equal the integer reference."""

import json
import re

import numpy as np
import pytest
from amaranth.sim import Simulator

from backends.fpga import build_network
from backends.fpga.board_top import LinkedNetwork, link_shape
from backends.fpga.emit import layer_specs
from backends.fpga.host import decode_words, encode_samples, encode_weight
from circuits.digital.bridge import OUT_OF_STEP, WRITTEN, word_bytes
from circuits.digital.uart import UartRx, UartTx
from tests.conftest import mapped
from tests.test_backend_fpga import quantized, reference_words

DIVISOR = 8


def serial(data: bytes) -> list[int]:
    """The line levels of ``data`` sent 8N1, one entry per bit, an idle bit between bytes."""
    levels = [1, 1]
    for byte in data:
        levels += [0, *[(byte >> k) & 1 for k in range(8)], 1, 1]
    return levels + [1]


def talk(dut, rx_line, tx_line, sent: bytes, expect: int, divisor: int = DIVISOR,
         max_cycles: int = 400_000) -> bytes:
    """Send ``sent`` on ``rx_line`` and decode ``expect`` bytes from ``tx_line`` (a software UART at mid-bit)."""
    levels = serial(sent)
    got = bytearray()

    async def bench(ctx):
        cycle, start, bits = 0, None, []
        while len(got) < expect:
            assert cycle < max_cycles, f"{len(got)} of {expect} bytes after {cycle} cycles: {bytes(got)!r}"
            ctx.set(rx_line, levels[min(cycle // divisor, len(levels) - 1)])
            line = ctx.get(tx_line)
            if start is None and not line:
                start, bits = cycle, []
            elif start is not None and (cycle - start) % divisor == divisor // 2:
                bits.append(line)
                if len(bits) == 10:
                    assert bits[0] == 0 and bits[9] == 1, "framing"
                    got.append(sum(b << k for k, b in enumerate(bits[1:9])))
                    start = None
            await ctx.tick()
            cycle += 1

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return bytes(got)


def test_uart_loopback_carries_every_byte_value():
    from amaranth import Module
    from amaranth.lib import wiring

    class Loop(wiring.Component):
        def __init__(self):
            super().__init__({"rx": wiring.In(1, init=1), "tx": wiring.Out(1, init=1)})

        def elaborate(self, platform):
            m = Module()
            m.submodules.r, m.submodules.t = r, t = UartRx(DIVISOR), UartTx(DIVISOR)
            m.d.comb += [r.rx.eq(self.rx), self.tx.eq(t.tx)]
            wiring.connect(m, r.data, t.data)
            return m

    data = bytes(range(256))
    dut = Loop()
    assert talk(dut, dut.rx, dut.tx, data, len(data)) == data


@pytest.fixture(scope="module")
def linked():
    g, x = quantized((5, 6, 3), ("relu",), 3)
    g = mapped(g, 2)
    specs, _ = layer_specs(g)
    return g, x, link_shape(specs, learns=False)


def test_inference_over_the_link_equals_the_reference(linked):
    g, x, shape = linked
    codes, words = reference_words(g, x[:4])
    dut = LinkedNetwork(build_network(g), DIVISOR)
    size = shape.n_out * word_bytes(shape.out_bits)
    answer = talk(dut, dut.rx, dut.tx, b"?" + encode_samples(shape, codes), 8 + 4 * size)
    assert answer[:8] == shape.identity()
    np.testing.assert_array_equal(np.array(decode_words(answer[8:], shape.out_bits)).reshape(4, -1), words)


def test_weights_write_and_read_back_over_the_link_and_change_the_outputs(linked):
    g, x, shape = linked
    codes, _ = reference_words(g, x[:1])
    dut = LinkedNetwork(build_network(g), DIVISOR)
    w = word_bytes(shape.w_bits)
    sent = (encode_weight(shape, 1, 2, 4, -77) + encode_weight(shape, 1, 2, 4) + encode_weight(shape, 0, 5, 0)
            + b"x")
    answer = talk(dut, dut.rx, dut.tx, sent, 1 + 2 * w + 1)
    assert answer[:1] == WRITTEN
    assert decode_words(answer[1:1 + w], shape.w_bits) == [-77]
    original = int(g.params[g.op("fc1").weight][5, 0])
    assert decode_words(answer[1 + w:1 + 2 * w], shape.w_bits) == [original]
    assert answer[-1:] == OUT_OF_STEP


class Silent:
    """A transport whose other end answers ``answer`` (then nothing), and records what was written."""

    def __init__(self, answer: bytes = b""):
        self.answer, self.sent = answer, b""

    def write(self, data):
        self.sent += data

    def read(self, size):
        out, self.answer = self.answer[:size], self.answer[size:]
        return out


def test_the_host_driver_refuses_other_hardware_and_a_silent_port(linked):
    from backends.fpga.host import HostLink
    from errors import SimulationError

    _, _, shape = linked
    with pytest.raises(SimulationError, match=r"identifies as b'NC\\x01\\x00\\t.*build and load this folder's"):
        HostLink(Silent(b"NC\x01\x00\x09\x00\x03\x00"), shape).identify()
    with pytest.raises(SimulationError, match="sent 0 of the 6 bytes of the outputs of samples 0–0, then nothing"):
        HostLink(Silent(), shape).infer(np.zeros((1, shape.n_in), dtype=np.int64))
    with pytest.raises(SimulationError, match="no learning engine"):
        HostLink(Silent(), shape).train(np.zeros((1, shape.n_in)), np.zeros(1))


def test_run_names_a_port_it_cannot_open(small_model, tmp_path, capsys):
    from compiler.cli import main

    out = tmp_path / "hw"
    assert main(["compile", str(small_model), "--target", "fpga", "--pe", "4", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["run", str(out), "--port", str(tmp_path / "ttyNONE")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: --port {str(tmp_path / 'ttyNONE')!r} cannot be opened: ") and err.count("\n") == 1
    assert main(["run", str(out), "--learn-steps", "3"]) == 1
    assert "has no learning engine" in capsys.readouterr().err


@pytest.mark.slow
def test_the_whole_test_set_over_the_uart_in_verilator_equals_verify(small_model, tmp_path, capsys):
    from compiler.cli import main

    out = tmp_path / "hw"
    assert main(["compile", str(small_model), "--target", "fpga", "--pe", "4", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["run", str(out), "--port", "verilator", "--json", "--quiet"]) == 0
    linked = json.loads(capsys.readouterr().out)
    assert main(["verify", str(out), "--json", "--quiet"]) == 0
    verified = json.loads(capsys.readouterr().out)
    assert linked["passed"] and linked["samples"] == verified["samples"] == 360
    assert linked["output_words"] == verified["output_words"] == 3600 and linked["mismatched_words"] == 0
    assert linked["hardware_accuracy"] == verified["hardware_accuracy"]


@pytest.mark.slow
@pytest.mark.parametrize("rule, batch", [("dfa", 16), ("ff", 1)])
def test_training_over_the_uart_gives_the_weights_verify_learn_steps_gives(tmp_path, capsys, rule, batch):
    """64-64-10 at P = 2: DFA computes a sample before the next has arrived over the link, so the host sends them
    16 at a time; forward-forward does not, so the host sends one at a time (16 would overflow the receive FIFO:
    the link has no flow control, and the words lost put the host out of step)."""
    from compiler.cli import main

    model, out = tmp_path / "init.ncm", tmp_path / "learn"
    assert main(["train", "--rule", rule, "--epochs", "0", "-o", str(model), "--quiet"]) == 0
    assert main(["compile", str(model), "--target", "fpga", "--learn", "--pe", "2", "-o", str(out)]) == 0
    capsys.readouterr()
    assert main(["run", str(out), "--port", "verilator", "--learn-steps", "100", "--json", "--quiet"]) == 0
    linked = json.loads(capsys.readouterr().out)
    assert linked["samples_per_batch"] == batch
    assert main(["verify", str(out), "--learn-steps", "100", "--json", "--quiet"]) == 0
    verified = json.loads(capsys.readouterr().out)
    assert linked["passed"] and linked["mismatched_weights"] == 0 and linked["weights"] == verified["weights"]
    assert linked["weights_changed_by_training"] == verified["weights_changed_by_training"]
    assert sum(linked["weights_changed_by_training"]) > 0


def test_a_network_the_protocol_cannot_address_is_refused():
    from circuits.digital.network import LayerSpec
    from errors import UnsupportedOpError

    wide = LayerSpec(weights=[[0] * 70_000], bias=[0], in_bits=8, w_bits=8, acc_bits=24, shift=0, fn="identity",
                     out_bits=24, out_frac=0)
    with pytest.raises(UnsupportedOpError, match="^the host link addresses at most 65535 rows or columns"):
        link_shape([wide], learns=False)


@pytest.mark.slow
def test_weights_in_spram_are_written_over_the_uart_before_the_inputs(tmp_path, capsys):
    """A folder whose weights are not in the bitstream (SPRAM): `neurocc run` writes all of them over the link,
    then the test inputs give the reference's words."""
    from compiler.api import compile
    from compiler.cli import main
    from compiler.passes import PassManager
    from compiler.passes.share_datapath import ShareDatapath
    from tests.test_backend_fpga import quantized as quantized_digits

    g, _ = quantized_digits((64, 12, 10), ("relu",), 1)
    hw = PassManager([ShareDatapath(weight_store="spram")]).run(mapped(g, 4))
    out = compile(hw, "fpga", tmp_path / "hw").path
    capsys.readouterr()
    assert main(["run", str(out), "--port", "verilator", "--dataset", "digits", "--limit", "20", "--baud", "1000000",
                 "--quiet"]) == 0
    assert re.fullmatch(r"over the host link \(verilator\) \(888 weights written first\): 20 digits test inputs, "
                        r"accuracy [\d.]+; 200 of 200 output words equal the integer reference\nPASS\n",
                        capsys.readouterr().out)
