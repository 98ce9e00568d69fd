"""The examples in the docstrings run, and print what they say they print.

Every module of the three packages whose source holds a ``>>>`` example is
collected from the source tree, so an example added later is tested without
being listed here. They run under this suite's settings (float64, the compile
cache), as a user's session in the same state would.
"""

import doctest
import importlib
import inspect
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("posterior", "samplers", "two_stage_posterior")


def _modules_with_examples() -> list[str]:
    names = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if ">>>" in path.read_text():
                parts = path.relative_to(ROOT).with_suffix("").parts
                if parts[-1] == "__init__":
                    parts = parts[:-1]
                names.append(".".join(parts))
    return names


MODULES = _modules_with_examples()


def test_the_examples_are_found():
    # A broken search would make the test below pass vacuously.
    assert {"posterior.model", "samplers.log_partition", "samplers.methods"} <= set(
        MODULES
    )


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(verbose=False, optionflags=doctest.ELLIPSIS)
    examples = 0
    for test in finder.find(module, name):
        if test.lineno is None or not test.filename.startswith(str(ROOT)):
            continue  # an object imported from elsewhere; tested at its home
        examples += len(test.examples)
        runner.run(test, out=print)
    assert examples > 0, f"{name} holds `>>>` but no example was collected"
    assert runner.failures == 0, f"{runner.failures} example(s) of {name} failed"


def _made_by_users(obj) -> bool:
    # Functions, and classes a user builds or subclasses; not the result types
    # (named tuples), whose examples are those of the functions that return
    # them, nor the warnings, which the tests catch with pytest.warns.
    return inspect.isfunction(obj) or (
        inspect.isclass(obj) and not issubclass(obj, (tuple, Warning))
    )


def test_every_public_function_and_class_has_an_example():
    import posterior
    import samplers

    missing = [
        f"{package.__name__}.{name}"
        for package in (posterior, samplers)
        for name in package.__all__
        if _made_by_users(getattr(package, name))
        and ">>>" not in (inspect.getdoc(getattr(package, name)) or "")
    ]
    assert not missing, f"public functions and classes without an example: {missing}"
