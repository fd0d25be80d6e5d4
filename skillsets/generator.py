"""Render one thin skillset module per catalog entry from the Jinja2 templates.

Templates compose by family x output kind x hardware (`skillsets/templates/*.j2`). Every value
reaches the output as a Python literal (`repr`) or as a validated identifier, never as code.
Output is deterministic: the header names the generator version and a hash of the templates,
and nothing else (no timestamp) varies. Files are written atomically, and only when their bytes
change.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from skillsets.catalog import CatalogEntry
from skillsets.tasks import TASKS

GENERATOR_VERSION = "1.0.0"
TEMPLATE_DIR = Path(__file__).parent / "templates"
DEFAULT_OUTPUT_DIR = Path(__file__).parent / "generated"
#: Hardware methods every skillset gets, in the original framework's order.
HARDWARE_METHODS: tuple[str, ...] = ("cpu", "cuda", "rocm", "openvino", "apple", "qualcomm")
#: Output kinds with their own template; the rest share `output_other.j2`.
_OUTPUT_TEMPLATES = frozenset({"embedding", "generated", "logits"})
#: Characters a model type may have (transformers uses letters, digits, `_`, `-` and `.`).
MODEL_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_DOC_SAFE_RE = re.compile(r"[\w.+/, -]*")


class UnsafeNameError(ValueError):
    """A name is not a plain model name or identifier; nothing was written."""


@dataclass
class GenerateReport:
    """What `generate` did.

    Attributes:
        output_dir: Where the files are.
        written: Module names whose file was created or rewritten.
        unchanged: Module names whose file already had the right bytes.
        stale: With `check`, module names whose file is missing or differs (nothing written).
        seconds: Wall time of rendering and writing.
        template_hash: Hash of the templates named in every header.
    """

    output_dir: Path
    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)
    seconds: float = 0.0
    template_hash: str = ""


def check_model_name(name: str) -> str:
    """`name` if it is a plain model name (`bert`, `xlm-roberta`, `kosmos-2.5`).

    Raises:
        UnsafeNameError: anything else (`bert;import os`), before any file is written.
    """
    if not MODEL_NAME_RE.fullmatch(name):
        raise UnsafeNameError(
            f"{name!r} is not a plain model name: use letters, digits, '_', '-' and '.'")
    return name


def template_hash() -> str:
    """sha256 over every template's name and bytes, in name order (first 16 hex digits)."""
    digest = hashlib.sha256()
    for path in sorted(TEMPLATE_DIR.glob("*.j2")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # Python source, not HTML: values go through the `py` filter instead
    )
    env.filters["py"] = _py_literal
    env.filters["py_wrapped"] = _py_wrapped
    return env


def _py_literal(value: Any) -> str:
    """A Python literal for a str/int/bool/None/tuple value; refuses anything else."""
    if isinstance(value, tuple):
        trailing = "," if len(value) == 1 else ""
        return "(" + ", ".join(_py_literal(v) for v in value) + trailing + ")"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid, fully escaped Python literal
    if isinstance(value, int | bool) or value is None:
        return repr(value)
    raise TypeError(f"cannot write a {type(value).__name__} as a template literal")


def _py_wrapped(value: str, width: int = 80) -> str:
    """A str literal that fits the line limit: implicit concatenation of JSON-escaped chunks
    inside parentheses when it is long (the class-attribute indent is 4)."""
    if len(value) <= width:
        return _py_literal(value)
    chunks: list[str] = []
    line = ""
    for word in value.split(" "):
        candidate = f"{line} {word}" if line else word
        if len(candidate) > width and line:
            chunks.append(line + " ")
            line = word
        else:
            line = candidate
    chunks.append(line)
    body = "\n".join(f"        {_py_literal(c)}" for c in chunks)
    return "(\n" + body + "\n    )"


