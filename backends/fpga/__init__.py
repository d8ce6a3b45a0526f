"""The FPGA target: a quantized ``digital`` graph → an Amaranth network, its Verilog and a manifest."""

from backends.fpga.emit import build_network, emit, layer_specs

__all__ = ["build_network", "emit", "layer_specs"]
