"""A run from a stored state: what the commands' ``--state URL --as-of DATE`` and
``--write-back URL`` do, in one place.

:func:`start_from_store` reads the state as of the date (the latest snapshot without one),
prepares the scenario for it (:func:`twin.scenario.state.scenario_at`: period 0 is the as-of date,
the calendar-dated inputs shifted, the random streams those of the date) and gives the ``setup``
that puts the state into the built entities (:class:`twin.engine.state.StartFrom`).
:func:`write_run_back` stores a finished run (:func:`twin.live.writeback.write_back`).

The stores need the ``live`` extra (SQLAlchemy and a PostgreSQL driver); this module imports them
only when it is used, so the commands run without them until ``--state`` or ``--write-back`` is
given.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from entities.errors import DataError
from twin.engine import SimulationResult
from twin.engine.state import StartFrom
from twin.scenario import Scenario
from twin.scenario.state import StartingState, scenario_at

INSTALL = 'pip install -e ".[live]"'


@dataclass(frozen=True)
class LiveStart:
    """A scenario prepared to start from a stored state, and the ``setup`` that applies it."""

    scenario: Scenario
    state: StartingState
    setup: StartFrom
    period_days: int = 1

    @property
    def as_of(self) -> dt.date | None:
        return self.state.as_of


def _stores() -> ModuleType:
    """:mod:`twin.live.store`, or a DataError saying how to install what it needs."""
    try:
        from twin.live import store
    except ImportError as exc:
        raise DataError(f"reading or writing a store needs the live extra ({exc}): {INSTALL}") from None
    return store


def start_from_store(scenario: Scenario, url: str, as_of: str | dt.date | None = None) -> LiveStart:
    """Read the state as of ``as_of`` (``YYYY-MM-DD``; default the latest) from ``url`` and prepare
    ``scenario`` to start from it."""
    store = _stores()
    from twin.live.state import parse_date, read_calendar, read_state

    day = parse_date(as_of) if isinstance(as_of, str) else as_of
    with store.open_store(url) as source:
        calendar = read_calendar(source)
        state = read_state(source, scenario, day)
    return LiveStart(
        scenario_at(scenario, state), state, StartFrom(state), calendar.period_days if calendar else 1
    )


def check_write_back(url: str) -> None:
    """Raise DataError now (before a run) unless ``url`` can take a write-back (a database)."""
    with _stores().open_store(url, create=True) as target:
        if not target.is_database:
            raise DataError(f"{target.label}: --write-back needs a database (a URL or a SQLite file)")


def write_run_back(
    url: str,
    scenario: Scenario,
    results: Sequence[SimulationResult],
    kpis: Mapping[str, Any],
    start: LiveStart | None = None,
) -> str:
    """Store the run in the database at ``url`` in one transaction; return its run id."""
    store = _stores()
    from twin.live.writeback import write_back

    with store.open_store(url, create=True) as target:
        return write_back(
            target,
            scenario,
            results,
            kpis,
            as_of=None if start is None else start.as_of,
            period_days=1 if start is None else start.period_days,
        )
