"""The order of events within a period, as SimPy event priorities.

Within period ``t`` (SimPy time ``t``) events run in this order, whatever order they were scheduled
in (SimPy sorts its queue by ``(time, priority, insertion id)``):

1. ``RECEIVE``: shipments due at ``t`` join on-hand stock (and immediately serve what is owed);
2. ``DEMAND``: external customer demand hits customer-facing nodes;
3. ``DECIDE``: the decision epoch, tier by tier, customer-facing tier first; each node first ships
   what it owes, then its agent orders, and orders travel upstream within the period;
4. ``CLOSE``: the period's ledger rows are written and audited.

Under a scenario's ``timing: liu`` (Liu et al.'s period) one more step comes first:

0. ``OBSERVE``: every agent chooses its orders from the state at the start of the period (the
   close of the last one, before this period's receipts and demand); the orders are executed at
   the ``DECIDE`` step as usual.

This is the one place the order is defined; the README repeats it for readers.
"""

from __future__ import annotations

import simpy
from simpy.events import Event

# Every phase sorts after SimPy's own priorities (URGENT = 0 for starting processes, NORMAL = 1 for
# plain events): processes created before the run are running before the first phase of period 0,
# and an event triggered within a phase is processed before the next phase of the same period.
OBSERVE = 2
RECEIVE = 3
DEMAND = 4
DECIDE = 5
CLOSE = 6


class Phase(Event):
    """A timeout with an explicit priority.

    SimPy's ``Timeout`` always uses priority NORMAL; the phases of a period need their own, so
    this event is scheduled directly (the same three lines ``Timeout.__init__`` runs).
    """

    def __init__(self, env: simpy.Environment, delay: int, priority: int, value: object = None):
        self.env = env
        self.callbacks = []
        self._value = value
        self._ok = True
        env.schedule(self, priority, delay)  # type: ignore[arg-type]
