"""Reading raw Hugging Face config.json files and model folders: transformers' defaults, sliding
windows by family, nested text configs, architectures refused, inconsistent configs refused."""

import json
from pathlib import Path

import pytest

from infersim.cli import main
from infersim.errors import SpecError
from infersim.specs.library import architecture_from_config_json

GEMMA2 = Path(__file__).resolve().parent / "data" / "gemma-2-9b"


def write(tmp_path: Path, cfg: dict, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(cfg))
    return path


def test_raw_gemma2_config_gives_the_published_count(lib):
    """Gemma 2 9B: 9,241,705,984 parameters (report Table 1: 917,504,000 embedding + 8,324,201,984
    other). The config has no tie_word_embeddings: Gemma2Config's default (tied) applies; untied
    it would count the 917.5M embedding twice (10.16B)."""
    arch = lib.architecture(str(GEMMA2))  # a folder holding config.json
    assert arch.tied_embeddings
    assert arch.total_params() == pytest.approx(9_241_705_984, rel=0.01)
    # the only difference: Gemma 2's two extra RMSNorms per layer, 42 x 2 x 3584 = 301,056
    assert 9_241_705_984 - arch.total_params() == 301_056
    # alternating sliding window: layers 0, 2, ..., 40 (21 of 42) attend to 4096 tokens
    assert (arch.n_window_layers, arch.window_tokens) == (21, 4096)


def test_model_folder_on_the_command_line(capsys):
    assert main(["compare", "--model", str(GEMMA2), "--chips", "nvidia-h100-sxm", "-q"]) == 0
    assert "gemma-2-9b" in capsys.readouterr().out
    code = main(["compare", "--model", str(GEMMA2.parent), "--chips", "nvidia-h100-sxm"])
    err = capsys.readouterr().err
    assert code == 2 and "has no config.json" in err and len(err.strip().splitlines()) == 1


def base(**extra) -> dict:
    cfg = {"model_type": "llama", "num_hidden_layers": 4, "hidden_size": 256, "num_attention_heads": 8,
           "num_key_value_heads": 2, "intermediate_size": 512, "vocab_size": 1000}
    cfg.update(extra)
    return cfg


@pytest.mark.parametrize("model_type, tied", [("llama", False), ("qwen3", False), ("gemma", True), ("gemma3_text", True),
                                              ("mistral", False)])
def test_tied_embeddings_default_by_family(tmp_path, model_type, tied):
    arch = architecture_from_config_json(write(tmp_path, base(model_type=model_type)))
    assert arch.tied_embeddings is tied
    # tied: the 1000 x 256 embedding counted once; untied twice
    untied = architecture_from_config_json(write(tmp_path, base(model_type=model_type, tie_word_embeddings=False), "u.json"))
    assert untied.total_params() - arch.total_params() == (256_000 if tied else 0)


def test_unknown_family_without_tie_field_is_an_error(tmp_path):
    with pytest.raises(SpecError, match="'tie_word_embeddings' is not given"):
        architecture_from_config_json(write(tmp_path, base(model_type="acme_lm")))
    assert architecture_from_config_json(write(tmp_path, base(model_type="acme_lm", tie_word_embeddings=True)))


@pytest.mark.parametrize("extra, windows", [
    ({"model_type": "gemma3_text", "sliding_window": 512, "sliding_window_pattern": 2, "num_hidden_layers": 6}, 3),
    ({"model_type": "gemma2", "sliding_window": 512, "num_hidden_layers": 5}, 3),           # layers 0, 2, 4
    ({"sliding_window": 512, "layer_types": ["sliding_attention", "full_attention"] * 2}, 2),
    ({"model_type": "mistral", "sliding_window": 512}, 4),
    ({"model_type": "qwen3", "sliding_window": 512, "use_sliding_window": False}, 0),
    ({"model_type": "qwen3", "sliding_window": 512, "use_sliding_window": True, "max_window_layers": 3}, 1),
    ({"model_type": "llama", "sliding_window": 512}, 0),                                    # llama: no window
])
def test_sliding_window_layers_by_family(tmp_path, extra, windows):
    arch = architecture_from_config_json(write(tmp_path, base(**extra)))
    assert arch.n_window_layers == windows
    assert arch.window_tokens == (512 if windows else 0)


