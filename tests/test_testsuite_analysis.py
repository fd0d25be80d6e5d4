"""Test-suite analysis on small real test files written to tmp_path: inventory, clusters, smells."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from hardware.names import UnknownNameError
from skillsets.testsuite.analysis import analyze_suite
from skillsets.testsuite.clusters import find_clusters
from skillsets.testsuite.deprecations import scan_package
from skillsets.testsuite.fingerprint import fingerprint
from skillsets.testsuite.inventory import Marker, Parametrization, read_module
from skillsets.testsuite.plan import build_plan
from skillsets.testsuite.smells import RULES, find_smells, select_rules


def _write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(source).lstrip())
    return path


COPIES = '''
import pytest


def test_bert_logits():
    """Bert's logits."""
    model = build("bert", hidden=32)
    out = model(ids(4))
    assert out.shape == (4, 32)


def test_gpt2_logits():
    net = build("gpt2", hidden=64)
    out = net(ids(4))
    assert out.shape == (4, 64)


def test_t5_logits():
    model = build("t5", hidden=16)
    # a comment does not matter
    out = model(ids(4))
    assert out.shape == (4, 16)


def test_unrelated(tmp_path):
    assert tmp_path.exists()
'''


def test_inventory_reads_classes_fixtures_markers_and_assertions(tmp_path: Path) -> None:
    path = _write(tmp_path, "test_inv.py", '''
        import time
        import unittest

        import pytest

        pytestmark = pytest.mark.slow


        @pytest.fixture(scope="module")
        def model():
            return object()


        class TestShapes:
            @pytest.mark.parametrize("batch, width", [(1, 2), (3, 4), (5, 6)])
            @pytest.mark.skipif(True, reason="needs a GPU")
            def test_width(self, batch, width, model):
                assert batch < width
                with pytest.raises(ValueError):
                    check(model)


        class Legacy(unittest.TestCase):
            @unittest.skip("flaky upstream")
            def test_old(self):
                self.assertEqual(add(1, 2), 3)
                time.sleep(0.1)


        @pytest.mark.usefixtures("model")
        @pytest.mark.xfail
        def test_free():
            helper()
    ''')
    module = read_module(path)
    assert module.error is None
    assert module.imports_pytest
    assert [(c.qualname, c.bases, c.is_unittest) for c in module.classes] == [
        ("TestShapes", (), False), ("Legacy", ("unittest.TestCase",), True)
    ]
    assert [(f.name, f.scope) for f in module.fixtures] == [("model", "module")]
    width, old, free = module.tests
    assert width.qualname == "TestShapes.test_width"
    assert width.fixtures == ("model",)
    assert width.parametrizations == (Parametrization(("batch", "width"), 3),)
    assert [(m.name, m.has_reason) for m in width.markers] == [("slow", False), ("skipif", True)]
    assert width.assertion_kinds == {"assert": 1, "pytest.raises": 1}
    assert width.calls == ("check", "pytest.raises")
    assert (width.lineno, width.end_lineno, width.lines) == (17, 20, 6)
    assert old.in_unittest_class and old.class_name == "Legacy"
    assert [(m.name, m.has_reason) for m in old.markers] == [("slow", False), ("skip", True)]
    assert old.assertion_kinds == {"unittest.assertEqual": 1}
    assert free.fixtures == ("model",)
    assert free.markers[1] == Marker("xfail", False, 31)
    assert free.assertions == 0


def test_duplicates_differing_only_in_literals_become_one_parametrized_test(
    tmp_path: Path,
) -> None:
    _write(tmp_path, "test_copies.py", COPIES)
    analysis = analyze_suite([tmp_path], threshold=1.0)
    assert len(analysis.clusters) == 1
    cluster = analysis.clusters[0]
    assert cluster.kind == "exact"
    assert cluster.literal_only
    prefix = f"{tmp_path.name}/test_copies.py::"
    assert cluster.members == tuple(
        prefix + name for name in ("test_bert_logits", "test_gpt2_logits", "test_t5_logits")
    )
    # The local rename (model -> net) is not a difference; only the literals are.
    assert [(d.kind, d.values) for d in cluster.differences] == [
        ("literal", ("'bert'", "'gpt2'", "'t5'")),
        ("literal", ("32", "64", "16")),
        ("literal", ("32", "64", "16")),
    ]
    assert cluster.lines == 5 + 4 + 5
    assert cluster.lines_removed == 14 - 5 - 3
    assert cluster.proposal == textwrap.dedent('''
        @pytest.mark.parametrize(
            'value1, value2',
            [
                ('bert', 32),
                ('gpt2', 64),
                ('t5', 16),
            ],
            ids=['test_bert_logits', 'test_gpt2_logits', 'test_t5_logits'],
        )
        def test_bert_logits_parametrized(value1, value2):
            """Bert's logits."""
            model = build(value1, hidden=value2)
            out = model(ids(4))
            assert out.shape == (4, value2)''').lstrip()
    # The proposal is valid Python.
    ast.parse(cluster.proposal)


def test_different_names_are_reported_and_attribute_changes_get_no_proposal(
    tmp_path: Path,
) -> None:
    _write(tmp_path, "test_names.py", '''
        def test_a():
            assert is_classifier(make(1))

        def test_b():
            assert is_regressor(make(2))

        def test_c():
            x = make(1)
            assert x.fit(3)

        def test_d():
            x = make(1)
            assert x.predict(3)
    ''')
    analysis = analyze_suite([tmp_path], threshold=1.0)
    by_first = {c.members[0].rsplit("::", 1)[1]: c for c in analysis.clusters}
    names = by_first["test_a"]
    assert [(d.kind, d.values) for d in names.differences] == [
        ("name", ("is_classifier", "is_regressor")), ("literal", ("1", "2")),
    ]
    assert not names.literal_only
    assert names.proposal == textwrap.dedent('''
        @pytest.mark.parametrize(
            'value1, value2',
            [
                (is_classifier, 1),
                (is_regressor, 2),
            ],
            ids=['test_a', 'test_b'],
        )
        def test_a_parametrized(value1, value2):
            assert value1(make(value2))''').lstrip()
    attributes = by_first["test_c"]
    assert [(d.kind, d.values) for d in attributes.differences] == [
        ("identifier", ("fit", "predict"))
    ]
    assert attributes.proposal is None


NEAR_BODY = '''
    data = load(x, size=3)
    frame = data.to_frame()
    assert frame.height == 3
    for column in frame.columns:
        assert column in ("a", "b")
    with open(x) as handle:
        text = handle.read()
    assert text.startswith("id")
    parts = [p.strip() for p in text.split(",")]
    assert len(parts) == 4
    total = sum(int(p) for p in parts[1:])
    assert total > 0'''


def test_near_duplicates_join_above_the_threshold_only(tmp_path: Path) -> None:
    # test_two is test_one plus a call: shingle Jaccard 0.96; test_other shares 0.08 with them.
    _write(tmp_path, "test_near.py", f'''
