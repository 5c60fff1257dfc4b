"""Pure numpy/scipy inventory optimizers and lot-sizing planners.

No simulation objects and nothing but numpy, scipy and the standard library are imported here;
randomness only through a ``numpy.random.Generator`` argument. Modules:

- :mod:`heuristics.newsvendor`: critical fractile, single-stage base-stock levels with lead time;
- :mod:`heuristics.serial`: exact serial echelon base-stock optimizer and evaluator
  (Clark & Scarf 1960; Chen & Zheng 1994);
- :mod:`heuristics.ss`: exact (s, S) policies (Zheng & Federgruen 1991);
- :mod:`heuristics.eoq`, :mod:`heuristics.rq`: EOQ (with backorders) and (r, Q) policies;
- :mod:`heuristics.lot_sizing`: Wagner-Whitin, Silver-Meal, least unit cost, part-period
  balancing, brute force;
- :mod:`heuristics.ga`: adaptive genetic algorithm for lot sizing (Srinivas & Patnaik 1994);
- :mod:`heuristics.ga_stochastic`: the same GA over integer quantities with lead time, capacity
  and backorders, priced on sampled demand paths (common random numbers);
- :mod:`heuristics.dalsa`: DALSA, this project's allocation and lot-sizing heuristic.
"""

from __future__ import annotations

from heuristics.dalsa import (
    LanePlan,
    NetworkPlan,
    NodePlan,
    PlanningNode,
    SupplyLane,
    net_requirements,
    plan_network,
    plan_node,
)
from heuristics.eoq import (
    EOQResult,
    economic_order_quantity,
    economic_order_quantity_with_backorders,
    eoq_cost,
    eoq_with_backorders_cost,
)
from heuristics.ga import GAResult, ga_lot_sizing
from heuristics.ga_stochastic import (
    StochasticPlanResult,
    ga_stochastic_lot_sizing,
    stochastic_plan_cost,
)
from heuristics.lot_sizing import (
    LotSizingResult,
    brute_force_lot_sizing,
    least_unit_cost,
    part_period_balancing,
    plan_cost,
    setup_vector_costs,
    silver_meal,
    wagner_whitin,
)
from heuristics.newsvendor import (
    BaseStockResult,
    base_stock_level,
    critical_fractile,
    newsvendor_cost,
    optimize_base_stock,
)
from heuristics.rq import RQResult, optimize_r_Q, r_Q_cost
from heuristics.serial import (
    EchelonBaseStockResult,
    echelon_to_local_levels,
    evaluate_echelon_base_stock,
    expected_in_transit_holding_cost,
    local_to_echelon_levels,
    optimize_echelon_base_stock,
)
from heuristics.ss import optimize_s_S, s_S_cost

__all__ = [
    "BaseStockResult",
    "EOQResult",
    "EchelonBaseStockResult",
    "GAResult",
    "LanePlan",
    "LotSizingResult",
    "NetworkPlan",
    "NodePlan",
    "PlanningNode",
    "RQResult",
    "StochasticPlanResult",
    "SupplyLane",
    "base_stock_level",
    "brute_force_lot_sizing",
    "critical_fractile",
    "echelon_to_local_levels",
    "economic_order_quantity",
    "economic_order_quantity_with_backorders",
    "eoq_cost",
    "eoq_with_backorders_cost",
    "evaluate_echelon_base_stock",
    "expected_in_transit_holding_cost",
    "ga_lot_sizing",
    "ga_stochastic_lot_sizing",
    "least_unit_cost",
    "local_to_echelon_levels",
    "net_requirements",
    "newsvendor_cost",
    "optimize_base_stock",
    "optimize_echelon_base_stock",
    "optimize_r_Q",
    "optimize_s_S",
    "part_period_balancing",
    "plan_cost",
    "plan_network",
    "plan_node",
    "r_Q_cost",
    "s_S_cost",
    "setup_vector_costs",
    "silver_meal",
    "stochastic_plan_cost",
    "wagner_whitin",
]
