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

#: AST fields that carry no structure worth comparing (load/store context, type comments).
_SKIPPED_FIELDS = frozenset({"ctx", "type_comment", "kind", "type_params"})


@dataclass(frozen=True)
class Leaf:
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


def _locals(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """Names the test binds itself (assignments, loop and `with` targets, nested definitions)."""
    bound: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store | ast.Del):
            bound.add(child.id)
        elif isinstance(child, ast.ExceptHandler) and child.name:
            bound.add(child.name)
        elif child is not node and isinstance(
            child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef
        ):
            bound.add(child.name)
    return bound


class _Walker:
    """One pass over a test's arguments and body collecting tokens, leaves and leaf nodes.

    Written by hand rather than with `ast.NodeVisitor`: the visitor dispatches through
    `getattr` per node, and this walk runs over every node of every test in the suite.
    """

    def __init__(self, local_names: set[str], keep_nodes: bool) -> None:
        self.local_names = local_names
        self.numbering: dict[str, str] = {}
        self.tokens: list[str] = []
        self.leaves: list[Leaf] = []
        self.nodes: list[ast.AST] = []
        self.keep_nodes = keep_nodes

    def leaf(self, kind: str, value: str, node: ast.AST) -> None:
        if kind != "literal" and value in self.local_names:
            kind = "local"
            value = self.numbering.setdefault(value, f"v{len(self.numbering)}")
        self.leaves.append(Leaf(kind, value))
        if self.keep_nodes:
            self.nodes.append(node)

    def walk(self, node: ast.AST) -> None:
        self.tokens.append(type(node).__name__)
        if isinstance(node, ast.Constant):
            self.leaf("literal", repr(node.value), node)
            return
        if isinstance(node, ast.Name):
            self.leaf("name", node.id, node)
            return
        if isinstance(node, ast.Attribute):
            self.walk(node.value)
            self.leaf("identifier", node.attr, node)
            return
        if isinstance(node, ast.arg | ast.keyword):
            self.leaf("identifier", node.arg or "**", node)
        elif isinstance(node, ast.alias):
            self.leaf("identifier", f"{node.name} as {node.asname}", node)
            return
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self.leaf("identifier", node.name, node)
        for name, value in ast.iter_fields(node):
            if name in _SKIPPED_FIELDS or name == "annotation":
                continue
            if isinstance(value, list):
                self.tokens.append(f"[{len(value)}")
                for item in value:
                    if isinstance(item, ast.AST):
                        self.walk(item)
                    elif item is None:
                        self.tokens.append("None")
            elif isinstance(value, ast.AST):
                self.walk(value)
            elif isinstance(value, str) and name in ("attr", "name", "arg", "id", "module"):
                continue  # identifiers: recorded as leaves above
            elif value is not None and not isinstance(value, str):
                self.tokens.append(str(value))


def _walked(node: ast.FunctionDef | ast.AsyncFunctionDef, keep_nodes: bool) -> _Walker:
    walker = _Walker(_locals(node), keep_nodes)
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
    return Fingerprint(digest, tokens, tuple(walker.leaves))


def leaf_nodes(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[ast.AST]:
    """The AST node of each leaf of `fingerprint(node).leaves`, in the same order."""
    return _walked(node, keep_nodes=True).nodes


def shingles(tokens: tuple[str, ...], size: int = 5) -> set[str]:
    """The set of `size`-token windows of a token sequence (the unit of near-duplicate search)."""
    if len(tokens) <= size:
        return {" ".join(tokens)}
    return {" ".join(tokens[i : i + size]) for i in range(len(tokens) - size + 1)}
