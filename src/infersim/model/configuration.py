"""What one configuration is: precision, parallel mapping and workload, and the packed row
the kernels read for it. Validates user mistakes with messages that say how to fix them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import dtypes
from ..errors import InfersimError
from ..kernels import layout as L
from ..specs.chip import ChipSpec
from ..specs.model_arch import Architecture

DEFAULT_PREFILL_CHUNK_TOKENS = 8192  # vLLM/TRT-LLM default token budget per step (activation memory)


@dataclass(frozen=True)
class Precision:
    weight_dtype: str
    kv_dtype: str
    compute_dtype: str
    weight_only: bool

    @property
    def weight_bytes(self) -> float:
        return dtypes.BYTES_PER_ELEMENT[self.weight_dtype]

    @property
    def kv_bytes(self) -> float:
        return dtypes.BYTES_PER_ELEMENT[self.kv_dtype]

    @property
    def label(self) -> str:
        wo = " (weight-only)" if self.weight_only else ""
        return f"W{self.weight_dtype}/KV{self.kv_dtype}/C{self.compute_dtype}{wo}"


def resolve_precision(chip: ChipSpec, weight_dtype: str, kv_dtype: str, compute_dtype: str | None = None) -> Precision:
    """Check dtype names and choose the compute dtype the chip has (see dtypes.choose_compute_dtype)."""
    dtypes.bytes_per_element(weight_dtype, allowed=dtypes.WEIGHT_DTYPES, what="weight dtype")
    dtypes.bytes_per_element(kv_dtype, allowed=dtypes.KV_DTYPES, what="KV-cache dtype")
    compute, weight_only = dtypes.choose_compute_dtype(
        chip.id, chip.compute.dense_flops_per_s.available(), weight_dtype, compute_dtype
    )
    return Precision(weight_dtype, kv_dtype, compute, weight_only)


@dataclass(frozen=True)
class Mapping:
    """Parallel mapping: tp x pp chips per model replica, `replicas` copies (data parallel).

    ep is 1 (experts split by tensor parallelism) or tp (whole experts spread over the TP
    group, exchanged by all-to-all)."""

    tp: int = 1
    pp: int = 1
    ep: int = 1
    replicas: int = 1

    @property
    def chips(self) -> int:
        return self.tp * self.pp * self.replicas

    @property
    def label(self) -> str:
        return f"TP{self.tp} PP{self.pp} EP{self.ep} DP{self.replicas}"


@dataclass(frozen=True)
class Workload:
    input_len: int
    output_len: int
    prefill_chunk: int = DEFAULT_PREFILL_CHUNK_TOKENS

    def __post_init__(self) -> None:
        if self.input_len < 1 or self.output_len < 1:
            raise InfersimError(
                f"input and output lengths must be at least 1 token (got {self.input_len}, {self.output_len})"
            )


def check_mapping(chip: ChipSpec, arch: Architecture, m: Mapping) -> None:
    """Mapping errors a user can make, each with its fix."""
    if min(m.tp, m.pp, m.ep, m.replicas) < 1:
        raise InfersimError(f"tp, pp, ep and replicas must be >= 1 (got {m.label})")
    if m.tp > arch.n_heads:
        raise InfersimError(f"tp={m.tp} exceeds the {arch.n_heads} attention heads of {arch.id}: use tp <= {arch.n_heads}")
    if m.pp > arch.n_layers:
        raise InfersimError(f"pp={m.pp} exceeds the {arch.n_layers} layers of {arch.id}: use pp <= {arch.n_layers}")
    if m.ep not in (1, m.tp):
        raise InfersimError(f"ep={m.ep}: expert parallelism is 1 or equal to tp ({m.tp})")
    if m.ep > 1 and not arch.is_moe:
        raise InfersimError(f"ep={m.ep} but {arch.id} has no experts: use ep = 1")


def config_row(chip_idx: int, model_idx: int, precision: Precision, mapping: Mapping, workload: Workload,
               batch: int = 0) -> np.ndarray:
    row = np.zeros(L.K_FIELDS)
    row[L.K_CHIP] = chip_idx
    row[L.K_MODEL] = model_idx
    row[L.K_TP] = mapping.tp
    row[L.K_PP] = mapping.pp
    row[L.K_EP] = mapping.ep
    row[L.K_BATCH] = batch
    row[L.K_INPUT_LEN] = workload.input_len
    row[L.K_OUTPUT_LEN] = workload.output_len
    row[L.K_W_BYTES] = precision.weight_bytes
    row[L.K_KV_BYTES] = precision.kv_bytes
    row[L.K_ACT_BYTES] = dtypes.ACTIVATION_BYTES
    row[L.K_REPLICAS] = mapping.replicas
    row[L.K_PREFILL_CHUNK] = workload.prefill_chunk
    return row
