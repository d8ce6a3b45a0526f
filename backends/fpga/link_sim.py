"""The whole board design, UART included, in Verilator, its serial port a pseudo-terminal: a host driver (or
``neurocc run --port verilator``) talks to it exactly as to a board, with no board.

The model is the host link's logic (:class:`backends.fpga.board_top.SerialTop`) around the folder's
``neurocc_network`` Verilog; its C++ harness opens a pseudo-terminal, prints the terminal's path, and then clocks
the model: bytes written to the terminal go out on the model's ``rx`` line as 8N1 frames of ``divisor`` cycles
per bit, frames on its ``tx`` line come back to the terminal as bytes. It stops when its standard input closes.
Builds share Verilator's cache (:mod:`backends.fpga.verilator`), keyed by the harness, the Verilator version and
both Verilog texts; the network's Verilog is the one ``model.ncm`` derives.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from amaranth.back import verilog as amaranth_verilog

from backends.fpga.board_top import SerialTop, link_shape
from backends.fpga.emit import layer_specs, learn_spec
from backends.fpga.verilator import _version, cached_build, verilator_path
from errors import SimulationError

if TYPE_CHECKING:
    from backends.fpga.run import FpgaFolder

SIM_DIVISOR = 16
"""Clock cycles per bit in the model: fast to simulate, yet slower than any digits design computes (an input of
``n_in`` words takes ``10 · divisor`` cycles per byte to arrive)."""
_KEY_VERSION = b"neurocc-link-1"

HARNESS = r"""// neurocc: the host link's Verilator model behind a pseudo-terminal (backends/fpga/link_sim.py).
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <fcntl.h>
#include <poll.h>
#include <termios.h>
#include <unistd.h>
#include "Vneurocc_link.h"
#include "verilated.h"

int main(int argc, char** argv) {
  if (argc != 2) { std::fprintf(stderr, "usage: %s DIVISOR\n", argv[0]); return 2; }
  const long divisor = std::atol(argv[1]);
  int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master < 0 || grantpt(master) || unlockpt(master)) { std::perror("pty"); return 2; }
  const char* name = ptsname(master);
  int slave = open(name, O_RDWR | O_NOCTTY);  // held open: the terminal stays up between host sessions
  struct termios raw;
  tcgetattr(slave, &raw); cfmakeraw(&raw); tcsetattr(slave, TCSANOW, &raw);
  fcntl(master, F_SETFL, O_NONBLOCK);
  std::printf("%s\n", name); std::fflush(stdout);

  Vneurocc_link* top = new Vneurocc_link;
  top->rx = 1; top->rst = 1;
  for (int k = 0; k < 4; ++k) { top->clk = 0; top->eval(); top->clk = 1; top->eval(); }
  top->rst = 0;
  std::deque<unsigned char> to_device;
  long send_bit = -1, send_timer = 0; unsigned send_frame = 0;   // host -> device frame in flight
  long recv_bit = -1, recv_timer = 0; unsigned recv_byte = 0;    // device -> host frame being sampled
  long quiet = 0;
  unsigned char buf[512];
  for (;;) {
    if (to_device.empty() || quiet > 100000) {
      struct pollfd fds[2] = {{master, POLLIN, 0}, {0, POLLIN, 0}};
      int ready = poll(fds, 2, quiet > 100000 ? 20 : 0);
      if (ready > 0 && (fds[1].revents & (POLLIN | POLLHUP))) {
        if (read(0, buf, sizeof buf) <= 0) break;  // the host is gone
      }
      if (ready > 0 && (fds[0].revents & POLLIN)) {
        ssize_t n = read(master, buf, sizeof buf);
        for (ssize_t k = 0; k < n; ++k) to_device.push_back(buf[k]);
        if (n > 0) quiet = 0;
      }
    }
    if (send_bit < 0 && !to_device.empty()) {  // start bit, 8 data bits, stop bit
      send_frame = (1u << 9) | ((unsigned)to_device.front() << 1); to_device.pop_front();
      send_bit = 0; send_timer = 0;
    }
    if (send_bit >= 0) {
      top->rx = (send_frame >> send_bit) & 1;
      if (++send_timer == divisor) { send_timer = 0; if (++send_bit == 10) send_bit = -1; }
      quiet = 0;
    } else {
      top->rx = 1;
    }
    top->clk = 0; top->eval();
    const int line = top->tx;
    if (recv_bit < 0) {
      if (!line) { recv_bit = 0; recv_timer = 0; recv_byte = 0; quiet = 0; }
    } else if (++recv_timer == divisor / 2 + recv_bit * divisor) {
      if (recv_bit >= 1 && recv_bit <= 8) recv_byte |= (unsigned)line << (recv_bit - 1);
      if (++recv_bit == 10) {
        unsigned char out = (unsigned char)recv_byte;
        while (write(master, &out, 1) != 1 && errno == EAGAIN) usleep(100);
        recv_bit = -1;
      }
    }
    top->clk = 1; top->eval();
    ++quiet;
  }
  top->final();
  delete top;
  close(slave);
  close(master);
  return 0;
}
"""


def _sources(folder: FpgaFolder, divisor: int) -> tuple[str, str]:
    specs, _ = layer_specs(folder.graph)
    top = SerialTop(link_shape(specs, learn_spec(folder.graph) is not None), divisor)
    return amaranth_verilog.convert(top, name="neurocc_link", emit_src=False), folder.verilog()


def build_link_model(folder: FpgaFolder, divisor: int = SIM_DIVISOR) -> Path:
    """The Verilator model of ``folder``'s board design (host link and network), from the cache or built."""
    tool = verilator_path()
    link, network = _sources(folder, divisor)
    if (folder.path / "network.v").read_text() != network:
        raise SimulationError(f"folder {str(folder.path)!r}: network.v is not the Verilog model.ncm derives; "
                              "recompile")
    key = [_KEY_VERSION, HARNESS.encode(), _version(tool), link.encode(), network.encode()]
    return cached_build(key, lambda: {"link.v": link, "network.v": network, "harness.cpp": HARNESS}, "neurocc_link",
                        f"the host link model of {str(folder.path)!r}")


@contextlib.contextmanager
def serial_model(folder: FpgaFolder, divisor: int = SIM_DIVISOR) -> Iterator[str]:
    """Run the model; yields the path of its pseudo-terminal (open it as a serial port at any baud rate)."""
    exe = build_link_model(folder, divisor)
    with subprocess.Popen([str(exe), str(divisor)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None and proc.stdin is not None
        path = proc.stdout.readline().strip()
        if not path:
            raise SimulationError(f"the host link model did not start: {proc.stderr.read().strip()}")  # type: ignore[union-attr]
        try:
            yield path
        finally:
            proc.stdin.close()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
