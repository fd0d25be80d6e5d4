"""Import timing on top of an imported stack: a real server process, real forks, real modules."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from skillsets.bench.imports import (
    ImportServer,
    import_on_stack,
    skill_modules,
    stack_delivered,
    stack_modules,
)

BERT = skill_modules("bert", "hf_bert")


@pytest.fixture(scope="module")
def server() -> Iterator[ImportServer]:
    started = ImportServer(stack_modules("cpu"))
    yield started
    started.close()


def test_skill_modules_leave_the_stack_out() -> None:
    assert BERT == ["skillsets.runtime.skill", "transformers.models.bert.modeling_bert"]
    assert not set(BERT) & set(stack_modules("openvino"))
    assert stack_modules("openvino")[-1] == "openvino"
    assert "openvino" not in stack_modules("cpu")


def test_a_skillset_import_excludes_the_stack(server: ImportServer) -> None:
    cold = server.stack_import
    assert cold.modules == stack_modules("cpu")
    assert list(cold.cumulative) == list(cold.modules)
    assert cold.seconds == pytest.approx(cold.cumulative["transformers.modeling_utils"], rel=1e-3)
    assert cold.cumulative["torch"] > 0.1  # a real cold import of torch, not a cache hit

    skill = server.import_seconds(BERT)
    assert 0 < skill < cold.seconds
    # The stack is already there in the child: importing it again is a dictionary lookup.
    assert server.import_seconds(list(stack_modules("cpu"))) < 0.01 * cold.seconds


def test_every_import_is_timed_in_a_fresh_child(server: ImportServer) -> None:
    first = server.import_seconds(BERT)
    again = server.import_seconds(BERT)
    # A child that saw the first import would find the modules in sys.modules (~0.1 ms).
    assert min(first, again) > 0.01
    assert server.alive


def test_a_failed_import_names_the_module_and_keeps_the_server(server: ImportServer) -> None:
    with pytest.raises(RuntimeError, match="no_such_skillset_module"):
        server.import_seconds(["no_such_skillset_module"])
    assert server.alive
    assert server.import_seconds(["skillsets.runtime.errors"]) > 0


def test_a_stack_that_fails_to_import_says_so() -> None:
    with pytest.raises(RuntimeError, match="no_such_stack_module"):
        ImportServer(("json", "no_such_stack_module"))


def test_the_stack_is_measured_once_per_run_until_a_task_stores_it() -> None:
    # A light real stack keeps this fast; the protocol is the same as for torch.
    stack = ("json", "email.message")
    run, later = f"run-{uuid.uuid4().hex}", f"run-{uuid.uuid4().hex}"
    first = import_on_stack(["email.mime.text"], stack, run)
    assert first.stack is not None and first.stack.modules == stack
    assert first.seconds > 0
    # Not stored yet (say the task failed): the next task carries the same figure.
    retry = import_on_stack(["email.mime.text"], stack, run)
    assert retry.stack == first.stack
    stack_delivered(run, stack)
    assert import_on_stack(["email.mime.text"], stack, run).stack is None
    # A new run starts a fresh server, so its stack import is a new cold measurement.
    fresh = import_on_stack(["email.mime.text"], stack, later)
    assert fresh.stack is not None and fresh.stack is not first.stack
