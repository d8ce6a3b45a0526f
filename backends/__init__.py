"""Backends translate a fully lowered graph into circuits: ``spice`` (analog crossbars) and ``fpga`` (Amaranth).

They make no numerical decision of their own; passes decide and store every number in the IR.
"""
