"""Numba options for every kernel, in one place (no kernel sets its own), and the cache folder.

Numba's on-disk cache is keyed on each function's own source file only: a kernel that inlines
a function from another file would keep using a stale compiled copy after that file changed.
The cache therefore lives in a folder named by a hash of every kernel source file, so any
change to any kernel compiles afresh. Set NUMBA_CACHE_DIR to choose the folder yourself.
"""

import hashlib
import os
from pathlib import Path

import numba

JIT = dict(cache=True, nogil=True, fastmath=False)
JIT_PARALLEL = dict(JIT, parallel=True)
# Kernels that read and write arrays they are given and allocate none: compiled without reference
# counting. Numba 0.62+ (LLVM's new pass manager) no longer inlines op_costs_nb into step_time_nb
# before its reference-count pruning, so every step paid ~20 atomic NRT_incref/NRT_decref calls on
# its array arguments: step_time_nb ran 3.5-4x slower on numba 0.68 than on 0.61 (CPU time per call,
# interleaved runs). Without reference counting there are none to prune, on any numba version.
# A kernel compiled with this cannot allocate an array (numba refuses to compile it).
JIT_LEAF = dict(JIT, _nrt=False)
# Iterations of a parallel loop handed to a thread at a time where the work per iteration varies
# (the sweep's blocks): dynamic scheduling, used as `with numba.parallel_chunksize(DYNAMIC_CHUNK)`.
DYNAMIC_CHUNK = 1


def _kernel_source_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


if not os.environ.get("NUMBA_CACHE_DIR"):
    _base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    numba.config.CACHE_DIR = str(_base / "infersim" / f"numba-{_kernel_source_digest()}")
