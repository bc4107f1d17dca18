import numpy as np
import pytest

from infersim.kernels import layout as L
from infersim.model.configuration import Mapping, Precision, Workload, config_row
from infersim.model.packing import pack_architecture, pack_chip
from infersim.specs.library import Library


@pytest.fixture(scope="session")
def lib():
    return Library(use_env=False)


@pytest.fixture(scope="session")
def grid(lib):
    """100,000 configurations: 6 chips x 4 models x mappings x batches x lengths."""
    chips = ["nvidia-h100-sxm", "nvidia-h200-sxm", "nvidia-b200", "amd-mi300x", "google-tpu-v6e", "aws-trainium2"]
    models = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "deepseek-r1"]
    chip_rows = np.stack([pack_chip(lib.chip(c), "bf16") for c in chips])
    arch_rows = np.stack([pack_architecture(lib.architecture(m)) for m in models])
    rng = np.random.default_rng(0)
    n = 100_000
    p = Precision("fp8", "fp8", "bf16", True)
    base = config_row(0, 0, p, Mapping(), Workload(1024, 256))
    cfgs = np.tile(base, (n, 1))
    cfgs[:, L.K_CHIP] = rng.integers(0, len(chips), n)
    cfgs[:, L.K_MODEL] = rng.integers(0, len(models), n)
    cfgs[:, L.K_TP] = rng.choice([1, 2, 4, 8], n)
    cfgs[:, L.K_PP] = rng.integers(1, 5, n)
    cfgs[:, L.K_BATCH] = rng.choice([0, 1, 8, 64, 256], n)
    cfgs[:, L.K_INPUT_LEN] = rng.integers(128, 8192, n)
    cfgs[:, L.K_OUTPUT_LEN] = rng.integers(64, 2048, n)
    return arch_rows, chip_rows, cfgs


@pytest.fixture(scope="session")
def machine():
    """What every result is recorded with: processor, cores, threads, Python and library versions."""
    import os
    import platform

    import llvmlite
    import numba

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "numba_threads": numba.get_num_threads(),
            "python": platform.python_version(), "numba": numba.__version__, "llvmlite": llvmlite.__version__,
            "numpy": np.__version__}
