"""Run folders: everything a run produced, written atomically.

:func:`write_run` builds the folder next to its target as ``<out>.tmp-<pid>`` and renames it
into place only when every file is complete, so a run folder is either whole or absent. An
existing target is refused (``FileExistsError``) unless ``overwrite=True``; then the old folder is
swapped out only after the new one is complete, and only if it looks like a run folder (it holds
``summary.json``) or is empty, so a mistyped ``--out`` never deletes unrelated files. Contents
(:data:`RUN_FILES`; each written by one step of :data:`STEPS`, in this order):

* ``scenario.resolved.yaml``: the validated scenario with every default filled in (re-loadable);
* ``summary.json``: scenario name, seed, periods, warm-up, replications, versions and the KPIs
  (:func:`reconciliation.kpis.compute_kpis`);
* ``ledger.parquet``: every ledger row of every replication (``replication`` first, then
  :data:`~reconciliation.ledger.LEDGER_COLUMNS`), warm-up periods included; with ``csv=True`` also
  ``ledger.csv``;
* ``events.parquet``: the order and shipment trace of replication 0 (:data:`EVENT_COLUMNS`:
  ``kind, id, lane, period, due, lead_time, quantity, lost``; ``period`` is the period an order was
  placed or a shipment sent, ``due`` the period the upstream node sees an order or a shipment
  arrives; ``lead_time`` is empty for orders; ``lost`` the units of a shipment lost in transit;
  ids number the events in the order they happened); with ``csv=True`` also ``events.csv``;
* unless ``plots=False``: the figures, SVG drawn without a plotting library
  (:data:`~reconciliation.run_report.FIGURE_FILES`: ``network.svg``, ``cost_breakdown.svg``,
  ``bullwhip.svg``, ``inventory.svg``, ``orders_vs_demand.svg``);
* ``report.html``: the run's facts, KPI tables and the figures inline, one self-contained page
  (:mod:`reconciliation.run_report`; without figures under ``plots=False``).

Tables are written by pyarrow (Parquet, and CSV when asked) a block of rows at a time, straight
from the ledger's columns and the trace's chunks; pyarrow is imported only here, when a folder is
written, and matplotlib never (its modules and canvases were most of a large run's memory).
This module reads the scenario and results by duck typing (``to_yaml_dict()``, ``ledger``,
``trace``) so that ``reconciliation`` does not import ``twin`` (DESIGN.md, import direction).
"""

from __future__ import annotations

import json
import os
import platform
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import yaml

from reconciliation import arrow, run_report
from reconciliation.kpis import compute_kpis
from reconciliation.ledger import Ledger, arrow_schema
from reconciliation.run_report import FIGURE_FILES, REPORT_FILE
from reconciliation.trace import KINDS, Trace

if TYPE_CHECKING:
    import pandas as pd

EVENT_COLUMNS: tuple[str, ...] = ("kind", "id", "lane", "period", "due", "lead_time", "quantity", "lost")
TABLE_FILES: tuple[str, ...] = ("ledger.parquet", "events.parquet")
CSV_FILES: tuple[str, ...] = ("ledger.csv", "events.csv")
PLOT_FILES: tuple[str, ...] = FIGURE_FILES
RUN_FILES: tuple[str, ...] = (
    "scenario.resolved.yaml",
    "summary.json",
    *TABLE_FILES,
    *PLOT_FILES,
    REPORT_FILE,
)
"""The files of a run folder written with the default options."""


def run_files(*, csv: bool = False, plots: bool = True) -> tuple[str, ...]:
    """The files of a run folder written with these options."""
    return (
        "scenario.resolved.yaml",
        "summary.json",
        *TABLE_FILES,
        *(CSV_FILES if csv else ()),
        *(PLOT_FILES if plots else ()),
        REPORT_FILE,
    )


class ScenarioLike(Protocol):
    """What is read of a ``twin.scenario.Scenario``."""

    @property
    def name(self) -> str: ...
    @property
    def seed(self) -> int: ...
    @property
    def periods(self) -> int: ...
    @property
    def warmup_periods(self) -> int: ...
    @property
    def replications(self) -> int: ...
    def to_yaml_dict(self) -> dict[str, Any]: ...


