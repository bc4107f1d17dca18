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
    """Parallel mapping of one model replica, and how many replicas (independent copies) run.

    A replica has tp x pp x attn_dp chips. Attention (with dense layers, shared experts, router,
    embeddings) runs in attn_dp groups of tp chips, each group with its own sequences and KV cache;
    the routed experts of a pipeline stage run over all tp x attn_dp chips of that stage: ep
    expert-parallel ranks, each expert split over (tp x attn_dp) / ep chips (expert TP). This is
    the definition of schema revision 3 of the validation data (attn_dp) and of the engines'
    `--tp --dp --enable-expert-parallel` (vLLM) or `--tp --dp --ep` with DP attention (SGLang)."""

    tp: int = 1
    pp: int = 1
    ep: int = 1
    replicas: int = 1
    attn_dp: int = 1
    redundant_experts: int = 0    # extra expert slots per MoE layer holding copies of hot experts (EPLB)

    @property
    def chips_per_replica(self) -> int:
        return self.tp * self.pp * self.attn_dp

    @property
    def chips(self) -> int:
        return self.chips_per_replica * self.replicas

    @property
    def expert_tp(self) -> int:
        """Chips one routed expert is split over."""
        return self.tp * self.attn_dp // self.ep

    @property
    def label(self) -> str:
        """The mapping in the engines' vocabulary: `tp8 dp8 ep64` (attention TP8 in 8 attention-DP
        groups, experts over all 64 chips), `tp1 pp2`; `x3` for three independent replicas; `ep144+32`
        for 32 redundant expert slots (EPLB)."""
        parts = [f"tp{self.tp}"]
        if self.pp > 1:
            parts.append(f"pp{self.pp}")
        if self.attn_dp > 1:
            parts.append(f"dp{self.attn_dp}")
        if self.ep > 1:
            parts.append(f"ep{self.ep}" + (f"+{self.redundant_experts}" if self.redundant_experts else ""))
        if self.replicas > 1:
            parts.append(f"x{self.replicas}")
        return " ".join(parts)


@dataclass(frozen=True)
class SpecDecode:
    """Speculative decoding: each decode step drafts `draft_tokens` tokens (with the model's own
    multi-token-prediction module, 'mtp', or a draft model) and verifies them in one pass of the
    target over draft_tokens + 1 tokens per sequence; each drafted token is accepted with
    probability `acceptance`, so a step yields (1 - a^(k+1)) / (1 - a) tokens. The draft's cost is
    given relative to the target (see speculation_for)."""

    method: str                  # 'mtp' or the draft model's id
    draft_tokens: int
    acceptance: float
    draft_cost: float            # one drafted token, as a share of the target's one-token decode step
    launches: int                # extra step overheads per step (a draft model's own passes)
    weights: float               # the draft's weights, as a share of the target's
    acceptance_source: str = ""  # where the acceptance rate comes from

    @property
    def tokens_per_step(self) -> float:
        a, k = self.acceptance, self.draft_tokens
        return (1.0 - a ** (k + 1)) / (1.0 - a)

    @property
    def label(self) -> str:
        return f"{self.method} k={self.draft_tokens} a={self.acceptance:g}"


def speculation_for(arch: Architecture, method: str, draft_tokens: int | None = None, acceptance: float | None = None,
                    draft: Architecture | None = None, default_acceptance: float | None = None,
                    acceptance_source: str = "") -> SpecDecode:
    """Speculative decoding of `arch`. 'mtp': its multi-token-prediction modules draft (k up to their
    number, default all of them); each drafted token costs one more layer of the target (1 /
    n_layers of a decode step) and the modules hold about a layer's weights each (derived: an MTP
    module is one transformer layer). A draft model: k (default 3) decode steps of the draft, each
    costing its active parameters over the target's (derived: a decode step reads the active
    weights), one step overhead each. The acceptance rate: given, else `default_acceptance` (a
    model file's published MTP figure); a draft model needs one."""
    if method == "mtp":
        if arch.mtp_layers < 1:
            raise InfersimError(f"{arch.id} has no multi-token-prediction module (config.json num_nextn_predict_layers): "
                                f"use --speculative with a draft model id instead")
        k = draft_tokens or arch.mtp_layers
        if k > arch.mtp_layers:
            raise InfersimError(f"{arch.id} has {arch.mtp_layers} MTP module(s): --draft-tokens {k} needs as many; "
                                f"use --draft-tokens {arch.mtp_layers} or less")
        cost, launches, weights = 1.0 / arch.n_layers, 0, arch.mtp_layers / arch.n_layers
    else:
        if draft is None:
            raise InfersimError(f"speculative method '{method}': give 'mtp' or a draft model id")
        k = draft_tokens or 3
        cost = draft.active_params() / arch.active_params()
        launches, weights = k, draft.total_params() / arch.total_params()
    if acceptance is None:
        acceptance = default_acceptance
        if acceptance is None:
            raise InfersimError(f"no published acceptance rate for {method} drafting {arch.id}: give --acceptance "
                                f"(the probability a drafted token is accepted, 0 to 1)")
    elif not acceptance_source:
        acceptance_source = "given"
    if not 0.0 <= acceptance < 1.0:
        raise InfersimError(f"acceptance rate must be in [0, 1), got {acceptance}")
    if not 1 <= k <= 16:
        raise InfersimError(f"draft tokens per step must be 1..16, got {k}")
    return SpecDecode(method, k, float(acceptance), cost, launches, weights, acceptance_source)


