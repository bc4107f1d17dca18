"""infersim: which chip serves this model and this traffic at the lowest cost per token, at this
latency, and why. A first-principles simulator of LLM-inference hardware performance and cost.

The public API (`infersim.load_library`, `compare`, `evaluate`, `goodput`, `frontier`, `sweep`,
`validate`) lives in `infersim.api` and is loaded on first use, so `import infersim` (and the
command line) stays cheap. docs/architecture.md in the repository explains the layout.
"""

from __future__ import annotations

import types as _types

from . import sweep as _sweep_package  # the grid engine's package: its __init__ imports nothing

__version__ = "0.1.0"
__all__ = ["load_library", "compare", "evaluate", "goodput", "frontier", "sweep", "validate"]


def __getattr__(name: str):
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'infersim' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])


class _CallableSweepPackage(_types.ModuleType):
    """`infersim.sweep` is both the grid engine's package and the API's `sweep()`: once the
    package is imported Python binds its name on `infersim`, which would hide the function."""

    def __call__(self, *args, **kwargs):
        from .api import sweep

        return sweep(*args, **kwargs)


_sweep_package.__class__ = _CallableSweepPackage
