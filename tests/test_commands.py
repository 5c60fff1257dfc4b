"""The everyday commands at their edges: ``twin.validate``, ``twin.tune`` and ``twin.train`` check
everything before they work, answer mistakes in one line with status 2 and leave nothing behind;
progress bars are drawn on a terminal only; the shipped study file runs.
"""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

import pytest
import yaml

import twin.tune
from twin.cli import error_line, run_command, show_progress
from twin.compare import main as compare_main
from twin.scenario import read_yaml, scenario_from_dict
from twin.train import main as train_main
from twin.validate import main as validate_main

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = sorted((REPO / "scenarios").glob("*.yaml"))
HMARL = str(REPO / "scenarios" / "hmarl_3store.yaml")
SERIAL = str(REPO / "scenarios" / "serial_3stage.yaml")


def _env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


# --------------------------------------------------------------------------------------------------
# twin.validate


def test_validate_summarises_every_shipped_scenario(capsys):
    assert validate_main([str(p) for p in SCENARIOS]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert err == "" and len(lines) == len(SCENARIOS)
    hmarl = next(line for line in lines if "hmarl_3store.yaml" in line)
    assert hmarl == (
        f"ok {HMARL}: 5 nodes (1 supplier, 1 warehouse, 3 store), 4 lanes, 3 agents (base_stock, "
        "hmarl_warehouse, hmarl_supplier), 365 periods x 5 replications, 1 SKU"
    )
    bom = next(line for line in lines if "multi_sku_bom.yaml" in line)
    assert bom.endswith(", 4 SKUs") and "1 factory" in bom


def test_validate_reports_each_bad_file_in_one_line_and_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    data = read_yaml(SERIAL)
    data["lanes"][1]["to"] = "stage-2"
    bad.write_text(yaml.safe_dump(data))
    missing = tmp_path / "missing.yaml"
    assert run_command(validate_main, [str(bad), SERIAL, str(missing)]) == 2
    out, err = capsys.readouterr()
    assert out.splitlines() == [f"ok {SERIAL}: " + out.split(": ", 1)[1].splitlines()[0]]
    assert err.splitlines() == [
        f"error: {bad}: lanes[1].to: 'stage-2' is not a node; did you mean 'stage2'?",
        f"error: {missing}: no such scenario file",
    ]


def test_validate_as_a_command(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "twin.validate", SERIAL],
        cwd=REPO,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.startswith(f"ok {SERIAL}: 4 nodes") and done.stderr == ""


# --------------------------------------------------------------------------------------------------
# twin.tune: everything is checked before the search, the default output is under runs/.


def _tune_never_searches(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("the search started")

    monkeypatch.setattr(twin.tune, "tune", forbidden)


@pytest.mark.parametrize(
    "extra, expected",
    [
        (["--replications", "0"], "error: --replications must be >= 1, got 0"),
        (["--budget", "0"], "error: --budget must be >= 1 candidate evaluation, got 0"),
        (["--periods", "-3"], "error: --periods must be >= 1, got -3"),
        (["--target", "stage9"], "--target 'stage9' is not a node or tier; did you mean 'stage"),
    ],
)
def test_tune_checks_its_options_before_the_search(tmp_path, monkeypatch, capsys, extra, expected):
    _tune_never_searches(monkeypatch)
    target = [] if "--target" in extra else ["--target", "stage1"]
    args = [SERIAL, *target, "--kind", "base_stock", "--out", str(tmp_path / "t.yaml"), *extra]
    assert twin.tune.main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and expected in err
    assert list(tmp_path.iterdir()) == []


def test_tune_refuses_an_output_it_cannot_write_before_the_search(tmp_path, monkeypatch, capsys):
    _tune_never_searches(monkeypatch)
    (tmp_path / "a_file").write_text("")
    out = tmp_path / "a_file" / "tuned.yaml"
    args = [SERIAL, "--target", "stage1", "--kind", "base_stock", "--out", str(out)]
    assert twin.tune.main(args) == 2
    assert (
        capsys.readouterr().err
        == error_line(f"--out {str(out)!r}: {str(tmp_path / 'a_file')!r} is a file, not a folder") + "\n"
    )


def test_tune_writes_under_runs_by_default_and_creates_folders(tmp_path, monkeypatch, capsys):
    data = read_yaml(SERIAL)
    data.update(periods=60, warmup_periods=10, replications=2)
    src = tmp_path / "scen" / "serial.yaml"
    src.parent.mkdir()
    src.write_text(yaml.safe_dump(data))
    monkeypatch.chdir(tmp_path)
    args = [str(src), "--target", "stage1", "--kind", "base_stock", "--budget", "3", "--quiet"]
    assert twin.tune.main(args) == 0
    assert (tmp_path / "runs" / "serial.tuned.yaml").is_file()
    assert sorted(p.name for p in src.parent.iterdir()) == ["serial.yaml"]  # nothing beside the input
    nested = tmp_path / "new" / "folder" / "t.yaml"
    assert twin.tune.main([*args, "--out", str(nested)]) == 0
    scenario_from_dict(read_yaml(nested))
    assert "wrote" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------------
# twin.train: options and --set values are checked before anything is created.


@pytest.mark.parametrize(
    "extra, expected",
    [
        (
            ["--set", "learning_rate=abc"],
            "error: --set learning_rate='abc': learning_rate is a finite number",
        ),
        (["--set", "num_envs=2.5"], "error: --set num_envs=2.5: num_envs is a whole number"),
        (
            ["--set", "hidden_sizes=[64,abc]"],
            "error: --set hidden_sizes=(64, 'abc'): hidden_sizes is a list of whole numbers >= 1",
        ),
        (["--set", "norm_obs=maybe"], "error: --set norm_obs='maybe': norm_obs is true or false"),
        (["--set", "gamma=2"], "error: --set: gamma and gae_lambda must be in [0, 1], got 2.0, 0.95"),
        (["--set", "learning_rat=1e-4"], "not a hyper-parameter of ppo; did you mean 'learning_rate'?"),
        (["--set", "target_kl=null"], None),
        (["--eval-every", "0"], "error: --eval-every must be >= 1, got 0"),
        (["--eval-replications", "0"], "error: --eval-replications must be >= 1, got 0"),
        (["--joint-lr-scale", "nan"], "error: --joint-lr-scale must be a number > 0, got nan"),
        (["--phase", "2"], "error: --phase needs --phases"),
        (["--phases", "store;warehouse", "--phase", "3"], "error: --phase 3: --phases has 2 phase(s)"),
        (["--observation", "hmarl:window=0"], "error: --observation 'hmarl:window=0': "),
        (["--action", "nope"], "error: --action 'nope': "),
        (["--resume"], "holds no training run (no run.json) to continue"),
    ],
)
def test_train_checks_everything_before_creating_anything(tmp_path, capsys, extra, expected):
    out = tmp_path / "run"
    args = [HMARL, "--targets", "store", "--timesteps", "64", "--quiet", "--out", str(out), *extra]
    if expected is None:  # a valid value: checked, then a (tiny) run would start; stop before it
        args[args.index("--timesteps") + 1] = "0"
        expected = "error: --timesteps must be >= 1, got 0"
    assert train_main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ") and expected in err, err
    assert not out.exists()


def test_train_removes_the_folder_it_created_when_the_run_fails(tmp_path, monkeypatch, capsys):
    import twin.train

    def fails_after_creating_the_folder(spec):
        spec.out.mkdir(parents=True)
        (spec.out / "run.json").write_text("{}")
        raise twin.train.TrainError("the environment refuses the run")

    monkeypatch.setattr(twin.train, "train_run", fails_after_creating_the_folder)
    out = tmp_path / "run"
    args = [HMARL, "--targets", "store", "--timesteps", "64", "--quiet", "--out", str(out)]
    assert train_main(args) == 2
    assert capsys.readouterr().err == "error: the environment refuses the run\n"
    assert not out.exists()
    out.mkdir()  # a folder that was there before is the user's: kept
    assert train_main([*args, "--resume"]) == 2
    assert out.is_dir()


# --------------------------------------------------------------------------------------------------
# Progress bars: on a terminal only.


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_progress_only_on_a_terminal_and_not_with_quiet():
    assert show_progress(False, _Stream(True))
    assert not show_progress(True, _Stream(True))
    assert not show_progress(False, _Stream(False))


def test_tune_draws_its_bar_on_a_terminal_and_not_in_a_pipe(tmp_path):
    data = read_yaml(SERIAL)
    data.update(periods=40, warmup_periods=5, replications=1)
    src = tmp_path / "s.yaml"
    src.write_text(yaml.safe_dump(data))
    args = [sys.executable, "-m", "twin.tune", str(src), "--target", "stage1", "--kind", "base_stock",
            "--budget", "2"]  # fmt: skip
    piped = subprocess.run(
        [*args, "--out", str(tmp_path / "a.yaml")],
        cwd=REPO, env=_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert piped.returncode == 0 and piped.stderr == ""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 100 columns
    try:
        done = subprocess.run(
            [*args, "--out", str(tmp_path / "b.yaml")],
            cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=follower, timeout=120,
        )  # fmt: skip
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(leader)
    assert done.returncode == 0
    assert b"tuning" in b"".join(chunks)


# --------------------------------------------------------------------------------------------------
# The shipped study file.


def test_the_shipped_study_file_runs(tmp_path):
    out = tmp_path / "study"
    args = [str(REPO / "studies" / "hmarl.yaml"), "--replications", "2", "--periods", "40"]
    assert compare_main([*args, "--workers", "1", "--no-plots", "--quiet", "--out", str(out)]) == 0
    summary = (out / "summary.json").read_text()
    for case in ("baseline", "tuned_sS", "fast_supplier", "lead_time.high=3"):
        assert case in summary
