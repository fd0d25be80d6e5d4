"""Duplicate tests as clusters: exact (same shape) and near (similar shape), with what differs.

Exact clusters group tests whose fingerprints are equal: same tree, different names or literals.
Near clusters join different shapes whose token shingles overlap by at least a Jaccard
threshold; candidates come from MinHash locality-sensitive hashing (datasketch), and each
candidate pair is then confirmed with the exact Jaccard of its shingle sets, so the threshold
means what it says. A cluster whose members differ only in literals gets a proposed
parametrized test with the parameter table written out.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import os
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from datasketch import MinHash, MinHashLSH

from skillsets.testsuite.fingerprint import Fingerprint, leaf_nodes, shingles
from skillsets.testsuite.inventory import TestFunction

#: Tests with fewer tokens than this are not matched approximately: a two-line test overlaps
#: with hundreds of others and says nothing about copy and paste.
MIN_NEAR_TOKENS = 40
_NUM_PERM = 64


@dataclass(frozen=True)
class Difference:
    """One leaf position where members differ: its kind and each member's value, in order."""

    position: int
    kind: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Cluster:
    """Tests that duplicate each other.

    Attributes:
        cluster_id: `exact-N` or `near-N`, numbered by lines removed (largest first).
        kind: `exact` (same shape), `near` (Jaccard over shingles >= the threshold) or `block`
            (a run of statements shared word for word, see `blocks.py`).
        members: test ids (`path::qualname`) in suite order.
        similarity: the lowest confirmed Jaccard between joined shapes (1.0 for exact).
        differences: for exact clusters, the differing leaf positions; for near clusters, the
            names and literals not shared by every member (position -1, values per member).
        literal_only: members differ only in literals (an exact cluster with no name change).
        lines: lines of all members together.
        lines_removed: lines a merge saves: all members but the longest, less one table row each.
        proposal: the proposed parametrized test (Python source) when every difference is a
            literal or a free name (a function or class passed as an argument); None otherwise
            (and for identical members, where all but one can simply go).
    """

    cluster_id: str
    kind: str
    members: tuple[str, ...]
    similarity: float
    differences: tuple[Difference, ...]
    literal_only: bool
    lines: int
    lines_removed: int
    proposal: str | None


def _lines_removed(tests: Sequence[TestFunction]) -> int:
    lines = [t.lines for t in tests]
    return max(0, sum(lines) - max(lines) - len(lines))


def _differences(prints: Sequence[Fingerprint]) -> tuple[Difference, ...]:
    found = []
    for position, leaves in enumerate(zip(*(p.leaves for p in prints), strict=True)):
        values = tuple(leaf.value for leaf in leaves)
        kinds = {leaf.kind for leaf in leaves}
        if len(set(values)) > 1 or len(kinds) > 1:
            # Only a literal or a free name in every member can become an argument.
            kind = kinds.pop() if len(kinds) == 1 and kinds <= {"literal", "name"} else "identifier"
            found.append(Difference(position, kind, values))
    return tuple(found)


def _common_name(names: Sequence[str]) -> str:
    prefix = os.path.commonprefix(list(names)).rstrip("_")
    return prefix if len(prefix) > len("test") else f"{names[0]}_parametrized"


def propose_parametrization(
    tests: Sequence[TestFunction], differences: Sequence[Difference]
) -> str:
    """The first member rewritten as one parametrized test covering every member.

    Each differing literal or free name becomes an argument (`value1`, `value2`...); the
    `pytest.mark.parametrize` table has one row per member, in member order. Comments of the
    original are not kept (the source is regenerated from the AST).
    """
    first = copy.deepcopy(tests[0].node)
    nodes = leaf_nodes(first)
    # Positions whose values agree member by member are one argument (`load("x", 3)` and
    # `assert size == 3` vary together).
    columns: dict[tuple[str, ...], str] = {}
    for difference in differences:
        name = columns.setdefault(difference.values, f"value{len(columns) + 1}")
        _replace(first, nodes[difference.position], ast.Name(id=name, ctx=ast.Load()))
    argnames = list(columns.values())
    table = list(columns)
    first.name = _common_name([t.name for t in tests])
    first.args.args.extend(ast.arg(arg=name) for name in argnames)
    rows = [
        ast.Tuple(elts=[ast.parse(v[i], mode="eval").body for v in table], ctx=ast.Load())
        if len(table) > 1
        else ast.parse(table[0][i], mode="eval").body
        for i in range(len(tests))
    ]
    decorator = ast.Call(
        func=ast.parse("pytest.mark.parametrize", mode="eval").body,
        args=[
            ast.Constant(", ".join(argnames)),
            ast.List(elts=rows, ctx=ast.Load()),
        ],
        keywords=[
            ast.keyword(
                arg="ids",
                value=ast.List(elts=[ast.Constant(t.name) for t in tests], ctx=ast.Load()),
            )
        ],
    )
    first.decorator_list.insert(0, decorator)
    return _format_decorator(ast.unparse(ast.fix_missing_locations(first)), len(tests))


def _format_decorator(source: str, rows: int) -> str:
    """Put the parametrize table one row per line (ast.unparse writes it on one line)."""
    head, _, rest = source.partition("\n")
    if not head.startswith("@pytest.mark.parametrize(") or rows < 2:
        return source
    table = ast.parse(head[1:], mode="eval").body
    assert isinstance(table, ast.Call)  # built above as a call
    names, values = table.args
    ids = table.keywords[0].value
    assert isinstance(values, ast.List)
    lines = ["@pytest.mark.parametrize(", f"    {ast.unparse(names)},", "    ["]
    lines += [f"        {ast.unparse(row)}," for row in values.elts]
    lines += ["    ],", f"    ids={ast.unparse(ids)},", ")"]
    return "\n".join(lines) + "\n" + rest


