"""Reinforcement-learning benchmarks: learned policies against the best tuned rules, and speed.

Run by hand; each acceptance is one command, and its result goes to ``benchmarks/RESULTS.md``::

    python benchmarks/bench_rl.py serial     # PPO on serial_3stage vs the Clark-Scarf optimum, 3 seeds
    python benchmarks/bench_rl.py liu        # liu_serial (Merton) vs tuned base stock and adaptive rules
    python benchmarks/bench_rl.py hmarl      # hmarl_3store: learned stores vs the jointly tuned rules
    python benchmarks/bench_rl.py speed      # training throughput: vector twin vs event twin
    python benchmarks/bench_rl.py serial --quick   # any of them on tiny budgets (a sanity run)

Every policy is evaluated the way a user deploys it: a plain twin run (``twin.engine.Simulation``)
with the trained checkpoint as a ``ppo``/``happo`` agent, deterministic actions. Baselines are
tuned with ``twin.tune`` the same way for every rule, on the training demand, never on the
evaluation data. Training uses the command a user runs (``twin.train``, defaults from the
scenario: its reward; the hyper-parameters are spelled out below and in the README).

1. ``serial``: ``serial_3stage.yaml`` (Snyder & Shen Ex. 6.1), optimum C* = 47.66 (Clark-Scarf).
   PPO, one policy shared by the three stages (with their one-hot), order-up-to levels on each
   stage's inventory position, centralised critic; seeds 0, 1, 2 one after another, each with the
   whole machine; each deployed policy evaluated on the scenario's 10 replications x 1,000
   periods (warm-up 100).
2. ``liu``: ``liu_serial.yaml`` with Merton demand, evaluated on Liu et al.'s 20 evaluation paths
   (``/work/shared/data/liu_eval/test_demand_merton``, first 200 values, read from there, never
   copied) as Liu et al. report it: cost per agent per period. Baselines: static and adaptive
   (``adaptive_base_stock``) order-up-to rules on installation and echelon positions, and the
   adaptive rule with point-of-sale data (``demand: customer``: every level orders up to a
   multiple of the end customers' last demand on its echelon position), each tuned by
   ``twin.tune`` on 200 simulated Merton paths (the training distribution), orders whole and at
   most 20 as the learned policy's. The learned policy sees the ``echelon`` observation (with the
   customers' demand) and chooses each period a factor in ``[0.5, 1.5]`` on the point-of-sale
   rule's level (its tuned multiples, :data:`POS_MULTIPLES`): it starts near the rule and learns
   where to depart from it.
3. ``hmarl``: ``hmarl_3store.yaml``: learned stores that start at the jointly tuned rules'
   base-stock levels and learn deviations from them (the warehouse and the supplier on the tuned
   rules) against those rules and the README's tuned (s,S) warehouse, and, at a fill-rate target,
   against the rules tuned with ``--min-fill``; held-out replications, common random numbers:
   cost and fill rate, and paired 95 % intervals of their differences.
4. ``speed``: environment steps (replication-periods) per second that PPO training collects and
   learns from, in one process: the trainer on event-twin environments (the old path) and on the
   vector twin, with the library's defaults and with the serial command's hyper-parameters (with
   the critic's half of each update on the second core, and on one thread).

Prints what it measured; the lead records it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from twin import load_scenario  # noqa: E402
from twin.engine.simulation import Simulation  # noqa: E402
from twin.scenario import read_yaml, scenario_from_dict  # noqa: E402
from twin.scenario.edit import assign, edit, edit_data  # noqa: E402

LIU_EVAL = Path("/work/shared/data/liu_eval/test_demand_merton")
OPTIMUM_SERIAL = 47.66

SERIAL_COMMAND = [
    "scenarios/serial_3stage.yaml",
    "--targets",
    "stage1,stage2,stage3",
    "--observation",
    "default",
    "--action",
    "order_up_to:low=0,high=30",
    "--timesteps",
    "5000000",
    "--eval-replications",
    "10",
    "--set",
    "gamma=0.95,ent_coef=0,centralized_critic=true,agent_id=true,init_action_std=0.1,num_minibatches=8",
]


def ci95(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of a t-based 95 % confidence interval."""
    from scipy import stats

    x = np.asarray(values, float)
    if len(x) < 2:
        return float(x.mean()), math.nan
    return float(x.mean()), float(stats.t.ppf(0.975, len(x) - 1) * x.std(ddof=1) / math.sqrt(len(x)))


