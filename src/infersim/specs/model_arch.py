"""Model architectures: the fields of a Hugging Face config.json, and their normalised form.

A model file (workloads/models/<id>.toml) holds `[config]` with config.json fields verbatim,
plus the published parameter counts it is checked against. A local config.json is read as it
is: the fields infersim models are taken, the rest are listed as ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, StrictInt

from ..errors import SpecError
from .common import Provenance, Strict

MAX_COUNT = 10_000_000  # no layer, head, width or vocabulary count of a real model is larger
MAX_LAYERS = 10_000     # physical bound on a layer count (the largest models have ~100)


Count = Annotated[StrictInt, Field(ge=1, le=MAX_COUNT)]  # a bool (true) is not a count


class HFConfig(Strict):
    """The config.json fields infersim reads (names as Hugging Face writes them). Missing fields
    take transformers' defaults (see `normalise`); fields that do not change FLOPs or bytes
    (rope_theta, rope_scaling, ...) are accepted and not used."""

    model_type: str
    num_hidden_layers: Count
    hidden_size: Count
    num_attention_heads: Count
    num_key_value_heads: Count | None = None
    head_dim: Count | None = None
    intermediate_size: Count
    vocab_size: Count
    tie_word_embeddings: bool | None = None  # None: the model_type's transformers default (TIED_BY_DEFAULT)
    attention_bias: bool = False
    hidden_act: str | None = None
    hidden_activation: str | None = None  # gemma2/gemma3 spell it so
    max_position_embeddings: StrictInt | None = Field(default=None, ge=1)
    # positions: no effect on FLOPs or bytes, read so that they are not reported as ignored
    rope_theta: float | None = None
    rope_scaling: dict | None = None
    rope_local_base_freq: float | None = None
    partial_rotary_factor: float | None = None
    # sliding-window (and chunked) attention: window size and which layers use it
    sliding_window: StrictInt | None = Field(default=None, ge=1)
    layer_types: list[str] | None = None
    use_sliding_window: bool | None = None
    max_window_layers: StrictInt | None = Field(default=None, ge=0)  # qwen2/qwen3: layers below it attend fully
    sliding_window_pattern: StrictInt | None = Field(default=None, ge=1)  # gemma3: every Nth layer is global
    attention_chunk_size: StrictInt | None = Field(default=None, ge=1)  # llama4: chunked local attention
    no_rope_layer_interval: StrictInt | None = Field(default=None, ge=1)  # llama4: every Nth layer is global
    no_rope_layers: list[int] | None = None  # llama4: 1 where a layer uses RoPE (and chunked attention)
    # mixture of experts (field names differ by family; see normalise)
    num_local_experts: StrictInt | None = Field(default=None, ge=0)  # mixtral, gpt_oss, llama4, minimax
    num_experts: StrictInt | None = Field(default=None, ge=0)  # qwen3_moe
    n_routed_experts: StrictInt | None = Field(default=None, ge=0)  # deepseek_v3, glm4_moe
    num_experts_per_tok: StrictInt | None = Field(default=None, ge=0)
    experts_per_token: StrictInt | None = Field(default=None, ge=0)  # gpt_oss
    n_shared_experts: StrictInt | None = Field(default=None, ge=0)
    moe_intermediate_size: Count | None = None
    intermediate_size_mlp: Count | None = None  # llama4: the dense layers' width (intermediate_size: an expert's)
    first_k_dense_replace: StrictInt | None = Field(default=None, ge=0)
    moe_layer_freq: StrictInt | None = Field(default=None, ge=1)  # deepseek_v3
    decoder_sparse_step: StrictInt | None = Field(default=None, ge=1)
    interleave_moe_layer_step: StrictInt | None = Field(default=None, ge=1)  # llama4
    moe_layers: list[int] | None = None  # llama4
    num_nextn_predict_layers: StrictInt | None = Field(default=None, ge=0)  # deepseek_v3, glm4_moe: MTP modules
    mlp_only_layers: list[int] | None = None
    # multi-head latent attention (deepseek_v3)
    q_lora_rank: Count | None = None
    kv_lora_rank: Count | None = None
    qk_nope_head_dim: Count | None = None
    qk_rope_head_dim: Count | None = None
    v_head_dim: Count | None = None
    # the checkpoint's storage: torch_dtype, and the quantization of a pre-quantized checkpoint
    torch_dtype: str | None = None
    quantization_config: dict | None = None


class PublishedParams(Strict):
    """Parameter counts as the model's publisher states them (checked in a test, 1 %)."""

    total_params: float = Field(gt=0)
    active_params: float | None = Field(default=None, gt=0)
    active_counts_input_embedding: bool = True
    note: str | None = None


