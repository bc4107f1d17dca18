"""Roofline figure: a chip's compute and memory roofs, with prefill and decode operators placed
on them at several batch sizes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from .. import units  # noqa: E402
from ..errors import InfersimError  # noqa: E402
from ..model.evaluate import operator_table  # noqa: E402

MARKERS = {"qkv_proj": "o", "attention": "s", "attention_window": "D", "o_proj": "^", "mlp": "v",
           "moe_experts": "P", "moe_shared_experts": "X", "lm_head": "*", "moe_router": "h",
           "norm_elementwise": "p", "embed": "<"}


def plot_roofline(title: str, peak_flops_per_s: float, bw_bytes_per_s: float, eff_prefill: float,
                  eff_decode: float, eff_mem: float, phases: dict[str, pd.DataFrame], path: Path) -> Path:
    """phases: label -> operator table (infersim.model.evaluate.operator_table). Writes PNG or SVG."""
    if path.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InfersimError(f"figure file '{path}' must end in .png, .svg or .pdf")
    fig, ax = plt.subplots(figsize=(9, 6), dpi=110)
    x = np.logspace(-1, 5, 400)
    ax.plot(x, np.minimum(peak_flops_per_s, x * bw_bytes_per_s), "k-", lw=2, label="peak roof")
    for eff_c, style, name in ((eff_prefill, "--", "prefill"), (eff_decode, ":", "decode")):
        ax.plot(x, np.minimum(peak_flops_per_s * eff_c, x * bw_bytes_per_s * eff_mem), "k", ls=style, lw=1,
                label=f"achievable roof ({name} efficiencies)")
    ridge = peak_flops_per_s / bw_bytes_per_s
    ax.axvline(ridge, color="grey", lw=0.6)
    ax.annotate(f"ridge {ridge:.0f} FLOP/B", (ridge, peak_flops_per_s * 1.1), fontsize=8, ha="center")
    colors = plt.cm.viridis(np.linspace(0, 0.9, max(len(phases), 1)))
    for color, (label, table) in zip(colors, phases.items()):
        ops = table[(table["flops_per_chip"] > 0) & (table["bound"] != "network")]
        for r in ops.itertuples(index=False):
            per_instance_time = r.time_s / r.count
            achieved = (r.flops_per_chip / r.count) / per_instance_time
            ax.scatter(r.intensity_flop_per_byte, achieved, color=color, marker=MARKERS.get(r.op, "o"), s=40,
                       edgecolor="k", linewidth=0.3, zorder=3)
        ax.scatter([], [], color=color, marker="o", label=label)
    for op, marker in MARKERS.items():
        if any(op in set(t["op"]) for t in phases.values()):
            ax.scatter([], [], color="w", edgecolor="k", marker=marker, label=op)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("arithmetic intensity (FLOP / byte)")
    ax.set_ylabel("achieved FLOP/s per chip")
    ax.set_title(title, fontsize=10)
    ax.set_ylim(peak_flops_per_s * 1e-4, peak_flops_per_s * 2)
    ax.grid(True, which="both", lw=0.3, alpha=0.5)
    ax.legend(fontsize=7, loc="lower right", ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def roofline_figure(chip, arch, precision, mapping, workload, batches, path: Path) -> Path:
    """The roofline of `chip` with the prefill of one prompt and decode steps at `batches` on it."""
    phases = {f"prefill {workload.input_len} tok": operator_table(chip, arch, precision, mapping, workload, 1, "prefill")}
    for b in batches:
        phases[f"decode batch {b}"] = operator_table(chip, arch, precision, mapping, workload, b, "decode")
    peak = chip.compute.dense_flops_per_s.available()[precision.compute_dtype]
    main = chip.memory.main
    eff = chip.efficiency
    title = (f"{chip.name}: {arch.id}, {precision.label}, {mapping.label}\n"
             f"peak {units.flops_to_tflops(peak):.0f} TFLOP/s {precision.compute_dtype}, "
             f"{units.bytes_per_s_to_tb_per_s(main.bandwidth_bytes_per_s):.2f} TB/s {main.technology}")
    return plot_roofline(title, peak, main.bandwidth_bytes_per_s, eff.prefill_compute, eff.decode_compute,
                         eff.memory_bandwidth, phases, path)
