"""Shared pytest set-up: hypothesis profiles and the seed of a test run.

Every run draws new examples: the property tests search a little further each time CI runs, instead
of repeating one fixed set. The run's seed is printed at the end of the session (``hypothesis
seed: N``); ``python -m pytest --hypothesis-seed=N`` replays exactly those examples (as does
``TWIN_HYPOTHESIS_SEED=N``). A failing example is also kept in the example database
(``.hypothesis/``), so the next local run tries it first, and printed with
``@reproduce_failure``; a failure found this way is then added to its test as an explicit
regression case (``@example(...)`` or a plain test), so that it is checked on every run from then
on, whatever the seed.

Profiles (``TWIN_HYPOTHESIS_PROFILE``): ``ci`` (the default, also in ``.ci/run``) and ``explore``
(for a deeper search: ``TWIN_HYPOTHESIS_EXAMPLES=N`` examples per test).
"""

from __future__ import annotations

import os
import secrets

import pytest
from hypothesis import HealthCheck, Phase, settings

# The explain phase (which lines a failing example runs) traces every line and made shrinking a
# failure of the twin take over ten minutes; a failing example is reported without it.
_COMMON = dict(
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[p for p in Phase if p is not Phase.explain],
)
settings.register_profile("ci", derandomize=False, **_COMMON)
settings.register_profile(
    "explore",
    derandomize=False,
    max_examples=int(os.environ.get("TWIN_HYPOTHESIS_EXAMPLES", "1000")),
    **_COMMON,
)
settings.load_profile(os.environ.get("TWIN_HYPOTHESIS_PROFILE", "ci"))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Pick the run's seed (unless ``--hypothesis-seed`` gave one) before hypothesis reads it."""
    if getattr(config.option, "hypothesis_seed", None) is None:
        given = os.environ.get("TWIN_HYPOTHESIS_SEED")
        config.option.hypothesis_seed = int(given) if given else secrets.randbits(32)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    seed = getattr(config.option, "hypothesis_seed", None)
    terminalreporter.write_line(
        f"hypothesis seed: {seed} (replay these examples: python -m pytest --hypothesis-seed={seed})"
    )