class ResultLike(Protocol):
    """What is read of a ``twin.engine.SimulationResult``."""

    @property
    def replication(self) -> int: ...
    @property
    def ledger(self) -> Ledger: ...
    @property
    def trace(self) -> Trace: ...


# --------------------------------------------------------------------------------------------------
# Pieces.


def customer_nodes(scenario: ScenarioLike) -> list[str]:
    """Ids of the nodes with external customer demand in ``scenario``."""
    data = scenario.to_yaml_dict()
    skus = data.get("skus") or []

    def has_demand(fields: Mapping[str, Any]) -> bool:
        return bool(fields.get("demand") or fields.get("customers") or fields.get("demand_series"))

    sku_demand = {k["id"] for k in skus if has_demand(k.get("defaults") or {})}
    return [
        n["id"]
        for n in data.get("nodes", [])
        if has_demand(n)
        or any(has_demand(o or {}) for o in (n.get("per_sku") or {}).values())
        or sku_demand & set(n.get("skus") or [k["id"] for k in skus])
    ]


def event_batches(trace: Trace, rows: int = 1 << 13) -> Iterator[Any]:
    """The trace as Arrow record batches of at most ``rows`` events with :data:`EVENT_COLUMNS` (an
    order's ``due`` is the period its upstream node sees it; orders have no lead time and lose
    nothing)."""
    for whole in trace.chunks():
        for a in range(0, len(whole["id"]), rows):
            yield _event_batch(trace, {name: v[a : a + rows] for name, v in whole.items()})


def _event_batch(trace: Trace, chunk: dict[str, np.ndarray]) -> Any:
    kind = chunk["kind"].astype(np.int64)
    return _record_batch(
        [
            arrow.dictionary(KINDS, kind),
            arrow.int64(chunk["id"]),
            arrow.dictionary(trace.lanes, chunk["lane"]),
            arrow.int64(chunk["period"]),
            arrow.int64(chunk["due"]),
            arrow.float64(chunk["lead_time"], valid=kind == 1),
            arrow.float64(chunk["quantity"]),
            arrow.float64(chunk["lost"]),
        ],
        events_schema(),
    )


def events_schema() -> Any:
    import pyarrow as pa

    types = {"kind": arrow.string_type(), "lane": arrow.string_type(), "lead_time": pa.float64()}
    types.update({"quantity": pa.float64(), "lost": pa.float64()})
    return pa.schema([(name, types.get(name, pa.int64())) for name in EVENT_COLUMNS])


def events_frame(trace: Iterable[Any]) -> pd.DataFrame:
    """The order/shipment trace as a pandas table with :data:`EVENT_COLUMNS` (for analysis)."""
    import pyarrow as pa

    if not isinstance(trace, Trace):
        raise TypeError(f"expected a Trace, got {type(trace).__name__}")
    table = pa.Table.from_batches(list(event_batches(trace)), schema=events_schema())
    return table.to_pandas(strings_to_categorical=False).astype({"kind": str, "lane": str})


