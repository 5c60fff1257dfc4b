"""Generator of synthetic retail networks (suppliers -> warehouses -> stores) for the scale benchmark.

Owns :func:`retail_network`, which returns plain scenario data (what ``yaml.safe_load`` gives; valid
for :func:`twin.scenario_from_dict`), and the writer of ``scenarios/retail_1000.yaml``. Nothing in
it is random: every mean, lead time and policy level follows from the node's index by a fixed
formula, so the same arguments always give the same network (``seed`` only becomes the scenario's
``seed``, which drives the twin's demand and lead-time draws).

The network:

* ``suppliers`` make-to-order sources (``kind: supplier``, no agent): each produces what its
  warehouses order. Every supplier but the last has a production capacity of 1.5 times the mean
  demand it serves (rounded up to 10), generous enough not to starve the network; the last one is
  unlimited.
* ``warehouses``, warehouse ``w`` supplied by supplier ``w mod suppliers`` (round-robin) over a lane
  with lead time ``uniform_int(2, 3 + w mod 3)`` (2..3, 2..4 or 2..5 periods), a fixed cost per
  order and a unit cost.
* ``stores``, split evenly over the warehouses in contiguous blocks, each over a lane with lead time
  ``uniform_int(1, 2)``. Store ``i`` has Poisson demand with an integer mean in 5..40 spread by the
  golden-ratio sequence (``5 + round(35 * frac(i * 0.618...))``), so every warehouse serves a mix
  of small and large stores; unmet demand is lost at a stockout cost per unit.
* agents: one installation ``base_stock`` assignment per tier (``store``, ``warehouse``) with
  per-node levels ``ceil(mu L + z sqrt(mu L))``, ``mu`` the node's mean demand
  (a warehouse's is the sum of its stores'), ``L`` the longest lead time of its inbound lane and
  ``z = 1.645`` (about 95 % cycle service under a normal approximation). Every stocking point starts
  with its level on hand.

Write the shipped scenario (from the repository root)::

    python benchmarks/make_retail.py --out scenarios/retail_1000.yaml
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

import yaml

GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # 0.618...: a low-discrepancy spread of store sizes
Z = 1.645  # safety factor of the base-stock rule
COMMAND = "python benchmarks/make_retail.py --out scenarios/retail_1000.yaml"


def store_mean(i: int, low: int = 5, high: int = 40) -> int:
    """Mean daily demand of store ``i`` (0-based): an integer in ``low..high``."""
    return low + round((high - low) * ((i * GOLDEN) % 1.0))


def base_stock_level(mean: float, lead_time: int, z: float = Z) -> int:
    """Order-up-to level covering ``lead_time`` periods of demand plus ``z`` Poisson sds (the
    twin's protection interval: an order placed at the decision epoch of period ``t`` arrives at
    the receive step of ``t + L``, before that period's demand; README, Order of events)."""
    cover = mean * lead_time
    return math.ceil(cover + z * math.sqrt(cover))


def _ids(prefix: str, count: int) -> list[str]:
    width = max(2, len(str(count)))
    return [f"{prefix}{k + 1:0{width}d}" for k in range(count)]


def retail_network(
    suppliers: int = 3,
    warehouses: int = 20,
    stores: int = 1000,
    periods: int = 365,
    seed: int = 2024,
    *,
    replications: int = 1,
    warmup_periods: int = 30,
    name: str | None = None,
) -> dict[str, Any]:
    """Scenario data of a 3-tier retail network (module docstring); validate it with
    :func:`twin.scenario_from_dict`.

    ``stores`` must be a multiple of ``warehouses`` and ``suppliers <= warehouses`` (every supplier
    serves at least one warehouse: the scenario checks refuse a node nothing ever leaves).
    """
    if min(suppliers, warehouses, stores) < 1:
        raise ValueError("suppliers, warehouses and stores must each be >= 1")
    if suppliers > warehouses:
        raise ValueError(
            f"suppliers ({suppliers}) must be <= warehouses ({warehouses}): "
            "each supplier serves at least one warehouse"
        )
    if stores % warehouses:
        raise ValueError(f"stores ({stores}) must be a multiple of warehouses ({warehouses})")
    per_warehouse = stores // warehouses
    sup_ids, wh_ids, st_ids = _ids("SUP", suppliers), _ids("WH", warehouses), _ids("ST", stores)

    st_mean = [store_mean(i) for i in range(stores)]
    st_lead = [2] * stores  # uniform_int(1, 2): the rule covers the longest lead time
    wh_of = [i // per_warehouse for i in range(stores)]
    wh_mean = [sum(st_mean[w * per_warehouse : (w + 1) * per_warehouse]) for w in range(warehouses)]
    wh_lead = [3 + w % 3 for w in range(warehouses)]
    sup_of = [w % suppliers for w in range(warehouses)]
    sup_mean = [sum(m for w, m in enumerate(wh_mean) if sup_of[w] == k) for k in range(suppliers)]
    st_level = {st_ids[i]: base_stock_level(st_mean[i], st_lead[i]) for i in range(stores)}
    wh_level = {wh_ids[w]: base_stock_level(wh_mean[w], wh_lead[w]) for w in range(warehouses)}

    nodes: list[dict[str, Any]] = []
    for k, sid in enumerate(sup_ids):
        node: dict[str, Any] = {"id": sid, "kind": "supplier", "holding_cost": 0.1}
        if k < suppliers - 1:
            node["capacity"] = 10 * math.ceil(1.5 * sup_mean[k] / 10)
        nodes.append(node)
    for wid in wh_ids:
        nodes.append(
            {"id": wid, "kind": "warehouse", "initial_inventory": wh_level[wid], "holding_cost": 0.2}
        )
    for i, sid in enumerate(st_ids):
        nodes.append(
            {
                "id": sid,
                "kind": "store",
                "initial_inventory": st_level[sid],
                "holding_cost": 0.5,
                "stockout_cost": 10,
                "unmet_demand": "lost",
                "demand": {"dist": "poisson", "mean": st_mean[i]},
            }
        )

    lanes: list[dict[str, Any]] = []
    for w, wid in enumerate(wh_ids):
        lanes.append(
            {
                "from": sup_ids[sup_of[w]],
                "to": wid,
                "lead_time": {"dist": "uniform_int", "low": 2, "high": wh_lead[w]},
                "unit_cost": 0.5,
                "fixed_cost": 50,
            }
        )
    for i, sid in enumerate(st_ids):
        lanes.append(
            {
                "from": wh_ids[wh_of[i]],
                "to": sid,
                "lead_time": {"dist": "uniform_int", "low": 1, "high": st_lead[i]},
                "unit_cost": 0.2,
            }
        )

    return {
        "name": name or f"retail_{stores}",
        "description": (
            f"Synthetic retail network ({suppliers} suppliers, {warehouses} warehouses, "
            f"{stores} stores) from benchmarks/make_retail.py"
        ),
        "seed": seed,
        "periods": periods,
        "warmup_periods": warmup_periods,
        "replications": replications,
        "forecast_window": 7,
        "nodes": nodes,
        "lanes": lanes,
        "agents": [
            {"tier": "store", "kind": "base_stock", "params": {"base_stock_level": st_level}},
            {"tier": "warehouse", "kind": "base_stock", "params": {"base_stock_level": wh_level}},
        ],
        "costs": {"in_transit_holding": "none"},
    }


def _flow(value: Any) -> str:
    """One value in YAML flow style, on one line."""
    return (
        yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=1 << 30)
        .strip()
        .removesuffix("...")
        .strip()
    )


def to_yaml(data: dict[str, Any], header: str = "") -> str:
    """Compact YAML of scenario data: one line per node, lane and per-node parameter.

    Top-level scalars and mappings of scalars are written in flow style; ``nodes`` and ``lanes``
    as lists of one-line mappings; ``agents`` in block style with each per-node parameter mapping
    one ``node: value`` per line. ``yaml.safe_load`` of the text gives ``data`` back.
    """
    out = [f"# {line}".rstrip() for line in header.splitlines()]
    for key, value in data.items():
        if key in ("nodes", "lanes"):
            out.append(f"{key}:")
            out.extend(f"  - {_flow(item)}" for item in value)
        elif key == "agents":
            out.append("agents:")
            for agent in value:
                first = True
                for k, v in agent.items():
                    lead = "  - " if first else "    "
                    first = False
                    if k != "params":
                        out.append(f"{lead}{k}: {_flow(v)}")
                        continue
                    out.append(f"{lead}params:")
                    for name, param in v.items():
                        if isinstance(param, dict):
                            out.append(f"      {name}:")
                            out.extend(f"        {_flow(n)}: {_flow(x)}" for n, x in param.items())
                        else:
                            out.append(f"      {name}: {_flow(param)}")
        else:
            out.append(f"{key}: {_flow(value)}")
    return "\n".join(out) + "\n"


HEADER = f"""\
A synthetic retail network for the scale benchmark (benchmarks/bench_twin.py --scaling): 3
make-to-order suppliers (two with a production capacity of 1.5x the mean demand they serve, one
unlimited), 20 warehouses (round-robin over the suppliers, lead times uniform_int 2..3/4/5) and
1,000 stores (50 per warehouse, lead time uniform_int 1..2, Poisson demand with means 5..40, lost
sales), 365 days. Installation base stock at every stocking point, sized
ceil(mu L + 1.645 sqrt(mu L)) from mean demand mu and longest lead time L.
Generated, do not edit by hand: {COMMAND}
(tests/test_retail.py checks this file equals the generator's output)."""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="write the YAML here (default: standard output)")
    parser.add_argument("--suppliers", type=int, default=3)
    parser.add_argument("--warehouses", type=int, default=20)
    parser.add_argument("--stores", type=int, default=1000)
    parser.add_argument("--periods", type=int, default=365)
    args = parser.parse_args(argv)
    data = retail_network(args.suppliers, args.warehouses, args.stores, args.periods)
    default = (args.suppliers, args.warehouses, args.stores, args.periods) == (3, 20, 1000, 365)
    header = (
        HEADER
        if default
        else (
            f"A synthetic retail network ({args.suppliers} suppliers, {args.warehouses} warehouses, "
            f"{args.stores} stores, {args.periods} periods).\nGenerated: python "
            f"benchmarks/make_retail.py {' '.join(sys.argv[1:] if argv is None else argv)}"
        )
    )
    text = to_yaml(data, header)
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
        print(f"wrote {args.out} ({len(data['nodes'])} nodes, {len(data['lanes'])} lanes)")


if __name__ == "__main__":
    main()
