"""`skillsets generate --priority all`: wall time, determinism and file size.

    python benchmarks/bench_generate.py            # into a scratch folder, 3 repeats
    python benchmarks/bench_generate.py --json

Reports, for the whole catalog:

* `cli_cold_s`: the `skillsets generate --priority all` command end to end in a fresh process
  (interpreter start, imports, catalog from its disk cache, render, write) into an empty folder;
* `cli_unchanged_s`: the same command again over the files it wrote (nothing rewritten);
* `cli_import_s`: a fresh process that only imports the `skillsets` CLI (every subcommand's
  module): the floor under any subcommand, whatever it does;
* `render_write_s`: `generate()` alone into an empty folder, best of the repeats;
* `identical`: whether two generations into different folders gave the same bytes;
* `files`, `median_lines`, `max_lines`.

The catalog's disk cache is warmed first (deriving it imports every transformers config module,
once per transformers version).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from skillsets.catalog import build_catalog, select  # noqa: E402
from skillsets.generator import generate  # noqa: E402

CLI = [sys.executable, "-m", "cli.main", "generate", "--priority", "all", "--output-dir"]


def _cli(folder: Path) -> float:
    started = time.perf_counter()
    subprocess.run([*CLI, str(folder)], check=True, capture_output=True,
                   cwd=Path(__file__).resolve().parents[1])
    return time.perf_counter() - started


def _import_only() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import cli.main"], check=True,
                   cwd=Path(__file__).resolve().parents[1])
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    warm = time.perf_counter()
    build_catalog()
    catalog_s = time.perf_counter() - warm
    entries = select("all")
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        root = Path(tmp)
        cli_import = _import_only()
        cli_cold = _cli(root / "cli")
        cli_unchanged = _cli(root / "cli")
        timings = []
        for i in range(args.repeats):
            started = time.perf_counter()
            report = generate(entries, root / f"run{i}")
            timings.append(time.perf_counter() - started)
            assert len(report.written) == len(entries)
        names = sorted(p.name for p in (root / "run0").glob("*.py"))
        _, mismatch, errors = filecmp.cmpfiles(root / "run0", root / "cli", names, shallow=False)
        lines = [len((root / "run0" / n).read_text().splitlines()) for n in names]
    result = {
        "files": len(names),
        "catalog_load_s": round(catalog_s, 3),
        "cli_cold_s": round(cli_cold, 3),
        "cli_unchanged_s": round(cli_unchanged, 3),
        "cli_import_s": round(cli_import, 3),
        "render_write_s": round(min(timings), 3),
        "identical": not mismatch and not errors,
        "median_lines": statistics.median(lines),
        "max_lines": max(lines),
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"skillsets generate --priority all: {result['files']} files")
    print(f"  CLI, empty folder      {result['cli_cold_s']:.2f} s (target < 5 s)")
    print(f"  CLI, nothing changed   {result['cli_unchanged_s']:.2f} s")
    print(f"  CLI imports alone      {result['cli_import_s']:.2f} s (every subcommand's modules)")
    print(f"  generate() alone       {result['render_write_s']:.2f} s (best of {args.repeats})")
    print(f"  identical bytes        {result['identical']}")
    print(f"  lines per file         median {result['median_lines']}, max {result['max_lines']}")


if __name__ == "__main__":
    main()