def _replace(tree: ast.AST, target: ast.AST, replacement: ast.expr) -> None:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is target:
                setattr(parent, name, replacement)
                return
            if isinstance(value, list) and any(item is target for item in value):
                index = next(i for i, item in enumerate(value) if item is target)
                # A literal part of an f-string becomes a `{value}` placeholder.
                wrap = isinstance(parent, ast.JoinedStr)
                value[index] = (
                    ast.FormattedValue(value=replacement, conversion=-1) if wrap else replacement
                )
                return


def _exact_groups(prints: Sequence[Fingerprint]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for index, fp in enumerate(prints):
        groups[fp.digest].append(index)
    return groups


def _near_components(
    prints: Sequence[Fingerprint], groups: dict[str, list[int]], threshold: float
) -> list[tuple[list[str], float]]:
    """Groups of digests joined by confirmed Jaccard >= threshold, with their lowest similarity."""
    digests = [d for d, idx in groups.items() if len(prints[idx[0]].tokens) >= MIN_NEAR_TOKENS]
    sets = {d: shingles(prints[groups[d][0]].tokens) for d in digests}
    encoded = [[s.encode() for s in sets[d]] for d in digests]
    hashes = MinHash.bulk(encoded, num_perm=_NUM_PERM)
    lsh = MinHashLSH(threshold=threshold, num_perm=_NUM_PERM)
    for digest, minhash in zip(digests, hashes, strict=True):
        lsh.insert(digest, minhash)
    parent = {d: d for d in digests}
    lowest: dict[str, float] = {}

    def root(d: str) -> str:
        while parent[d] != d:
            parent[d] = parent[parent[d]]
            d = parent[d]
        return d

    edges: list[tuple[str, str, float]] = []
    for digest, minhash in zip(digests, hashes, strict=True):
        for other in lsh.query(minhash):
            if other <= digest:
                continue
            a, b = sets[digest], sets[other]
            jaccard = len(a & b) / len(a | b)
            if jaccard >= threshold:
                edges.append((digest, other, jaccard))
                parent[root(other)] = root(digest)
    for a, _, jaccard in edges:
        top = root(a)
        lowest[top] = min(lowest.get(top, 1.0), jaccard)
    components: dict[str, list[str]] = defaultdict(list)
    for digest in digests:
        components[root(digest)].append(digest)
    return [(members, lowest[top]) for top, members in components.items() if len(members) > 1]


def _near_differences(prints: Sequence[Fingerprint]) -> tuple[Difference, ...]:
    """Names and literals some members have and others lack (at most 20, sorted)."""
    per_member = [{(leaf.kind, leaf.value) for leaf in p.leaves if leaf.kind != "local"}
                  for p in prints]
    shared = set.intersection(*per_member)
    varying = sorted(set.union(*per_member) - shared)[:20]
    return tuple(
        Difference(-1, kind, tuple(value if (kind, value) in m else "" for m in per_member))
        for kind, value in varying
    )


def find_clusters(
    tests: Sequence[TestFunction], prints: Sequence[Fingerprint], threshold: float = 0.8
) -> list[Cluster]:
    """Exact and near clusters of `tests` (with `prints[i]` the fingerprint of `tests[i]`).

    Args:
        tests: the suite's tests.
        prints: their fingerprints, in the same order.
        threshold: the Jaccard similarity of shingle sets above which two shapes are near
            duplicates, in (0, 1]; 1.0 finds exact clusters only.

    Returns:
        Clusters, most lines removed first; exact ones number `exact-1...`, near `near-1...`.

    Raises:
        ValueError: lengths differ or the threshold is outside (0, 1].
    """
    if len(tests) != len(prints):
        raise ValueError(f"{len(tests)} tests but {len(prints)} fingerprints; pass one per test")
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold {threshold} is not in (0, 1]; try 0.8")
    groups = _exact_groups(prints)
    exact = []
    for indexes in groups.values():
        if len(indexes) < 2:
            continue
        members = [tests[i] for i in indexes]
        differences = _differences([prints[i] for i in indexes])
        literal_only = bool(differences) and all(d.kind == "literal" for d in differences)
        values_only = bool(differences) and all(d.kind != "identifier" for d in differences)
        exact.append(
            Cluster(
                cluster_id="",
                kind="exact",
                members=tuple(t.test_id for t in members),
                similarity=1.0,
                differences=differences,
                literal_only=literal_only,
                lines=sum(t.lines for t in members),
                lines_removed=_lines_removed(members),
                proposal=propose_parametrization(members, differences) if values_only else None,
            )
        )
    near = []
    if threshold < 1:
        for digests, similarity in _near_components(prints, groups, threshold):
            indexes = sorted(i for d in digests for i in groups[d])
            members = [tests[i] for i in indexes]
            near.append(
                Cluster(
                    cluster_id="",
                    kind="near",
                    members=tuple(t.test_id for t in members),
                    similarity=round(similarity, 4),
                    differences=_near_differences([prints[i] for i in indexes]),
                    literal_only=False,
                    lines=sum(t.lines for t in members),
                    lines_removed=_lines_removed(members),
                    proposal=None,
                )
            )
    numbered = _numbered(exact, "exact") + _numbered(near, "near")
    return sorted(numbered, key=lambda c: -c.lines_removed)


def _numbered(clusters: list[Cluster], kind: str) -> list[Cluster]:
    ordered = sorted(clusters, key=lambda c: (-c.lines_removed, -len(c.members), c.members))
    return [dataclasses.replace(c, cluster_id=f"{kind}-{i + 1}") for i, c in enumerate(ordered)]
