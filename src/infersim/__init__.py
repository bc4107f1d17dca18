"""infersim: which chip serves this model and this traffic at the lowest cost per token, at this
latency, and why. A first-principles simulator of LLM-inference hardware performance and cost.

The public API (`infersim.load_library`, `compare`, `evaluate`, `goodput`, `frontier`, `sweep`,
`validate`) lives in `infersim.api` and is loaded on first use, so `import infersim` (and the
command line) stays cheap. docs/architecture.md in the repository explains the layout.
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["load_library", "compare", "evaluate", "goodput", "frontier", "sweep", "validate"]


def __getattr__(name: str):
    if name in __all__:
        from . import api

        return getattr(api, name)
    raise AttributeError(f"module 'infersim' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
