"""Static checks of generated skillset files: what passes, and each forbidden construct caught."""

from __future__ import annotations

import textwrap

import pytest

from skillsets.validation.static import INIT_METHODS, check_directory, check_file, check_source

GOOD = textwrap.dedent(
    '''
    """hf_bert skillset."""
    from transformers import AutoModel, AutoTokenizer


    class hf_bert:
        def _load(self, model_name, device):
            model = AutoModel.from_pretrained(model_name)
            return model.to(device), AutoTokenizer.from_pretrained(model_name)

    '''
) + "".join(
    f"    def {m}(self, model_name, device, label):\n"
    "        return self._load(model_name, device)\n\n"
    for m in INIT_METHODS
)


def test_init_methods_cover_every_backend():
    assert INIT_METHODS == (
        "init_cpu",
        "init_cuda",
        "init_rocm",
        "init_openvino",
        "init_apple",
        "init_qualcomm",
    )


def test_good_file_passes():
    report = check_source(GOOD, class_name="hf_bert")
    assert report.passed, report.summary()


def test_syntax_error_is_reported_with_its_line():
    report = check_source("class hf_bert:\n    def init_cpu(self:\n", class_name="hf_bert")
    assert [i.check for i in report.issues] == ["parse"]
    assert report.issues[0].line == 2


def test_missing_class_and_missing_init_methods():
    assert [i.check for i in check_source(GOOD, class_name="hf_gpt2").issues] == ["class"]
    source = GOOD.replace("def init_qualcomm", "def init_qualcom").replace(
        "def init_rocm", "def rocm"
    )
    issues = check_source(source, class_name="hf_bert").issues
    assert [i.check for i in issues] == ["init_methods"]
    assert "init_rocm" in issues[0].message and "init_qualcomm" in issues[0].message


@pytest.mark.parametrize(
    ("snippet", "check"),
    [
        ("exec('import os')", "exec_eval"),
        ("eval('1 + 1')", "exec_eval"),
        ("import builtins\nbuiltins.eval('1')", "exec_eval"),
        ("AutoModel.from_pretrained('x', trust_remote_code=True)", "trust_remote_code"),
        ("AutoModel.from_pretrained('x', trust_remote_code=flag)", "trust_remote_code"),
        ("from unittest.mock import MagicMock\nmodel = MagicMock()", "mock"),
        ("from unittest import mock", "mock"),
        ("import mock", "mock"),
    ],
)
def test_forbidden_constructs_are_caught(snippet, check):
    report = check_source(GOOD + "\n" + snippet + "\n", class_name="hf_bert")
    assert check in {i.check for i in report.issues}, report.summary()
    assert all(i.line > 0 for i in report.issues if i.check == check)


def test_trust_remote_code_false_is_allowed():
    source = GOOD.replace(
        "from_pretrained(model_name)", "from_pretrained(model_name, trust_remote_code=False)"
    )
    assert check_source(source, class_name="hf_bert").passed


def test_weights_not_loaded_with_from_pretrained():
    source = GOOD.replace(
        "AutoModel.from_pretrained(model_name)", "torch.load(model_name)"
    ).replace("AutoTokenizer.from_pretrained(model_name)", "None")
    assert [i.check for i in check_source(source, class_name="hf_bert").issues] == [
        "from_pretrained"
    ]


def test_generated_files_pass(tmp_path):
    """The generator's real output for a few model types of different families passes."""
    from skillsets.catalog import select
    from skillsets.generator import generate

    entries = select(models=["bert", "gpt2", "vit", "whisper", "t5"])
    generate(entries, tmp_path)
    reports = check_directory(tmp_path)
    assert {r.class_name for r in reports} >= {e.module_name for e in entries}
    assert all(r.passed for r in reports), "\n".join(r.summary() for r in reports)


def test_check_file_uses_the_stem_as_class_name(tmp_path):
    path = tmp_path / "hf_bert.py"
    path.write_text(GOOD)
    assert check_file(path).passed
