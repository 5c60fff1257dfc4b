"""A node's first-in-first-out fill (:meth:`entities.nodes.Node._fill`) under floating point.

The law: a supply of exactly what a node owes (its ``backorders``, the float sum of its owed
entries, as a base-stock order of ``S = 0`` delivered at once brings it) fills every entry whole.
Subtracting the older entries from that sum one by one need not leave the last entry exactly
(``4.0962421110938685 - 2.096242111093869 == 1.9999999999999996``); without the rule that an
entry missed by rounding only is filled whole, ``4.4e-16`` stayed owed while ``backorders`` said 0,
and the claimant, short by that residue, crossed a rule's threshold a period later.
"""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from entities.nodes import Node


def store() -> Node:
    return Node(
        "S",
        kind="store",
        tier="store",
        echelon=1,
        initial_inventory=0.0,
        holding_cost=0.0,
        stockout_cost=0.0,
        backlog=True,
        capacity=None,
        forecast_window=1,
    )


quantities = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False, allow_infinity=False)


@given(st.lists(quantities, min_size=1, max_size=12))
@example([2.096242111093869, 2.0])
def test_a_supply_of_what_is_owed_fills_every_entry_whole(owed):
    node = store()
    for q in owed:
        node.customer_demand(q, 0)  # backlogged: nothing on hand
    assert len(node.owed) == len(owed)
    node.receive(node.backorders, 1)
    assert not node.owed, f"still owed: {[entry[1] for entry in node.owed]}"
    assert node.backorders == 0.0 and node.customer_backorders == 0.0
    assert node.on_hand == 0.0


@given(st.lists(quantities, min_size=2, max_size=12), st.floats(0.0, 0.999))
def test_a_short_supply_fills_oldest_first_and_owes_the_rest(owed, share):
    """Rounding aside, a supply short of what is owed still fills only what it covers."""
    node = store()
    for q in owed:
        node.customer_demand(q, 0)
    supply = share * sum(owed[:-1])  # never reaches the last entry
    node.receive(supply, 1)
    assert node.owed and node.owed[-1][1] == owed[-1]
    assert node.sold == supply or abs(node.sold - supply) <= 1e-12 * sum(owed)
    assert node.on_hand == 0.0
