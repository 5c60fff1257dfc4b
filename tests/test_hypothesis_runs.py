"""Property tests search further on every run, and a run can be replayed from its printed seed.

A tiny property test is run three times as a separate pytest session with this suite's set-up
(``tests/conftest.py``): two plain runs draw different examples; a run given the seed the first one
printed draws exactly the same examples as it.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent

PROPERTY = """
import os
from hypothesis import given, settings, strategies as st

@settings(max_examples=20, database=None)
@given(st.integers(0, 10**9))
def test_draws(x):
    with open(os.environ["DRAWN"], "a") as f:
        f.write(f"{x}\\n")
"""


def _session(tmp_path: Path, name: str, *args: str) -> tuple[list[str], int]:
    drawn = tmp_path / f"{name}.txt"
    env = {
        **os.environ,
        "DRAWN": str(drawn),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
    }
    env.pop("TWIN_HYPOTHESIS_SEED", None)
    env.pop("TWIN_HYPOTHESIS_PROFILE", None)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-q", "-p", "no:cacheprovider",
         str(tmp_path / "test_property.py"), *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    seed = re.search(r"hypothesis seed: (\d+) \(replay these examples: python -m pytest "
                     r"--hypothesis-seed=(\d+)\)", done.stdout)  # fmt: skip
    assert seed and seed.group(1) == seed.group(2), done.stdout
    return drawn.read_text().split(), int(seed.group(1))


def test_every_run_draws_new_examples_and_the_seed_replays_one(tmp_path):
    (tmp_path / "test_property.py").write_text(PROPERTY)
    first, seed = _session(tmp_path, "first")
    second, other = _session(tmp_path, "second")
    assert other != seed and first != second
    replay, again = _session(tmp_path, "replay", f"--hypothesis-seed={seed}")
    assert again == seed and replay == first
