"""Structural fingerprints of tests: the AST with identifiers, literals and docstrings normalised.

Two tests with the same fingerprint have the same shape and differ at most in their names and
literals; `Fingerprint.leaves` lists those, position by position, so the differences of two
same-shaped tests can be read off by index. Local variables are numbered by first use, so a
test that only renames its locals is not "different in names".
"""

from __future__ import annotations

import ast
import hashlib
from dataclasses import dataclass
from typing import NamedTuple

#: AST fields that carry no structure worth comparing: load/store context, type comments and
#: annotations; identifiers (recorded as leaves instead).
_SKIPPED_FIELDS = frozenset({
    "ctx", "type_comment", "kind", "type_params", "annotation", "returns",
    "attr", "name", "arg", "id", "module", "asname",
})
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


class Leaf(NamedTuple):
    """An identifier or literal at one position of the normalised tree.

    `kind` is `literal`; `name` (a free name read as a value: a module-level function, class
    or constant, which a parametrized test can take as an argument); `identifier` (an
    attribute, keyword, argument/fixture, import or definition name: part of the code's shape,
    not a value); or `local` (a variable the test binds, numbered by first use: `v0`, `v1`...).
    """

    kind: str
    value: str


@dataclass(frozen=True)
class Fingerprint:
    """The shape of a test: node-type tokens, their digest, and the leaves in the same order."""

    digest: str
    tokens: tuple[str, ...]
    leaves: tuple[Leaf, ...]


def _body(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.stmt]:
    """The body without its docstring."""
    body = node.body
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return body[1:]
    return body


class _Walker:
    """One pass over a test's arguments and body collecting tokens, leaves and leaf nodes.

    Written by hand rather than with `ast.NodeVisitor`: the visitor dispatches through
    `getattr` per node, and this walk runs over every node of every test in the suite. The
    names the test binds are collected on the same pass, and its leaves renamed after it.
    """

    def __init__(self, keep_nodes: bool) -> None:
        self.tokens: list[str] = []
        self.raw: list[tuple[str, str]] = []
        self.nodes: list[ast.AST] = []
        self.bound: set[str] = set()
        self.keep_nodes = keep_nodes

    def leaf(self, kind: str, value: str, node: ast.AST) -> None:
        self.raw.append((kind, value))
        if self.keep_nodes:
            self.nodes.append(node)

    def leaves(self) -> tuple[Leaf, ...]:
        """The leaves, with every name the test binds numbered by first use (`v0`, `v1`...)."""
        numbering: dict[str, str] = {}
        found = []
        for kind, value in self.raw:
            if kind != "literal" and value in self.bound:
                found.append(Leaf("local", numbering.setdefault(value, f"v{len(numbering)}")))
            else:
                found.append(Leaf(kind, value))
        return tuple(found)

    def walk(self, node: ast.AST) -> None:
        kind = type(node)
        self.tokens.append(kind.__name__)
        if kind is ast.Constant:
            self.leaf("literal", repr(node.value), node)  # type: ignore[attr-defined]
            return
        if kind is ast.Name:
            if type(node.ctx) is not ast.Load:  # type: ignore[attr-defined]
                self.bound.add(node.id)  # type: ignore[attr-defined]
            self.leaf("name", node.id, node)  # type: ignore[attr-defined]
            return
        if kind is ast.Attribute:
            self.walk(node.value)  # type: ignore[attr-defined]
            self.leaf("identifier", node.attr, node)  # type: ignore[attr-defined]
            return
        if kind is ast.arg or kind is ast.keyword:
            self.leaf("identifier", node.arg or "**", node)  # type: ignore[attr-defined]
        elif kind is ast.alias:
            self.leaf("identifier", f"{node.name} as {node.asname}", node)  # type: ignore[attr-defined]
            return
        elif kind in _DEFINITIONS:
            self.bound.add(node.name)  # type: ignore[attr-defined]
            self.leaf("identifier", node.name, node)  # type: ignore[attr-defined]
        elif kind is ast.ExceptHandler and node.name:  # type: ignore[attr-defined]
            self.bound.add(node.name)  # type: ignore[attr-defined]
        for name in node._fields:
            if name in _SKIPPED_FIELDS:
                continue
            value = getattr(node, name, None)
            if isinstance(value, list):
                self.tokens.append(f"[{len(value)}")
                for item in value:
                    if isinstance(item, ast.AST):
                        self.walk(item)
                    elif item is None:
                        self.tokens.append("None")
            elif isinstance(value, ast.AST):
                self.walk(value)
            elif value is not None and not isinstance(value, str):
                self.tokens.append(str(value))  # e.g. ImportFrom.level, a conversion flag


def _walked(node: ast.FunctionDef | ast.AsyncFunctionDef, keep_nodes: bool) -> _Walker:
    walker = _Walker(keep_nodes)
    walker.walk(node.args)
    for statement in _body(node):
        walker.walk(statement)
    return walker


def fingerprint(node: ast.FunctionDef | ast.AsyncFunctionDef) -> Fingerprint:
    """The fingerprint of one test: its arguments and body; name, decorators, docstring left out.

    Decorators are left out so that tests which are already parametrized differently but run
    the same body are recognised as the same test.
    """
    walker = _walked(node, keep_nodes=False)
    tokens = tuple(walker.tokens)
    digest = hashlib.blake2b("\x1f".join(tokens).encode(), digest_size=12).hexdigest()
    return Fingerprint(digest, tokens, walker.leaves())


def literal_blind_key(node: ast.AST) -> int:
    """A hash of `node`'s tree with its names but without its literal values.

    Two statements or expressions with the same key differ at most in literals (`random_state=0`
    against `random_state=1`); unlike `fingerprint`, names are kept and not renumbered.
    """
    walker = _Walker(keep_nodes=False)
    walker.walk(node)
    names = tuple(value for kind, value in walker.raw if kind != "literal")
    return hash((tuple(walker.tokens), names))


def leaf_nodes(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    """The AST node of each leaf of `fingerprint(node).leaves`, in the same order."""
    return _walked(node, keep_nodes=True).nodes


def shingles(tokens: tuple[str, ...], size: int = 5) -> set[str]:
    """The set of `size`-token windows of a token sequence (the unit of near-duplicate search)."""
    if len(tokens) <= size:
        return {" ".join(tokens)}
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}