def _train(argv: list[str]) -> dict[str, Any]:
    from twin.train import main

    code = main(argv)
    if code != 0:
        raise SystemExit(f"training failed ({code}): python -m twin.train {' '.join(argv)}")
    return json.loads((Path(argv[argv.index("--out") + 1]) / "summary.json").read_text())


# --------------------------------------------------------------------------------------------------
# 1. serial_3stage


def bench_serial(work: Path, quick: bool) -> None:
    from twin.rl.train import _kpis

    seeds = [0] if quick else [0, 1, 2]
    scenario = load_scenario(ROOT / "scenarios" / "serial_3stage.yaml")
    if quick:
        scenario = edit(scenario, "periods=200", "warmup_periods=20")
    reps = range(2 if quick else scenario.replications)
    optimal = _kpis([Simulation(scenario, replication=r).run() for r in reps], scenario, None)[
        "eval_cost"
    ]
    print(
        f"(1) the Clark-Scarf policy (the scenario's own agents) on the same {len(reps)} replications: "
        f"{optimal:.3f} per period (its expected cost C* = {OPTIMUM_SERIAL})",
        flush=True,
    )
    results = []
    for seed in seeds:
        out = work / f"serial-seed{seed}"
        extra = ["--timesteps", "60000", "--periods", "200", "--eval-replications", "2"] if quick else []
        argv = [*SERIAL_COMMAND, "--seed", str(seed), "--out", str(out), "--quiet", *extra]
        start = time.perf_counter()
        summary = _train(argv)
        wall = time.perf_counter() - start
        dep = summary["deployed"]
        results.append(dep["eval_cost"])
        print(
            f"(1) seed {seed}: {dep['eval_cost']:.3f} +- {dep['eval_cost_se']:.3f} per period as a twin "
            f"run (gap {100 * (dep['eval_cost'] / OPTIMUM_SERIAL - 1):+.2f} % to C*, "
            f"{100 * (dep['eval_cost'] / optimal - 1):+.2f} % to the optimal policy on the same "
            f"demand), untrained "
            f"{summary['untrained']['eval_cost']:.2f}; {summary['timesteps']:,} epochs, "
            f"training {summary['seconds'] / 60:.1f} min, {wall / 60:.1f} min with evaluations",
            flush=True,
        )
    mean = float(np.mean(results))
    print(
        f"(1) serial_3stage PPO, mean of {len(seeds)} seeds: {mean:.3f} per period "
        f"(sd {np.std(results, ddof=1) if len(results) > 1 else 0:.3f}); gap "
        f"{100 * (mean / OPTIMUM_SERIAL - 1):+.2f} % to C* = {OPTIMUM_SERIAL}, "
        f"{100 * (mean / optimal - 1):+.2f} % to the optimal policy on the same demand ({optimal:.3f})"
    )


# --------------------------------------------------------------------------------------------------
# 2. liu_serial, Merton demand

LEVELS = ["retailer", "distributor", "manufacturer"]
MERTON = "nodes.retailer.demand={dist: merton}"
POS_MULTIPLES = {"retailer": 5.15, "distributor": 9.95, "manufacturer": 15.06}
"""The point-of-sale rule's multiples as ``twin.tune`` finds them on the training demand (this
benchmark tunes them again and says so if they differ): the learned policy's action is a factor
on them."""
LIU_COMMAND = [
    "scenarios/liu_serial.yaml",
    "--override",
    MERTON,
    "--targets",
    ",".join(LEVELS),
    "--observation",
    "echelon:scale=10",
    "--action",
    "order_up_to:low=0.5,high=1.5,position=echelon,scale=customer_demand,integer=true,max_order=20,"
    "multiple={" + ", ".join(f"{n}: {k}" for n, k in POS_MULTIPLES.items()) + "}",
    "--timesteps",
    "5000000",
    "--eval-replications",
    "20",
    "--set",
    "gamma=0.99,gae_lambda=0.99,ent_coef=0,centralized_critic=true,agent_id=true,init_action_std=0.1,"
    "num_envs=512,learning_rate=0.001",
]
POS_RULE = "adaptive, echelon, point-of-sale"
LIU_RULES = [
    ("installation base stock", "base_stock:max_order=20"),
    ("echelon base stock", "echelon_base_stock:max_order=20"),
    ("adaptive, installation, window 1", "adaptive_base_stock:integer=true,max_order=20"),
    ("adaptive, echelon, window 1", "adaptive_base_stock:position=echelon,integer=true,max_order=20"),
    (POS_RULE, "adaptive_base_stock:demand=customer,position=echelon,integer=true,max_order=20"),
]