def test_llama4_nested_text_config_with_chunked_attention_and_shared_expert(tmp_path):
    text = base(model_type="llama4_text", num_hidden_layers=8, intermediate_size=128, intermediate_size_mlp=512,
                num_local_experts=4, num_experts_per_tok=1, interleave_moe_layer_step=2, attention_chunk_size=64,
                no_rope_layer_interval=4, tie_word_embeddings=False)
    arch = architecture_from_config_json(write(tmp_path, {"model_type": "llama4", "text_config": text,
                                                          "vision_config": {"hidden_size": 1408}}))
    # MoE on layers 1, 3, 5, 7; dense layers 512 wide; experts 128 wide plus one shared expert
    assert (arch.n_moe_layers, arch.n_dense_layers, arch.dense_ffn, arch.expert_ffn) == (4, 4, 512, 128)
    assert arch.n_shared_experts == 1
    # chunked attention on the RoPE layers: all but every 4th (layers 3 and 7): 6 of 8
    assert (arch.n_window_layers, arch.window_tokens) == (6, 64)


@pytest.mark.parametrize("cfg, field", [
    ({"model_type": "mamba", "hidden_size": 768}, "model_type 'mamba'"),
    (base(model_type="jamba", layers_block_type=["attention", "mamba"]), "model_type 'jamba'"),
    (base(model_type="acme", ssm_state_size=16), "field 'ssm_state_size'"),
    (base(model_type="acme", hybrid_override_pattern="M-M*"), "field 'hybrid_override_pattern'"),
    (base(model_type="qwen3_next"), "linear-attention"),
    (base(model_type="acme", layer_types=["linear_attention", "full_attention"] * 2), "field 'layer_types'"),
    (base(model_type="minimax_text_01", attn_type_list=[0, 1]), "linear-attention"),
    ({"model_type": "bert", "hidden_size": 768, "num_hidden_layers": 12}, "encoder-only"),
    ({"model_type": "t5", "d_model": 512}, "encoder-decoder"),
    (base(model_type="acme", is_encoder_decoder=True), "field 'is_encoder_decoder'"),
])
def test_architectures_it_does_not_model_are_refused_naming_the_field(tmp_path, cfg, field):
    with pytest.raises(SpecError) as e:
        architecture_from_config_json(write(tmp_path, cfg))
    message = str(e.value)
    assert field in message and "\n" not in message and "decoder-only" in message


@pytest.mark.parametrize("extra, needle", [
    ({"num_attention_heads": 6}, "'num_attention_heads' (6) does not divide 'hidden_size' (256)"),
    ({"num_key_value_heads": 3}, "'num_key_value_heads' (3) does not divide 'num_attention_heads' (8)"),
    ({"num_local_experts": 4, "num_experts_per_tok": 5}, "'num_experts_per_tok' (5) must be between 1 and"),
    ({"num_hidden_layers": 20_000}, "more than 10,000 layers"),
    ({"num_hidden_layers": True}, "num_hidden_layers"),
    ({"num_hidden_layers": 0}, "num_hidden_layers"),
    ({"layer_types": ["full_attention"] * 3, "sliding_window": 8}, "'layer_types' has 3 entries"),
])
def test_inconsistent_configs_name_the_field_and_fix(tmp_path, extra, needle):
    with pytest.raises(SpecError) as e:
        architecture_from_config_json(write(tmp_path, base(**extra)))
    assert needle in str(e.value) and len(str(e.value).splitlines()) == 1


def test_head_dim_given_lets_heads_not_divide_hidden(tmp_path):
    arch = architecture_from_config_json(write(tmp_path, base(num_attention_heads=6, num_key_value_heads=2,
                                                             head_dim=64)))
    assert arch.head_dim == 64
