"""The demo's terminal: library output, children's included, goes to the log; the story stays."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import logging, subprocess, sys, warnings
    from pathlib import Path
    from cli.quiet import FLOW_RUN_LOGGER, quiet_terminal

    logging.basicConfig(level=logging.INFO)  # a library's console handler on stderr
    print("before")
    with quiet_terminal(Path(sys.argv[1])) as out:
        print("a library's progress line")
        warnings.warn("Both max_new_tokens and max_length seem to have been set")
        logging.getLogger("transformers").warning("a transformers notice")
        subprocess.run(
            [sys.executable, "-c", "import sys; sys.stderr.write('worker chatter\\\\n')"],
            check=True,
        )
        logging.getLogger(FLOW_RUN_LOGGER).info(
            "Finished in state Completed()", extra={"flow_name": "validate"}
        )
        out.print("summary line")
    print("after")
    """
)


def test_library_output_goes_to_the_log_and_flow_lines_to_the_terminal(tmp_path: Path) -> None:
    log_path = tmp_path / "logs" / "demo.log"
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(log_path)],
        capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[1],
    )
    assert done.returncode == 0, done.stderr
    terminal = done.stdout + done.stderr
    log = log_path.read_text()
    for noise in ("a library's progress line", "max_new_tokens", "a transformers notice",
                  "worker chatter"):
        assert noise in log, log
        assert noise not in terminal, terminal
    assert "validate Finished in state Completed()" in done.stdout
    assert "summary line" in done.stdout
    # The terminal is the process's own again before and after.
    assert done.stdout.startswith("before") and done.stdout.rstrip().endswith("after")