def _liu_data(training: int) -> dict[str, Any]:
    data, _ = edit_data(read_yaml(ROOT / "scenarios" / "liu_serial.yaml"), [MERTON], source="liu_serial")
    return {**data, "replications": training}


def _on_liu_paths(data: dict[str, Any], folder: Path, count: int) -> Any:
    """``data`` replaying Liu et al.'s evaluation paths: replication i is path i (first 200 values,
    written as demand series in ``folder``, a temporary folder: the data is never copied into the
    project)."""
    files = sorted(LIU_EVAL.glob("*.txt"), key=lambda f: int(f.stem))[:count]
    if not files:
        raise SystemExit(f"no evaluation paths in {LIU_EVAL}")
    names = []
    for i, f in enumerate(files):
        path = folder / f"liu_path_{i}.csv"
        values = np.loadtxt(f)[:200]
        path.write_text("period,retailer\n" + "".join(f"{t},{int(d)}\n" for t, d in enumerate(values)))
        names.append(str(path))
    out = {**data, "nodes": [dict(n) for n in data["nodes"]], "replications": len(names)}
    del out["nodes"][0]["demand"]
    out["nodes"][0]["demand_series"] = {"files": names}
    return scenario_from_dict(out, source="liu-paths")


def _per_agent(scenario: Any) -> float:
    """Liu et al.'s measure: the levels' cost per agent per period, mean over the replications."""
    costs = []
    for r in range(scenario.replications):
        rows = Simulation(scenario, replication=r).run().rows
        costs.append(
            sum(x.total_cost for x in rows if x.node in LEVELS) / scenario.periods / len(LEVELS)
        )
    return float(np.mean(costs))


def bench_liu(work: Path, quick: bool) -> None:
    from twin.rl.vector import replication_costs
    from twin.studies.tune import tune, tuned_scenario_data

    training = 8 if quick else 200
    data = _liu_data(training)
    paths = 3 if quick else 20
    folder = work / "liu-paths"
    folder.mkdir(exist_ok=True)
    print(
        f"(2) liu_serial, Merton demand: rules tuned by twin.tune on {training} training draws, "
        f"everything evaluated on {paths} of Liu et al.'s paths; cost per agent per period"
    )
    rules = []
    for label, spec in LIU_RULES:
        result = tune(
            data,
            ",".join(LEVELS),
            spec,
            source="liu_serial",
            budget=40 if quick else 400,
            evaluator=replication_costs,
        )
        tuned = tuned_scenario_data(data, result, "liu_serial")
        train = float(
            np.mean(replication_costs(scenario_from_dict(tuned, source="liu"), range(training)))
        )
        cost = _per_agent(_on_liu_paths(tuned, folder, paths))
        params = "; ".join(
            f"{n} " + "/".join(f"{v:g}" for v in values.values()) for n, values in result.params.items()
        )
        rules.append((label, train / len(LEVELS), cost))
        print(
            f"    {label:36s} training {train / len(LEVELS):7.2f}   Liu paths {cost:7.2f}   {params}",
            flush=True,
        )
        if label == POS_RULE and result.params["multiple"] != POS_MULTIPLES and not quick:
            print(f"    note: the learned command's multiples are {POS_MULTIPLES}, not the tuned ones")
    static = min((r for r in rules if "adaptive" not in r[0]), key=lambda r: r[1])
    adaptive = min((r for r in rules if "adaptive" in r[0] and r[0] != POS_RULE), key=lambda r: r[1])
    pos = next(r for r in rules if r[0] == POS_RULE)

    # The learned policy (the README's command): a factor, chosen each period from the echelon
    # observation, on the point-of-sale rule's level.
    out = work / "liu"
    argv = [*LIU_COMMAND, "--seed", "0", "--out", str(out), "--quiet"]
    if quick:
        argv += ["--timesteps", "20000", "--eval-replications", "2"]
    start = time.perf_counter()
    summary = _train(argv)
    wall = time.perf_counter() - start
    learned_data, _ = edit_data(
        data, [assign(LEVELS, "ppo", {"checkpoint": str(out / "policy.pt")})], source="liu"
    )
    learned = _per_agent(_on_liu_paths(learned_data, folder, paths))
    train_learned = summary["deployed"]["eval_cost"] / len(LEVELS)
    untrained = summary["untrained"]["eval_cost"] / len(LEVELS)
    print(
        f"    {'learned (PPO, factor on the POS rule)':36s} training {train_learned:7.2f}   Liu paths "
        f"{learned:7.2f}   {summary['timesteps']:,} epochs, {wall / 60:.1f} min; untrained "
        f"{untrained:.2f} (training, on its {20 if not quick else 2} selection replications)"
    )
    for kind, (label, _train_cost, cost) in (
        ("static", static),
        ("adaptive, own demand", adaptive),
        ("adaptive, point-of-sale", pos),
    ):
        print(
            f"(2) learned vs best {kind} ({label}): "
            f"{learned:.2f} vs {cost:.2f} on Liu's paths, {100 * (learned / cost - 1):+.1f} %"
        )


