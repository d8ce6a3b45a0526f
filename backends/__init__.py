"""Backends translate a fully lowered graph into circuits: ``spice`` (analog crossbars) and ``fpga`` (Amaranth),
through ``folder`` (folders written atomically and read back as data).

They make no numerical decision of their own; passes decide and store every number in the IR. The table of
targets that wires a backend to its pipeline and its verification is ``compiler.targets.TARGETS``.
"""
