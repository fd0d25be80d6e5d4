"""The catalog: derived from the installed transformers, one entry per model type, tiered."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from cli.main import app
from hardware.names import UnknownNameError
from skillsets import catalog, families, tiers
from skillsets.catalog import FAMILIES, MODALITIES, TIERS, build_catalog, get_entry, select
from skillsets.exceptions_table import EXCEPTIONS
from skillsets.facts import TypeFacts, model_mappings
from skillsets.tasks import TASKS


@pytest.fixture(scope="module")
def entries() -> dict[str, catalog.CatalogEntry]:
    return build_catalog()


def test_one_entry_per_type_with_a_model_class(entries):
    expected = set().union(*(set(m) for m in model_mappings().values()))
    assert set(entries) == expected
    assert len(entries) >= 600


def test_entries_are_well_formed(entries):
    for e in entries.values():
        assert e.family in FAMILIES, e
        assert e.task in TASKS, e
        assert e.modality in MODALITIES, e
        assert e.tier in TIERS, e
        assert e.module_name.isidentifier() and e.module_name.startswith("hf_"), e
        assert e.inputs, e
        assert e.model_class, e
        if e.family == "other":
            assert e.note, f"{e.model_type} is 'other' without a reason"


def test_module_names(entries):
    assert entries["xlm-roberta"].module_name == "hf_xlm_roberta"
    assert entries["kosmos-2.5"].module_name == "hf_kosmos_2_5"


@pytest.mark.parametrize(
    ("model_type", "family", "task", "auto_class"),
    [
        ("bert", "encoder-only", "feature-extraction", "AutoModel"),
        ("gpt2", "decoder-only", "text-generation", "AutoModelForCausalLM"),
        ("llama", "decoder-only", "text-generation", "AutoModelForCausalLM"),
        ("t5", "encoder-decoder", "text2text-generation", "AutoModelForSeq2SeqLM"),
        ("vit", "vision", "image-classification", "AutoModelForImageClassification"),
        ("clip", "vision-text", "zero-shot-image-classification",
         "AutoModelForZeroShotImageClassification"),
        ("whisper", "speech/audio", "automatic-speech-recognition", "AutoModelForSpeechSeq2Seq"),
        ("wav2vec2", "speech/audio", "ctc", "AutoModelForCTC"),
        ("llava", "multimodal", "image-text-to-text", "AutoModelForImageTextToText"),
        ("git", "vision-encoder-text-decoder", "image-to-text", "AutoModelForImageTextToText"),
        ("mixtral", "mixture-of-experts", "text-generation", "AutoModelForCausalLM"),
        ("mamba", "state-space", "text-generation", "AutoModelForCausalLM"),
        ("patchtst", "time-series", "time-series-classification", ""),
        ("vibevoice", "diffusion", "text-to-audio", "AutoModelForTextToWaveform"),
        ("decision_transformer", "other", "feature-extraction", "AutoModel"),
    ],
)
def test_known_types_land_in_the_right_family(entries, model_type, family, task, auto_class):
    e = entries[model_type]
    assert (e.family, e.task, e.auto_class) == (family, task, auto_class)


def test_modalities_and_inputs_follow_the_config(entries):
    assert entries["whisper"].inputs == ("input_features",)
    assert entries["wav2vec2"].inputs == ("input_values",)
    assert entries["clip"].modality == "image+text"
    assert entries["vit"].inputs == ("pixel_values",)


def test_tiers_nest_and_name_real_types(entries):
    critical = set(tiers.tier_members("critical"))
    high = set(tiers.tier_members("high"))
    medium = set(tiers.tier_members("medium"))
    assert critical == {"bert", "roberta", "gpt2", "t5", "llama", "mistral", "vit", "clip",
                        "whisper"}
    assert critical < high < medium < set(entries)
    assert len(high) == 9 + 33
    assert entries["bert"].tier == "critical" and entries["bark"].tier == "high"
    assert entries["qwen2"].tier == "medium" and entries["afmoe"].tier == "all"


def test_aliases_and_suggestions():
    assert get_entry("xlm_roberta").model_type == "xlm-roberta"
    assert get_entry("blip2").model_type == "blip-2"
    assert get_entry("hf_bert").model_type == "bert"
    assert get_entry("GPT-J").model_type == "gptj"
    with pytest.raises(UnknownNameError) as info:
        get_entry("bertt")
    assert "bert" in info.value.suggestions
    assert "Did you mean" in str(info.value)


def test_select_by_priority_family_and_names():
    assert [e.model_type for e in select("critical", family="vision")] == ["vit"]
    assert [e.model_type for e in select(models=["gpt2", "xlm_roberta"])] == ["gpt2", "xlm-roberta"]
    assert len(select("all")) == len(build_catalog())
    with pytest.raises(UnknownNameError):
        select("urgent")
    with pytest.raises(UnknownNameError):
        select(family="vision-lang")


def test_exceptions_table_is_small_and_reasoned(entries):
    assert len(EXCEPTIONS) <= 15
    for model_type, exc in EXCEPTIONS.items():
        assert model_type in entries, model_type
        assert len(exc.reason) > 20
        assert exc.family is None or exc.family in FAMILIES
        assert entries[model_type].note == exc.reason


def _facts(maps: dict[str, str], keys: set[str] = frozenset(), subs: dict[str, str] | None = None,
           **kw) -> TypeFacts:
    return TypeFacts("x", "XConfig", maps, frozenset(keys), subs or {}, **kw)


@pytest.mark.parametrize(
    ("facts", "family"),
    [
        (_facts({"CAUSAL_LM": "X", "SEQUENCE_CLASSIFICATION": "X"}, {"vocab_size"}),
         "decoder-only"),
        (_facts({"CAUSAL_LM": "X", "MASKED_LM": "X"}, {"vocab_size"}), "encoder-only"),
        (_facts({"CAUSAL_LM": "X"}, {"vocab_size", "mamba_d_state"}), "state-space"),
        (_facts({"CAUSAL_LM": "X"}, {"vocab_size"}, moe_experts=8), "mixture-of-experts"),
        (_facts({"SEQ_TO_SEQ_CAUSAL_LM": "X"}, {"vocab_size"}, is_encoder_decoder=True),
         "encoder-decoder"),
        (_facts({"IMAGE_CLASSIFICATION": "X"}, {"image_size"}), "vision"),
        (_facts({"IMAGE_TEXT_TO_TEXT": "X"}, {"image_token_id"}, {"vision_config": "v"}),
         "multimodal"),
        (_facts({"IMAGE_TEXT_TO_TEXT": "X"}, set(), {"vision_config": "v"}),
         "vision-encoder-text-decoder"),
        (_facts({"MODEL": "X"}, set(), {"vision_config": "v", "text_config": "t"}), "vision-text"),
        (_facts({"CTC": "X"}, {"vocab_size"}), "speech/audio"),
        (_facts({"TIME_SERIES_PREDICTION": "X"}), "time-series"),
        (_facts({"MODEL": "X"}, set(), {"diffusion_head_config": "d"}), "diffusion"),
        (_facts({"MODEL": "X"}), "other"),
    ],
)
def test_family_rules_on_synthetic_facts(facts, family):
    assert families.classify(facts)[0] == family


def test_components_take_the_role_their_parent_gives_them():
    audio_tower = _facts({"MODEL": "X"}, {"hidden_size"}, parent="gemma4")
    assert families.classify(audio_tower, roles=frozenset({"audio_config"}))[0] == "speech/audio"
    text_tower = _facts({"MODEL": "X"}, {"vocab_size"}, parent="p")
    parent = _facts({"IMAGE_TEXT_TO_TEXT": "P"})
    family, note = families.classify(text_tower, parent, frozenset({"text_config"}))
    assert family == "decoder-only" and "text model of p" in note


def test_disk_cache_round_trip(tmp_path, entries):
    path = tmp_path / "catalog.json"
    sample = {k: entries[k] for k in ("bert", "kosmos-2.5", "decision_transformer")}
    catalog._store(path, sample)
    assert catalog._load_cached(path) == sample
    path.write_text(json.dumps([{"model_type": "bert"}]))
    assert catalog._load_cached(path) is None  # another layout: rebuilt, not trusted


def test_entry_is_frozen(entries):
    with pytest.raises(AttributeError):
        entries["bert"].family = "vision"  # type: ignore[misc]
    assert replace(entries["bert"], tier="all").tier == "all"


def test_cli_catalog_json_and_errors():
    runner = CliRunner()
    result = runner.invoke(app, ["catalog", "--priority", "critical", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {r["model_type"] for r in rows} == set(tiers.CRITICAL)
    assert set(rows[0]) >= {"model_type", "module_name", "family", "task", "auto_class",
                            "modality", "inputs", "tier", "note", "config_class"}
    result = runner.invoke(app, ["catalog", "--family", "visoin"])
    assert result.exit_code != 0
    assert "vision" in result.output