# --------------------------------------------------------------------------------------------------
# 3. hmarl_3store


HMARL_TRAIN = [
    "--targets",
    "store",
    "--observation",
    "hmarl",
    "--timesteps",
    "3000000",
    "--eval-replications",
    "100",
    "--reward-weights",
    "total_cost=-1,lost_sales=-2",
    "--best-by",
    "return",
    "--set",
    "gamma=0.95,ent_coef=0,centralized_critic=true,agent_id=true,init_action_std=0.15,learning_rate=0.001",
]
"""Training of the stores around the tuned rules (the scenario and ``--action`` come first): on
the cost plus a surcharge of 2 per lost sale (a service target's shadow price, as ``--min-fill``
is the rules'), the best checkpoint by that reward on replications 0..99."""
HMARL_SPREAD = 40
"""The learned deviation from the tuned base-stock level: ``[-40, 40]`` units."""
HMARL_MIN_FILL = 0.992
"""The service target of the constrained comparison (above the unconstrained rules' fill rate)."""
HMARL_TUNING = 100
"""Replications per candidate of the joint searches (0..99). With 10, the tuned rules cost 1.4
per period more on other replications (200..299): tuning on few draws fits their noise."""
HMARL_SEEDS = (0, 1, 2)
"""Training seeds of the stores around the rules tuned at the fill target."""
HMARL_TEST = 1000
"""First held-out evaluation replication (tuning used 0..99, training 10,000.., the choice of
settings 200..399)."""
STORES = ["store_1", "store_2", "store_3"]


def residual_action(tuned_file: Path) -> str:
    """``order_up_to`` around the tuned base-stock level of each store in ``tuned_file``."""
    scenario = load_scenario(tuned_file)
    (entry,) = [a for a in scenario.agents if a.kind == "base_stock"]
    levels = entry.params["base_stock_level"]
    centre = ", ".join(f"{n}: {levels[n]:g}" for n in STORES)
    return f"order_up_to:low=-{HMARL_SPREAD},high={HMARL_SPREAD},centre={{{centre}}}"


def _tune(argv: list[str]) -> None:
    from twin.tune import main

    code = main(argv)
    if code != 0:
        raise SystemExit(f"tuning failed ({code}): python -m twin.tune {' '.join(argv)}")


def _runs(scenario: Any, replications: range) -> dict[str, list[float]]:
    """Per replication: network cost per period and customer fill rate after the warm-up."""
    from reconciliation.kpis import compute_kpis, ledger_frame
    from reconciliation.report import customer_nodes

    cost, fill = [], []
    for r in replications:
        kpis = compute_kpis(
            ledger_frame([Simulation(scenario, replication=r).run()]),
            scenario.warmup_periods,
            customer_nodes=customer_nodes(scenario),
        )
        cost.append(kpis["network"]["cost_per_period"]["mean"])
        fill.append(kpis["network"]["fill_rate"]["mean"])
    return {"cost": cost, "fill": fill}


def _joint_tune(scenario: str, out: Path, quick: bool, extra: list[str]) -> None:
    _tune(
        [
            scenario,
            "--target",
            "store=base_stock",
            "--target",
            "warehouse_1=s_S",
            "--target",
            "supplier_1=s_S",
            "--replications",
            "2" if quick else str(HMARL_TUNING),
            "--budget",
            "20" if quick else "400",
            "--engine",
            "vector",
            *extra,
            "--out",
            str(out),
            "--overwrite",
            "--quiet",
        ]
    )


