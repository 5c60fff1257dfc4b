"""Economic order quantity, with and without planned backorders (closed forms).

This module owns the deterministic continuous-review lot-size models of Snyder & Shen,
*Fundamentals of Supply Chain Theory*, 2nd ed., chapter 3 (EOQ, Harris 1913; and EOQ
with planned backorders):

================  =========  ================================================================
name              symbol     meaning (units)
================  =========  ================================================================
fixed_cost        ``K``      cost per order
holding_cost      ``h``      cost per unit held per unit time
stockout_cost     ``p``      cost per unit backordered per unit time
demand_rate       ``lambda`` units demanded per unit time (deterministic, constant)
order_quantity    ``Q``      units per order
stockout_fraction ``x``      fraction of each cycle's demand that is backordered
================  =========  ================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EOQResult:
    """Optimal order quantity, cost per unit time, and fraction of demand backordered."""

    order_quantity: float
    cost: float
    stockout_fraction: float = 0.0


def _check(**values: float) -> None:
    for name, value in values.items():
        if not np.isfinite(value) or value <= 0:
            raise ValueError(f"{name} must be finite and > 0; got {value}")


def eoq_cost(order_quantity: float, fixed_cost: float, holding_cost: float, demand_rate: float) -> float:
    """``g(Q) = K * lambda / Q + h * Q / 2`` (Harris 1913).

    >>> round(eoq_cost(304.05, 8, 0.225, 1300), 2)
    68.41
    """
    _check(order_quantity=order_quantity, holding_cost=holding_cost, demand_rate=demand_rate)
    if not np.isfinite(fixed_cost) or fixed_cost < 0:
        raise ValueError(f"fixed_cost must be finite and >= 0; got {fixed_cost}")
    return fixed_cost * demand_rate / order_quantity + holding_cost * order_quantity / 2


def economic_order_quantity(fixed_cost: float, holding_cost: float, demand_rate: float) -> EOQResult:
    """EOQ: ``Q* = sqrt(2 K lambda / h)``, ``g* = sqrt(2 K lambda h)`` (Snyder & Shen 3.4-3.5).

    Example (Snyder & Shen, Example 3.1): K = 8, h = 0.225, lambda = 1300 gives
    Q* = 304.05 and g* = 68.41.

    >>> result = economic_order_quantity(8, 0.225, 1300)
    >>> round(result.order_quantity, 2), round(result.cost, 2)
    (304.05, 68.41)
    """
    _check(fixed_cost=fixed_cost, holding_cost=holding_cost, demand_rate=demand_rate)
    quantity = float(np.sqrt(2 * fixed_cost * demand_rate / holding_cost))
    return EOQResult(
        order_quantity=quantity, cost=float(np.sqrt(2 * fixed_cost * demand_rate * holding_cost))
    )


def eoq_with_backorders_cost(
    order_quantity: float,
    stockout_fraction: float,
    fixed_cost: float,
    holding_cost: float,
    stockout_cost: float,
    demand_rate: float,
) -> float:
    """``g(Q, x) = h Q (1 - x)^2 / 2 + p Q x^2 / 2 + K lambda / Q`` (Snyder & Shen ch. 3).

    >>> round(eoq_with_backorders_cost(310.81, 0.0431, 8, 0.225, 5, 1300), 2)
    66.92
    """
    _check(
        order_quantity=order_quantity,
        holding_cost=holding_cost,
        stockout_cost=stockout_cost,
        demand_rate=demand_rate,
    )
    if not 0 <= stockout_fraction <= 1:
        raise ValueError(f"stockout_fraction must be in [0, 1]; got {stockout_fraction}")
    return (
        holding_cost * order_quantity * (1 - stockout_fraction) ** 2 / 2
        + stockout_cost * order_quantity * stockout_fraction**2 / 2
        + fixed_cost * demand_rate / order_quantity
    )


def economic_order_quantity_with_backorders(
    fixed_cost: float, holding_cost: float, stockout_cost: float, demand_rate: float
) -> EOQResult:
    """EOQ with planned backorders (Snyder & Shen eq. 3.27-3.29).

    ``Q* = sqrt(2 K lambda (h + p) / (h p))``, ``x* = h / (h + p)``,
    ``g* = sqrt(2 K lambda h p / (h + p))``.

    Example (Snyder & Shen, Example 3.8): K = 8, h = 0.225, p = 5, lambda = 1300 gives
    Q* = 310.81, x* = 0.0431, g* = 66.92.

    >>> r = economic_order_quantity_with_backorders(8, 0.225, 5, 1300)
    >>> round(r.order_quantity, 2), round(r.stockout_fraction, 4), round(r.cost, 2)
    (310.81, 0.0431, 66.92)
    """
    _check(
        fixed_cost=fixed_cost,
        holding_cost=holding_cost,
        stockout_cost=stockout_cost,
        demand_rate=demand_rate,
    )
    h, p = holding_cost, stockout_cost
    quantity = float(np.sqrt(2 * fixed_cost * demand_rate * (h + p) / (h * p)))
    return EOQResult(
        order_quantity=quantity,
        cost=float(np.sqrt(2 * fixed_cost * demand_rate * h * p / (h + p))),
        stockout_fraction=h / (h + p),
    )