class SpeculativeDefaults(Strict):
    """Published speculative-decoding figures of the model: the acceptance rate of a token drafted by
    its multi-token-prediction module, with its source id in `note`."""

    mtp_acceptance: float = Field(gt=0, lt=1)
    note: str


class ModelSpec(Strict):
    schema_version: int
    id: str
    name: str
    provenance: Provenance
    published: PublishedParams
    config: HFConfig
    speculative: SpeculativeDefaults | None = None


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
    max_context_tokens: int | None = None  # config.json max_position_embeddings; None when not given
    mtp_layers: int = 0  # multi-token-prediction modules (num_nextn_predict_layers): a draft for speculative decoding

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

# transformers' default for tie_word_embeddings where config.json leaves it out: each config
# class sets its own (PretrainedConfig's True is overridden by most decoder families)
TIED_BY_DEFAULT = {
    "llama": False, "llama4_text": False, "mistral": False, "mixtral": False, "qwen2": False, "qwen2_moe": False,
    "qwen3": False, "qwen3_moe": False, "deepseek_v2": False, "deepseek_v3": False, "kimi_k2": False,
    "gpt_oss": False, "glm4": False, "glm4_moe": False, "phi3": False, "minimax_m2": False,
    "gemma": True, "gemma2": True, "gemma3_text": True, "cohere": True, "cohere2": True,
}
# gemma2 alternates sliding and global layers (even layers slide) when config.json has no layer_types
ALTERNATING_WINDOW = {"gemma2"}
# model families whose every MoE layer also has one shared expert of the experts' width (no config field)
IMPLICIT_SHARED_EXPERT = {"llama4_text"}

# architectures infersim does not model: (what, fields or model_types that reveal them)
_STATE_SPACE_TYPES = {"mamba", "mamba2", "falcon_mamba", "jamba", "zamba", "zamba2", "bamba", "nemotron_h",
                      "granitemoehybrid", "falcon_h1", "plamo2", "lfm2", "rwkv", "rwkv5", "rwkv6", "rwkv7", "xlstm",
                      "recurrent_gemma"}
_LINEAR_ATTENTION_TYPES = {"minimax", "minimax_text_01", "qwen3_next", "kimi_linear"}
_ENCODER_ONLY_TYPES = {"bert", "roberta", "xlm-roberta", "deberta", "deberta-v2", "distilbert", "electra", "albert",
                       "modernbert", "camembert", "mpnet", "nomic_bert", "ernie"}
_ENCODER_DECODER_TYPES = {"t5", "mt5", "umt5", "bart", "mbart", "pegasus", "marian", "whisper", "longt5",
                          "switch_transformers", "blenderbot", "prophetnet", "fsmt", "t5gemma"}
_STATE_SPACE_FIELDS = ("ssm_cfg", "state_size", "ssm_state_size", "mamba_d_state", "mamba_expand", "conv_kernel",
                       "mamba_n_heads", "ssm_layers")
_LINEAR_ATTENTION_FIELDS = ("linear_attn_config", "attn_type_list", "linear_num_key_heads", "lightning_attention")