def _paired(learned: dict[str, list[float]], baseline: dict[str, list[float]]) -> str:
    diff = [x - y for x, y in zip(learned["cost"], baseline["cost"], strict=True)]
    dfill = [x - y for x, y in zip(learned["fill"], baseline["fill"], strict=True)]
    m, h = ci95(diff)
    mf, hf = ci95(dfill)
    return (
        f"cost {m:+.2f} [{m - h:.2f}, {m + h:.2f}] per period, fill rate "
        f"{mf:+.4f} [{mf - hf:.4f}, {mf + hf:.4f}] (paired by replication, 95 %)"
    )


def bench_hmarl(work: Path, quick: bool, replications: int) -> None:
    """Learned stores around the strongest tuned rules, against those rules.

    Baselines (twin.tune): (a) the README's (s,S) warehouse; (b) base stock at the stores and
    (s,S) at the warehouse and the supplier, tuned jointly (:data:`HMARL_TUNING` replications, the
    vector twin); (c) the same, tuned at the service target ``--min-fill`` :data:`HMARL_MIN_FILL`.
    The learned stores start at the tuned base-stock levels of (b) (seed 0) and of (c) (seeds
    :data:`HMARL_SEEDS`), a rule-relative action (``centre``), with the warehouse and the supplier
    on those tuned rules, and learn state-dependent deviations (:data:`HMARL_TRAIN`). Evaluated as
    twin runs on ``replications`` held-out replications from :data:`HMARL_TEST`, common random
    numbers, paired 95 % intervals of the cost and fill-rate differences."""
    tuned_file, joint_file = work / "hmarl_3store.tuned.yaml", work / "hmarl_3store.joint.yaml"
    service_file = work / "hmarl_3store.joint-fill.yaml"
    scenario = "scenarios/hmarl_3store.yaml"
    _tune(
        [
            scenario,
            "--target",
            "warehouse_1",
            "--kind",
            "s_S",
            "--out",
            str(tuned_file),
            "--overwrite",
            "--quiet",
        ]
    )
    _joint_tune(scenario, joint_file, quick, [])
    _joint_tune(scenario, service_file, quick, ["--min-fill", str(HMARL_MIN_FILL)])
    service = f"(c) tuned jointly, fill >= {HMARL_MIN_FILL}"
    runs = {"learned around (b), seed 0": (joint_file, 0, work / "hmarl-residual")}
    for seed in HMARL_SEEDS[:1] if quick else HMARL_SEEDS:
        out = work / f"hmarl-residual-fill-{seed}"
        runs[f"learned around (c), seed {seed}"] = (service_file, seed, out)
    start = time.perf_counter()
    for name, (rules, seed, out) in runs.items():
        argv = [str(rules), "--action", residual_action(rules), *HMARL_TRAIN]
        argv += ["--seed", str(seed), "--out", str(out), "--quiet"]
        if quick:
            argv += ["--timesteps", "30000", "--periods", "60", "--eval-replications", "2"]
        print(f"(3) {name}: python -m twin.train {' '.join(argv)}")
        _train(argv)
    wall = time.perf_counter() - start
    cases = {
        "(a) tuned (s,S) warehouse": load_scenario(tuned_file),
        "(b) tuned jointly": load_scenario(joint_file),
        service: load_scenario(service_file),
    }
    for name, (rules, _, out) in runs.items():
        policy = {"checkpoint": str(out / "policy.pt")}
        cases[name] = edit(load_scenario(rules), assign(STORES, "ppo", policy))
    if quick:
        cases = {k: edit(v, "periods=60", "warmup_periods=10") for k, v in cases.items()}
    reps = range(HMARL_TEST, HMARL_TEST + (2 if quick else replications))
    stats = {name: _runs(s, reps) for name, s in cases.items()}
    for name, st in stats.items():
        c, f = ci95(st["cost"]), ci95(st["fill"])
        print(
            f"(3) hmarl_3store {name}: cost {c[0]:.2f} +- {c[1]:.2f} per period, fill rate "
            f"{f[0]:.4f} +- {f[1]:.4f} (mean +- 95 % CI over replications {reps.start}..{reps.stop - 1})"
        )
    around_b, *around_c = runs
    pairs = [(around_b, "(a) tuned (s,S) warehouse"), (around_b, "(b) tuned jointly")]
    pairs += [(name, service) for name in around_c]
    for learned, baseline in pairs:
        print(f"(3) {learned} - {baseline}: {_paired(stats[learned], stats[baseline])}")
    print(f"(3) training {wall / 60:.1f} min ({len(runs)} runs)")


# --------------------------------------------------------------------------------------------------
# 4. speed


