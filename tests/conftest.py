"""Shared pytest set-up: hypothesis profiles.

Under CI (``CI`` set in the environment) hypothesis is derandomised, so a run is reproducible from
the commit alone; locally it explores new examples each run and keeps failures in .hypothesis/.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
