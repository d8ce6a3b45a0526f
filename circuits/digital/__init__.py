"""Digital building blocks in Amaranth 0.5 (``lib.wiring`` components); they know nothing of the IR."""
