"""Analog building blocks: the netlist model and writer, crossbar tiles, the nodal solver, the ngspice runner."""
