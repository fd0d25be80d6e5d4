"""Do the cause rules classify a sweep's failures? Re-classifies stored validation records.

Reads one or more `records-<run>.json` files (what `skillsets validate` and
`bench_validation_sweep.py` write under SKILLSETS_OUTPUT_DIR/validation), groups their failed and
unsupported records by broad cause exactly as the coverage report does
(`skillsets.validation.coverage.build_report`, rules in `skillsets/validation/causes.py`), and
prints, per cause, the model types and backends, then every record no rule classifies
(`other`) with its normalised message.

Issue 18's bar: no OpenVINO failure without a cause, and at most 10 model types in `other`.
Exits 1 when `other` holds more than `--max-other` types or, with `--strict-openvino`, any
OpenVINO record.

Usage:
    .venv/bin/python benchmarks/check_causes.py /tmp/sweep/validation/records-RUN.json
    .venv/bin/python benchmarks/check_causes.py RECORDS.json --max-other 0 --strict-openvino
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from skillsets.validation.causes import OTHER  # noqa: E402
from skillsets.validation.coverage import build_report, normalise_message  # noqa: E402


def load_records(paths: list[Path]) -> list[dict[str, Any]]:
    """Every record of the JSON files at `paths` (each a list of record dicts)."""
    records: list[dict[str, Any]] = []
    for path in paths:
        data = json.loads(path.read_text())
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
        records.extend(data)
    return records


def unclassified(records: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """(model type, backend, normalised message) of the failed or unsupported records that
    fall to `other`, sorted."""
    report = build_report(records)
    other = next((g for g in report.categories if g.cause.name == OTHER.name), None)
    if other is None:
        return []
    return sorted(
        (r["model_type"], r["hardware"], normalise_message(r.get("message") or "", r["model_type"]))
        for r in records
        if r["status"] in ("fail", "unsupported") and r["model_type"] in other.model_types
        and normalise_message(r.get("message") or "", r["model_type"]) in other.details
    )


def main() -> int:
    """Print the causes of the records' failures; 1 when `other` is over the bar."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("records", nargs="+", type=Path, help="records-<run>.json files")
    parser.add_argument("--max-other", type=int, default=10,
                        help="most model types 'other' may hold (default 10)")
    parser.add_argument("--strict-openvino", action="store_true",
                        help="also fail when any OpenVINO record falls to 'other'")
    args = parser.parse_args()
    if args.max_other < 0:
        parser.error("--max-other must be >= 0")

    records = load_records(args.records)
    report = build_report(records)
    print(f"{len(records)} records; failed or unsupported by cause (model types):")
    for group in report.categories:
        print(f"  {group.count:4d}  {group.cause.name}  [{', '.join(group.hardware)}]"
              f"  fail {group.failed}, unsupported {group.unsupported}")
    left = unclassified(records)
    types = sorted({t for t, _, _ in left})
    openvino = [(t, m) for t, hw, m in left if hw == "openvino"]
    print(f"\n'other': {len(types)} model types, {len(left)} records "
          f"({len(openvino)} on openvino)")
    for model_type, hardware, message in left:
        print(f"  {model_type} [{hardware}]: {message}")

    over = len(types) > args.max_other
    if over:
        print(f"\n'other' holds {len(types)} types, more than --max-other {args.max_other}: "
              "add rules to skillsets/validation/causes.py")
    if args.strict_openvino and openvino:
        print(f"\n{len(openvino)} OpenVINO records have no cause")
    return 1 if over or (args.strict_openvino and openvino) else 0


if __name__ == "__main__":
    raise SystemExit(main())
