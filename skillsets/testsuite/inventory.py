"""The inventory of a test suite, read with `ast`: modules, classes, tests, fixtures, markers.

Nothing analysed is imported or executed: a module that does not parse is recorded with its
error and the rest of the suite is still read.
"""

from __future__ import annotations

import ast
import difflib
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: File names pytest collects by default, plus conftest.py for the fixtures it defines.
TEST_FILE_PATTERNS = ("test_*.py", "*_test.py", "conftest.py")
#: Markers that skip or expect failure, and the unittest decorators that do the same.
SKIP_MARKERS = frozenset({"skip", "skipif", "xfail"})
_UNITTEST_MARKERS = {
    "skip": "skip", "skipIf": "skipif", "skipUnless": "skipif", "expectedFailure": "xfail",
}
#: Calls that assert something although they are not `assert` statements.
_RAISING_CONTEXTS = frozenset({"raises", "warns", "deprecated_call", "fail"})


@dataclass(frozen=True)
class Marker:
    """A pytest mark (or unittest skip decorator) on a test, its class or its module."""

    name: str
    has_reason: bool
    lineno: int


@dataclass(frozen=True)
class Parametrization:
    """One `pytest.mark.parametrize`: its argument names and, for a literal list, its case count."""

    argnames: tuple[str, ...]
    cases: int | None


@dataclass(frozen=True)
class TestClass:
    """A class that holds tests (a `Test*` class or a `unittest.TestCase` subclass)."""

    __test__ = False  # pytest must not collect this dataclass as a test class

    path: str
    qualname: str
    bases: tuple[str, ...]
    lineno: int
    end_lineno: int
    is_unittest: bool


@dataclass(frozen=True)
class Fixture:
    """A function decorated with `pytest.fixture`."""

    path: str
    name: str
    scope: str
    autouse: bool
    lineno: int


@dataclass(frozen=True)
class TestFunction:
    """One test function or method, with what it uses and what it asserts."""

    __test__ = False

    path: str
    qualname: str
    class_name: str | None
    lineno: int
    end_lineno: int
    fixtures: tuple[str, ...]
    parametrizations: tuple[Parametrization, ...]
    markers: tuple[Marker, ...]
    assertions: int
    assertion_kinds: dict[str, int]
    calls: tuple[str, ...]
    in_unittest_class: bool
    node: ast.FunctionDef | ast.AsyncFunctionDef = field(repr=False, compare=False)
    #: The test's source lines, from its first decorator to its last line (`source_start` is
    #: the line number of the first): what a line comparison looks at.
    source: tuple[str, ...] = field(default=(), repr=False, compare=False)
    source_start: int = field(default=0, repr=False, compare=False)

    @property
    def test_id(self) -> str:
        """`path::qualname`, as pytest names it."""
        return f"{self.path}::{self.qualname}"

    @property
    def name(self) -> str:
        """The function's own name."""
        return self.qualname.rsplit(".", 1)[-1]

    @property
    def lines(self) -> int:
        """Lines from the first decorator to the last line of the body."""
        first = min([d.lineno for d in self.node.decorator_list] + [self.lineno])
        return self.end_lineno - first + 1


@dataclass(frozen=True)
class TestModule:
    """One file of the suite; `error` is set (and the lists empty) when it does not parse."""

    __test__ = False

    path: str
    lines: int
    error: str | None
    imports_pytest: bool = False
    classes: tuple[TestClass, ...] = ()
    tests: tuple[TestFunction, ...] = ()
    fixtures: tuple[Fixture, ...] = ()


def find_test_files(paths: Iterable[str | Path]) -> list[Path]:
    """The test modules under `paths` (files are taken as given), sorted, without repeats.

    Raises:
        FileNotFoundError: a path does not exist; the message suggests close names beside it.
    """
    found: set[Path] = set()
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.add(path)
        elif path.is_dir():
            for pattern in TEST_FILE_PATTERNS:
                found.update(p for p in path.rglob(pattern) if p.is_file())
        else:
            siblings = [p.name for p in path.parent.iterdir()] if path.parent.is_dir() else []
            close = difflib.get_close_matches(path.name, siblings, n=3)
            shown = " or ".join(str(path.parent / c) for c in close)
            hint = f" Did you mean {shown}?" if close else ""
            raise FileNotFoundError(
                f"no test file or folder at {path}.{hint} Pass test files or folders holding "
                f"{', '.join(TEST_FILE_PATTERNS)}."
            )
    return sorted(found)