def test_one(x):{NEAR_BODY}

def test_two(x):{NEAR_BODY}
    log(x)

def test_other(x):
    for item in x:
        with open(item) as handle:
            assert handle.read() == item
''')
    analysis = analyze_suite([tmp_path], threshold=0.8, min_block_lines=0)
    assert [(c.kind, [m.rsplit("::", 1)[1] for m in c.members]) for c in analysis.clusters] == [
        ("near", ["test_one", "test_two"])
    ]
    near = analysis.clusters[0]
    assert 0.8 <= near.similarity < 1
    assert ("identifier", ("", "log")) not in [(d.kind, d.values) for d in near.differences]
    assert ("name", ("", "log")) in [(d.kind, d.values) for d in near.differences]
    assert analyze_suite([tmp_path], threshold=1.0, min_block_lines=0).clusters == ()


def test_statements_shared_by_different_tests_are_a_block_cluster(tmp_path: Path) -> None:
    setup = """
    X = np.array(
        [[1, 3], [2, 1]],
        dtype=float,
    )
    y = fit(X)  # a comment does not matter"""
    # The copy binds the data to another name and has no comment: still the same block.
    nested = textwrap.indent(setup, "    ").replace("X = np", "X_train = np").replace(
        "  # a comment does not matter", ""
    )
    _write(tmp_path, "test_blocks.py", f'''
def test_logistic():{setup}
    assert logistic(X, y) > 0


def test_svm(kernel):
    """Different test, same setup."""
    for gamma in (1, 2):{nested}
        assert svm(X, y, gamma, kernel)


def test_short():
    X = np.array([[1, 3], [2, 1]], dtype=float)
    assert X.shape
''')
    analysis = analyze_suite([tmp_path], threshold=1.0)
    assert len(analysis.clusters) == 1
    block = analysis.clusters[0]
    assert block.kind == "block" and block.cluster_id == "block-1"
    name = f"{tmp_path.name}/test_blocks.py"
    assert block.members == (f"{name}::test_logistic", f"{name}::test_svm")
    assert [(d.kind, d.values) for d in block.differences] == [
        ("location", (f"{name}:2-6", f"{name}:13-17"))
    ]
    assert (block.lines, block.lines_removed) == (10, 3)
    assert "the same statements in each" in build_plan(analysis)


def test_a_syntax_error_is_recorded_and_the_rest_is_analysed(tmp_path: Path) -> None:
    _write(tmp_path, "test_copies.py", COPIES)
    _write(tmp_path, "test_broken.py", "def test_x(:\n    pass\n")
    analysis = analyze_suite([tmp_path])
    broken = {m.path.rsplit("/", 1)[1]: m for m in analysis.modules}["test_broken.py"]
    assert broken.error == "SyntaxError: invalid syntax (line 1)"
    assert broken.tests == ()
    assert len(analysis.tests) == 4
    assert "## Modules that do not parse" in build_plan(analysis)


SMELLY = '''
import time
import unittest

import pytest

from lib import old_api


def test_nothing_checked():
    run()


@pytest.mark.skip
def test_skipped():
    assert run()


class TestStyle:
    def test_unittest_style(self):
        self.assertTrue(run())


def test_waits():
    time.sleep(2)
    assert run()


