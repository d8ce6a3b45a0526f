"""The SPICE target: a fully lowered ``analog`` graph → netlist, manifest and lowered model in one folder.

The emitter only translates: every number comes from the graph (decided by ``lower-analog``). The folder holds

- ``circuit.cir``: the netlist (neurocc's writer; deterministic). Its names are generated, never taken from the
  IR: the ``k``-th node in dependency order is ``x<k>`` (input), ``dac<k>``, ``xb<k>`` (crossbar), ``act<k>`` or
  ``adc<k>``, and everything that node adds to the netlist is named ``<prefix>_...``; no prefix holds ``_``, so
  no two nodes' names can meet, whatever the model calls its nodes (the manifest's ``names``: IR node → prefix);
- ``manifest.json``: which source is which input and at what scale, which node is which output and its ADC scale,
  the probes of the first (linear) stage, the tile map, the error budget and the options;
- ``model.ncm``: the lowered graph, so ``neurocc verify`` runs the reference on exactly what was emitted.

It is written to a temporary folder and renamed into place: a failure leaves nothing behind.
"""

from backends.spice.emit import emit

__all__ = ["emit"]
