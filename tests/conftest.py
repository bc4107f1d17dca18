import pytest

from infersim.specs.library import Library


@pytest.fixture(scope="session")
def lib() -> Library:
    """The bundled library only (ignores $INFERSIM_SPECS_PATH so tests are reproducible)."""
    return Library(use_env=False)


def pytest_collection_modifyitems(config, items):
    """Tests marked `jit_only` (whole-file accuracy regressions, closed-loop searches) run in the
    first CI pass; the coverage pass with NUMBA_DISABLE_JIT=1 runs the kernels as plain Python and
    would take far too long on them (their code is covered by the smaller tests)."""
    import os

    if os.environ.get("NUMBA_DISABLE_JIT") == "1":
        skip = pytest.mark.skip(reason="runs in the JIT pass: too slow as plain Python")
        for item in items:
            if "jit_only" in item.keywords:
                item.add_marker(skip)