def read_module(path: Path, display: str | None = None) -> TestModule:
    """The inventory of one test module; a file that does not parse gets `error` set.

    Args:
        path: the file to read.
        display: the path stored in the inventory (default: `path` as given).
    """
    name = display or str(path)
    try:
        source = path.read_bytes()
        tree = ast.parse(source, filename=name)
    except SyntaxError as exc:
        lines = source.count(b"\n") + 1
        return TestModule(name, lines, f"SyntaxError: {exc.msg} (line {exc.lineno})")
    except (ValueError, OSError) as exc:  # null bytes in the source, or an unreadable file
        return TestModule(name, 0, f"{type(exc).__name__}: {exc}")
    text = source.decode("utf-8", errors="replace").splitlines()
    return _Reader(name, source.count(b"\n") + 1, text).read(tree)


def read_suite(paths: Iterable[str | Path]) -> list[TestModule]:
    """The inventory of every test module under `paths` (see `find_test_files`)."""
    return [read_module(path) for path in find_test_files(paths)]


def dotted_name(node: ast.AST) -> str | None:
    """`a.b.c` for a chain of names and attributes (a call's callee included), else None."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Call):
        inner = dotted_name(node.func)
        if inner is None:
            return None
        parts.append(inner)
    elif isinstance(node, ast.Name):
        parts.append(node.id)
    else:
        return None
    return ".".join(reversed(parts))


def _decorator_name(node: ast.expr) -> str | None:
    return dotted_name(node.func if isinstance(node, ast.Call) else node)


def _string(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str) and bool(node.value)


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _marker(node: ast.expr) -> Marker | Parametrization | tuple[str, ...] | None:
    """A decorator (or `pytestmark` item) as a marker, a parametrization or used fixtures."""
    name = _decorator_name(node)
    if name is None:
        return None
    call = node if isinstance(node, ast.Call) else None
    parts = name.split(".")
    if len(parts) >= 2 and parts[-2] == "mark":
        mark = parts[-1]
    elif parts[-1] in _UNITTEST_MARKERS and (len(parts) == 1 or parts[-2] == "unittest"):
        mark = _UNITTEST_MARKERS[parts[-1]]
        if call is None:
            return Marker(mark, False, node.lineno)
        # unittest: skip(reason), skipIf(condition, reason)
        index = 0 if parts[-1] == "skip" else 1
        reason = call.args[index] if len(call.args) > index else _keyword(call, "reason")
        return Marker(mark, _string(reason), node.lineno)
    else:
        return None
    if mark == "parametrize" and call is not None and call.args:
        return _parametrization(call)
    if mark == "usefixtures" and call is not None:
        return tuple(a.value for a in call.args if _string(a))  # type: ignore[attr-defined]
    reason = None
    if call is not None:
        reason = _keyword(call, "reason")
        # pytest.mark.skip("why") takes the reason positionally; skipif/xfail take a condition.
        if reason is None and mark == "skip" and call.args:
            reason = call.args[0]
    return Marker(mark, _string(reason), node.lineno)


def _parametrization(call: ast.Call) -> Parametrization:
    first = call.args[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        names = tuple(n.strip() for n in first.value.split(",") if n.strip())
    elif isinstance(first, ast.List | ast.Tuple):
        names = tuple(e.value for e in first.elts if _string(e))  # type: ignore[attr-defined]
    else:
        names = ()
    values = call.args[1] if len(call.args) > 1 else _keyword(call, "argvalues")
    cases = len(values.elts) if isinstance(values, ast.List | ast.Tuple) else None
    return Parametrization(names, cases)


def _pytestmark(body: list[ast.stmt]) -> list[ast.expr]:
    """The marks a module or class applies to all its tests through `pytestmark = ...`."""
    marks: list[ast.expr] = []
    for statement in body:
        if isinstance(statement, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in statement.targets
        ):
            value = statement.value
            marks.extend(value.elts if isinstance(value, ast.List | ast.Tuple) else [value])
    return marks


def _is_fixture(function: ast.FunctionDef | ast.AsyncFunctionDef) -> ast.expr | None:
    for decorator in function.decorator_list:
        name = _decorator_name(decorator)
        if name in ("pytest.fixture", "fixture", "pytest_asyncio.fixture"):
            return decorator
    return None


def _assertion_kind(call: ast.Call, name: str) -> str | None:
    last = name.rsplit(".", 1)[-1]
    if name.startswith("self.") and (last.startswith("assert") or last == "fail"):
        return f"unittest.{last}"
    if last in _RAISING_CONTEXTS and (name == last or name.startswith("pytest.")):
        return f"pytest.{last}"
    if last.startswith("assert"):
        return f"helper.{last}"
    return None


class _Reader:
    """Walks one parsed module; `read` returns its `TestModule`."""

    def __init__(self, path: str, lines: int, source_lines: list[str] | None = None) -> None:
        self.path = path
        self.lines = lines
        self.source_lines = source_lines or []
        self.classes: list[TestClass] = []
        self.tests: list[TestFunction] = []
        self.fixtures: list[Fixture] = []

    def read(self, tree: ast.Module) -> TestModule:
        imports_pytest = any(
            (isinstance(n, ast.Import) and any(a.name.split(".")[0] == "pytest" for a in n.names))
            or (isinstance(n, ast.ImportFrom) and (n.module or "").split(".")[0] == "pytest")
            for n in tree.body
        )
        self._body(tree.body, prefix="", class_name=None, inherited=_pytestmark(tree.body),
                   in_unittest=False)
        return TestModule(
            self.path, self.lines, None, imports_pytest,
            tuple(self.classes), tuple(self.tests), tuple(self.fixtures),
        )

    def _body(
        self,
        body: list[ast.stmt],
        prefix: str,
        class_name: str | None,
        inherited: list[ast.expr],
        in_unittest: bool,
    ) -> None:
        for node in body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                fixture = _is_fixture(node)
                if fixture is not None:
                    self.fixtures.append(self._fixture(node, fixture))
                elif node.name.startswith("test"):
                    self.tests.append(
                        self._test(node, prefix, class_name, inherited, in_unittest)
                    )
            elif isinstance(node, ast.ClassDef):
                bases = tuple(dotted_name(b) or ast.unparse(b) for b in node.bases)
                is_unittest = any(b.rsplit(".", 1)[-1].endswith("TestCase") for b in bases)
                if not (node.name.startswith("Test") or is_unittest):
                    continue
                qualname = f"{prefix}{node.name}"
                end = node.end_lineno or node.lineno
                self.classes.append(
                    TestClass(self.path, qualname, bases, node.lineno, end, is_unittest)
                )
                marks = [*inherited, *node.decorator_list, *_pytestmark(node.body)]
                self._body(node.body, f"{qualname}.", qualname, marks, is_unittest or in_unittest)

    def _fixture(
        self, node: ast.FunctionDef | ast.AsyncFunctionDef, decorator: ast.expr
    ) -> Fixture:
        scope, autouse, name = "function", False, node.name
        if isinstance(decorator, ast.Call):
            value = _keyword(decorator, "scope")
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                scope = value.value
            elif value is not None:
                scope = "dynamic"  # a callable chooses the scope at run time
            value = _keyword(decorator, "autouse")
            autouse = isinstance(value, ast.Constant) and value.value is True
            value = _keyword(decorator, "name")
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                name = value.value
        return Fixture(self.path, name, scope, autouse, node.lineno)

    def _test(
        self,
        node: ast.FunctionDef | ast.AsyncFunctionDef,
        prefix: str,
        class_name: str | None,
        inherited: list[ast.expr],
        in_unittest: bool,
    ) -> TestFunction:
        markers: list[Marker] = []
        parametrizations: list[Parametrization] = []
        used: list[str] = []
        for decorator in [*inherited, *node.decorator_list]:
            found = _marker(decorator)
            if isinstance(found, Marker):
                markers.append(found)
            elif isinstance(found, Parametrization):
                parametrizations.append(found)
            elif isinstance(found, tuple):
                used.extend(found)
        params = {name for p in parametrizations for name in p.argnames}
        arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
        for arg in arguments:
            if arg.arg not in params and arg.arg not in ("self", "cls"):
                used.append(arg.arg)
        kinds: Counter[str] = Counter()
        calls: set[str] = set()
        # The body only: the decorators' calls (parametrize, skipif) are not the test's calls.
        for child in (c for statement in node.body for c in ast.walk(statement)):
            if isinstance(child, ast.Assert):
                kinds["assert"] += 1
            elif isinstance(child, ast.Call):
                name = dotted_name(child.func)
                if name is None:
                    continue
                calls.add(name)
                kind = _assertion_kind(child, name)
                if kind is not None:
                    kinds[kind] += 1
        first = min([d.lineno for d in node.decorator_list] + [node.lineno])
        return TestFunction(
            path=self.path,
            qualname=f"{prefix}{node.name}",
            class_name=class_name,
            lineno=node.lineno,
            end_lineno=node.end_lineno or node.lineno,
            fixtures=tuple(dict.fromkeys(used)),
            parametrizations=tuple(parametrizations),
            markers=tuple(markers),
            assertions=sum(kinds.values()),
            assertion_kinds=dict(sorted(kinds.items())),
            calls=tuple(sorted(calls)),
            in_unittest_class=in_unittest,
            node=node,
            source=tuple(self.source_lines[first - 1 : (node.end_lineno or node.lineno)]),
            source_start=first,
        )


def iter_tests(modules: Iterable[TestModule]) -> Iterator[TestFunction]:
    """Every test of every module, in file order."""
    for module in modules:
        yield from module.tests