@dataclass(frozen=True)
class Workload:
    input_len: int
    output_len: int
    prefill_chunk: int = DEFAULT_PREFILL_CHUNK_TOKENS
    routing_skew: float = 0.0      # Zipf exponent of how the traffic's tokens favour some experts (0: uniform)
    speculation: SpecDecode | None = None   # the engine's speculative decoding, if any

    def __post_init__(self) -> None:
        if self.input_len < 1 or self.output_len < 1:
            raise InfersimError(
                f"input and output lengths must be at least 1 token (got {self.input_len}, {self.output_len})"
            )
        if not 0.0 <= self.routing_skew <= 4.0:
            raise InfersimError(f"routing skew must be between 0 (uniform) and 4, got {self.routing_skew}")


def check_context(arch: Architecture, input_len: float, output_len: float, allow: bool = False,
                  override: str = "allow_long_context = true") -> None:
    """A prompt and its output must fit the model's context window (config.json max_position_embeddings):
    beyond it the model was not trained and its KV cache would be modelled for tokens it cannot attend to.
    `allow` models it anyway; `override` names how the user says so."""
    limit = arch.max_context_tokens
    if allow or limit is None:
        return
    total = input_len + output_len
    if total > limit:
        raise InfersimError(
            f"{input_len:,.0f} prompt + {output_len:,.0f} output tokens = {total:,.0f} exceed {arch.id}'s context "
            f"(max_position_embeddings = {limit:,}): shorten them, or pass {override} to model it anyway")


def check_mapping(chip: ChipSpec, arch: Architecture, m: Mapping) -> None:
    """Mapping errors a user can make, each with its fix."""
    if min(m.tp, m.pp, m.ep, m.replicas, m.attn_dp) < 1:
        raise InfersimError(f"tp, pp, ep, attn_dp and replicas must be >= 1 (got {m.label})")
    if m.tp > arch.n_heads:
        raise InfersimError(f"tp={m.tp} exceeds the {arch.n_heads} attention heads of {arch.id}: use tp <= {arch.n_heads}")
    if m.pp > arch.n_layers:
        raise InfersimError(f"pp={m.pp} exceeds the {arch.n_layers} layers of {arch.id}: use pp <= {arch.n_layers}")
    if m.ep > 1 and not arch.is_moe:
        raise InfersimError(f"ep={m.ep} but {arch.id} has no experts: use ep = 1")
    if m.redundant_experts and (not arch.is_moe or m.ep < 2 or m.redundant_experts < 0):
        raise InfersimError(f"redundant_experts={m.redundant_experts} needs expert parallelism over ranks (ep >= 2) "
                            f"of a mixture-of-experts model and a count >= 0: drop it or raise ep")
    if m.attn_dp > 1 and not arch.is_moe:
        raise InfersimError(f"attn_dp={m.attn_dp} but {arch.id} has no experts, so attention groups would be "
                            f"independent replicas: use replicas = {m.attn_dp * m.replicas} and attn_dp = 1")
    moe_chips = m.tp * m.attn_dp
    if m.ep > 1 and (moe_chips % m.ep or m.ep > arch.n_experts):
        raise InfersimError(f"ep={m.ep} must divide the tp x attn_dp = {moe_chips} chips the experts run on and be at "
                            f"most the {arch.n_experts} experts of {arch.id}")


