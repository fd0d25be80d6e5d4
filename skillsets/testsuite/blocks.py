"""Shared blocks: runs of statements that several tests contain, up to their literals.

Decorator lists count as a run (a parametrize table copied onto several tests; decorators,
docstrings and string-only statements are compared with their literals), and so does any
expression of `min_lines` lines or more (a data literal inside statements that differ).

A run of identical source lines inside statements that differ (six keyword arguments of a
call whose other arguments differ, the lines of a long message one copy formats differently)
counts too, as a line comparison such as pylint's symilar sees it: windows of `min_lines`
non-blank, non-comment lines, compared as text after stripping indentation.

Whole-test clusters (clusters.py) miss the copy-pasted setup that two otherwise different tests
share. Here every run of consecutive statements (at any nesting level: a function body, a `for`
or `with` body...) spanning at least `min_lines` lines is keyed by its AST with names but
without literal values (formatting and comments do not matter; `random_state=0` against
`random_state=1` does not either), and tests sharing a key form a `block` cluster. Runs of up
to `_LONGEST` statements are keyed from each start; a longer shared run shows up as several
overlapping keys with the same tests, merged into one cluster.
"""

from __future__ import annotations

import ast
import dataclasses
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

from skillsets.testsuite.clusters import Cluster, Difference
from skillsets.testsuite.fingerprint import literal_blind_key
from skillsets.testsuite.inventory import TestFunction

#: symilar's default minimum too: shorter shared runs are idiom, not copy and paste.
MIN_BLOCK_LINES = 4
#: Longest run keyed, in statements; a longer shared run is found as overlapping runs.
_LONGEST = 12


def _statement_lists(node: ast.AST) -> Iterator[list[ast.stmt]]:
    """Every statement list under `node`: its body, and the bodies nested in it."""
    for name in ("body", "orelse", "finalbody", "handlers"):
        value = getattr(node, name, None)
        if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
            yield value
        if isinstance(value, list):
            for item in value:
                if isinstance(item, ast.stmt | ast.ExceptHandler):
                    yield from _statement_lists(item)
    for case in getattr(node, "cases", ()):
        yield case.body
        for item in case.body:
            yield from _statement_lists(item)


def _only_literal(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant | ast.JoinedStr)


def _key(node: ast.stmt | ast.expr) -> int:
    """The block key of one statement, decorator or expression (see the module docstring)."""
    value = node.value if isinstance(node, ast.Expr | ast.Assign | ast.AnnAssign) else node
    if _only_literal(value):
        # A docstring or a message string is copied text only if its text is the same:
        # ignoring literals would match every multi-line docstring.
        return hash(ast.dump(node))
    # An assignment is keyed by its value: the same 13-line data literal bound to `X` in one
    # test and to `X_train` in another is the same copy-pasted block.
    if isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
        return hash(("=", literal_blind_key(node.value)))
    return literal_blind_key(node)


def _runs(test: TestFunction, min_lines: int) -> Iterator[tuple[int, int, int]]:
    """(key, first line, last line) of each run of >= `min_lines` lines, <= `_LONGEST` statements.

    The key is Python's hash of the tuple of statement keys: 64 bits, so a false match among
    the few million runs of a large suite is about one in a million, and a tuple per run would
    cost far more memory.
    """
    # Decorators are keyed with their literals: a parametrize table is copied when its values
    # are, and every parametrize call over one name has the same literal-blind shape.
    decorators = test.node.decorator_list
    lists: list[tuple[list[Any], list[int]]] = [
        (decorators, [hash(ast.dump(d)) for d in decorators]),
        *((s, [_key(n) for n in s]) for s in _statement_lists(test.node)),
    ]
    for statements, keys in lists:
        for start in range(len(statements)):
            first = statements[start].lineno
            for end in range(start, min(len(statements), start + _LONGEST)):
                last = statements[end].end_lineno or statements[end].lineno
                if last - first + 1 >= min_lines:
                    yield hash(tuple(keys[start : end + 1])), first, last
    # A long expression (a data literal, a call with nested arguments) copied into a statement
    # that differs around it is a shared block too.
    for node in ast.walk(test.node):
        if isinstance(node, ast.expr) and not _only_literal(node) and node.end_lineno is not None:
            if node.end_lineno - node.lineno + 1 >= min_lines:
                yield _key(node), node.lineno, node.end_lineno
    yield from _line_windows(test, min_lines)


def _line_windows(test: TestFunction, min_lines: int) -> Iterator[tuple[int, int, int]]:
    """(key, first line, last line) of each window of `min_lines` identical source lines.

    Blank and comment-only lines are skipped, as symilar skips them; a window of punctuation
    only (closing brackets) is no copied code and gives no key.
    """
    kept = [
        (test.source_start + offset, text)
        for offset, line in enumerate(test.source)
        if (text := line.strip()) and not text.startswith("#")
    ]
    for start in range(len(kept) - min_lines + 1):
        window = kept[start : start + min_lines]
        texts = tuple(text for _, text in window)
        if sum(ch.isalnum() for text in texts for ch in text) < 2 * min_lines:
            continue
        yield hash(("lines", texts)), window[0][0], window[-1][0]


def find_shared_blocks(
    tests: Sequence[TestFunction], min_lines: int = MIN_BLOCK_LINES
) -> list[Cluster]:
    """Clusters of tests that share a run of statements of at least `min_lines` lines.

    Returns:
        `block` clusters, most lines removed first, numbered `block-1...`. `lines` is the shared
        lines summed over members; `lines_removed` what a helper saves (all copies but one, less
        a call per member); `differences` holds one `location` entry whose values are the
        `path:first-last` of the shared lines in each member.

    Raises:
        ValueError: `min_lines` < 1.
    """
    if min_lines < 1:
        raise ValueError(f"min_lines {min_lines} must be at least 1 (symilar's default is 4)")
    where: dict[int, dict[str, tuple[int, int]]] = defaultdict(dict)
    for test in tests:
        for key, first, last in _runs(test, min_lines):
            # One place per test and key: a test that repeats a run is one member.
            where[key].setdefault(test.test_id, (first, last))
    # Overlapping keys shared by the same tests are one longer block: merge their line ranges.
    merged: dict[frozenset[str], dict[str, tuple[int, int]]] = {}
    for places in where.values():
        if len(places) < 2:
            continue
        spans = merged.setdefault(frozenset(places), {})
        for test_id, (first, last) in places.items():
            low, high = spans.get(test_id, (first, last))
            spans[test_id] = (min(low, first), max(high, last))
    order = {test.test_id: index for index, test in enumerate(tests)}
    clusters = []
    for members, spans in merged.items():
        ordered = sorted(members, key=order.__getitem__)
        sizes = [spans[m][1] - spans[m][0] + 1 for m in ordered]
        locations = tuple(
            f"{m.split('::', 1)[0]}:{spans[m][0]}-{spans[m][1]}" for m in ordered
        )
        clusters.append(
            Cluster(
                cluster_id="",
                kind="block",
                members=tuple(ordered),
                similarity=1.0,
                differences=(Difference(-1, "location", locations),),
                literal_only=False,
                lines=sum(sizes),
                lines_removed=max(0, sum(sizes) - max(sizes) - len(sizes)),
                proposal=None,
            )
        )
    clusters.sort(key=lambda c: (-c.lines_removed, -len(c.members), c.members))
    return [dataclasses.replace(c, cluster_id=f"block-{i + 1}") for i, c in enumerate(clusters)]