def unsupported_architecture(raw: dict) -> str | None:
    """Why infersim cannot model the config.json `raw` (None if it can): state-space or linear-
    attention layers, encoder-only and encoder-decoder models. The reason names the field."""
    mt = str(raw.get("model_type", "")).lower()
    decoder_only = "infersim models decoder-only transformers with softmax attention"
    if mt in _STATE_SPACE_TYPES:
        return f"model_type '{mt}' has state-space (Mamba/recurrent) layers: {decoder_only}"
    field = next((f for f in _STATE_SPACE_FIELDS if f in raw), None)
    if field:
        return f"field '{field}' describes state-space (Mamba) layers: {decoder_only}"
    if "M" in str(raw.get("hybrid_override_pattern", "")):  # nemotron-h: M = a Mamba layer
        return f"field 'hybrid_override_pattern' lists Mamba layers (M): {decoder_only}"
    for key in ("layers_block_type", "layer_types"):
        kinds = raw.get(key)
        if isinstance(kinds, (list, str)) and any("mamba" in str(k).lower() for k in kinds):
            return f"field '{key}' lists Mamba layers: {decoder_only}"
        if isinstance(kinds, list) and any("linear" in str(k).lower() for k in kinds):
            return f"field '{key}' lists linear-attention layers: {decoder_only}"
    if mt in _LINEAR_ATTENTION_TYPES:
        return f"model_type '{mt}' has linear-attention layers: {decoder_only}"
    field = next((f for f in _LINEAR_ATTENTION_FIELDS if f in raw), None)
    if field:
        return f"field '{field}' describes linear-attention layers: {decoder_only}"
    if raw.get("is_encoder_decoder") is True:
        return f"field 'is_encoder_decoder' is true (an encoder-decoder model): {decoder_only}"
    if mt in _ENCODER_DECODER_TYPES:
        return f"model_type '{mt}' is an encoder-decoder model: {decoder_only}"
    if mt in _ENCODER_ONLY_TYPES:
        return f"model_type '{mt}' is an encoder-only model (no generation): {decoder_only}"
    return None


def _window_layers(cfg: HFConfig) -> tuple[int, int]:
    """(layers with a sliding or chunked window, window tokens), by the family's rule."""
    n_layers = cfg.num_hidden_layers
    if cfg.model_type.startswith("llama4") and cfg.attention_chunk_size:
        # chunked local attention on the RoPE layers, global attention on every Nth (NoPE) layer;
        # modelled as a window of the chunk size (an upper bound: a chunk's tokens see 0..chunk-1)
        if cfg.no_rope_layers is not None:
            if len(cfg.no_rope_layers) != n_layers:
                raise ValueError(f"'no_rope_layers' has {len(cfg.no_rope_layers)} entries but num_hidden_layers is "
                                 f"{n_layers}: give one per layer")
            return sum(1 for x in cfg.no_rope_layers if x), cfg.attention_chunk_size
        interval = cfg.no_rope_layer_interval or 4
        return n_layers - n_layers // interval, cfg.attention_chunk_size
    if not cfg.sliding_window or cfg.use_sliding_window is False:
        return 0, 0
    if cfg.layer_types is not None:
        if len(cfg.layer_types) != n_layers:
            raise ValueError(f"'layer_types' has {len(cfg.layer_types)} entries but num_hidden_layers is {n_layers}: "
                             f"give one per layer")
        n = sum(1 for t in cfg.layer_types if t == "sliding_attention")
    elif cfg.sliding_window_pattern:  # gemma3: layers i with (i + 1) % pattern != 0 slide
        n = n_layers - n_layers // cfg.sliding_window_pattern
    elif cfg.model_type in ALTERNATING_WINDOW:  # gemma2: even layers slide
        n = (n_layers + 1) // 2
    elif cfg.model_type in ("mistral", "mixtral"):
        n = n_layers
    elif cfg.model_type.startswith("qwen") and cfg.use_sliding_window:  # layers from max_window_layers on
        n = max(n_layers - (cfg.max_window_layers or 0), 0)
    else:
        n = 0
    return n, (cfg.sliding_window if n else 0)


def _moe_layers(cfg: HFConfig) -> int:
    """How many layers are MoE: deepseek/glm's first_k_dense_replace and moe_layer_freq, qwen's
    mlp_only_layers and decoder_sparse_step, llama4's moe_layers or interleave_moe_layer_step."""
    layers = range(cfg.num_hidden_layers)
    if cfg.moe_layers is not None:
        bad = [i for i in cfg.moe_layers if not 0 <= i < cfg.num_hidden_layers]
        if bad:
            raise ValueError(f"'moe_layers' lists layer {bad[0]}, outside 0..{cfg.num_hidden_layers - 1}")
        return len(set(cfg.moe_layers))
    dense_first = cfg.first_k_dense_replace or 0
    step = cfg.decoder_sparse_step or cfg.interleave_moe_layer_step or cfg.moe_layer_freq or 1
    mlp_only = set(cfg.mlp_only_layers or [])
    return sum(1 for i in layers if i >= dense_first and i not in mlp_only and (i + 1) % step == 0)


