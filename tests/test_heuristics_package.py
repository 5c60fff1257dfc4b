"""The heuristics package: worked examples run, imports stay numpy/scipy, randomness is injected."""

from __future__ import annotations

import ast
import doctest
import importlib
import pkgutil
import sys
from pathlib import Path

import pytest

import heuristics

PACKAGE_DIRECTORY = Path(heuristics.__file__).parent
MODULES = sorted(f"heuristics.{info.name}" for info in pkgutil.iter_modules([str(PACKAGE_DIRECTORY)]))
ALLOWED_TOP_LEVEL = {"numpy", "scipy", "heuristics"} | set(sys.stdlib_module_names)


@pytest.mark.parametrize("module_name", MODULES)
def test_docstring_examples_run(module_name: str) -> None:
    module = importlib.import_module(module_name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0


@pytest.mark.parametrize("module_name", MODULES)
def test_imports_only_numpy_scipy_and_stdlib(module_name: str) -> None:
    path = PACKAGE_DIRECTORY / f"{module_name.split('.')[-1]}.py"
    tree = ast.parse(path.read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= ALLOWED_TOP_LEVEL, imported - ALLOWED_TOP_LEVEL


@pytest.mark.parametrize("module_name", MODULES)
def test_no_global_random_state(module_name: str) -> None:
    source = (PACKAGE_DIRECTORY / f"{module_name.split('.')[-1]}.py").read_text()
    for forbidden in ("np.random.seed", "np.random.rand(", "np.random.normal", "import random"):
        assert forbidden not in source


def test_public_names_exported() -> None:
    for name in heuristics.__all__:
        assert hasattr(heuristics, name)
    for name in (
        "optimize_echelon_base_stock",
        "evaluate_echelon_base_stock",
        "optimize_s_S",
        "wagner_whitin",
        "silver_meal",
        "least_unit_cost",
        "part_period_balancing",
        "ga_lot_sizing",
    ):
        assert name in heuristics.__all__
