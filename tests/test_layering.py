"""DESIGN.md's import direction (Layout), enforced by walking every module's imports with ``ast``.

``twin`` may import everything; ``agents`` -> ``heuristics``, ``entities.messages``;
``reconciliation`` -> ``entities.messages``, the shared error tree ``entities.errors``, and pandas,
numpy, matplotlib, pyarrow and yaml for tables, plots and report files; ``entities`` -> ``simpy``,
``numpy``; ``heuristics`` -> ``numpy``/``scipy``. Every import counts, at module level or inside a
function or an ``if TYPE_CHECKING:`` block. ``torch`` only under ``agents/ppo`` and
``agents/happo``, and ``import twin`` (and a whole run) must not import it.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("twin", "entities", "agents", "reconciliation", "heuristics")
STDLIB = frozenset(sys.stdlib_module_names) | {"__future__"}

# Package -> the modules it may import besides the standard library and itself. A name allows the
# module and its submodules ("numpy" allows "numpy.typing").
ALLOWED: dict[str, tuple[str, ...]] = {
    "entities": ("simpy", "numpy"),
    # yaml: the run folder's scenario.resolved.yaml is a report file, like the Parquet ledger.
    "reconciliation": (
        "pandas",
        "numpy",
        "matplotlib",
        "pyarrow",
        "yaml",
        "entities.messages",
        "entities.errors",
    ),
    "agents": ("numpy", "heuristics", "entities.messages"),
    "heuristics": ("numpy", "scipy"),
}
TORCH_ALLOWED = ("agents/ppo", "agents/happo")


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(source: str, name: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """``(line, module)`` for every import in ``source`` (module ``name``); relative imports are
    resolved, and ``from pkg import sub`` yields ``pkg.sub`` when ``sub`` is a module of ours."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                sub_path = ROOT.joinpath(*sub.split("."))
                if sub_path.with_suffix(".py").is_file() or sub_path.is_dir():
                    yield node.lineno, sub
                else:
                    yield node.lineno, target


def _within(module: str, allowed: str) -> bool:
    return module == allowed or module.startswith(allowed + ".")


def violations(path: Path) -> list[str]:
    """Imports of the module at ``path`` that DESIGN.md's import direction forbids."""
    rel = path.relative_to(ROOT)
    package = rel.parts[0]
    name = module_name(path)
    found = []
    for line, module in imported_modules(
        path.read_text(encoding="utf-8"), name, path.name == "__init__.py"
    ):
        top = module.partition(".")[0]
        where = f"{rel}:{line} imports {module!r}"
        if top == "torch":
            if not any(rel.as_posix().startswith(p + "/") for p in TORCH_ALLOWED):
                found.append(f"{where}: torch is allowed only under {', '.join(TORCH_ALLOWED)}")
            continue
        if package == "twin" or top in STDLIB or top == package:
            continue
        if not any(_within(module, a) for a in ALLOWED[package]):
            found.append(
                f"{where}: {package} may import only the standard library, {package}.* "
                f"and {', '.join(ALLOWED[package])}"
            )
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_follow_the_design(package: str) -> None:
    paths = modules(package)
    assert paths, f"no modules found under {package}/"
    problems = [v for p in paths for v in violations(p)]
    assert not problems, "\n".join(problems)


def test_the_walker_sees_what_it_must_forbid(tmp_path: Path) -> None:
    """The checker itself: relative, nested, TYPE_CHECKING and ``from pkg import sub`` imports."""
    source = textwrap.dedent("""
        from __future__ import annotations
        import os.path
        from typing import TYPE_CHECKING
        from . import messages
        from .nodes import Node
        from ..agents import base
        if TYPE_CHECKING:
            from reconciliation.ledger import LedgerRow
        def lazy():
            import torch
    """)
    found = [m for _, m in imported_modules(source, "entities.lanes", is_package=False)]
    assert found == [
        "__future__",
        "os.path",
        "typing",
        "entities.messages",
        "entities.nodes",
        "agents.base",
        "reconciliation.ledger",
        "torch",
    ]
    assert _within("numpy.typing", "numpy") and not _within("numpyro", "numpy")


_NO_TORCH = """
import sys
import twin, twin.build, twin.simulation, twin.registry, twin.config, twin.checks
import entities, agents, agents.rules, reconciliation, reconciliation.audit, heuristics
from twin import Simulation, load_scenario
for name in ("serial_3stage", "hmarl_3store"):
    scenario = load_scenario(f"scenarios/{name}.yaml", {"periods": 5, "warmup_periods": 0})
    Simulation(scenario).run()
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
assert not loaded, f"torch was imported: {loaded[:5]}"
print("ok")
"""


def test_import_twin_and_a_run_do_not_import_torch() -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    out = subprocess.run(
        [sys.executable, "-c", _NO_TORCH], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
