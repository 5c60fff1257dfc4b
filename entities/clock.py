"""The order of events within a period, as SimPy event priorities.

Within period ``t`` (SimPy time ``t``) events run in this order, whatever order they were scheduled
in (SimPy sorts its queue by ``(time, priority, insertion id)``):

1. ``RECEIVE``: shipments due at ``t`` join on-hand stock (and immediately serve what is owed);
2. ``DEMAND``: external customer demand hits customer-facing nodes;
3. ``DECIDE``: the decision epoch, tier by tier, customer-facing tier first; each node first ships
   what it owes, then its agent orders, and orders travel upstream within the period;
4. ``CLOSE``: the period's ledger rows are written and audited.

This is the one place the order is defined; the README repeats it for readers.
"""

from __future__ import annotations

import simpy
from simpy.events import Event

RECEIVE = 0
DEMAND = 1
DECIDE = 2
CLOSE = 3


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
