"""``python -m twin.run``: the run folder, atomic writes, refusals, one-line errors with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from reconciliation.ledger import LEDGER_COLUMNS
from reconciliation.report import EVENT_COLUMNS, RUN_FILES, run_files
from twin.run import main

REPO = Path(__file__).resolve().parents[1]
HMARL = REPO / "scenarios" / "hmarl_3store.yaml"
FAST = ["--periods", "40", "--warmup", "5", "--replications", "2"]


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".tmp-" in p.name or ".old-" in p.name)


@pytest.fixture(scope="module")
def subprocess_run(tmp_path_factory) -> Path:
    """The CLI as users run it: a separate process, checked."""
    out = tmp_path_factory.mktemp("cli") / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "twin.run",
            "scenarios/hmarl_3store.yaml",
            "--periods",
            "40",
            "--replications",
            "2",
            "--csv",
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "network cost per period:" in done.stdout
    assert f"run folder: {out}" in done.stdout
    return out


def test_run_folder_contents(subprocess_run):
    out = subprocess_run
    assert sorted(p.name for p in out.iterdir()) == sorted(run_files(csv=True))
    assert set(RUN_FILES) | {"ledger.csv", "events.csv"} == set(run_files(csv=True))
    assert leftovers(out.parent) == []
    for name in ("network.svg", "inventory.svg", "orders_vs_demand.svg", "cost_breakdown.svg"):
        assert (out / name).read_text().startswith("<svg xmlns=")
    assert (out / "report.html").read_text().startswith("<!doctype html>")


def test_summary_json(subprocess_run):
    summary = json.loads((subprocess_run / "summary.json").read_text())
    assert (summary["scenario"], summary["seed"], summary["periods"]) == ("hmarl_3store", 7, 40)
    assert summary["warmup_periods"] == 30 and summary["replications"] == 2
    cost = summary["kpis"]["network"]["cost_per_period"]
    assert cost["mean"] > 0 and cost["se"] >= 0
    assert set(summary["kpis"]["tiers"]) == {"store", "warehouse", "supplier"}
    assert 0 <= summary["kpis"]["nodes"]["store_1"]["fill_rate"]["mean"] <= 1
    assert {"python", "numpy", "simpy"} <= set(summary["versions"])


def test_ledger_csv_and_parquet_agree(subprocess_run):
    csv = pd.read_csv(subprocess_run / "ledger.csv")
    parquet = pd.read_parquet(subprocess_run / "ledger.parquet")
    assert list(csv.columns) == ["replication", *LEDGER_COLUMNS]
    assert len(csv) == 2 * 40 * 5
    pd.testing.assert_frame_equal(csv, parquet, check_dtype=False, check_exact=True)


def test_resolved_scenario_and_events(subprocess_run):
    resolved = yaml.safe_load((subprocess_run / "scenario.resolved.yaml").read_text())
    assert resolved["periods"] == 40 and resolved["replications"] == 2
    assert resolved["nodes"][2]["demand"] == {"dist": "poisson", "mean": 40.0}
    events = pd.read_parquet(subprocess_run / "events.parquet")
    assert tuple(events.columns) == EVENT_COLUMNS
    pd.testing.assert_frame_equal(
        pd.read_csv(subprocess_run / "events.csv"), events, check_dtype=False, check_exact=True
    )
    assert (events["id"].to_numpy() == np.arange(1, len(events) + 1)).all()  # in the order they happened
    orders = events[events["kind"] == "order"]
    assert orders["lead_time"].isna().all() and (orders["lost"] == 0).all()
    assert set(events["kind"]) == {"order", "shipment"}
    shipments = events[events["kind"] == "shipment"]
    assert (shipments["due"] >= shipments["period"]).all()
    # The trace is replication 0's: its shipments match the ledger's receipts on the same lanes.
    ledger = pd.read_parquet(subprocess_run / "ledger.parquet")
    store_1 = ledger[(ledger["replication"] == 0) & (ledger["node"] == "store_1")]
    arrived = shipments[(shipments["lane"] == "warehouse_1->store_1") & (shipments["due"] < 40)]
    assert np.isclose(arrived["quantity"].sum(), store_1["receipts"].sum())


def test_default_folder_has_parquet_tables_and_plots_and_no_plots_leaves_them_out(tmp_path, capsys):
    code, _, err = run_cli(capsys, HMARL, *FAST, "--out", tmp_path / "default", "--quiet")
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "default").iterdir()) == sorted(RUN_FILES)
    code, _, err = run_cli(capsys, HMARL, *FAST, "--out", tmp_path / "bare", "--quiet", "--no-plots")
    assert code == 0, err
    names = sorted(p.name for p in (tmp_path / "bare").iterdir())
    assert names == sorted(run_files(plots=False)) and not any(n.endswith(".svg") for n in names)
    for name in ("summary.json", "ledger.parquet", "events.parquet", "scenario.resolved.yaml"):
        assert (tmp_path / "bare" / name).read_bytes() == (tmp_path / "default" / name).read_bytes()


def test_prints_table_and_no_progress_bar_off_a_terminal(tmp_path, capsys):
    code, out, err = run_cli(capsys, HMARL, *FAST, "--out", tmp_path / "run")
    assert code == 0, err
    for word in (
        "tier",
        "cost/period ± se",
        "store",
        "warehouse",
        "supplier",
        "network",
        "network cost per period:",
        f"run folder: {tmp_path / 'run'}",
    ):
        assert word in out
    assert err == ""  # stderr is not a terminal here: no progress bar (tests/test_run_report.py)
    code, out, err = run_cli(capsys, HMARL, *FAST, "--out", tmp_path / "quiet", "--quiet")
    assert code == 0 and out == f"run folder: {tmp_path / 'quiet'}\n" and err == ""


def test_default_out_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, _ = run_cli(capsys, HMARL, "--periods", "35", "--replications", "1", "--quiet")
    assert code == 0
    (folder,) = (tmp_path / "runs").iterdir()
    assert folder.name.startswith("hmarl_3store-") and len(folder.name) == len(
        "hmarl_3store-YYYYmmdd-HHMMSS"
    )
    assert (folder / "summary.json").is_file()


def test_existing_out_is_refused_and_overwrite_replaces_it(tmp_path, capsys):
    out = tmp_path / "run"
    code, _, err = run_cli(capsys, HMARL, *FAST, "--out", out, "--quiet")
    assert code == 0, err
    before = snapshot(out)
    code, stdout, err = run_cli(capsys, HMARL, *FAST, "--out", out, "--seed", "8")
    assert code == 2 and stdout == ""
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "already exists" in err and "--overwrite" in err
    assert snapshot(out) == before  # untouched

    code, _, err = run_cli(capsys, HMARL, *FAST, "--out", out, "--seed", "8", "--overwrite", "--quiet")
    assert code == 0, err
    assert json.loads((out / "summary.json").read_text())["seed"] == 8
    assert sorted(p.name for p in out.iterdir()) == sorted(RUN_FILES)
    assert leftovers(tmp_path) == []


def test_a_failed_write_leaves_no_folder_and_keeps_the_old_run(tmp_path, capsys, monkeypatch):
    import reconciliation.run_report as run_report

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    out = tmp_path / "run"
    code, _, _ = run_cli(capsys, HMARL, *FAST, "--out", out, "--quiet")
    assert code == 0
    before = snapshot(out)
    monkeypatch.setattr(run_report, "render_report", disk_full)  # the last file written
    code, _, err = run_cli(capsys, HMARL, *FAST, "--out", out, "--overwrite", "--seed", "9", "--quiet")
    assert code == 1 and err == "error: [Errno 28] No space left on device\n"
    assert snapshot(out) == before
    code, _, err = run_cli(capsys, HMARL, *FAST, "--out", tmp_path / "new" / "run", "--quiet")
    assert code == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # not even the parent 'new'


def test_overwrite_never_deletes_a_folder_that_is_not_a_run(tmp_path, capsys):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("do not delete")
    code, _, err = run_cli(capsys, HMARL, *FAST, "--out", precious, "--overwrite")
    assert code == 2 and "not a run folder" in err and err.count("\n") == 1
    assert (precious / "chapter1.tex").read_text() == "do not delete"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]


# --------------------------------------------------------------------------------------------------
# Bad inputs: one line on stderr naming the file and the YAML path, exit 2, no run folder.


def _edit_lane(d):
    d["lanes"][1]["to"] = "store-1"


def _cycle(d):
    d["lanes"].append({"from": "store_1", "to": "warehouse_1", "lead_time": 1})


BAD_EDITS = {
    "unknown key": (lambda d: d.update(colour="red"), "colour: unknown key"),
    "unknown node in lane": (
        _edit_lane,
        "lanes[1].to: 'store-1' is not a node; did you mean 'store_1'?",
    ),
    "cycle": (_cycle, "lanes: cycle"),
    "negative cost": (
        lambda d: d["nodes"][2].update(holding_cost=-1),
        "nodes[2].holding_cost: Input should be greater than or equal to 0",
    ),
    "bad distribution parameter": (
        lambda d: d["nodes"][3].update(demand={"dist": "poisson", "mean": -3}),
        "nodes[3].demand: poisson: mean must be a finite number >= 0, got -3",
    ),
}


def _assert_clean_failure(code: int, out: str, err: str, tmp_path: Path, *fragments: str) -> None:
    assert code == 2
    assert out == ""
    assert err.startswith("error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("case", list(BAD_EDITS))
def test_bad_scenario_gives_one_line_and_exit_2(case, tmp_path, capsys):
    edit, expected = BAD_EDITS[case]
    data = yaml.safe_load(HMARL.read_text())
    edit(data)
    path = tmp_path / "variant.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    code, out, err = run_cli(capsys, path, *FAST, "--out", tmp_path / "out")
    _assert_clean_failure(code, out, err, tmp_path, f"{path}: ", expected)


def test_yaml_syntax_error(tmp_path, capsys):
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\nnodes: [\n  {id: a, kind: store\n")
    code, out, err = run_cli(capsys, path, "--out", tmp_path / "out")
    _assert_clean_failure(code, out, err, tmp_path, f"{path}: YAML syntax error at line ")


def test_missing_file(tmp_path, capsys):
    path = tmp_path / "nope.yaml"
    code, out, err = run_cli(capsys, path, "--out", tmp_path / "out")
    _assert_clean_failure(code, out, err, tmp_path, f"{path}: no such scenario file")


@pytest.mark.parametrize(
    "agent, expected",
    [
        (
            "store_1=s_SS:s=100,S=200",
            "--agent 'store_1=s_SS:s=100,S=200': unknown agent kind 's_SS'; did you mean 's_S'",
        ),
        (
            "store-1=s_S:s=100,S=200",
            "--agent 'store-1=s_S:s=100,S=200': 'store-1' is not a node or tier; did you mean 'store_1'?",
        ),
        ("store_1", "--agent 'store_1': expected TARGET=KIND[:key=value,...]"),
        ("warehouse_1=s_S:s=100", ".params: s_S:"),
    ],
)
def test_bad_agent_override(agent, expected, tmp_path, capsys):
    code, out, err = run_cli(capsys, HMARL, *FAST, "--agent", agent, "--out", tmp_path / "out")
    _assert_clean_failure(code, out, err, tmp_path, f"{HMARL}: ", expected)


def test_bad_override_value(tmp_path, capsys):
    code, out, err = run_cli(capsys, HMARL, "--periods", "0", "--out", tmp_path / "out")
    _assert_clean_failure(code, out, err, tmp_path, f"{HMARL}: periods: ")


# --------------------------------------------------------------------------------------------------
# --agent: the override decides for its target only.


def _ledger_of_run(capsys, scenario: Path, out: Path, *args: str) -> pd.DataFrame:
    code, _, err = run_cli(
        capsys,
        scenario,
        "--periods",
        "60",
        "--warmup",
        "10",
        "--replications",
        "1",
        "--quiet",
        "--out",
        out,
        *args,
    )
    assert code == 0, err
    return pd.read_parquet(out / "ledger.parquet").set_index(["node", "period"])


def _split_store_agents(tmp_path: Path) -> Path:
    """hmarl_3store with store_1 decided by its own agent entry (same policy, same levels)."""
    data = yaml.safe_load(HMARL.read_text())
    data["agents"][0:1] = [
        {"nodes": ["store_1"], "kind": "base_stock", "params": {"base_stock_level": 130}},
        {
            "nodes": ["store_2", "store_3"],
            "kind": "base_stock",
            "params": {"base_stock_level": {"store_2": 190, "store_3": 250}},
        },
    ]
    path = tmp_path / "hmarl_split.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _check_override_laws(base: pd.DataFrame, variant: pd.DataFrame) -> None:
    # Common random numbers: every store sees the same customer demand.
    for store in ("store_1", "store_2", "store_3"):
        assert base.loc[store, "demand"].equals(variant.loc[store, "demand"])
    assert not base.loc["store_1", "ordered"].equals(variant.loc["store_1", "ordered"])
    # store_1 follows (s, S) = (100, 200): an order lifts its inventory position to S, and no
    # order is placed while the position is above s. Stores have lost sales: no backorders.
    s1 = variant.loc["store_1"]
    position = s1["closing_on_hand"] + s1["on_order"] - s1["backorders"]
    ordered = s1["ordered"] > 0
    assert ordered.any()
    assert np.allclose(position[ordered], 200.0)
    assert (position[~ordered] > 100.0).all()
    # The other stores still follow their base-stock levels.
    for store, level in (("store_2", 190.0), ("store_3", 250.0)):
        r = variant.loc[store]
        position = r["closing_on_hand"] + r["on_order"] - r["backorders"]
        assert np.allclose(position[r["ordered"] > 0], level)
        assert (position >= level - 1e-9).all()


def test_agent_override_changes_only_the_target(tmp_path, capsys):
    scenario = _split_store_agents(tmp_path)
    base = _ledger_of_run(capsys, scenario, tmp_path / "base")
    variant = _ledger_of_run(
        capsys, scenario, tmp_path / "variant", "--agent", "store_1=s_S:s=100,S=200"
    )
    _check_override_laws(base, variant)


def test_agent_override_on_the_shipped_scenario(tmp_path, capsys):
    base = _ledger_of_run(capsys, HMARL, tmp_path / "base")
    variant = _ledger_of_run(capsys, HMARL, tmp_path / "variant", "--agent", "store_1=s_S:s=100,S=200")
    _check_override_laws(base, variant)


_NO_PANDAS = """
import sys
from twin.run import main
code = main(["scenarios/hmarl_3store.yaml", "--periods", "40", "--replications", "2", "--csv",
             "--out", sys.argv[1], "--quiet"])
assert code == 0, code
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("pandas", "scipy"))
assert not loaded, f"the run imported {loaded[:5]}"
print("ok")
"""


def test_a_run_never_imports_pandas_or_scipy(tmp_path):
    """KPIs come from the ledger's columns in NumPy and tables are written by pyarrow: the run
    path stays clear of pandas (about 90 MB) and scipy."""
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run(
        [sys.executable, "-c", _NO_PANDAS, str(tmp_path / "run")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and out.stdout.splitlines()[-1] == "ok", out.stderr[-2000:]
    assert (tmp_path / "run" / "ledger.csv").is_file()


def test_the_resolved_scenario_is_written_a_piece_at_a_time_as_safe_dump_writes_it_whole():
    import io

    from reconciliation.report import dump_yaml
    from twin.run import resolve_scenario

    for path in sorted((REPO / "scenarios").glob("*.yaml")):
        data = resolve_scenario(path).to_yaml_dict()
        pieces = io.StringIO()
        dump_yaml(data, pieces, chunk=2)
        assert pieces.getvalue() == yaml.safe_dump(data, sort_keys=False, allow_unicode=True), path
