"""Running a what-if study: its folder, the pending replications, and the tables and report.

:class:`StudyFolder` keeps ``study.json``, one small record per finished replication (written
atomically, so an interrupted study resumes where it stopped), replication 0's ledger of every
case, and the outputs. :func:`run_pending` runs what has no record yet on an executor
(:mod:`twin.studies.executors`); :func:`finish` writes ``comparison.csv``/``.parquet``,
``replications.csv``, ``sweep.csv``, the plots, ``report.html`` and, last, ``summary.json``.
The command line is :mod:`twin.compare`.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from entities.errors import TwinError
from reconciliation import whatif, whatif_report
from reconciliation.report import versions
from twin.studies.executors import Outcome, Task, outcomes, plugin_kinds
from twin.studies.paired import compare as paired_comparison
from twin.studies.study import Case, Study

STUDY_FILE = "study.json"
TRAJECTORY_REPLICATION = 0


class UsageError(TwinError):
    """A mistake in the command line or study folder (reported in one line, exit status 2)."""


# --------------------------------------------------------------------------------------------------
# The study folder.


class StudyFolder:
    """``study.json``, one small file per finished replication, replication 0's ledgers, outputs."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def record_path(self, case: Case, replication: int) -> Path:
        return self.path / "replications" / case.key / f"r{replication:04d}.json"

    def trajectory_path(self, case: Case) -> Path:
        return self.path / "trajectories" / f"{case.key}.parquet"

    def write_definition(self, study: Study) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        text = json.dumps(study.definition(), indent=1, allow_nan=False) + "\n"
        whatif.atomic_write(self.path / STUDY_FILE, lambda p: p.write_text(text, "utf-8"))

    def read_definition(self) -> dict[str, Any]:
        file = self.path / STUDY_FILE
        if not file.is_file():
            raise UsageError(f"--resume {str(self.path)!r}: no {STUDY_FILE} there; not a study folder")
        try:
            return json.loads(file.read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{file}: unreadable ({exc})") from None

    def save(self, case: Case, outcome: Outcome) -> None:
        """Persist a finished replication: its ledger (replication 0) first, then its record."""
        if outcome.rows is not None:
            path = self.trajectory_path(case)
            path.parent.mkdir(parents=True, exist_ok=True)
            whatif.write_ledger(outcome.rows, outcome.replication, path)
        record = {
            "case": case.name,
            "replication": outcome.replication,
            "seed": outcome.seed,
            "seconds": round(outcome.seconds, 6),
            "kpis": outcome.kpis,
        }
        path = self.record_path(case, outcome.replication)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(record, allow_nan=False) + "\n"
        whatif.atomic_write(path, lambda p: p.write_text(text, "utf-8"))

    def load(self, study: Study) -> dict[int, dict[int, dict[str, Any]]]:
        """Records of the study's cases and replications found on disk (leftovers removed)."""
        out: dict[int, dict[int, dict[str, Any]]] = {}
        for case in study.cases:
            folder = self.path / "replications" / case.key
            if not folder.is_dir():
                continue
            for file in folder.iterdir():
                if ".tmp-" in file.name:  # a write cut short by a kill
                    file.unlink(missing_ok=True)
                    continue
                try:
                    replication = int(file.stem.removeprefix("r"))
                    record = json.loads(file.read_text("utf-8"))
                except (ValueError, OSError):
                    continue
                if replication < study.replications and record.get("case") == case.name:
                    out.setdefault(case.index, {})[replication] = record
        return out


# --------------------------------------------------------------------------------------------------
# Running and reporting.


def run_pending(
    study: Study,
    folder: StudyFolder,
    *,
    executor: str = "local",
    workers: int = 1,
    address: str | None = None,
    progress: bool = False,
) -> list[Outcome]:
    """Run the replications without a record in ``folder``; return the failed outcomes."""
    done = folder.load(study)
    plugins = plugin_kinds(c.scenario for c in study.cases)
    tasks = [
        Task(c.index, c.name, c.scenario, r, r == TRAJECTORY_REPLICATION, plugins, study.state)
        for r in range(study.replications)
        for c in study.cases
        if r not in done.get(c.index, {})
    ]
    bar = None
    if progress and tasks:
        from tqdm import tqdm

        bar = tqdm(total=len(tasks), desc="replications", unit="rep", file=sys.stderr)
    failures: list[Outcome] = []
    try:
        for outcome in outcomes(tasks, executor=executor, workers=workers, address=address):
            case = study.cases[outcome.case]
            if outcome.ok:
                folder.save(case, outcome)
            else:
                failures.append(outcome)
                if bar is not None:
                    bar.write(
                        f"failed: {case.name} replication {outcome.replication} "
                        f"(seed {outcome.seed}): {outcome.error}",
                        file=sys.stderr,
                    )
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return sorted(failures, key=lambda o: (o.case, o.replication))


def _sweep_summary(study: Study, frame: Any) -> Any:
    """The comparison rows of sweep cases with their coordinates (for the sweep plot)."""
    import pandas as pd

    points = {c.name: dict(c.point) for c in study.cases if c.point}
    rows = frame[frame["case"].isin(points)].copy()
    for p in study.sweep_paths:
        rows[p] = [points[c][p] for c in rows["case"]]
    return pd.DataFrame(rows)


def finish(study: Study, folder: StudyFolder, failures: Sequence[Outcome], *, plots: bool = True) -> Any:
    """Write the tables, plots (unless ``plots=False``), report and summary; return the
    comparison table."""
    out = folder.path
    records = folder.load(study)
    cases = [(c.index, c.name, c.variant) for c in study.cases]
    results = {i: {r: rec["kpis"] for r, rec in reps.items()} for i, reps in records.items()}
    frame = whatif.comparison_frame(paired_comparison(results, cases, baseline=study.baseline.index))
    whatif.write_table(frame, out, "comparison")
    keys = list(dict.fromkeys(frame["kpi"]))
    flat = [
        {
            "case": c.name,
            "variant": c.variant,
            "point": c.point,
            "replication": r,
            "seed": rec["seed"],
            "kpis": rec["kpis"],
        }
        for c in study.cases
        for r, rec in sorted(records.get(c.index, {}).items())
    ]
    whatif.write_table(
        whatif.replications_frame(flat, keys, study.sweep_paths), out, "replications", parquet=False
    )
    images: list[Path] = []
    if plots and not frame.empty:
        images += [out / "kpi_bars.png", out / "cost_by_tier.png"]
        whatif_report.plot_kpi_bars(frame, images[0])
        whatif_report.plot_cost_by_tier(frame, images[1])
    ledgers = {
        c.name: whatif.read_ledger(folder.trajectory_path(c))
        for c in study.cases
        if plots and folder.trajectory_path(c).is_file()
    }
    if plots and ledgers:
        images.append(out / "trajectories.png")
        whatif_report.plot_trajectories(
            ledgers,
            images[-1],
            warmup=study.baseline.scenario.warmup_periods,
            replication=TRAJECTORY_REPLICATION,
        )
    if study.sweeps:
        grid = [r for r in flat if r["point"]]
        whatif.write_table(
            whatif.replications_frame(grid, keys, study.sweep_paths), out, "sweep", parquet=False
        )
        summary = _sweep_summary(study, frame)
        if plots and not summary.empty:
            images.append(out / "sweep.png")
            whatif_report.plot_sweep(summary, study.sweep_paths, images[-1])
    failure_rows = [
        {"case": f.name, "replication": f.replication, "seed": f.seed, "error": f.error}
        for f in failures
    ]
    _write_failures(out, failures)
    meta = {
        "scenario": study.scenario_path,
        "seed": study.seed,
        "replications per case": study.replications,
        "periods": study.baseline.scenario.periods,
        "warm-up periods": study.baseline.scenario.warmup_periods,
        "cases": ", ".join(c.name for c in study.cases),
        "failed replications": len(failures),
    }
    text = whatif_report.render_html(
        f"What-if study: {study.baseline.scenario.name}", meta, frame, images, failure_rows
    )
    whatif_report.write_html(out / "report.html", text)
    summary_json = {
        "study": {k: v for k, v in study.definition().items() if k != "cases"},
        "cases": [
            {
                "name": c.name,
                "variant": c.variant,
                "overrides": list(c.overrides),
                "point": dict(c.point),
                "source": c.source,
                "replications_done": len(records.get(c.index, {})),
            }
            for c in study.cases
        ],
        "confidence_level": 0.95,
        "kpis": _nested(frame),
        "failures": failure_rows,
        "files": sorted(p.name for p in out.iterdir() if p.is_file() and ".tmp-" not in p.name)
        + ["summary.json"],
        "versions": versions(),
    }
    text = json.dumps(summary_json, indent=2, allow_nan=False, default=str) + "\n"
    whatif.atomic_write(out / "summary.json", lambda p: p.write_text(text, "utf-8"))
    return frame


def _write_failures(out: Path, failures: Sequence[Outcome]) -> None:
    csv_path, log_path = out / "failures.csv", out / "failures.log"
    if not failures:
        csv_path.unlink(missing_ok=True)
        log_path.unlink(missing_ok=True)
        return
    import pandas as pd

    frame = pd.DataFrame(
        [
            {"case": f.name, "replication": f.replication, "seed": f.seed, "error": f.error}
            for f in failures
        ]
    )
    whatif.atomic_write(csv_path, lambda p: frame.to_csv(p, index=False))
    log = "\n".join(
        f"== {f.name} replication {f.replication} (seed {f.seed})\n{f.details}" for f in failures
    )
    whatif.atomic_write(log_path, lambda p: p.write_text(log, "utf-8"))


def _nested(frame: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for row in frame.to_dict("records"):
        entry = {
            k: (None if isinstance(v, float) and v != v else v)
            for k, v in row.items()
            if k not in ("kpi", "label", "better", "case")
        }
        kpi = out.setdefault(row["kpi"], {"label": row["label"], "better": row["better"], "cases": {}})
        kpi["cases"][row["case"]] = entry
    return out