def versions() -> dict[str, str | None]:
    """Versions of Python and of the libraries that shape the numbers."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("numpy", "simpy", "pandas", "supply-twin"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def summary_dict(scenario: ScenarioLike, kpis: Mapping[str, Any]) -> dict[str, Any]:
    """What ``summary.json`` holds."""
    return {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "periods": scenario.periods,
        "warmup_periods": scenario.warmup_periods,
        "replications": kpis.get("replications", scenario.replications),
        "versions": versions(),
        "kpis": kpis,
    }


def _record_batch(arrays: list[Any], schema: Any) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def write_tables(
    folder: Path, stem: str, schema: Any, batches: Iterable[Any], *, csv: bool = False
) -> None:
    """``<stem>.parquet`` (and ``<stem>.csv``) in ``folder`` from Arrow record batches."""
    import pyarrow.parquet as pq

    # Strings are dictionary arrays; without the Arrow schema in the file they read back as plain
    # strings (not categoricals), as any Parquet reader sees them.
    strings = [f.name for f in schema if str(f.type).startswith("dictionary")]
    parquet = pq.ParquetWriter(
        folder / f"{stem}.parquet", schema, use_dictionary=strings, store_schema=False
    )
    writer = None
    try:
        if csv:
            import pyarrow.csv as pcsv

            writer = pcsv.CSVWriter(folder / f"{stem}.csv", schema)
        for batch in batches:
            parquet.write_batch(batch)
            if writer is not None:
                writer.write_batch(batch)
    finally:
        parquet.close()
        if writer is not None:
            writer.close()


# --------------------------------------------------------------------------------------------------
# The run folder.


@dataclass
class RunFolder:
    """What the steps of :func:`write_run` write from, and the folder they write into."""

    folder: Path
    scenario: ScenarioLike
    results: Sequence[ResultLike]
    kpis: Mapping[str, Any]
    customers: Sequence[str]
    csv: bool = False
    plots: bool = True
    figures: dict[str, str] = field(default_factory=dict)
    """The figures written so far (file name -> SVG text), shown again in the report."""

    @property
    def first(self) -> ResultLike:
        """Replication 0 (the lowest): the one with the trace and the plotted trajectories."""
        return min(self.results, key=lambda r: r.replication)


def write_scenario(run: RunFolder) -> None:
    with open(run.folder / "scenario.resolved.yaml", "w", encoding="utf-8") as f:
        dump_yaml(run.scenario.to_yaml_dict(), f)


def dump_yaml(data: Mapping[str, Any], stream: Any, chunk: int = 64) -> None:
    """``yaml.safe_dump(data, stream, sort_keys=False, allow_unicode=True)``, a top-level key and
    ``chunk`` items of a long list at a time: the same text (PyYAML writes a list in a mapping
    without indenting it, so its items dumped alone read the same; checked on every shipped
    scenario), without building the whole document's representation at once (12 MB for a
    1,000-store network). libyaml's emitter when PyYAML has it (4x faster, the same text)."""
    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

    def dump(value: Any) -> None:
        yaml.dump(value, stream, Dumper=dumper, sort_keys=False, allow_unicode=True)

    for key, value in data.items():
        if isinstance(value, list) and len(value) > chunk:
            dump({key: value[:chunk]})
            for start in range(chunk, len(value), chunk):
                dump(value[start : start + chunk])
        else:
            dump({key: value})


def write_summary(run: RunFolder) -> None:
    with open(run.folder / "summary.json", "w", encoding="utf-8") as f:
        json.dump(summary_dict(run.scenario, run.kpis), f, indent=2, allow_nan=False)
        f.write("\n")


def write_ledger(run: RunFolder) -> None:
    batches = (
        batch for result in run.results for batch in result.ledger.record_batches(result.replication)
    )
    write_tables(run.folder, "ledger", arrow_schema(), batches, csv=run.csv)


def write_events(run: RunFolder) -> None:
    write_tables(run.folder, "events", events_schema(), event_batches(run.first.trace), csv=run.csv)


def write_figures(run: RunFolder) -> None:
    if not run.plots:
        return
    first = run.first
    ordered = sorted(run.results, key=lambda r: r.replication)
    run.figures = run_report.run_figures(
        [r.ledger for r in ordered],
        run.kpis,
        customers=run.customers,
        warmup=run.scenario.warmup_periods,
        name=run.scenario.name,
        replication=first.replication,
    )
    for name, text in run.figures.items():
        (run.folder / name).write_text(text, encoding="utf-8")


