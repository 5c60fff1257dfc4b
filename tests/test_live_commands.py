"""The commands of a running supply chain, as a user runs them (subprocesses, as in the README):
the sample generator, ``twin.calibrate``, ``twin.backtest``, ``twin.run --state --as-of
--write-back`` and ``twin.compare --state``; bad input is one line ``error: ...``, exit status 2,
nothing written.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml

from twin import load_scenario

ROOT = Path(__file__).resolve().parents[1]
SMALL = ["--stores", "8", "--warehouses", "2", "--days", "90", "--seed", "3"]


def twin(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``sample.db`` (90 days of 8 stores) and ``truth.yaml``, its true network."""
    folder = tmp_path_factory.mktemp("live")
    out = twin(
        "twin.live.sample", "--out", "sample.db", "--scenario-out", "truth.yaml", *SMALL, cwd=folder
    )
    assert out.returncode == 0, out.stderr
    assert "states as of 2024-01-01 and 2024-03-31" in out.stdout
    return folder


def _one_error_line(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 2, (out.stdout, out.stderr)
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    return lines[0]


def test_calibrate_writes_a_scenario_that_runs_and_a_report(sample: Path) -> None:
    out = twin(
        "twin.calibrate",
        "--history",
        "sample.db",
        "--scenario",
        "truth.yaml",
        "--out",
        "calibrated.yaml",
        cwd=sample,
    )
    assert out.returncode == 0, out.stderr
    assert "calibrated 8 node(s) and 10 lane(s) on 90 periods (2024-01-01 .. 2024-03-30)" in out.stdout
    report = json.loads((sample / "calibrated.report.json").read_text())
    assert set(report["nodes"]) == {f"ST{i:03d}" for i in range(1, 9)}
    assert {"ks_p_value", "aic_by_model", "effect_tests", "demand"} <= set(report["nodes"]["ST001"])
    assert {"chi2_p_value", "bic_by_family", "lead_time"} <= set(report["lanes"]["WH01->ST001"])
    calibrated = load_scenario(sample / "calibrated.yaml")
    assert calibrated.node_map["ST001"].demand.to_spec() == report["nodes"]["ST001"]["demand"]
    run = twin(
        "twin.run", "calibrated.yaml", "--periods", "20", "--out", "cal-run", "--quiet", cwd=sample
    )
    assert run.returncode == 0, run.stderr

    again = twin("twin.calibrate", "--history", "sample.db", "--out", "calibrated.yaml", cwd=sample)
    assert _one_error_line(again) == (
        "error: calibrated.yaml already exists; choose another file or pass --overwrite"
    )
    sections = twin(
        "twin.calibrate",
        "--history",
        "sample.db",
        "--out",
        "sections.yaml",
        "--lead-times",
        "empirical",
        "--quiet",
        cwd=sample,
    )
    assert sections.returncode == 0, sections.stderr
    data = yaml.safe_load((sample / "sections.yaml").read_text())
    assert set(data) == {"nodes", "lanes"}
    assert {ln["lead_time"]["dist"] for ln in data["lanes"]} <= {"empirical", "constant"}


def test_backtest_reproduces_the_records_and_compares_a_policy(sample: Path) -> None:
    out = twin(
        "twin.backtest",
        "truth.yaml",
        "--history",
        "sample.db",
        "--agent",
        "store=s_S:s=30,S=90",
        "--out",
        "bt",
        cwd=sample,
    )
    assert out.returncode == 0, out.stderr
    assert "from the state as of 2024-01-01: 2970 recorded values checked, 0 discrepancies" in out.stdout
    summary = json.loads((sample / "bt" / "summary.json").read_text())
    assert summary["discrepancies"] == 0 and summary["checked"] == 90 * 11 * 3
    comparison = pd.read_csv(sample / "bt" / "comparison.csv")
    cost = comparison.set_index("kpi").loc["network.cost_per_period"]
    assert cost["difference"] == pytest.approx(cost["policy"] - cost["recorded"])
    assert {"replay.parquet", "policy.parquet", "discrepancies.csv"} <= {
        p.name for p in (sample / "bt").iterdir()
    }


def test_a_rolling_what_if_from_today_and_its_write_back(sample: Path) -> None:
    run = twin(
        "twin.run",
        "truth.yaml",
        "--state",
        "sample.db",
        "--as-of",
        "2024-03-31",
        "--periods",
        "14",
        "--replications",
        "2",
        "--out",
        "today",
        "--write-back",
        "results.db",
        "--quiet",
        cwd=sample,
    )
    assert run.returncode == 0, run.stderr
    ledger = pd.read_parquet(sample / "today" / "ledger.parquet")
    first = ledger[(ledger.period == 0) & (ledger.replication == 0)].set_index("node")
    engine = sa.create_engine(f"sqlite:///{sample / 'sample.db'}")
    with engine.connect() as conn:
        stock = dict(
            conn.execute(sa.text("SELECT node, on_hand FROM stock WHERE as_of = '2024-03-31'")).all()
        )
    engine.dispose()
    for node, on_hand in stock.items():
        assert first.loc[node, "opening_on_hand"] == on_hand
    results = sa.create_engine(f"sqlite:///{sample / 'results.db'}")
    with results.connect() as conn:
        runs = conn.execute(sa.text("SELECT as_of, periods, replications FROM runs")).all()
        rows = conn.execute(sa.text("SELECT count(*), min(date), max(date) FROM ledger")).one()
        orders = conn.execute(sa.text("SELECT count(*) FROM recommendations")).scalar_one()
    results.dispose()
    assert [tuple(r) for r in runs] == [("2024-03-31", 14, 2)]
    assert tuple(rows) == (2 * 14 * 11, "2024-03-31", "2024-04-13")
    assert orders > 0

    compare = twin(
        "twin.compare",
        "truth.yaml",
        "--state",
        "sample.db",
        "--periods",
        "14",
        "--replications",
        "3",
        "--variant",
        "lean=agents.store=s_S:s=20,S=60",
        "--out",
        "what-if",
        "--no-plots",
        "--quiet",
        "--workers",
        "1",
        cwd=sample,
    )
    assert compare.returncode == 0, compare.stderr
    study = json.loads((sample / "what-if" / "study.json").read_text())
    assert study["state"]["as_of"] == "2024-03-31"
    table = pd.read_csv(sample / "what-if" / "comparison.csv")
    assert set(table[table.kpi == "network.fill_rate"].case) == {"baseline", "lean"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["twin.run", "truth.yaml", "--state", "nowhere.db", "--out", "x"],
            "error: nowhere.db: no such database file",
        ),
        (
            ["twin.run", "truth.yaml", "--state", "sample.db", "--as-of", "2024-02-01", "--out", "x"],
            "error: sample.db: stock: no state as of 2024-02-01 (latest snapshots: 2024-01-01, 2024-03-31)",
        ),
        (
            ["twin.run", "truth.yaml", "--state", "sample.db", "--as-of", "yesterday", "--out", "x"],
            "error: --as-of 'yesterday': expected a date YYYY-MM-DD",
        ),
        (
            ["twin.run", "truth.yaml", "--as-of", "2024-01-01", "--out", "x"],
            "error: --as-of 2024-01-01: give the stored state with --state URL",
        ),
        (
            ["twin.run", "truth.yaml", "--write-back", "folder", "--out", "x"],
            "error: folder: --write-back needs a database (a URL or a SQLite file)",
        ),
        (
            [
                "twin.run",
                str(ROOT / "scenarios" / "serial_3stage.yaml"),
                "--state",
                "sample.db",
                "--out",
                "x",
            ],
            "error: sample.db: stock[as_of='2024-03-31', node='ST001', sku='default'].node: 'ST001' is not a node",
        ),
        (
            [
                "twin.backtest",
                "truth.yaml",
                "--history",
                "postgresql+psycopg://nobody@127.0.0.1:1/none",
                "--out",
                "x",
            ],
            "error: postgresql+psycopg://nobody@127.0.0.1:1/none: ",
        ),
        (
            ["twin.calibrate", "--history", "sample.db", "--from", "2024-13-01", "--out", "x.yaml"],
            "error: --from '2024-13-01': expected a date YYYY-MM-DD",
        ),
        (
            [
                "twin.compare",
                "truth.yaml",
                "--state",
                "sample.db",
                "--as-of",
                "2024-01-02",
                "--out",
                "x",
            ],
            "error: sample.db: stock: no state as of 2024-01-02",
        ),
    ],
)
def test_bad_input_is_one_line_and_status_2_and_writes_nothing(
    sample: Path, args: list[str], message: str
) -> None:
    before = sorted(p.name for p in sample.iterdir())
    line = _one_error_line(twin(*args, cwd=sample))
    assert line.startswith(message), line
    assert sorted(p.name for p in sample.iterdir()) == before


