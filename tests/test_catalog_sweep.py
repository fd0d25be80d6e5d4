"""The whole-catalog validation sweep on cpu (slow: run alone with `pytest -m catalog`).

Every model type of the catalog runs for real in its own process on Dask workers of a local
cluster. At least 95% must pass, all of the critical and high tiers must pass, and every failure
must carry an error type and a message a person can act on.
"""

from __future__ import annotations

import uuid

import pytest

from skillsets.catalog import select
from skillsets.validation.coverage import build_report, render_markdown
from skillsets.validation.smoke import SmokeOptions
from skillsets.validation.sweep import (
    SweepPlan,
    generate_and_check,
    run_validation_sweep,
    usable_cores,
)

pytestmark = pytest.mark.catalog


@pytest.fixture(scope="module")
def records(request, tmp_path_factory):
    if "catalog" not in (request.config.getoption("markexpr") or ""):
        pytest.skip(
            "the whole-catalog sweep (~9 min on 2 cores) runs only when selected: "
            "pytest -m catalog (make test-catalog)"
        )
    from hardware.cluster import start_local_cluster

    entries = select("all")
    generated = tmp_path_factory.mktemp("generated")
    static = generate_and_check(entries, generated)
    plan = SweepPlan(options=SmokeOptions(skillset_dir=str(generated)), static=static)
    cluster, client = start_local_cluster(
        ["cpu"], threads_per_worker=1, workers_per_backend=usable_cores()
    )
    try:
        yield run_validation_sweep(
            client, entries, ["cpu"], f"catalog-{uuid.uuid4().hex[:8]}", plan=plan, progress=False
        )
    finally:
        client.close()
        cluster.close()


def test_every_type_has_a_record(records):
    assert {r.model_type for r in records} == {e.model_type for e in select("all")}


def test_critical_and_high_tiers_all_pass(records):
    high = {e.model_type for e in select("high")}
    failed = {
        r.model_type: r.message for r in records if r.model_type in high and r.status != "pass"
    }
    assert not failed, failed


def test_at_least_95_percent_pass(records):
    report = build_report(records, {e.model_type: e for e in select("all")})
    rate = report.overall["cpu"].rate
    assert rate is not None and rate >= 0.95, render_markdown(report)


def test_every_failure_has_a_cause(records):
    for r in records:
        if r.status == "fail":
            assert r.error_type and r.message and len(r.message) > 10, r
