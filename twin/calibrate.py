"""``python -m twin.calibrate --history URL --out calibrated.yaml``: fit demand and lead times.

::

    python -m twin.calibrate --history URL --out calibrated.yaml [--scenario BASE.yaml]
        [--report REPORT.json] [--from DATE] [--to DATE] [--lead-times fitted|empirical]
        [--overwrite] [--quiet]

Fits every node's demand (family by likelihood, weekly season and trend where a likelihood-ratio
test supports them) and every lane's lead times (fitted or empirical) from the history tables of
``URL`` (a database URL, a SQLite file or a Parquet folder; :mod:`twin.live.tables`), with
:mod:`twin.live.calibrate`. With ``--scenario`` it writes that scenario with the fitted sections
merged in (validated; it runs as it is), without it the ``nodes`` and ``lanes`` sections alone; and
a report with goodness-of-fit figures per node and lane (``--report``, default ``OUT`` with
``.report.json``). Both files are written only when everything succeeded; an existing file is
refused unless ``--overwrite``. Mistakes print one line ``error: ...`` and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import yaml

from entities.errors import TwinError
from twin.cli import check_writable, run_command
from twin.scenario import read_yaml, scenario_from_dict

EXIT_USAGE = 2
INSTALL = 'pip install -e ".[live]"'


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        print(f"error: {message} (see python -m twin.calibrate --help)", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m twin.calibrate",
        description="Fit demand and lead-time laws to a history and write them as scenario sections.",
    )
    p.add_argument(
        "--history", required=True, metavar="URL", help="database URL, SQLite file or Parquet folder"
    )
    p.add_argument("--out", required=True, help="the YAML file to write")
    p.add_argument(
        "--scenario", help="merge the fitted sections into this scenario (a whole scenario out)"
    )
    p.add_argument("--report", help="goodness-of-fit report (JSON; default OUT.report.json)")
    p.add_argument("--from", dest="start", metavar="DATE", help="first day of history to use")
    p.add_argument("--to", dest="end", metavar="DATE", help="last day of history to use")
    p.add_argument("--lead-times", choices=("fitted", "empirical"), default="fitted")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--quiet", action="store_true", help="print only the files written")
    return p


def _atomic(path: Path, text: str) -> Path:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    return tmp


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:  # the live extra (SQLAlchemy, a PostgreSQL driver)
        from twin.live.calibrate import calibrate, calibrated_data, summary_lines
        from twin.live.history import read_history
        from twin.live.state import parse_date
        from twin.live.store import open_store
    except ImportError as exc:
        print(
            f"error: python -m twin.calibrate needs the live extra ({exc}): {INSTALL}", file=sys.stderr
        )
        return EXIT_USAGE
    out = Path(args.out)
    report = Path(args.report) if args.report else out.with_name(f"{out.stem}.report.json")
    written: list[Path] = []
    try:
        for path, option in ((out, "--out"), (report, "--report")):
            check_writable(path, option)
            if path.exists() and not args.overwrite:
                raise TwinError(f"{path} already exists; choose another file or pass --overwrite")
        start = parse_date(args.start, "--from") if args.start else None
        end = parse_date(args.end, "--to") if args.end else None
        base = read_yaml(args.scenario) if args.scenario else None
        scenario = scenario_from_dict(base, source=args.scenario) if base is not None else None
        with open_store(args.history) as store:
            history = read_history(store, start=start, end=end, stock=False)
        calibration = calibrate(
            history,
            lead_times=args.lead_times,
            nodes=None if scenario is None else {n.id: n for n in scenario.nodes},
            lanes=None if scenario is None else {ln.id: ln for ln in scenario.lanes},
        )
        if base is not None:
            data = calibrated_data(base, calibration, source=args.scenario)
            scenario_from_dict(data, source=str(out))  # the file written runs as it is
        else:
            data = calibration.sections()
        header = f"# Calibrated by python -m twin.calibrate from {history.source}\n"
        text = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
        body = json.dumps(calibration.report(), indent=1, allow_nan=False) + "\n"
        out.parent.mkdir(parents=True, exist_ok=True)
        report.parent.mkdir(parents=True, exist_ok=True)
        written = [_atomic(out, text), _atomic(report, body)]
        os.replace(written[0], out)
        os.replace(written[1], report)
    except TwinError as exc:
        print(f"error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        for tmp in written:
            tmp.unlink(missing_ok=True)
    if not args.quiet:
        h = calibration.history
        print(
            f"calibrated {len(calibration.demand)} node(s) and {len(calibration.lead_times)} lane(s) "
            f"on {h.periods} periods ({h.date(h.first)} .. {h.date(h.last)}) of {history.source}"
        )
        print()
        print("\n".join(summary_lines(calibration)))
        print()
        for note in calibration.skipped:
            print(f"not in the scenario, skipped: {note}")
    print(f"wrote {out} and {report}")
    return 0


if __name__ == "__main__":
    sys.exit(run_command(main))
