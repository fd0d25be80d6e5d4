"""Static checks of a generated skillset file: read with `ast`, never imported or run.

A file passes when it parses, defines the class `hf_<type>` with an `init_<hw>` method for every
hardware backend, loads weights on disk with `from_pretrained` (directly, or through the shared
runtime that does), and contains none of the forbidden constructs: `exec`/`eval`,
`trust_remote_code=True` (or set from an expression), and mock objects.
"""

from __future__ import annotations

import ast
import functools
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

from hardware.registry import BACKEND_NAMES, get_backend

#: Methods a skillset class must have, one per hardware backend (`init_cpu`, `init_apple`...).
INIT_METHODS: tuple[str, ...] = tuple(get_backend(name).init_method for name in BACKEND_NAMES)
#: Built-ins that run strings as code.
FORBIDDEN_CALLS = frozenset({"exec", "eval"})
#: Modules and names that make mock objects; a skillset must run the real model.
MOCK_MODULES = frozenset({"unittest.mock", "mock", "pytest_mock"})
MOCK_NAMES = frozenset(
    {"Mock", "MagicMock", "NonCallableMock", "AsyncMock", "create_autospec", "patch"}
)
#: The shared runtime package; a skillset that imports it loads weights through its loader.
RUNTIME_PACKAGE = "skillsets.runtime"


@dataclass(frozen=True)
class StaticIssue:
    """One failed check.

    Attributes:
        check: `parse`, `class`, `init_methods`, `from_pretrained`, `exec_eval`,
            `trust_remote_code` or `mock`.
        line: 1-based line of the offending construct (0 when the whole file is concerned).
        message: What is wrong and what to do.
    """

    check: str
    line: int
    message: str


@dataclass
class StaticReport:
    """Result of the static checks of one file."""

    path: str
    class_name: str
    issues: list[StaticIssue] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every check passed."""
        return not self.issues

    def summary(self) -> str:
        """One line per issue, `path:line: [check] message`; empty when passed."""
        return "\n".join(f"{self.path}:{i.line}: [{i.check}] {i.message}" for i in self.issues)


def check_file(path: str | Path, class_name: str | None = None) -> StaticReport:
    """Check a generated skillset file.

    Args:
        path: The `.py` file.
        class_name: The class it must define; default: the file's stem (`hf_bert.py` -> `hf_bert`).
    """
    path = Path(path)
    return check_source(
        path.read_text(encoding="utf-8"), filename=str(path), class_name=class_name or path.stem
    )


def check_directory(directory: str | Path) -> list[StaticReport]:
    """Check every `hf_*.py` file of a directory, sorted by name."""
    return [check_file(p) for p in sorted(Path(directory).glob("hf_*.py"))]


def check_source(source: str, *, filename: str = "<skillset>", class_name: str) -> StaticReport:
    """Check the source text of one skillset.

    Args:
        source: Python source.
        filename: Shown in messages.
        class_name: The class the file must define (`hf_<type>`).
    """
    report = StaticReport(filename, class_name)
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        report.issues.append(StaticIssue("parse", exc.lineno or 0, f"does not parse: {exc.msg}"))
        return report
    imports = _imports(tree)
    report.issues.extend(_check_class(tree, class_name, imports))
    report.issues.extend(_check_from_pretrained(tree, imports))
    report.issues.extend(_check_forbidden(tree, imports))
    return report


def _imports(tree: ast.Module) -> dict[str, str]:
    """Local name -> fully qualified name, for every import in the file."""
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return names


def _check_class(tree: ast.Module, class_name: str, imports: dict[str, str]) -> list[StaticIssue]:
    classes = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == class_name]
    if not classes:
        found = [n.name for n in tree.body if isinstance(n, ast.ClassDef)]
        return [
            StaticIssue(
                "class",
                0,
                f"no top-level class {class_name!r} (classes: {found or 'none'}); "
                "regenerate the file with `skillsets generate`",
            )
        ]
    cls = classes[0]
    defined = {n.name for n in cls.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}
    defined |= {
        t.id
        for n in cls.body
        if isinstance(n, ast.Assign)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    inherited = set()
    for base in cls.bases:
        inherited |= _project_base_methods(base, imports)
    missing = [m for m in INIT_METHODS if m not in defined | inherited]
    if missing:
        return [
            StaticIssue(
                "init_methods",
                cls.lineno,
                f"class {class_name} has no {', '.join(missing)} "
                "(defined or inherited from a project base class)",
            )
        ]
    return []


def _project_base_methods(base: ast.expr, imports: dict[str, str]) -> set[str]:
    """Method names of a base class imported from this project (`skillsets.*`); empty otherwise.

    Only project modules are imported to resolve a base; the generated file itself never is.
    """
    dotted = _dotted(base)
    if dotted is None:
        return set()
    head, _, rest = dotted.partition(".")
    qualified = imports.get(head)
    if qualified is None:
        return set()
    qualified = f"{qualified}.{rest}" if rest else qualified
    if not qualified.startswith("skillsets."):
        return set()
    module_name, _, attr = qualified.rpartition(".")
    if importlib.util.find_spec(module_name) is None:
        return set()
    module = importlib.import_module(module_name)
    obj = getattr(module, attr, None)
    return (
        {name for name in dir(obj) if name.startswith("init_")} if isinstance(obj, type) else set()
    )


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner else None
    return None


def _check_from_pretrained(tree: ast.Module, imports: dict[str, str]) -> list[StaticIssue]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "from_pretrained":
            return []
    if any(q == RUNTIME_PACKAGE or q.startswith(RUNTIME_PACKAGE + ".") for q in imports.values()):
        if _runtime_uses_from_pretrained():
            return []
        return [
            StaticIssue(
                "from_pretrained",
                0,
                f"the file delegates to {RUNTIME_PACKAGE}, whose source "
                "has no from_pretrained call for weights on disk",
            )
        ]
    return [
        StaticIssue(
            "from_pretrained",
            0,
            "weights on disk are not loaded with from_pretrained, and the "
            f"file does not use the shared runtime ({RUNTIME_PACKAGE})",
        )
    ]


@functools.cache
def _runtime_uses_from_pretrained() -> bool:
    """Whether the shared runtime's source calls `.from_pretrained` (read, not imported)."""
    spec = importlib.util.find_spec(RUNTIME_PACKAGE)
    if spec is None:
        return False
    roots = list(spec.submodule_search_locations or []) or [str(Path(spec.origin or "").parent)]
    for root in roots:
        for file in Path(root).rglob("*.py"):
            tree = ast.parse(file.read_text(encoding="utf-8"))
            if any(
                isinstance(n, ast.Attribute) and n.attr == "from_pretrained" for n in ast.walk(tree)
            ):
                return True
    return False


