"""Commands as a user runs them, interrupted: exit status 130, one line, no process left behind,
and what was finished stays usable; and a study with a PPO variant on the process pool.

Each command runs as a subprocess in a session of its own, so that every process it starts (pool
workers, the fork server, the resource tracker) can be found in the process table afterwards.
Signals are sent only once the command's handler is installed (``SigCgt`` in ``/proc``), the way a
user presses Ctrl-C after the command has started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from twin.compare import main as compare_main

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

REPO = Path(__file__).resolve().parents[1]
HMARL = str(REPO / "scenarios" / "hmarl_3store.yaml")


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _alive_in_session(sid: int) -> list[int]:
    """Processes of session ``sid`` that are still running (zombies excluded)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getsid(int(entry)) != sid:
                continue
            state = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            found.append(int(entry))
    return found


def _wait_gone(sid: int, seconds: float = 5.0) -> list[int]:
    deadline = time.monotonic() + seconds
    while (alive := _alive_in_session(sid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def _handles_sigterm(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    caught = int(next(line for line in status.splitlines() if line.startswith("SigCgt:")).split()[1], 16)
    return bool(caught & (1 << (signal.SIGTERM - 1)))


def _wait_for(condition, proc: subprocess.Popen[str], seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert proc.poll() is None, f"finished before it could be interrupted: {proc.communicate()}"
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def _stop_all(proc: subprocess.Popen[str]) -> None:
    for pid in _alive_in_session(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# --------------------------------------------------------------------------------------------------
# twin.compare: signals stop every process; --resume finishes the study.


@pytest.mark.parametrize("how", ["SIGTERM to the command", "SIGINT to its process group (Ctrl-C)"])
def test_interrupted_study_leaves_no_process_and_resumes(tmp_path, how):
    out = tmp_path / "study"
    proc = _start(
        "twin.compare",
        HMARL,
        "--variant",
        "sS=agents.warehouse_1=s_S:s=522,S=534",
        "--replications",
        "30",
        "--periods",
        "60",
        "--warmup",
        "5",
        "--workers",
        "2",
        "--no-plots",
        "--out",
        str(out),
    )
    try:
        _wait_for(lambda: len(list(out.glob("replications/*/r*.json"))) >= 2, proc)
        if how.startswith("SIGTERM"):
            os.kill(proc.pid, signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        line = _one_line(err)
        assert line.startswith("interrupted: ") and f"--resume {out}" in line
        assert _wait_gone(proc.pid) == [], "processes of the study outlived it"
    finally:
        _stop_all(proc)
    assert not (out / "summary.json").exists()
    assert compare_main(["--resume", str(out), "--workers", "1", "--quiet", "--no-plots"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [c["replications_done"] for c in summary["cases"]] == [30, 30]


# --------------------------------------------------------------------------------------------------
# A PPO variant on the default process pool (a forked worker of a process that used torch hung).


@pytest.fixture(scope="module")
def tiny_policy(tmp_path_factory) -> Path:
    """A policy for the three stores, trained for a few seconds (as tests/test_ppo.py does)."""
    out = tmp_path_factory.mktemp("policy") / "stores"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "twin.train",
            HMARL,
            "--targets",
            "store",
            "--observation",
            "hmarl",
            "--action",
            "hmarl_multiples",
            "--timesteps",
            "128",
            "--periods",
            "40",
            "--eval-replications",
            "1",
            "--set",
            "num_steps=64",
            "--set",
            "num_envs=2",
            "--set",
            "update_epochs=1",
            "--quiet",
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=_env(),
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out / "policy.pt"


def test_study_with_a_ppo_variant_finishes_on_the_process_pool(tmp_path, tiny_policy):
    out = tmp_path / "study"
    proc = _start(
        "twin.compare",
        HMARL,
        "--variant",
        f"ppo=agents.store=ppo:checkpoint={tiny_policy}",
        "--replications",
        "2",
        "--periods",
        "40",
        "--warmup",
        "5",
        "--workers",
        "2",
        "--no-plots",
        "--out",
        str(out),
    )
    try:
        stdout, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        _stop_all(proc)
        pytest.fail("the study with a PPO variant hung on the process pool")
    finally:
        _stop_all(proc)
    assert proc.returncode == 0, err
    assert err == ""  # no progress bar in a pipe
    table = pd.read_csv(out / "comparison.csv")
    cost = table[table["kpi"] == "network.cost_per_period"].set_index("case")
    assert cost.loc["ppo", "n"] == 2 and cost.loc["ppo", "mean"] > 0


# --------------------------------------------------------------------------------------------------
# twin.run, twin.train, twin.tune: Ctrl-C gives one line and status 130.


@pytest.mark.parametrize(
    "args",
    [
        ("twin.run", "scenarios/serial_3stage.yaml", "--replications", "50", "--quiet"),
        ("twin.tune", "scenarios/serial_3stage.yaml", "--target", "stage1", "--kind", "base_stock"),
    ],
    ids=["run", "tune"],
)
def test_ctrl_c_is_one_line_and_status_130(tmp_path, args):
    out = tmp_path / ("out.yaml" if args[0] == "twin.tune" else "run")
    proc = _start(*args, "--out", str(out))
    try:
        _wait_for(lambda: _handles_sigterm(proc.pid), proc)
        time.sleep(0.5)  # well into the work
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        _stop_all(proc)
    assert proc.returncode == 130, err
    assert _one_line(err) == "interrupted"
    assert not out.exists()


def test_ctrl_c_in_training_keeps_what_can_be_resumed(tmp_path):
    out = tmp_path / "train"
    proc = _start(
        "twin.train",
        HMARL,
        "--targets",
        "store",
        "--timesteps",
        "100000",
        "--periods",
        "40",
        "--eval-replications",
        "1",
        "--set",
        "num_steps=32",
        "--set",
        "num_envs=1",
        "--out",
        str(out),
    )
    try:
        _wait_for(lambda: (out / "policy.pt").is_file(), proc)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        _stop_all(proc)
    assert proc.returncode == 130, err
    assert _one_line(err) == f"interrupted: continue the run in {out} with the same command and --resume"
    assert (out / "run.json").is_file()
