"""Smell rules over the inventory: each has an id, a name and a reason written per finding."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from hardware.names import UnknownNameError
from skillsets.testsuite.deprecations import DeprecatedApi
from skillsets.testsuite.inventory import SKIP_MARKERS, TestFunction, TestModule

#: A test longer than this (decorators included) is flagged by `long-test`.
LONG_TEST_LINES = 50
_SLEEPS = frozenset({"time.sleep", "sleep", "asyncio.sleep", "trio.sleep"})


@dataclass(frozen=True)
class Smell:
    """One finding: which rule, which test, where, and why."""

    rule_id: str
    rule: str
    path: str
    qualname: str
    lineno: int
    reason: str


@dataclass(frozen=True)
class SmellContext:
    """What the rules need beyond the test itself."""

    module: TestModule
    deprecated: Mapping[str, DeprecatedApi]
    long_lines: int
    #: qualname -> line of its last definition in the module (the one pytest collects).
    last_definition: Mapping[str, int]


Check = Callable[[TestFunction, SmellContext], Iterable[tuple[int, str]]]


@dataclass(frozen=True)
class Rule:
    """A smell rule: `check` yields (line, reason) for each finding in one test."""

    rule_id: str
    name: str
    description: str
    check: Check


def _no_assertion(test: TestFunction, context: SmellContext) -> Iterable[tuple[int, str]]:
    skipped = any(m.name in ("skip", "xfail") for m in test.markers)
    if test.assertions == 0 and not skipped:
        yield test.lineno, (
            "no assert statement, assert* call or pytest.raises/warns: it passes whatever the "
            "code does unless something raises"
        )


def _skip_without_reason(test: TestFunction, context: SmellContext) -> Iterable[tuple[int, str]]:
    for marker in test.markers:
        if marker.name in SKIP_MARKERS and not marker.has_reason:
            yield marker.lineno, (
                f"{marker.name} without a reason: nobody can tell when it may be removed; "
                "add reason=\"...\""
            )


def _unittest_asserts(test: TestFunction, context: SmellContext) -> Iterable[tuple[int, str]]:
    used = sorted(k.split(".", 1)[1] for k in test.assertion_kinds if k.startswith("unittest."))
    if used and context.module.imports_pytest:
        yield test.lineno, (
            f"unittest-style {', '.join(used)} in a pytest module: pytest's assert rewriting "
            "shows the values; use plain assert (and pytest.raises)"
        )


def _sleeps(test: TestFunction, context: SmellContext) -> Iterable[tuple[int, str]]:
    for call in test.calls:
        if call in _SLEEPS:
            yield test.lineno, (
                f"calls {call}: a fixed wait is slow and still flaky; wait for the condition"
            )


def _deprecated_calls(test: TestFunction, context: SmellContext) -> Iterable[tuple[int, str]]:
    for call in test.calls:
        api = context.deprecated.get(call.rsplit(".", 1)[-1])
        if api is not None:
            yield test.lineno, (
                f"calls {call}, deprecated: {api.qualname} warns {api.category} "
                f"({api.source})"
            )


def _long(test: TestFunction, context: SmellContext) -> Iterable[tuple[int, str]]:
    if test.lines > context.long_lines:
        yield test.lineno, (
            f"{test.lines} lines (over {context.long_lines}): split it or move the setup into "
            "fixtures"
        )


def _shadowed(test: TestFunction, context: SmellContext) -> Iterable[tuple[int, str]]:
    last = context.last_definition[test.qualname]
    if last != test.lineno:
        yield test.lineno, (
            f"redefined at line {last}: pytest collects only the last definition, this one "
            "never runs; rename it or delete it"
        )


#: Every rule by id.
RULES: dict[str, Rule] = {
    rule.rule_id: rule
    for rule in (
        Rule("TS001", "no-assertion", "a test that asserts nothing", _no_assertion),
        Rule("TS002", "skip-without-reason", "skip/skipif/xfail without a reason",
             _skip_without_reason),
        Rule("TS003", "unittest-assert", "unittest-style assertions in a pytest module",
             _unittest_asserts),
        Rule("TS004", "sleep", "a fixed sleep in a test", _sleeps),
        Rule("TS005", "deprecated-api", "a call of a deprecated transformers/torch API",
             _deprecated_calls),
        Rule("TS006", "long-test", "a test longer than the limit", _long),
        Rule("TS007", "shadowed-test", "a test redefined later under the same name", _shadowed),
    )
}


def select_rules(names: Iterable[str] | None = None) -> list[Rule]:
    """The rules named by id (`TS001`) or name (`no-assertion`); None = all.

    Raises:
        UnknownNameError: an unknown rule, with close matches and the valid ids and names.
    """
    if names is None:
        return list(RULES.values())
    by_name = {**RULES, **{rule.name: rule for rule in RULES.values()}}
    picked = []
    for name in names:
        if name not in by_name:
            raise UnknownNameError("smell rule", name, by_name)
        picked.append(by_name[name])
    return list(dict.fromkeys(picked))


def find_smells(
    modules: Iterable[TestModule],
    deprecated: Mapping[str, DeprecatedApi] | None = None,
    *,
    rules: Iterable[Rule] | None = None,
    long_lines: int = LONG_TEST_LINES,
) -> list[Smell]:
    """Every finding of `rules` (default: all) in every test of `modules`, in suite order.

    Args:
        modules: the inventory.
        deprecated: short name -> deprecated API (see `deprecations.installed_deprecations`);
            None or empty disables `deprecated-api` findings.
        rules: the rules to apply.
        long_lines: the line limit of `long-test`.
    """
    picked = list(rules) if rules is not None else list(RULES.values())
    found = []
    for module in modules:
        last = {test.qualname: test.lineno for test in module.tests}
        context = SmellContext(module, deprecated or {}, long_lines, last)
        for test in module.tests:
            for rule in picked:
                found.extend(
                    Smell(rule.rule_id, rule.name, test.path, test.qualname, line, reason)
                    for line, reason in rule.check(test, context)
                )
    return found
