"""Model architectures: the fields of a Hugging Face config.json, and their normalised form.

A model file (workloads/models/<id>.toml) holds `[config]` with config.json fields verbatim,
plus the published parameter counts it is checked against. A local config.json is read as it
is: the fields infersim models are taken, the rest are listed as ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import Field

from ..errors import SpecError
from .common import Provenance, Strict


class HFConfig(Strict):
    """The config.json fields infersim reads (names as Hugging Face writes them)."""

    model_type: str
    num_hidden_layers: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    num_attention_heads: int = Field(ge=1)
    num_key_value_heads: int | None = Field(default=None, ge=1)
    head_dim: int | None = Field(default=None, ge=1)
    intermediate_size: int = Field(ge=1)
    vocab_size: int = Field(ge=1)
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    hidden_act: str | None = None
    max_position_embeddings: int | None = None
    # sliding-window attention: window size and which layers use it
    sliding_window: int | None = None
    layer_types: list[str] | None = None
    use_sliding_window: bool | None = None
    # mixture of experts (field names differ by family; see _moe_fields)
    num_local_experts: int | None = None  # mixtral, gpt_oss
    num_experts: int | None = None  # qwen3_moe
    n_routed_experts: int | None = None  # deepseek_v3
    num_experts_per_tok: int | None = None
    experts_per_token: int | None = None  # gpt_oss
    n_shared_experts: int | None = None
    moe_intermediate_size: int | None = None
    first_k_dense_replace: int | None = None
    decoder_sparse_step: int | None = None
    mlp_only_layers: list[int] | None = None
    # multi-head latent attention (deepseek_v3)
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = None
    qk_nope_head_dim: int | None = None
    qk_rope_head_dim: int | None = None
    v_head_dim: int | None = None
    # the checkpoint's storage: torch_dtype, and the quantization of a pre-quantized checkpoint
    torch_dtype: str | None = None
    quantization_config: dict | None = None


class PublishedParams(Strict):
    """Parameter counts as the model's publisher states them (checked in a test, 1 %)."""

    total_params: float = Field(gt=0)
    active_params: float | None = Field(default=None, gt=0)
    active_counts_input_embedding: bool = True
    note: str | None = None


class ModelSpec(Strict):
    schema_version: int
    id: str
    name: str
    provenance: Provenance
    published: PublishedParams
    config: HFConfig


AttentionKind = Literal["gqa", "mla"]


@dataclass(frozen=True)
class Architecture:
    """Normalised architecture: every count the performance model needs, one name each."""

    id: str
    n_layers: int
    hidden: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    vocab: int
    tied_embeddings: bool
    attention_bias: bool
    attention: AttentionKind
    # MLA (zero when attention == "gqa")
    q_lora_rank: int
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    # sliding window: layers that attend to at most `window_tokens` past tokens
    n_window_layers: int
    window_tokens: int
    # feed-forward
    dense_ffn: int  # intermediate size of dense (non-MoE) layers
    n_dense_layers: int
    n_moe_layers: int
    n_experts: int
    experts_per_token: int
    n_shared_experts: int
    expert_ffn: int

    @property
    def is_moe(self) -> bool:
        return self.n_moe_layers > 0

    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim if self.attention == "mla" else self.head_dim

    @property
    def attn_v_head_dim(self) -> int:
        return self.v_head_dim if self.attention == "mla" else self.head_dim

    # ---- parameter counts (weights only; norms and biases included where they exist) ----
    def attention_params_per_layer(self) -> int:
        d, h = self.hidden, self.n_heads
        if self.attention == "mla":
            q = (d * self.q_lora_rank + self.q_lora_rank * h * self.qk_head_dim + self.q_lora_rank
                 if self.q_lora_rank else d * h * self.qk_head_dim)
            kv_a = d * (self.kv_lora_rank + self.qk_rope_head_dim) + self.kv_lora_rank
            kv_b = self.kv_lora_rank * h * (self.qk_nope_head_dim + self.v_head_dim)
            o = h * self.v_head_dim * d
            return q + kv_a + kv_b + o
        qkv_out = (h + 2 * self.n_kv_heads) * self.head_dim
        params = d * qkv_out + h * self.head_dim * d
        if self.attention_bias:
            params += qkv_out + d
        return params

    def expert_params(self) -> int:
        """One gated (SwiGLU/GeGLU) expert: gate, up and down matrices."""
        return 3 * self.hidden * self.expert_ffn

    def dense_mlp_params(self) -> int:
        return 3 * self.hidden * self.dense_ffn

    def embedding_params(self) -> int:
        return self.vocab * self.hidden

    def total_params(self) -> int:
        norms = self.n_layers * 2 * self.hidden + self.hidden
        moe = self.n_moe_layers * (
            (self.n_experts + self.n_shared_experts) * self.expert_params() + self.hidden * self.n_experts
        )
        emb = self.embedding_params() * (1 if self.tied_embeddings else 2)
        return (self.n_layers * self.attention_params_per_layer() + self.n_dense_layers * self.dense_mlp_params()
                + moe + emb + norms)

    def active_params(self, count_input_embedding: bool = True) -> int:
        """Parameters used for one token: every non-expert weight plus the active experts."""
        inactive = self.n_moe_layers * (self.n_experts - self.experts_per_token) * self.expert_params()
        active = self.total_params() - inactive
        if not count_input_embedding and not self.tied_embeddings:
            active -= self.embedding_params()
        return active


