"""The `infersim` command line: one module per command group, `app` builds the parser."""

from .app import main

__all__ = ["main"]
