"""Floating-point operations per sweep point, counted (not timed): the stage kernels run as plain
Python (their py_func) on a float type that counts each +, -, *, / and ** (flops) and each
comparison, min and max (compares); multiplied by how often the kernel calls each stage (its
counters), plus the per-point combine. Independent of the machine, so a CI gate can check it."""

from __future__ import annotations

import numpy as np

from infersim.kernels import grid_sweep as K
from infersim.kernels import layout as L
from infersim.kernels import step as S

# the combine per point (grid_sweep._block_nb, per chip variant x budget that fits): $/M tokens (1 multiply),
# the histogram bin (add, subtract, multiply; 2 compares), top-k and Pareto tests (2 compares)
COMBINE_FLOPS_PER_POINT = 4
COMBINE_COMPARES_PER_POINT = 4
# per timing point that meets the targets: tokens/s (cycle: subtract, max, 2 multiplies, add; then
# multiply, divide), $/M tokens per $/chip-hour (2 multiplies, 1 divide), its log10, speed 1 / TPOT
TIMING_FLOPS_PER_POINT = 12


class Counting(float):
    """A float that counts the arithmetic done on it (class-wide counters)."""

    flops = 0
    compares = 0

    def _wrap(self, v):
        return Counting(v)


def _arith(name):
    op = getattr(float, name)

    def f(self, other):
        Counting.flops += 1
        return Counting(op(float(self), float(other)))
    return f


def _cmp(name):
    op = getattr(float, name)

    def f(self, other):
        Counting.compares += 1
        return op(float(self), float(other))
    return f


for _n in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__",
           "__pow__", "__rpow__"):
    setattr(Counting, _n, _arith(_n))
for _n in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
    setattr(Counting, _n, _cmp(_n))
Counting.__hash__ = float.__hash__
Counting.__neg__ = lambda self: Counting(-float(self))
for _n in ("floor", "ceil", "log2", "log10", "sqrt"):
    setattr(Counting, _n, (lambda fn: lambda self: (setattr(Counting, "flops", Counting.flops + 1), Counting(fn(float(self))))[1])(getattr(np, _n)))


def _obj(a):
    return np.array([Counting(x) for x in np.ravel(a)], dtype=object).reshape(np.shape(a))


def _count(fn, *args):
    Counting.flops = Counting.compares = 0
    fn(*args)
    return Counting.flops, Counting.compares


def stage_ops(arch, chip, cfg, batch):
    """(flops, compares) of one capacity, prefill and decode stage call, counted. Needs NUMBA_DISABLE_JIT=1
    (the stages call other kernels, which must run as Python too)."""
    py = {name: getattr(S, name) for name in ("capacity_nb", "prefill_phase_nb", "decode_phase_nb")}
    scratch = [_obj(np.zeros(L.N_OPS)) for _ in range(4)] + [np.zeros(L.N_OPS, dtype=np.int64), _obj(np.zeros(3))]
    a, c, k = _obj(arch), _obj(chip), _obj(cfg)
    return {"capacity": _count(py["capacity_nb"], a, c, k),
            "prefill": _count(py["prefill_phase_nb"], a, c, k, *scratch),
            "decode": _count(py["decode_phase_nb"], a, c, k, Counting(batch), *scratch)}


def _sampled_stage_ops(path):
    z = np.load(path)
    tot = {"capacity": np.zeros(2), "prefill": np.zeros(2), "decode": np.zeros(2)}
    for arch, chip, cfg, batch in zip(z["archs"], z["chips"], z["cfgs"], z["batches"]):
        for name, v in stage_ops(arch, chip, cfg, float(batch)).items():
            tot[name] += v
    return {k: (v / len(z["batches"])).tolist() for k, v in tot.items()}


def ops_per_point(g, counters, samples=50, seed=0):
    """Average flops and compares per point of grid g, from the kernel's counters (K.N_*) and the counted
    cost of each stage on `samples` random (timing variant, model, mapping, lengths, batch); the counting
    runs in a subprocess with the JIT off."""
    import json
    import os
    import subprocess
    import sys
    import tempfile

    rng = np.random.default_rng(seed)
    cfgs = np.repeat(g.cfg[None, :], samples, axis=0)
    cfgs[:, L.K_TP], cfgs[:, L.K_PP] = rng.choice(g.tps, samples), rng.choice(g.pps, samples)
    cfgs[:, L.K_INPUT_LEN], cfgs[:, L.K_OUTPUT_LEN] = rng.choice(g.inputs, samples), rng.choice(g.outputs, samples)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "samples.npz")
        np.savez(path, archs=g.archs[rng.integers(len(g.archs), size=samples)],
                 chips=g.tchips[rng.integers(len(g.tchips), size=samples)], cfgs=cfgs,
                 batches=rng.choice(g.batches, samples))
        run = subprocess.run([sys.executable, __file__, path], capture_output=True, text=True, check=True,
                             env=dict(os.environ, NUMBA_DISABLE_JIT="1"))
    per = {k: np.array(v) for k, v in json.loads(run.stdout).items()}
    n = g.n_points
    flops = (per["capacity"][0] * counters[K.N_CAPACITY_CALLS] + per["prefill"][0] * counters[K.N_PREFILL_CALLS]
             + per["decode"][0] * counters[K.N_DECODE_CALLS] + TIMING_FLOPS_PER_POINT * counters[K.N_TIMING_POINTS]
             + COMBINE_FLOPS_PER_POINT * counters[K.N_KEPT]) / n
    compares = (per["capacity"][1] * counters[K.N_CAPACITY_CALLS] + per["prefill"][1] * counters[K.N_PREFILL_CALLS]
                + per["decode"][1] * counters[K.N_DECODE_CALLS] + COMBINE_COMPARES_PER_POINT * counters[K.N_KEPT]) / n
    return {"flops_per_point": float(flops), "compares_per_point": float(compares),
            "stage_flops": {k: float(v[0]) for k, v in per.items()},
            "stage_compares": {k: float(v[1]) for k, v in per.items()}}


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(_sampled_stage_ops(sys.argv[1])))
