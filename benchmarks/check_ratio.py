"""CI gate on a benchmark run (pytest benchmarks --benchmark-json=RUN.json):
1. the factorised numba kernel against the factorised NumPy reference, measured in the same run: their
   ratio must stay within 30 % of the committed baseline (benchmarks/baseline.json);
2. the work per point, counted rather than timed (decode steps and floating-point operations per
   point): it must not grow more than 10 % over the baseline, whatever the machine's speed.
Usage: python benchmarks/check_ratio.py RUN.json"""

import json
import sys
from pathlib import Path

run = json.loads(Path(sys.argv[1]).read_text())
info = {b["name"]: b["extra_info"] for b in run["benchmarks"]}
kernel, numpy_ref = info["test_sweep_kernel_throughput"], info["test_numpy_reference_throughput"]
old = info.get("test_old_reference_throughput", {})
base = json.loads((Path(__file__).parent / "baseline.json").read_text())
ratio = kernel["points_per_s"] / numpy_ref["points_per_s"]
print(f"machine: {kernel.get('cpu')}, {kernel.get('cores')} cores; numba {kernel.get('numba')} "
      f"(llvmlite {kernel.get('llvmlite')}), numpy {kernel.get('numpy')}, Python {kernel.get('python')}")
print(f"sweep kernel ({kernel.get('numba_threads')} threads) {kernel['points_per_s'] / 1e6:.1f} M points/s; "
      f"factorised NumPy (1 thread) {numpy_ref['points_per_s'] / 1e6:.2f} M points/s: ratio {ratio:.2f} "
      f"(baseline {base['kernel_over_factorised_numpy']:.2f})"
      + (f"; old per-point NumPy {old['points_per_s'] / 1e6:.3f} M points/s" if old else ""))
print(f"work per point: {kernel['decode_steps_per_point']:.4f} decode steps, {kernel['flops_per_point']:.1f} flops "
      f"(baseline {base['decode_steps_per_point']:.4f}, {base['flops_per_point']:.1f})")
failed = []
if ratio < 0.7 * base["kernel_over_factorised_numpy"]:
    failed.append(f"the kernel's speed-up over NumPy fell more than 30 % below the baseline "
                  f"({ratio:.2f} < 0.7 x {base['kernel_over_factorised_numpy']:.2f})")
for key in ("decode_steps_per_point", "flops_per_point"):
    if kernel[key] > 1.1 * base[key]:
        failed.append(f"{key} grew more than 10 % over the baseline ({kernel[key]:.4g} > 1.1 x {base[key]:.4g})")
if failed:
    sys.exit("; ".join(failed))