def _check_forbidden(tree: ast.Module, imports: dict[str, str]) -> list[StaticIssue]:
    issues = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in FORBIDDEN_CALLS:
                issues.append(
                    StaticIssue(
                        "exec_eval", node.lineno, f"calls {func.id}(); run real code, not strings"
                    )
                )
            if (
                isinstance(func, ast.Attribute)
                and func.attr in FORBIDDEN_CALLS
                and _dotted(func.value) == "builtins"
            ):
                issues.append(
                    StaticIssue("exec_eval", node.lineno, f"calls builtins.{func.attr}()")
                )
            for kw in node.keywords:
                if kw.arg != "trust_remote_code":
                    continue
                value = kw.value
                if isinstance(value, ast.Constant) and value.value is False:
                    continue
                shown = (
                    "True"
                    if isinstance(value, ast.Constant) and value.value is True
                    else ast.unparse(value)
                )
                issues.append(
                    StaticIssue(
                        "trust_remote_code",
                        node.lineno,
                        f"trust_remote_code={shown}: remote code is never run; drop the argument",
                    )
                )
        elif isinstance(node, ast.Import | ast.ImportFrom):
            issues.extend(_mock_import(node))
        elif (
            isinstance(node, ast.Name)
            and node.id in MOCK_NAMES
            and imports.get(node.id, "").rpartition(".")[0] in MOCK_MODULES
        ):
            issues.append(StaticIssue("mock", node.lineno, f"uses mock object {node.id}"))
    return issues


def _mock_import(node: ast.Import | ast.ImportFrom) -> list[StaticIssue]:
    modules = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    names = [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else []
    if any(m in MOCK_MODULES or m.startswith("unittest.mock.") for m in modules):
        return [
            StaticIssue(
                "mock", node.lineno, f"imports {', '.join(modules)}: a skillset runs the real model"
            )
        ]
    if isinstance(node, ast.ImportFrom) and node.module == "unittest" and "mock" in names:
        return [
            StaticIssue(
                "mock", node.lineno, "imports unittest.mock: a skillset runs the real model"
            )
        ]
    return []
