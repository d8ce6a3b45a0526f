"""Frontends: bring a network from outside into the IR's ``nn`` dialect (plus ``learn`` for trained models)."""

from compiler.frontend.torch_import import from_sequential, from_trained

__all__ = ["from_sequential", "from_trained"]
