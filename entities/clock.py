"""The order of events within a period, as SimPy event priorities.

Within period ``t`` (SimPy time ``t``) events run in this order, whatever order they were scheduled
in (SimPy sorts its queue by ``(time, priority, insertion id)``):

0. ``CLOSE``: the ledger rows of period ``t - 1`` are written and audited (a period ``t`` is the
   interval ``[t, t + 1)``; its close is the first thing that happens at time ``t + 1``);
1. ``ORDER``: orders whose order-processing delay ends in period ``t`` reach their upstream node and
   join what it owes (orders on lanes without a delay reach it at once, when they are placed);
2. ``RECEIVE``: shipments due at ``t`` join on-hand stock (and immediately serve what is owed);
   units lost in transit are written off, units refused for lack of storage wait for ``t + 1``;
3. ``DEMAND``: external customer demand hits customer-facing nodes;
4. ``DECIDE``: the decision epoch, tier by tier, customer-facing tier first; each node first ships
   what it owes, then its agent orders, and orders travel upstream within the period;
5. within the period, at times ``t + u`` (``0 < u < 1``): individual customers of nodes with
   intra-period arrivals, customers giving up (patience), and orders placed by continuous-review
   policies at those moments (all at the ``DEMAND`` priority).

Under a scenario's ``timing: liu`` (Liu et al.'s period) one more step comes right after the close:

0b. ``OBSERVE``: every agent chooses its orders from the state at the start of the period (the
   close of the last one, before this period's order arrivals, receipts and demand); the orders
   are executed at the ``DECIDE`` step as usual.

This is the one place the order is defined; the README repeats it for readers.
"""

from __future__ import annotations

from heapq import heappush

import simpy
from simpy.events import Event, EventPriority

# Every phase sorts after SimPy's own priorities (URGENT = 0 for starting processes, NORMAL = 1 for
# plain events): processes created before the run are running before the first phase of period 0,
# and an event triggered within a phase is processed before the next phase of the same period.
CLOSE = EventPriority(2)
OBSERVE = EventPriority(3)
ORDER = EventPriority(4)
RECEIVE = EventPriority(5)
DEMAND = EventPriority(6)
DECIDE = EventPriority(7)


class Phase(Event):
    """An event at the absolute time ``at`` with an explicit priority.

    SimPy's ``Timeout`` always uses priority NORMAL and a relative delay; the phases of a period
    need their own priority, and an absolute time: ``now + (at - now)`` need not equal ``at`` in
    floating point once ``now`` is fractional (an intra-period event), and a period boundary
    missed by one ulp would put an event in the wrong period. So the event is pushed on the
    queue directly, as ``Environment.schedule`` does, but at ``at`` itself.
    """

    def __init__(
        self, env: simpy.Environment, at: float, priority: EventPriority, value: object = None
    ) -> None:
        self.env = env
        self.callbacks = []
        self._value = value
        self._ok = True
        if at < env._now:
            raise ValueError(f"cannot schedule an event at {at} before now ({env.now})")
        heappush(env._queue, (at, priority, next(env._eid), self))