def normalise(model_id: str, cfg: HFConfig) -> Architecture:
    """Turn config.json fields into an Architecture, with transformers' defaults for missing
    fields; raises ValueError naming the field and the fix when the config is inconsistent or
    describes an architecture infersim does not model."""
    why = unsupported_architecture(cfg.model_dump(exclude_none=True))
    if why:
        raise ValueError(why)
    if cfg.num_hidden_layers > MAX_LAYERS:
        raise ValueError(f"'num_hidden_layers' is {cfg.num_hidden_layers}: more than {MAX_LAYERS:,} layers is not a "
                         f"real model; check the field")
    h = cfg.num_attention_heads
    if cfg.head_dim is None and cfg.hidden_size % h:
        raise ValueError(f"'num_attention_heads' ({h}) does not divide 'hidden_size' ({cfg.hidden_size}): fix one, "
                         f"or give 'head_dim'")
    head_dim = cfg.head_dim or cfg.hidden_size // h
    n_kv = cfg.num_key_value_heads or h
    if h % n_kv:
        raise ValueError(f"'num_key_value_heads' ({n_kv}) does not divide 'num_attention_heads' ({h}): each KV head "
                         f"serves a whole group of query heads; fix one of them")
    tied = cfg.tie_word_embeddings
    if tied is None:
        if cfg.model_type not in TIED_BY_DEFAULT:
            raise ValueError(f"'tie_word_embeddings' is not given and infersim does not know transformers' default "
                             f"for model_type '{cfg.model_type}': add it (true if the checkpoint has no lm_head)")
        tied = TIED_BY_DEFAULT[cfg.model_type]
    is_mla = cfg.kv_lora_rank is not None
    if is_mla:
        for f in ("kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"):
            if getattr(cfg, f) is None:
                raise ValueError(f"multi-head latent attention needs '{f}' in the config")
    expert_field = next((f for f in _EXPERT_COUNT_FIELDS if getattr(cfg, f)), None)
    n_experts = getattr(cfg, expert_field) if expert_field else 0
    k = cfg.num_experts_per_tok or cfg.experts_per_token or 0
    if n_experts and not k:
        raise ValueError("a mixture-of-experts config needs 'num_experts_per_tok' (or 'experts_per_token')")
    if n_experts and not 1 <= k <= n_experts:
        raise ValueError(f"'num_experts_per_tok' ({k}) must be between 1 and '{expert_field}' ({n_experts})")
    shared = cfg.n_shared_experts or (1 if cfg.model_type in IMPLICIT_SHARED_EXPERT else 0)
    if n_experts:
        n_moe = _moe_layers(cfg)
        # mixtral, gpt_oss, llama4 and minimax put the expert width in intermediate_size; others in
        # moe_intermediate_size
        expert_ffn = cfg.moe_intermediate_size or cfg.intermediate_size
        dense_ffn = cfg.intermediate_size_mlp or cfg.intermediate_size
    else:
        n_moe, expert_ffn, shared, dense_ffn = 0, 0, 0, cfg.intermediate_size
    n_window, window = _window_layers(cfg)
    return Architecture(
        id=model_id,
        n_layers=cfg.num_hidden_layers,
        hidden=cfg.hidden_size,
        n_heads=h,
        n_kv_heads=1 if is_mla else n_kv,
        head_dim=head_dim,
        vocab=cfg.vocab_size,
        tied_embeddings=tied,
        attention_bias=cfg.attention_bias,
        attention="mla" if is_mla else "gqa",
        q_lora_rank=cfg.q_lora_rank or 0,
        kv_lora_rank=cfg.kv_lora_rank or 0,
        qk_nope_head_dim=cfg.qk_nope_head_dim or 0,
        qk_rope_head_dim=cfg.qk_rope_head_dim or 0,
        v_head_dim=cfg.v_head_dim or 0,
        n_window_layers=n_window,
        window_tokens=window,
        dense_ffn=dense_ffn,
        n_dense_layers=cfg.num_hidden_layers - n_moe,
        n_moe_layers=n_moe,
        n_experts=n_experts,
        experts_per_token=k,
        n_shared_experts=shared,
        expert_ffn=expert_ffn,
        max_context_tokens=cfg.max_position_embeddings,
        mtp_layers=cfg.num_nextn_predict_layers or 0,
    )
