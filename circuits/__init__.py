"""Circuit building blocks that know nothing of the IR: ``analog`` (netlists, solver) and ``digital`` (Amaranth)."""