def bench_speed(quick: bool) -> None:
    """PPO on serial_3stage: the old path (4 event-twin environments x 256 steps, 10 epochs of 4
    minibatches, tanh), the vector twin with the library's defaults (256 rows x 64 steps, 4 epochs
    of 32 minibatches, ReLU), and the vector twin with the hyper-parameters of the serial
    benchmark's command (``SERIAL_COMMAND``, the README's): the critic's half of each update on a
    second thread where timing says it pays (the default), never, and always; each timed for the
    same wall-clock budget in this process."""
    import torch

    from agents.ppo.trainer import Args, PPOTrainer
    from agents.ppo.vec import make_vec
    from twin.rl.batched import make_batched
    from twin.rl.env import parallel_env
    from twin.rl.options import parse_hyper_parameters

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    scenario = load_scenario(ROOT / "scenarios" / "serial_3stage.yaml")
    options = {
        "targets": ["stage1", "stage2", "stage3"],
        "observation": "default",
        "action": "order_up_to:low=0,high=30",
    }
    budget = 10.0 if quick else 60.0
    common = {"gamma": 0.95, "ent_coef": 0.0, "centralized_critic": True, "agent_id": True}
    old = Args(
        num_envs=4, num_steps=256, update_epochs=10, num_minibatches=4, activation="tanh", **common
    )
    defaults = Args(**common)
    sets = [SERIAL_COMMAND[i + 1] for i, a in enumerate(SERIAL_COMMAND) if a == "--set"]
    serial = Args(**parse_hyper_parameters(sets, "ppo", seed=1, timesteps=Args.total_timesteps))

    def rate(make: Any, args: Any, label: str, *, second_thread: bool | None = None) -> float:
        envs = make(args.num_envs)
        trainer = PPOTrainer(envs, args, critic_thread=second_thread)
        trainer.iteration()  # warm-up (first allocations)
        start, steps, rollout = time.perf_counter(), trainer.global_step, 0.0
        while time.perf_counter() - start < budget:
            rollout += trainer.iteration()["rollout_seconds"]
        seconds = time.perf_counter() - start
        per_second = (trainer.global_step - steps) / seconds
        print(
            f"(4) {label}: {per_second:,.0f} environment steps/s ({3 * per_second:,.0f} agent "
            f"decisions/s); collecting {100 * rollout / seconds:.0f} % of the time, learning the rest",
            flush=True,
        )
        return per_second

    def event(n: int) -> Any:
        return make_vec(lambda: parallel_env(scenario, **options), n)

    def vector(n: int) -> Any:
        return make_batched(scenario, n, **options)[0]

    def settings(args: Any) -> str:
        return (
            f"{args.num_envs} rows x {args.num_steps} steps, {args.update_epochs} epochs of "
            f"{args.num_minibatches} minibatches, {args.activation}"
        )

    a = rate(event, old, "event twin, 4 environments x 256 steps, 10 epochs of 4 minibatches, tanh")
    b = rate(vector, defaults, f"vector twin, the defaults ({settings(defaults)})")
    c = rate(vector, serial, f"vector twin, the serial command ({settings(serial)})")
    d = rate(vector, serial, "vector twin, the serial command, one thread", second_thread=False)
    e = rate(
        vector,
        serial,
        "vector twin, the serial command, critic always on a second thread",
        second_thread=True,
    )
    print(
        f"(4) ratios in this run: vector (defaults) / event {b / a:.1f}x; the serial command "
        f"{c / a:.1f}x; the critic's thread as timing says / never {c / d:.2f}x, always / never "
        f"{e / d:.2f}x"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("which", choices=("serial", "liu", "hmarl", "speed"))
    p.add_argument("--quick", action="store_true", help="tiny budgets: a sanity run")
    p.add_argument("--out", help="keep the training folders here (default: a temporary folder)")
    p.add_argument("--replications", type=int, default=500, help="evaluation replications (hmarl)")
    args = p.parse_args()
    os.chdir(ROOT)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.out or tmp)
        work.mkdir(parents=True, exist_ok=True)
        if args.which == "serial":
            bench_serial(work, args.quick)
        elif args.which == "speed":
            bench_speed(args.quick)
        elif args.which == "liu":
            bench_liu(work, args.quick)
        elif args.which == "hmarl":
            bench_hmarl(work, args.quick, args.replications)
        else:
            raise SystemExit(f"{args.which}: not written yet")


if __name__ == "__main__":
    main()