def write_report(run: RunFolder) -> None:
    scenario, kpis = run.scenario, run.kpis
    layout = run.first.ledger.layout
    meta = {
        "scenario": scenario.name,
        "seed": scenario.seed,
        "network": f"{len(set(layout.nodes)):,} locations, {len(layout.lanes):,} lanes, "
        f"{len(set(layout.skus)):,} SKU(s)",
        "periods": f"{scenario.periods:,} (KPIs over periods {scenario.warmup_periods:,}.."
        f"{scenario.periods - 1:,}, after {scenario.warmup_periods:,} of warm-up)",
        "replications": kpis.get("replications", scenario.replications),
        "network cost per period": _per_period_line(kpis, "cost_per_period"),
        **(
            {"network profit per period": _per_period_line(kpis, "profit_per_period")}
            if (kpis.get("network", {}).get("revenue_per_period") or {}).get("mean")
            else {}
        ),
        "versions": ", ".join(f"{k} {v}" for k, v in versions().items() if v),
    }
    text = run_report.render_report(f"Run of {scenario.name}", meta, kpis, run.figures)
    (run.folder / REPORT_FILE).write_text(text, encoding="utf-8")


def _per_period_line(kpis: Mapping[str, Any], key: str) -> str:
    stat = kpis.get("network", {}).get(key) or {}
    if stat.get("mean") is None:
        return "n/a"
    se = stat.get("se")
    return f"{stat['mean']:,.2f}" + (f" ± {se:,.2f} (standard error)" if se is not None else "")


STEPS: list[Callable[[RunFolder], None]] = [
    write_scenario,
    write_summary,
    write_ledger,
    write_events,
    write_figures,
    write_report,
]
"""The steps that write a run folder, in order (a new output is one more step)."""


def _is_run_folder(path: Path) -> bool:
    return (path / "summary.json").is_file() or not any(path.iterdir())


def check_target(out: str | os.PathLike[str], *, overwrite: bool = False) -> Path:
    """Raise FileExistsError if ``out`` may not be written (exists, and no ``overwrite``)."""
    target = Path(os.path.abspath(out))
    if not target.exists() and not target.is_symlink():
        return target
    if not overwrite:
        raise FileExistsError(
            f"output folder {str(out)!r} already exists; choose another --out "
            "or pass --overwrite to replace it"
        )
    if not target.is_dir() or target.is_symlink():
        raise FileExistsError(
            f"output path {str(out)!r} exists and is not a folder; refusing to replace it"
        )
    if not _is_run_folder(target):
        raise FileExistsError(
            f"output folder {str(out)!r} is not a run folder (no summary.json) "
            "and is not empty; refusing to overwrite it"
        )
    return target


def write_run(
    out: str | os.PathLike[str],
    scenario: ScenarioLike,
    results: Sequence[ResultLike],
    *,
    overwrite: bool = False,
    kpis: Mapping[str, Any] | None = None,
    csv: bool = False,
    plots: bool = True,
    customers: Sequence[str] | None = None,
) -> Path:
    """Write the run folder ``out`` atomically (see the module docstring) and return its path.

    ``kpis`` (and ``customers``, :func:`customer_nodes`) are computed from ``results`` (and the
    scenario) when not given; ``csv`` adds CSV copies of the tables, ``plots=False`` leaves the
    figures out.
    """
    if not results:
        raise ValueError("write_run needs at least one replication's results")
    target = check_target(out, overwrite=overwrite)
    customers = customer_nodes(scenario) if customers is None else list(customers)
    if kpis is None:
        kpis = compute_kpis(results, scenario.warmup_periods, customer_nodes=customers)

    parent = target.parent
    created: list[Path] = []
    for p in [parent, *parent.parents][::-1]:
        if not p.exists():
            created.append(p)
    parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    old = target.with_name(f"{target.name}.old-{os.getpid()}")
    try:
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir()
        run = RunFolder(tmp, scenario, results, kpis, customers, csv=csv, plots=plots)
        for step in STEPS:
            step(run)
        if target.exists() or target.is_symlink():
            check_target(out, overwrite=overwrite)  # still replaceable, now that we are done
            os.replace(target, old)
            try:
                os.replace(tmp, target)
            except BaseException:
                os.replace(old, target)  # put the old run back
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        for p in reversed(created):  # folders made for this run, innermost first, if still empty
            try:
                p.rmdir()
            except OSError:
                break
        raise
    return target
