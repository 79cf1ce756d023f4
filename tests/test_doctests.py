"""The examples in the package's docstrings run, and show what they say (doctest).

One test per module, run from the repository root so that examples can read
``data/sample``. Modules with import-time side effects are left out: ``_report_worker``
(blocks an import in ``sys.modules``) and ``cli``/``docs`` (scripts).
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import pipeline_kit

ROOT = Path(__file__).resolve().parent.parent
SKIP = {"pipeline_kit._report_worker", "pipeline_kit.cli", "pipeline_kit.docs"}
MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(pipeline_kit.__path__, "pipeline_kit.")
    if info.name not in SKIP
)
# modules whose public functions (and public methods of public classes) each show a runnable
# example; None: all of ``__all__``
MUST_HAVE_EXAMPLES: dict[str, list[str] | None] = {
    "pipeline_kit.cache": None,
    "pipeline_kit.dataset": None,
    "pipeline_kit.formatting": None,
    "pipeline_kit.loading": ["load"],
    "pipeline_kit.periods": None,
    "pipeline_kit.stats": None,
}
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _examples(module: object) -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder(exclude_empty=True)
    return [t for t in finder.find(module) if t.examples]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    module = importlib.import_module(name)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    for test in _examples(module):
        runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


def _public_callables(module: object) -> list[str]:
    """Qualified names of the functions in ``__all__`` and of the public methods of its classes."""
    names = []
    for n in module.__all__:
        value = getattr(module, n)
        if isinstance(value, type):
            names += [
                f"{n}.{m}"
                for m, attr in vars(value).items()
                if not m.startswith("_")
                and (isinstance(attr, (classmethod, staticmethod)) or inspect.isfunction(attr))
            ]
        elif callable(value):
            names.append(n)
    return names


@pytest.mark.parametrize("name", sorted(MUST_HAVE_EXAMPLES))
def test_public_functions_have_examples(name: str) -> None:
    module = importlib.import_module(name)
    runnable = {
        t.name.removeprefix(f"{name}.")
        for t in _examples(module)
        if any(not e.options.get(doctest.SKIP) for e in t.examples)
    }
    public = MUST_HAVE_EXAMPLES[name] or _public_callables(module)
    assert public, name
    missing = [n for n in public if n not in runnable]
    assert not missing, f"{name}: no runnable example for {missing}"


def test_a_failing_example_fails() -> None:
    """The runner above reports a wrong expected value (so the doctests can fail)."""

    def wrong() -> None:
        """>>> 1 + 1
        3
        """

    runner = doctest.DocTestRunner(optionflags=FLAGS)
    for test in doctest.DocTestFinder().find(wrong, "wrong", globs={}):
        runner.run(test, out=lambda _text: None)
    assert runner.summarize(verbose=False).failed == 1