def test_old():
    assert old_api() == 1


def test_long():
    assert run()
{filler}


def test_shadowed():
    assert run()


def test_shadowed():
    assert run(2)
'''

CLEAN = '''
import pytest


@pytest.mark.skip(reason="needs two GPUs")
def test_skipped():
    assert run()


@pytest.mark.parametrize("n", [1, 2])
def test_checked(n):
    with pytest.raises(ValueError):
        run(n)
    assert run()


class Legacy(unittest.TestCase):
    def test_unittest_in_a_unittest_module(self):
        self.assertTrue(run())
'''


def test_each_smell_rule_fires_on_an_example_and_not_on_a_clean_one(tmp_path: Path) -> None:
    smelly = tmp_path / "smelly"
    clean = tmp_path / "clean"
    smelly.mkdir()
    clean.mkdir()
    filler = "\n".join(f"    x{i} = {i}" for i in range(55))
    _write(smelly, "test_smelly.py", SMELLY.format(filler=filler))
    _write(clean, "test_clean.py", CLEAN.replace("import pytest", "import unittest", 1))
    package = tmp_path / "lib"
    package.mkdir()
    _write(package, "__init__.py", '''
        import warnings


        def old_api():
            warnings.warn("old_api is deprecated, use new_api", FutureWarning)
            return 1


        def new_api(flag=False):
            if flag:
                warnings.warn("flag is deprecated", DeprecationWarning)
            return 2
    ''')
    deprecated = scan_package(package, "lib")
    assert set(deprecated) == {"old_api"}
    assert deprecated["old_api"].qualname == "lib.old_api"
    assert deprecated["old_api"].category == "FutureWarning"
    found = analyze_suite([smelly], deprecated=deprecated).smells
    fired = {(s.rule, s.qualname) for s in found}
    assert fired == {
        ("no-assertion", "test_nothing_checked"),
        ("skip-without-reason", "test_skipped"),
        ("unittest-assert", "TestStyle.test_unittest_style"),
        ("sleep", "test_waits"),
        ("deprecated-api", "test_old"),
        ("long-test", "test_long"),
        ("shadowed-test", "test_shadowed"),
    }
    assert {s.rule for s in found} == {rule.name for rule in RULES.values()}
    shadowed = next(s for s in found if s.rule == "shadowed-test")
    first = (smelly / "test_smelly.py").read_text().splitlines().index("def test_shadowed():")
    assert shadowed.lineno == first + 1
    assert f"redefined at line {first + 5}" in shadowed.reason
    assert "lib.old_api" in next(s.reason for s in found if s.rule == "deprecated-api")
    clean_analysis = analyze_suite([clean], deprecated=deprecated)
    assert clean_analysis.smells == ()
    # The clean module's unittest class is still listed for the move to pytest style.
    assert "- `clean/test_clean.py::Legacy` (unittest.TestCase)" in build_plan(clean_analysis)


def test_rules_are_selected_by_id_or_name_with_suggestions() -> None:
    assert [r.rule_id for r in select_rules(["TS004", "long-test"])] == ["TS004", "TS006"]
    with pytest.raises(UnknownNameError, match="Did you mean sleep"):
        select_rules(["sleeep"])


def test_find_clusters_rejects_mismatched_input_and_bad_thresholds(tmp_path: Path) -> None:
    path = _write(tmp_path, "test_copies.py", COPIES)
    tests = list(read_module(path).tests)
    prints = [fingerprint(t.node) for t in tests]
    with pytest.raises(ValueError, match="one per test"):
        find_clusters(tests, prints[:-1])
    with pytest.raises(ValueError, match=r"not in \(0, 1\]"):
        find_clusters(tests, prints, threshold=0)
    with pytest.raises(FileNotFoundError, match="Did you mean"):
        analyze_suite([tmp_path / "test_copie.py"])
    assert find_smells([read_module(path)], rules=select_rules(["sleep"])) == []


def test_identical_lines_inside_differing_calls_are_a_block_cluster(tmp_path: Path) -> None:
    # The copy is six keyword arguments of a call whose last argument differs: no statement
    # or whole expression is shared, only the lines (what pylint's symilar reports).
    _write(tmp_path, "test_lines.py", '''
def test_logistic(seed):
    X, y = make_classification(
        n_samples=500,
        n_classes=2,
        n_features=5,
        n_informative=5,
        n_redundant=0,
        n_repeated=0,
    )
    assert fit(X, y)


def test_tree(seed):
    samples = 900
    X, y = make_classification(
        n_samples=500,
        n_classes=2,
        n_features=5,
        n_informative=5,
        n_redundant=0,
        random_state=seed,
    )
    assert tree(X, y, samples)
''')
    analysis = analyze_suite([tmp_path], threshold=1.0)
    assert [c.kind for c in analysis.clusters] == ["block"]
    name = f"{tmp_path.name}/test_lines.py"
    assert analysis.clusters[0].members == (f"{name}::test_logistic", f"{name}::test_tree")
    assert [(d.kind, d.values) for d in analysis.clusters[0].differences] == [
        ("location", (f"{name}:2-7", f"{name}:15-20"))
    ]
