"""What a row's source tells about how it was measured, beyond its fields: the hardware family and
source group it is summarised under, the runtime's settings, the dataset behind empty lengths.
Each setting names where it was read."""

from __future__ import annotations

import re

# hardware id prefix -> calibration family (first match); CPUs apart from their vendor's accelerators
FAMILIES = (("nvidia-", "nvidia"), ("amd-epyc", "amd-epyc"), ("amd-", "amd"), ("intel-gaudi", "intel-gaudi"),
            ("intel-xeon", "intel-xeon"), ("google-tpu", "google-tpu"), ("aws-inferentia", "aws-inferentia"),
            ("aws-trainium", "aws-trainium"), ("aws-graviton", "aws-graviton"), ("groq-", "groq"),
            ("cerebras-", "cerebras"), ("sambanova-", "sambanova"))
SOURCE_GROUPS = ((r"inference_results_v4\.1", "MLPerf v4.1"), (r"inference_results_v4\.0", "MLPerf v4.0"),
                 (r"inference_results_v5\.0", "MLPerf v5.0"),
                 (r"TensorRT-LLM@[0-9a-f]+:docs/source/performance/", "TensorRT-LLM v1.0"),
                 (r"TensorRT-LLM", "TensorRT-LLM later"), (r"aws-neuron-sdk@[0-9a-f]+:about-neuron", "AWS Neuron"),
                 (r"vllm-neuron", "vLLM-Neuron tutorial"), (r"jetstream", "JetStream"),
                 (r"tpu-recipes", "TPU recipes"), (r"lm-sys", "LMSYS blog"), (r"deepseek-ai/open-infra", "DeepSeek"),
                 (r"intel\.com/.*gaudi", "Intel Gaudi docs"), (r"blogs\.oracle\.com", "Oracle OCI"),
                 (r"amd\.com/.*rocm", "AMD ROCm docs"), (r"cerebras", "Cerebras docs"), (r"groq", "Groq docs"),
                 (r"artificialanalysis", "Artificial Analysis"), (r"conference-program", "DAC 2025"))
# sources whose server load is the benchmark's result: MLPerf LoadGen's Server score is the highest
# rate the submitter found that still meets the p99 limits, so the rate is measured, not given
LOAD_IS_RESULT = (r"inference_results_v\d",)
# sources whose runtime stores integer weights but multiplies in bf16 (weight-only quantization), so
# the chip's int8 peak does not apply: AWS Neuron (transformers-neuronx; the data README says Llama-3-8B
# "stores weights in INT8 and computes in BF16") and JetStream-PyTorch (jetstream_pt/layers.py,
# WeightOnlyPerChannelQuantizedLinear: int8 weights, bf16 activations and matmul)
WEIGHT_ONLY_SOURCES = ((r"aws-neuron", "bf16"), (r"jetstream", "bf16"))
# runtime settings of a source's engine that the rows do not carry, read in the submitters' code:
# - token_budget: tokens one iteration may take (ServingModel token_budget). TensorRT-LLM engines of
#   MLPerf v4.1 are built with max_num_tokens = 16384 (code/llama2-70b/tensorrt/builder.py, the
#   JuniperNetworks copy of NVIDIA's harness; NVIDIA's own is not public in that form). AMD's vLLM
#   harness passes max_num_batched_tokens = 49152 (mainVllmFp8_SyncServer.py argument default).
# - dispatch_window_s (server runs): AMD's harness runs with --enable-batcher
#   (closed/AMD/code/llama2-70b-99.9/test_VllmFp8/test_VllmFp8_SyncServer_audit.sh); its batcher sends
#   what it holds once 0.3 s have passed since the last send (--batcher-threshold 0.3, at most
#   --gpu-batch-size 96 queries) to the next engine in turn (SyncServerSUT.batch_samples_loop).
# - Google's Trillium vLLM recipe (tpu-recipes inference/trillium/vLLM/Llama3.x/README.md) serves with
#   --max-num-batched-tokens 512: prompts enter in chunks of at most 512 tokens an iteration.
RUNTIME_SETTINGS = ((r"closed/AMD/results/", {"token_budget": 49152, "dispatch_window_s": 0.3}),
                    (r"closed/[^/]+/results/[^/]+_TRT/", {"token_budget": 16384}),
                    (r"tpu-recipes@[0-9a-f]+:inference/trillium/vLLM/", {"token_budget": 512}))
# the traffic spec holding a dataset's length statistics, when a row leaves input_len/output_len
# empty: (source pattern, model id or None for any, traffic spec id). An MLPerf result's model names its
# benchmark; the interactive scenarios use the same datasets (only their limits differ).
MLPERF = r"inference_results_v\d"
DATASETS = ((MLPERF, "llama-2-70b", "mlperf-llama2-70b-openorca"),
            (MLPERF, "mixtral-8x7b", "mlperf-mixtral-8x7b"),
            (MLPERF, "llama-3.1-405b", "mlperf-llama3.1-405b"),
            (MLPERF, "llama-3.1-8b", "mlperf-llama3.1-8b-cnndm"),
            (MLPERF, "deepseek-r1", "mlperf-deepseek-r1"),
            (r"jetstream", None, "sharegpt-jetstream"))


def family(hardware: str) -> str:
    return next((name for prefix, name in FAMILIES if hardware.startswith(prefix)), "other")


def source_group(source: str) -> str:
    return next((name for pattern, name in SOURCE_GROUPS if re.search(pattern, source, re.IGNORECASE)), "other")


def matches(patterns, source: str) -> bool:
    return any(re.search(p, str(source), re.IGNORECASE) for p in patterns)


def weight_only_compute(source: str) -> str | None:
    return next((c for pat, c in WEIGHT_ONLY_SOURCES if re.search(pat, str(source), re.IGNORECASE)), None)


def runtime_settings(source: str) -> dict:
    return next((r for pat, r in RUNTIME_SETTINGS if re.search(pat, str(source), re.IGNORECASE)), {})


def dataset_for(source: str, model: str) -> str | None:
    return next((t for pat, m, t in DATASETS if re.search(pat, str(source), re.IGNORECASE) and m in (None, model)),
                None)
