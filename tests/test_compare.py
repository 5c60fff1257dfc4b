"""What-if studies (``python -m twin.compare``): common random numbers, paired intervals, executors
that do not change results, resume, failure isolation, override errors, sweeps, report files.

Studies here are short (40 periods, a few replications) and skip the plots except in one test.
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import twin.studies.executors
from agents import registry
from agents.base import order
from twin.compare import main
from twin.scenario.edit import edit_data, split_overrides
from twin.studies.paired import BETTER, SAME, WORSE, t_interval, verdict

REPO = Path(__file__).resolve().parents[1]
HMARL = str(REPO / "scenarios" / "hmarl_3store.yaml")
FAST = ["--periods", "40", "--warmup", "5", "--no-plots", "--quiet"]
STUDY = [
    HMARL,
    "--variant",
    "sS=agents.warehouse_1=s_S:s=522,S=534",
    "--variant",
    "bs=agents.warehouse_1=base_stock:base_stock_level=600",
    "--replications",
    "3",
    *FAST,
]
STORES = ["store_1", "store_2", "store_3"]


def study(out: Path, *args: str) -> int:
    return main([*map(str, args), "--out", str(out)])


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """The reference study, run in this process (``--workers 1``)."""
    out = tmp_path_factory.mktemp("ref") / "study"
    assert study(out, *STUDY, "--workers", "1") == 0
    return out


class RaisingAgent:
    """Orders nothing, then raises from ``at_period`` on (a deliberately failing policy)."""

    def __init__(self, *, at_period: int = 3) -> None:
        self.at_period = at_period

    def reset(self, *, seed: int | None = None) -> None:
        pass

    def act(self, observations):
        for obs in observations.values():
            if obs.period >= self.at_period:
                raise RuntimeError(f"deliberate failure at period {obs.period}")
        return {node: order(obs, 0.0) for node, obs in observations.items()}


# --------------------------------------------------------------------------------------------------
# Common random numbers and paired differences.


def test_identical_variants_have_exactly_zero_differences(tmp_path):
    # The same policy restated through an override: other scenario data, the same model.
    same = "agents.warehouse_1=hmarl_warehouse:low_cover=3,target_cover=7,high_cover=14"
    assert (
        study(
            tmp_path / "s",
            HMARL,
            "--variant",
            f"same={same}",
            "--variant",
            "again=agents.warehouse_1.high_cover=14",
            "--replications",
            "3",
            "--workers",
            "1",
            *FAST,
        )
        == 0
    )
    table = pd.read_csv(tmp_path / "s" / "comparison.csv")
    variants = table[table["case"] != "baseline"]
    assert set(variants["case"]) == {"same", "again"}
    assert (variants["diff_n"] == 3).all()
    assert (variants["diff"] == 0.0).all()
    assert (variants["diff_ci_low"] == 0.0).all() and (variants["diff_ci_high"] == 0.0).all()
    assert set(variants["verdict"]) == {SAME}
    reps = pd.read_csv(tmp_path / "s" / "replications.csv")
    kpis = [c for c in reps.columns if c.startswith(("network.", "tiers.", "nodes."))]
    base = reps[reps["case"] == "baseline"][kpis].reset_index(drop=True)
    for name in ("same", "again"):
        pd.testing.assert_frame_equal(reps[reps["case"] == name][kpis].reset_index(drop=True), base)


def test_policies_see_the_same_customer_demand(reference):
    ledgers = {
        p.stem.split("-", 1)[1]: pd.read_parquet(p)
        for p in (reference / "trajectories").glob("*.parquet")
    }
    assert set(ledgers) == {"baseline", "sS", "bs"}
    stores = {k: v[v["node"].isin(STORES)].reset_index(drop=True) for k, v in ledgers.items()}
    assert stores["sS"]["demand"].sum() > 0
    pd.testing.assert_series_equal(stores["sS"]["demand"], stores["bs"]["demand"])
    pd.testing.assert_series_equal(stores["sS"]["demand"], stores["baseline"]["demand"])
    orders = {k: v.loc[v["node"] == "warehouse_1", "ordered"].to_numpy() for k, v in ledgers.items()}
    assert (orders["sS"] != orders["bs"]).any()  # the policies do differ


def test_comparison_table_statistics(reference):
    table = pd.read_csv(reference / "comparison.csv")
    reps = pd.read_csv(reference / "replications.csv")
    key = "network.cost_per_period"
    row = table[(table["kpi"] == key) & (table["case"] == "sS")].iloc[0]
    base = reps[reps["case"] == "baseline"].set_index("replication")[key]
    variant = reps[reps["case"] == "sS"].set_index("replication")[key]
    diffs = (variant - base).to_numpy()
    n, mean, half = t_interval(list(diffs))
    assert n == row["diff_n"] == 3
    assert math.isclose(row["diff"], diffs.mean(), rel_tol=1e-12)
    # t(0.975, 2) = 4.302653 (any t table)
    assert math.isclose(half, 4.302653 * diffs.std(ddof=1) / math.sqrt(3), rel_tol=1e-6)
    assert math.isclose(row["diff_ci_high"] - row["diff_ci_low"], 2 * half, rel_tol=1e-9)
    assert row["verdict"] == verdict("lower", row["diff_ci_low"], row["diff_ci_high"], 3)
    assert (table.loc[table["case"] == "baseline", "verdict"] == "baseline").all()
    summary = json.loads((reference / "summary.json").read_text())
    assert summary["kpis"][key]["cases"]["sS"]["diff_n"] == 3
    assert summary["failures"] == []


def test_verdict_directions():
    assert verdict("lower", -3.0, -1.0, 5) == BETTER
    assert verdict("lower", 1.0, 3.0, 5) == WORSE
    assert verdict("higher", 1.0, 3.0, 5) == BETTER
    assert verdict("higher", -1.0, 3.0, 5) == SAME
    assert verdict("lower", 0.0, 0.0, 5) == SAME
    assert t_interval([2.5, 2.5, 2.5]) == (3, 2.5, 0.0)


# --------------------------------------------------------------------------------------------------
# Executors do not change results.


def test_two_workers_give_identical_tables(reference, tmp_path):
    assert study(tmp_path / "w2", *STUDY, "--workers", "2") == 0
    for name in ("comparison.csv", "replications.csv"):
        assert (tmp_path / "w2" / name).read_bytes() == (reference / name).read_bytes()


def test_ray_gives_identical_tables(reference, tmp_path):
    pytest.importorskip("ray", reason='Ray is an optional extra: pip install -e ".[ray]"')
    assert study(tmp_path / "ray", *STUDY, "--executor", "ray", "--workers", "2") == 0
    for name in ("comparison.csv", "replications.csv"):
        assert (tmp_path / "ray" / name).read_bytes() == (reference / name).read_bytes()


def test_missing_ray_says_how_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    assert study(tmp_path / "x", *STUDY, "--executor", "ray") == 2
    err = capsys.readouterr().err
    assert 'pip install -e ".[ray]"' in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x").exists()


# --------------------------------------------------------------------------------------------------
# Resume and failures.


def test_resume_after_interruption_gives_the_same_table(reference, tmp_path, monkeypatch):
    real, calls = twin.studies.executors.run_task, []

    def interrupted(task):
        calls.append(task)
        if len(calls) > 4:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(twin.studies.executors, "run_task", interrupted)
    out = tmp_path / "study"
    assert study(out, *STUDY, "--workers", "1") == 130
    assert not (out / "summary.json").exists()
    assert len(list((out / "replications").rglob("r*.json"))) == 4
    monkeypatch.setattr(twin.studies.executors, "run_task", real)
    leftover = next((out / "replications").iterdir()) / "r0002.json.tmp-99999"
    leftover.write_text("{partial")  # a write cut short
    assert main(["--resume", str(out), "--workers", "2", "--quiet", "--no-plots"]) == 0
    assert not leftover.exists()
    assert (out / "comparison.csv").read_bytes() == (reference / "comparison.csv").read_bytes()


def test_resume_after_kill_gives_the_same_table(reference, tmp_path):
    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "twin.compare", *STUDY, "--workers", "1", "--out", str(out)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while len(list(out.glob("replications/*/r*.json"))) < 2 and proc.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "summary.json").exists(), "the study finished before it could be killed"
    assert main(["--resume", str(out), "--workers", "1", "--quiet", "--no-plots"]) == 0
    assert (out / "comparison.csv").read_bytes() == (reference / "comparison.csv").read_bytes()


def test_failing_variant_is_reported_and_the_rest_carry_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(registry._REGISTRY, "_raising_test_agent", RaisingAgent)
    out = tmp_path / "s"
    code = study(
        out,
        HMARL,
        "--variant",
        "broken=agents.warehouse_1=_raising_test_agent",
        "--variant",
        "sS=agents.warehouse_1=s_S:s=522,S=534",
        "--replications",
        "3",
        "--workers",
        "2",
        *FAST,
    )
    assert code == 3
    err = capsys.readouterr().err
    for r in range(3):
        assert (
            f"failed: broken replication {r} (seed 7): RuntimeError: deliberate failure at period 3"
        ) in err
    failures = pd.read_csv(out / "failures.csv")
    assert list(failures.columns) == ["case", "replication", "seed", "error"]
    assert failures["replication"].tolist() == [0, 1, 2]
    table = pd.read_csv(out / "comparison.csv")
    assert set(table["case"]) == {"baseline", "sS"}
    assert (table["n"] == 3).all()
    assert "RuntimeError" in (out / "failures.log").read_text()
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["failures"]) == 3


# --------------------------------------------------------------------------------------------------
# Bad input: one line, exit 2, nothing written.


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--variant", "x=nodes.store_9.capacity=4"], "'store_9' is not a node; did you mean"),
        (
            ["--variant", "x=lanes[supplier_1->warehouse1].lead_time=2"],
            "did you mean 'supplier_1->warehouse_1'?",
        ),
        (["--variant", "x=nodes.store_1.holding_cst=1"], "did you mean 'holding_cost'?"),
        (["--variant", "x=perods=30"], "did you mean 'periods'?"),
        (["--variant", "x=nodes.store_1.holding_cost=-1"], "nodes[2].holding_cost"),
        (["--variant", "x=agents.warehouse_1=s_SS:s=1,S=2"], "did you mean 's_S'?"),
        (["--variant", "x=agents.warehouse_1=s_S:s=600,S=100"], "S must be >= s"),
        (
            ["--variant", "x=lanes[supplier_1->warehouse_1].lead_time.mean=3"],
            "uniform_int has no parameter 'mean'",
        ),
        (["--variant", "x=seed=3"], "use --seed"),
        (["--variant", "baseline=periods=30"], "'baseline' is the unmodified scenario"),
        (["--variant", "x=scenario=nope.yaml"], "nope.yaml: no such scenario file"),
        (["--sweep", "nodes.store_1.holding_cost=1,1"], "given more than once"),
        (["--workers", "0"], "--workers must be >= 1"),
    ],
)
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, args, expected):
    out = tmp_path / "never"
    assert study(out, HMARL, *args, *FAST) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert expected in err
    assert not out.exists()


def test_bad_study_file_names_the_key(tmp_path, capsys):
    path = tmp_path / "study.yaml"
    path.write_text(f"scenario: {HMARL}\nreplication: 3\n")
    assert study(tmp_path / "never", path, *FAST) == 2
    assert "study.yaml: replication: unknown key" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_existing_folder_is_refused(reference, capsys):
    assert study(reference, *STUDY) == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([HMARL, "--address", "host:1"], "--address is for --executor ray"),
        ([HMARL, "--as-of", "2024-01-01"], "--as-of 2024-01-01: give the stored state with --state"),
        (["--quiet"], "give a scenario or study file, or --resume DIR"),
        (["--resume", "{ref}", "--state", "x.db"], "leave out --state"),
        (["--resume", "{ref}", "--out", "{ref}-2"], "give either --out or --resume"),
        (["--resume", "{ref}", "--periods", "50"], "--periods would change it (start a new --out)"),
        (["--resume", "{ref}", "--replications", "0"], "--replications must be >= 1, got 0"),
        (
            ["--resume", "{ref}", HMARL, "--replications", "3", *FAST],
            "the study given differs from the one in study.json",
        ),
    ],
)
def test_options_that_do_not_go_together_exit_2_with_one_line(reference, capsys, args, expected):
    before = sorted(p.relative_to(reference) for p in reference.rglob("*"))
    assert main([a.format(ref=reference) for a in args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and len(err.splitlines()) == 1, err
    assert expected in err
    assert sorted(p.relative_to(reference) for p in reference.rglob("*")) == before
    assert not Path(f"{reference}-2").exists()


# --------------------------------------------------------------------------------------------------
# Overrides and sweeps.


def test_override_grammar():
    assert split_overrides(
        "agents.W1=s_S:s=600,S=1500;lanes[A->B].lead_time={dist: poisson, mean: 3},periods=90"
    ) == ["agents.W1=s_S:s=600,S=1500", "lanes[A->B].lead_time={dist: poisson, mean: 3}", "periods=90"]
    from twin.scenario import read_yaml

    data = read_yaml(HMARL)
    out, _ = edit_data(data, ["agents.store.base_stock_level.store_1=140"])
    stores = next(a for a in out["agents"] if a.get("tier") == "store")
    assert stores["params"]["base_stock_level"] == {"store_1": 140, "store_2": 190, "store_3": 250}
    out, _ = edit_data(data, ["nodes.store_2.demand.mean=65"])
    assert out["nodes"][3]["demand"] == {"dist": "poisson", "mean": 65}
    assert data["nodes"][3]["demand"]["mean"] == 60  # the input is not modified


def test_sweep_grid_tidy_table_plots_and_report(tmp_path):
    path = tmp_path / "study.yaml"
    path.write_text(
        f"scenario: {HMARL}\nreplications: 2\nperiods: 40\nwarmup_periods: 5\n"
        "variants:\n  sS: [agents.warehouse_1=s_S:s=522,S=534]\n"
        "sweeps:\n  lanes[supplier_1->warehouse_1].lead_time.high: [4, 6]\n"
        "  agents.store.base_stock_level: [200, 250]\n"
    )
    out = tmp_path / "s"
    assert main([str(path), "--workers", "2", "--quiet", "--out", str(out)]) == 0
    sweep = pd.read_csv(out / "sweep.csv")
    paths = ["lanes[supplier_1->warehouse_1].lead_time.high", "agents.store.base_stock_level"]
    assert len(sweep) == 2 * (2 * 2) * 2  # variants x grid points x replications
    assert list(sweep.columns[:6]) == ["case", "variant", *paths, "replication", "seed"]
    assert sweep.groupby(["variant", *paths]).size().eq(2).all()
    table = pd.read_csv(out / "comparison.csv")
    assert table["case"].nunique() == 2 + 2 * 4  # unswept baseline and variant, then the grid
    for name in ("kpi_bars.png", "cost_by_tier.png", "trajectories.png", "sweep.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = (out / "report.html").read_text()
    assert html.count("src='data:image/png;base64,") == 4
    assert "http://" not in html and "https://" not in html