class _Renderer:
    """Renders skillset modules, reusing each rendered partial (family, output, hardware).

    Partials depend on a few values only (family; modality, inputs and task; generative), so
    they are rendered once per distinct key instead of once per model: 666 files in well under
    a second.
    """

    def __init__(self) -> None:
        self.env = _environment()
        self.digest = template_hash()
        self.main = self.env.get_template("skillset.py.j2")
        self._partials: dict[tuple[Any, ...], str] = {}

    def partial(self, name: str, **values: Any) -> str:
        key = (name, *sorted(values.items()))
        if key not in self._partials:
            self._partials[key] = self.env.get_template(name).render(values).rstrip("\n")
        return self._partials[key]

    def render(self, entry: CatalogEntry) -> str:
        class_name = entry.module_name
        if not class_name.isidentifier() or not class_name.startswith("hf_"):
            raise UnsafeNameError(f"{class_name!r} is not a valid skillset class name")
        check_model_name(entry.model_type)
        for value in (entry.family, entry.task, entry.modality, *entry.inputs):
            if not _DOC_SAFE_RE.fullmatch(value):
                raise UnsafeNameError(f"{value!r} cannot appear in a docstring")
        spec = TASKS[entry.task]
        output = spec.output if spec.output in _OUTPUT_TEMPLATES else "other"
        family_slug = re.sub(r"\W", "_", entry.family)
        header = (f"# Generated by skillsets.generator {GENERATOR_VERSION} from templates "
                  f"sha256:{self.digest}.\n# Do not edit: regenerate with "
                  f"`skillsets generate {entry.model_type}`.")
        return self.main.render(
            header=header,
            class_name=class_name,
            model_type=entry.model_type,
            family=entry.family,
            task=entry.task,
            auto_class=entry.auto_class,
            model_class=entry.model_class,
            config_class=entry.config_class,
            modality=entry.modality,
            inputs=entry.inputs,
            output=spec.output,
            tier=entry.tier,
            note=entry.note,
            family_doc=self.partial(f"family_{family_slug}.j2"),
            output_doc=self.partial(f"output_{output}.j2", modality=entry.modality,
                                    inputs=entry.inputs, task=entry.task, output=spec.output),
            hardware_methods=[self.partial(f"hardware_{hw}.j2", generative=spec.generative)
                              for hw in HARDWARE_METHODS],
        )


def render(entry: CatalogEntry) -> str:
    """The source of one skillset module."""
    return _Renderer().render(entry)


def _write_atomic(path: Path, text: str) -> None:
    """Write a sibling temp file, then rename it over `path`: readers see old or new bytes,
    never a partial file. The temp name is fixed per target, so reruns leave no litter."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def generate(entries: Iterable[CatalogEntry], output_dir: Path | str = DEFAULT_OUTPUT_DIR, *,
             check: bool = False) -> GenerateReport:
    """Render a skillset module for each entry into `output_dir`.

    Args:
        entries: Catalog entries (see `skillsets.catalog.select`).
        output_dir: Folder for the `hf_<type>.py` files (created when missing).
        check: Write nothing; report in `stale` every file that is missing or would change.

    Returns:
        What was written, left unchanged, or found stale.

    Raises:
        UnsafeNameError: an entry's names are not plain; raised before any file is written.
    """
    started = time.perf_counter()
    entries = list(entries)
    out = Path(output_dir)
    renderer = _Renderer()
    rendered = {e.module_name: renderer.render(e) for e in entries}  # validates all first
    report = GenerateReport(output_dir=out, template_hash=renderer.digest)
    if not check:
        out.mkdir(parents=True, exist_ok=True)
    for module, text in rendered.items():
        path = out / f"{module}.py"
        current = path.read_text(encoding="utf-8") if path.is_file() else None
        if current == text:
            report.unchanged.append(module)
        elif check:
            report.stale.append(module)
        else:
            _write_atomic(path, text)
            report.written.append(module)
    report.seconds = time.perf_counter() - started
    return report