# config.json torch_dtype / quantization_config.quant_method -> infersim weight dtype
_TORCH_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16"}
_QUANT_METHODS = {"fp8": "fp8", "fbgemm_fp8": "fp8", "mxfp4": "fp4", "awq": "int4", "gptq": "int4"}


def native_weight_dtype(spec: "ModelSpec") -> str:
    """The dtype the model's publisher stores its weights in (config.json): the quantization method of
    a pre-quantized checkpoint (e.g. DeepSeek-R1's fp8, gpt-oss's mxfp4), else torch_dtype."""
    cfg = spec.config
    if cfg.quantization_config:
        method = str(cfg.quantization_config.get("quant_method", ""))
        if method not in _QUANT_METHODS:
            raise SpecError(f"model {spec.id}: quantization_config.quant_method '{method}' has no infersim weight "
                            f"dtype (known: {', '.join(_QUANT_METHODS)}): give the row's weight_dtype")
        return _QUANT_METHODS[method]
    if cfg.torch_dtype not in _TORCH_DTYPES:
        raise SpecError(f"model {spec.id}: no native weight dtype (config torch_dtype is "
                        f"{cfg.torch_dtype or 'not given'}): add torch_dtype to its [config] or give the weight dtype")
    return _TORCH_DTYPES[cfg.torch_dtype]


_EXPERT_COUNT_FIELDS = ("num_local_experts", "num_experts", "n_routed_experts")


def normalise(model_id: str, cfg: HFConfig) -> Architecture:
    """Turn config.json fields into an Architecture; raises ValueError naming a missing field."""
    h = cfg.num_attention_heads
    head_dim = cfg.head_dim or cfg.hidden_size // h
    n_kv = cfg.num_key_value_heads or h
    is_mla = cfg.kv_lora_rank is not None
    if is_mla:
        for f in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
            if getattr(cfg, f) is None:
                raise ValueError(f"multi-head latent attention needs '{f}' in the config")
    n_experts = next((getattr(cfg, f) for f in _EXPERT_COUNT_FIELDS if getattr(cfg, f)), 0) or 0
    k = cfg.num_experts_per_tok or cfg.experts_per_token or 0
    if n_experts and not k:
        raise ValueError("a mixture-of-experts config needs 'num_experts_per_tok' (or 'experts_per_token')")
    if n_experts:
        # Which layers are MoE: deepseek's first_k_dense_replace, qwen's mlp_only_layers/decoder_sparse_step.
        layers = range(cfg.num_hidden_layers)
        dense_first = cfg.first_k_dense_replace or 0
        step = cfg.decoder_sparse_step or 1
        mlp_only = set(cfg.mlp_only_layers or [])
        moe_layers = [i for i in layers if i >= dense_first and i not in mlp_only and (i + 1) % step == 0]
        n_moe = len(moe_layers)
        # mixtral and gpt_oss put the expert width in intermediate_size; others in moe_intermediate_size
        expert_ffn = cfg.moe_intermediate_size or cfg.intermediate_size
    else:
        n_moe, expert_ffn = 0, 0
    n_window = 0
    window = 0
    if cfg.sliding_window and cfg.use_sliding_window is not False:
        if cfg.layer_types is not None:
            if len(cfg.layer_types) != cfg.num_hidden_layers:
                raise ValueError(
                    f"'layer_types' has {len(cfg.layer_types)} entries but num_hidden_layers is {cfg.num_hidden_layers}"
                )
            n_window = sum(1 for t in cfg.layer_types if t == "sliding_attention")
        elif cfg.model_type in ("mistral", "mixtral"):
            n_window = cfg.num_hidden_layers
        window = cfg.sliding_window if n_window else 0
    return Architecture(
        id=model_id,
        n_layers=cfg.num_hidden_layers,
        hidden=cfg.hidden_size,
        n_heads=h,
        n_kv_heads=1 if is_mla else n_kv,
        head_dim=head_dim,
        vocab=cfg.vocab_size,
        tied_embeddings=cfg.tie_word_embeddings,
        attention_bias=cfg.attention_bias,
        attention="mla" if is_mla else "gqa",
        q_lora_rank=cfg.q_lora_rank or 0,
        kv_lora_rank=cfg.kv_lora_rank or 0,
        qk_nope_head_dim=cfg.qk_nope_head_dim or 0,
        qk_rope_head_dim=cfg.qk_rope_head_dim or 0,
        v_head_dim=cfg.v_head_dim or 0,
        n_window_layers=n_window,
        window_tokens=window,
        dense_ffn=cfg.intermediate_size,
        n_dense_layers=cfg.num_hidden_layers - n_moe,
        n_moe_layers=n_moe,
        n_experts=n_experts,
        experts_per_token=k,
        n_shared_experts=cfg.n_shared_experts or 0,
        expert_ffn=expert_ffn,
    )