def test_the_readme_example_runs(tmp_path: Path) -> None:
    """The README's worked example, command by command (on a shorter history)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index("<!-- live example -->")
    block = text[start:].split("```bash", 1)[1].split("```", 1)[0]
    commands = [
        c.strip() for c in block.replace("\\\n", " ").splitlines() if c.strip() and not c.startswith("#")
    ]
    assert len(commands) >= 5
    for command in commands:
        args = command.split()
        assert args[:2] == ["python", "-m"], command
        if args[2] == "twin.live.sample":
            args += ["--days", "60", "--stores", "6"]
        if args[2] in ("twin.run", "twin.compare"):
            args += ["--replications", "3"]
        out = twin(*args[2:], cwd=tmp_path)
        assert out.returncode == 0, (command, out.stderr)


WITHOUT_SQLALCHEMY = """
import runpy, sys
sys.modules["sqlalchemy"] = None  # as if the live extra were not installed
sys.argv = sys.argv[1:]
runpy.run_module(sys.argv[0], run_name="__main__")
"""


def test_without_the_live_extra_plain_runs_work_and_live_options_say_what_to_install(
    tmp_path: Path,
) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        return subprocess.run(
            [sys.executable, "-c", WITHOUT_SQLALCHEMY, *args],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )

    scenario = str(ROOT / "scenarios" / "serial_3stage.yaml")
    plain = run("twin.run", scenario, "--periods", "5", "--warmup", "0", "--out", "plain", "--quiet")
    assert plain.returncode == 0, plain.stderr
    for args in (
        ["twin.run", scenario, "--state", "sample.db", "--out", "x"],
        ["twin.calibrate", "--history", "sample.db", "--out", "x.yaml"],
        ["twin.backtest", scenario, "--history", "sample.db"],
    ):
        line = _one_error_line(run(*args))
        assert "needs the live extra" in line and line.endswith('pip install -e ".[live]"'), line
