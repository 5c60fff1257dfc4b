"""Shared pytest set-up: hypothesis profiles.

By default hypothesis is derandomised, so a run (CI's included: ``.ci/run`` sets no variable) is
reproducible from the commit alone and cannot fail by the luck of the draw. To search for new
counterexamples, set ``TWIN_HYPOTHESIS_PROFILE=explore`` (random examples each run, failures kept in
.hypothesis/), with ``TWIN_HYPOTHESIS_EXAMPLES=N`` for a deeper search.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

# The explain phase (which lines a failing example runs) traces every line and made shrinking a
# failure of the twin take over ten minutes; a failing example is reported without it.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[p for p in Phase if p is not Phase.explain],
)
settings.register_profile("explore", deadline=None)
settings.load_profile(os.environ.get("TWIN_HYPOTHESIS_PROFILE", "ci"))
