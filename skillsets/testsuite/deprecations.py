"""Deprecated APIs of installed packages, read from their source with `ast` (nothing imported).

A function is deprecated when it is decorated with a `deprecated`-style decorator
(`typing_extensions.deprecated`, `torch`'s and `transformers`' own), or when its body warns
unconditionally with `warnings.warn(..., FutureWarning | DeprecationWarning |
PendingDeprecationWarning)` as a top-level statement. A warning inside an `if` is about one
argument or one case, not the function, and is not counted. A deprecated `__init__` deprecates
its class. A name that some other definition in the scanned packages also carries without a
deprecation (`forward`, `generate`) is dropped: a call by that name cannot be told apart.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from skillsets.testsuite.inventory import dotted_name

#: Packages whose deprecations the smell rule checks by default.
DEFAULT_PACKAGES = ("transformers", "torch")
WARNING_CATEGORIES = frozenset({"FutureWarning", "DeprecationWarning", "PendingDeprecationWarning"})
#: Text a file must contain to be parsed at all; most of a package's files warn about nothing.
_NEEDLES = (b"Warning", b"deprecat")


@dataclass(frozen=True)
class DeprecatedApi:
    """One deprecated function, method or class.

    Attributes:
        name: the short name a call ends with (`resize_token_embeddings`, `AdamW`).
        qualname: where it is defined (`transformers.optimization.AdamW`).
        category: the warning category, or `decorator` for a deprecating decorator.
        source: `file:line` of the definition, relative to the package's folder.
    """

    name: str
    qualname: str
    category: str
    source: str


def _warning_category(statement: ast.stmt) -> str | None:
    """The category of an unconditional `warnings.warn(...)` statement, else None."""
    if not (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call)):
        return None
    call = statement.value
    name = dotted_name(call.func) or ""
    if name.rsplit(".", 1)[-1] != "warn":
        return None
    category = call.args[1] if len(call.args) > 1 else None
    category = next((k.value for k in call.keywords if k.arg == "category"), category)
    label = (dotted_name(category) or "") if category is not None else ""
    label = label.rsplit(".", 1)[-1]
    return label if label in WARNING_CATEGORIES else None


def _deprecating_decorator(
    definition: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef,
) -> bool:
    for decorator in definition.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        last = (dotted_name(target) or "").rsplit(".", 1)[-1].lower()
        # `deprecate_kwarg`/`deprecated_argument` deprecate one argument, not the function.
        if "deprecat" in last and "arg" not in last:
            return True
    return False


def scan_source(
    source: str | bytes, module: str, relative: str
) -> tuple[list[DeprecatedApi], Counter[str]]:
    """The deprecated APIs one module defines, and how often it defines each public name.

    Args:
        source: the module's text.
        module: its dotted name (`transformers.optimization`).
        relative: its path relative to the package folder, for `DeprecatedApi.source`.

    Returns:
        The deprecated APIs, and a count of every public function/class name defined without a
        deprecation (for the ambiguity rule in the module docstring).

    Raises:
        SyntaxError: the module does not parse.
    """
    tree = ast.parse(source)
    found: list[DeprecatedApi] = []
    clean: Counter[str] = Counter()

    def visit(body: list[ast.stmt], prefix: str, class_name: str | None) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                before = len(found)
                visit(node.body, f"{prefix}{node.name}.", node.name)
                if node.name.startswith("_"):
                    continue
                if _deprecating_decorator(node):
                    found.append(DeprecatedApi(
                        node.name, f"{module}.{prefix}{node.name}", "decorator",
                        f"{relative}:{node.lineno}",
                    ))
                elif not any(api.name == node.name for api in found[before:]):
                    clean[node.name] += 1
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                category = "decorator" if _deprecating_decorator(node) else None
                if category is None:
                    category = next(
                        (c for c in map(_warning_category, node.body) if c is not None), None
                    )
                if node.name in ("__init__", "__new__") and class_name is not None:
                    name, qualname = class_name, f"{module}.{prefix.rstrip('.')}"
                else:
                    name, qualname = node.name, f"{module}.{prefix}{node.name}"
                if name.startswith("_"):
                    continue
                if category is None:
                    clean[name] += 1
                else:
                    found.append(
                        DeprecatedApi(name, qualname, category, f"{relative}:{node.lineno}")
                    )

    visit(tree.body, "", None)
    return found, clean


def scan_package(root: Path, package: str) -> dict[str, DeprecatedApi]:
    """The unambiguous deprecated names of the package at `root`, by short name.

    Files that do not parse (templates, other Python versions) are skipped: a package ships
    what its own interpreter reads, and one bad file must not hide the rest.
    """
    found: list[DeprecatedApi] = []
    clean: Counter[str] = Counter()
    for path in sorted(root.rglob("*.py")):
        source = path.read_bytes()
        if not all(needle in source for needle in _NEEDLES):
            for name in _public_names(source):
                clean[name] += 1
            continue
        relative = path.relative_to(root).as_posix()
        module = ".".join([package, *relative.removesuffix(".py").split("/")])
        module = module.removesuffix(".__init__")
        try:
            apis, names = scan_source(source, module, relative)
        except SyntaxError:
            continue
        found.extend(apis)
        clean.update(names)
    return {api.name: api for api in found if clean[api.name] <= 0}


def _public_names(source: bytes) -> Iterable[str]:
    """Names after `def `/`class ` in a file not worth parsing (for the ambiguity count).

    A text scan rather than `ast`: these files are most of a package and only their defined
    names matter here.
    """
    for line in source.splitlines():
        stripped = line.lstrip()
        for keyword in (b"def ", b"async def ", b"class "):
            if stripped.startswith(keyword):
                name = stripped[len(keyword):].split(b"(", 1)[0].split(b":", 1)[0].strip()
                if name and not name.startswith(b"_"):
                    yield name.decode(errors="replace")


def installed_deprecations(
    packages: Sequence[str] = DEFAULT_PACKAGES, cache_dir: Path | None = None
) -> tuple[dict[str, DeprecatedApi], dict[str, str]]:
    """The deprecated APIs of the installed `packages`, and the version of each package read.

    Args:
        packages: distribution/import names; one that is not installed is left out (its
            absence is visible in the returned versions).
        cache_dir: where a scan is kept as JSON per package and version (a scan of transformers
            parses hundreds of files); None = scan every time.
    """
    apis: dict[str, DeprecatedApi] = {}
    versions: dict[str, str] = {}
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        version = importlib.metadata.version(package)
        versions[package] = version
        cached = cache_dir / f"deprecations-{package}-{version}.json" if cache_dir else None
        if cached is not None and cached.exists():
            found = {k: DeprecatedApi(**v) for k, v in json.loads(cached.read_text()).items()}
        else:
            found = scan_package(Path(next(iter(spec.submodule_search_locations))), package)
            if cached is not None:
                cached.parent.mkdir(parents=True, exist_ok=True)
                cached.write_text(json.dumps({k: asdict(v) for k, v in found.items()}, indent=1))
        for name, api in found.items():
            apis.setdefault(name, api)
    return apis, versions