# A token's hidden state goes to its experts in the experts' input dtype with its block scales. fp8:
# one fp32 scale per 128 elements (DeepSeek-V3 report: 1x128 tile-wise activation quantisation; DeepEP's
# fp8 dispatch carries these scales), 1 + 4/128 B per element; fp4: NVFP4's 4.5 bits (dtypes). The
# combine returns bf16 activations (DeepSeek-V3/R1 inference system overview: "matrix multiplications
# and dispatch transmissions adopt the FP8 format ... combine transmissions use the BF16 format").
FP8_DISPATCH_BYTES = 1.0 + 4.0 / 128.0


def dispatch_bytes(precision: Precision) -> float:
    """Bytes per element of a token's hidden state sent to its experts: 8- or 4-bit when the experts
    compute in that width (activations are quantised before the exchange), else the activations."""
    width = dtypes.BYTES_PER_ELEMENT[precision.compute_dtype]
    if width <= 0.5625:
        return dtypes.BYTES_PER_ELEMENT["fp4"]
    if width <= 1.0:
        return FP8_DISPATCH_BYTES
    return dtypes.ACTIVATION_BYTES


# Weight-only quantisation: vector operations to turn one stored weight into a math operand, each time a
# step reads it (assumption, from how dequantising GEMM kernels work: 4-bit: unpack (shift, mask), convert
# to floating point, multiply by its group's scale = 4; 8-bit: convert and scale = 2).
DEQUANT_OPS_PER_WEIGHT = {4: 4.0, 8: 2.0}


def dequant_ops(precision: Precision) -> float:
    """Vector operations per weight element a weight-only configuration spends dequantising (0: none)."""
    if not precision.weight_only:
        return 0.0
    return DEQUANT_OPS_PER_WEIGHT[4 if precision.weight_bytes < 1.0 else 8]


def deployment_row(precision: Precision, mapping: Mapping, two_batch_overlap: bool = True,
                   routing_skew: float = 0.0, speculation: SpecDecode | None = None) -> np.ndarray:
    """The D_* row the kernels read: how one replica is split (expert slots included), its data
    sizes, whether the engine may overlap the expert exchange of one half-batch with the other's
    compute (DeepSeek's and SGLang's attention-DP deployments do), and the routing skew."""
    row = np.zeros(L.D_FIELDS)
    row[L.D_TP] = mapping.tp
    row[L.D_PP] = mapping.pp
    row[L.D_ATTN_DP] = mapping.attn_dp
    row[L.D_EP] = mapping.ep
    row[L.D_W_BYTES] = precision.weight_bytes
    row[L.D_KV_BYTES] = precision.kv_bytes
    row[L.D_ACT_BYTES] = dtypes.ACTIVATION_BYTES
    row[L.D_DISPATCH_BYTES] = dispatch_bytes(precision)
    row[L.D_TBO] = 1.0 if two_batch_overlap else 0.0
    row[L.D_REDUNDANT_EXPERTS] = mapping.redundant_experts
    row[L.D_ROUTING_SKEW] = routing_skew
    row[L.D_DEQUANT_OPS] = dequant_ops(precision)
    if speculation is not None:
        row[L.D_SPEC_TOKENS] = speculation.draft_tokens
        row[L.D_SPEC_ACCEPT] = speculation.acceptance
        row[L.D_SPEC_DRAFT_COST] = speculation.draft_cost
        row[L.D_SPEC_LAUNCHES] = speculation.launches
        row[L.D_SPEC_WEIGHTS] = speculation.weights
    return row


def config_row(chip_idx: int, model_idx: int, precision: Precision, mapping: Mapping, workload: Workload,
               batch: int = 0) -> np.ndarray:
    row = np.zeros(L.K_FIELDS)
    row[L.K_CHIP] = chip_idx
    row[L.K_MODEL] = model_idx
    row[L.K_BATCH] = batch
    row[L.K_INPUT_LEN] = workload.input_len
    row[L.K_OUTPUT_LEN] = workload.output_len
    row[L.K_REPLICAS] = mapping.replicas
    row[L.K_PREFILL_CHUNK] = workload.prefill_chunk
    row[L.K_DEPLOY:L.K_FIELDS] = deployment_row(precision, mapping, routing_skew=workload.routing_skew,
                                                speculation=workload.speculation)
    return row
