"""The compiler: frontends into the IR, passes and pipelines, evaluation, and the ``neurocc`` CLI."""
