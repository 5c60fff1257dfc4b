"""Where the tables of :mod:`twin.live.tables` are kept: a database or a folder of Parquet files.

:func:`open_store` takes

* a SQLAlchemy URL: ``sqlite:///data/sample.db``, ``postgresql+psycopg://user@host/db``, ...;
* a path to a SQLite file (``data/sample.db``, ``.sqlite``, ``.sqlite3``);
* a path to a folder of Parquet files (``data/sample/`` holding ``stock.parquet``, ...).

Reading returns plain rows (dicts) whose values are checked and converted by the column types of
the layout: a wrong value is a :class:`~twin.scenario.state.DataError` that names the source, the
table, the row (by its key columns) and the column. Writing puts several tables in one transaction
(a database; a failed or interrupted write leaves nothing) or writes each Parquet file atomically.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from entities.errors import DataError
from twin.live.tables import metadata

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")

#: Columns that name a row in messages (``shipments[shipment_id='S17']``).
ROW_KEYS: dict[str, tuple[str, ...]] = {
    "stock": ("as_of", "node", "sku"),
    "customer_orders": ("order_id",),
    "open_orders": ("order_id",),
    "shipments": ("shipment_id",),
    "demand_history": ("date", "node", "sku"),
    "order_history": ("date", "origin", "destination", "sku"),
    "receipt_history": ("origin", "destination", "sku", "shipped"),
    "stock_history": ("date", "node", "sku"),
}


def row_label(table: str, row: Mapping[str, Any], index: int) -> str:
    """``table[key=value, ...]`` for messages (``table[row N]`` without key values)."""
    keys = [k for k in ROW_KEYS.get(table, ()) if row.get(k) is not None]
    if not keys:
        return f"{table}[row {index + 1}]"
    return f"{table}[" + ", ".join(f"{k}={_show(row[k])}" for k in keys) + "]"


def _show(value: Any) -> str:
    return repr(value.isoformat()) if isinstance(value, dt.date) else repr(value)


class Store:
    """Tables in a database or a Parquet folder (see the module docstring)."""

    def __init__(self, url: str, *, create: bool = False) -> None:
        self.url = url
        self.engine: sa.Engine | None = None
        self.folder: Path | None = None
        if "://" in url:
            try:
                parsed = sa.engine.make_url(url)
            except sa.exc.ArgumentError as exc:
                raise DataError(f"{url}: not a database URL ({exc})") from None
            self.label = parsed.render_as_string(hide_password=True)
            database = parsed.database
            if parsed.get_backend_name() == "sqlite" and database and database != ":memory:":
                self._check_sqlite(Path(database), create)
            self._connect(url)
        elif Path(url).suffix.lower() in SQLITE_SUFFIXES:
            self.label = url
            self._check_sqlite(Path(url), create)
            self._connect(f"sqlite:///{Path(url)}")
        else:
            self.label = url
            self.folder = Path(url)
            if not create and not self.folder.is_dir():
                raise DataError(f"{url}: no such folder of Parquet files (or give a database URL)")

    def _check_sqlite(self, path: Path, create: bool) -> None:
        if not create and not path.is_file():
            raise DataError(f"{self.label}: no such database file")
        if create:
            path.parent.mkdir(parents=True, exist_ok=True)

    def _connect(self, url: str) -> None:
        try:
            self.engine = sa.create_engine(url)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise DataError(f"{self.label}: cannot use this database ({exc})") from None
        if self.engine.dialect.name == "sqlite":
            _transactional_sqlite(self.engine)

    def close(self) -> None:
        if self.engine is not None:
            self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def is_database(self) -> bool:
        return self.engine is not None

    # -- reading ----------------------------------------------------------------------------------

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.SQLAlchemyError as exc:
            reason = " ".join(str(getattr(exc, "orig", None) or exc).split())
            raise DataError(f"{self.label}: {reason[:300]}") from None
        except OSError as exc:
            raise DataError(f"{self.label}: {exc}") from None

    def tables(self) -> set[str]:
        """Names of the tables (or Parquet files) present."""
        if self.folder is not None:
            return {p.stem for p in self.folder.glob("*.parquet")}
        with self._errors():
            return set(sa.inspect(self.engine).get_table_names())  # type: ignore[arg-type]

    def has(self, table: sa.Table) -> bool:
        return table.name in self.tables()

    def read(
        self, table: sa.Table, *, where: Mapping[str, Any] | None = None, optional: bool = False
    ) -> list[dict[str, Any]]:
        """The rows of ``table`` (those whose columns equal ``where``), checked and converted.

        A missing table is an error naming the tables present, unless ``optional`` (then: no rows).
        """
        present = self.tables()
        if table.name not in present:
            if optional:
                return []
            raise DataError(
                f"{self.label}: no table {table.name!r} (it has: {', '.join(sorted(present)) or 'none'})"
            )
        names = [c.name for c in table.columns]
        raw = self._read_raw(table, names, where or {})
        if not raw or not next(iter(raw.values())):
            return []
        n = len(next(iter(raw.values())))
        columns = {
            c.name: self._column(table, c, raw.get(c.name) or [None] * n, raw) for c in table.columns
        }
        return [
            dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)
        ]

    def _read_raw(
        self, table: sa.Table, names: list[str], where: Mapping[str, Any]
    ) -> dict[str, list[Any]]:
        """The raw values of the table's columns (those present), by column."""
        if self.folder is not None:
            import pyarrow.parquet as pq

            path = self.folder / f"{table.name}.parquet"
            try:
                schema = pq.read_schema(path)
                missing = [n for n in names if n not in schema.names and not table.c[n].nullable]
                if missing:
                    raise DataError(f"{self.label}: {path.name} has no column {missing[0]!r}")
                data = pq.read_table(path, columns=[n for n in names if n in schema.names]).to_pydict()
            except (OSError, ValueError) as exc:
                raise DataError(f"{self.label}: {path.name}: {exc}") from None
            if where and data:
                size = len(next(iter(data.values())))
                keep = [i for i in range(size) if all(_same(data[k][i], v) for k, v in where.items())]
                data = {k: [col[i] for i in keep] for k, col in data.items()}
            return data
        with self._errors():
            inspector = sa.inspect(self.engine)
            present = {c["name"] for c in inspector.get_columns(table.name)}  # type: ignore[union-attr]
            missing = [n for n in names if n not in present and not table.c[n].nullable]
            if missing:
                raise DataError(f"{self.label}: table {table.name!r} has no column {missing[0]!r}")
            light = sa.table(table.name, *(sa.column(n) for n in names if n in present))
            query = sa.select(*light.c)
            for key, value in where.items():
                query = query.where(light.c[key] == sa.bindparam(key, value, type_=table.c[key].type))
            with self.engine.connect() as conn:  # type: ignore[union-attr]
                result = conn.execute(query)
                keys = list(result.keys())
                rows = result.all()
            if not rows:
                return {}
            return {k: list(col) for k, col in zip(keys, zip(*rows, strict=True), strict=True)}

    def _column(
        self, table: sa.Table, column: sa.Column, values: list[Any], raw: dict[str, list[Any]]
    ) -> list[Any]:
        """One column's values checked and converted (a whole column at once: the common case,
        every value already of the right type, costs one pass)."""
        kind = type(column.type).__name__
        exact = _EXACT.get(kind)
        if exact is not None and all(type(v) is exact for v in values):
            if kind != "Float" or all(math.isfinite(v) for v in values):
                return values
        convert = _CONVERT[kind]
        out: list[Any] = []
        for i, value in enumerate(values):
            if value is None:
                if not column.nullable:
                    where = row_label(table.name, {k: col[i] for k, col in raw.items()}, i)
                    raise DataError(f"{self.label}: {where}.{column.name}: is empty (NULL)")
                out.append(None)
                continue
            try:
                out.append(convert(value))
            except (TypeError, ValueError):
                where = row_label(table.name, {k: col[i] for k, col in raw.items()}, i)
                raise DataError(
                    f"{self.label}: {where}.{column.name}: {_EXPECTED[kind]}, got {value!r}"
                ) from None
        return out

    # -- writing ----------------------------------------------------------------------------------

    def write(
        self, data: Mapping[sa.Table, Sequence[Mapping[str, Any]]], *, replace: bool = False
    ) -> None:
        """Write rows to several tables; ``replace``: drop what the tables held first.

        In a database, everything is one transaction: an error or an interruption (even a killed
        process) leaves the tables as they were. Parquet files are each written atomically.
        """
        if self.folder is not None:
            self._write_parquet(data, replace)
            return
        with self._errors(), self.engine.begin() as conn:  # type: ignore[union-attr]
            tables = list(data)
            metadata.create_all(conn, tables=tables, checkfirst=True)
            for table, rows in data.items():
                if replace:
                    conn.execute(table.delete())
                if rows:
                    conn.execute(table.insert(), [dict(r) for r in rows])

    def _write_parquet(
        self, data: Mapping[sa.Table, Sequence[Mapping[str, Any]]], replace: bool
    ) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.folder is not None
        self.folder.mkdir(parents=True, exist_ok=True)
        for table, rows in data.items():
            path = self.folder / f"{table.name}.parquet"
            old = [] if replace or not path.is_file() else pq.read_table(path).to_pylist()
            columns = {
                c.name: pa.array(
                    [r.get(c.name) for r in [*old, *rows]], type=_arrow_type(type(c.type).__name__)
                )
                for c in table.columns
            }
            tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
            try:
                pq.write_table(pa.table(columns), tmp)
                os.replace(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)


def _transactional_sqlite(engine: sa.Engine) -> None:
    """Let SQLite's own transactions cover everything, table creation included: Python's sqlite3
    driver begins a transaction only at the first data change (SQLAlchemy's documented recipe,
    "Serializable isolation / Savepoints / Transactional DDL")."""

    @sa.event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _begin(connection: sa.Connection) -> None:
        connection.exec_driver_sql("BEGIN")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dt.datetime):
        a = a.date()
    if isinstance(b, dt.date) and isinstance(a, str):
        try:
            a = dt.date.fromisoformat(a)
        except ValueError:
            return False
    return bool(a == b)


def _to_date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return dt.date.fromisoformat(value.strip()[:10])
    raise TypeError(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise TypeError(value)
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(value)
    return number


def _to_int(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, int):
        raise TypeError(value)
    return value


def _to_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    raise TypeError(value)


def _to_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value)
    raise TypeError(value)


_EXACT: dict[str, type] = {"Date": dt.date, "Float": float, "String": str, "Text": str, "Integer": int}
"""Column types whose values need no conversion when they already have this exact type."""
_CONVERT: dict[str, Any] = {
    "Date": _to_date,
    "DateTime": _to_datetime,
    "Float": _to_float,
    "Integer": _to_int,
    "BigInteger": _to_int,
    "String": _to_text,
    "Text": _to_text,
}
_EXPECTED = {
    "Date": "expected a date (YYYY-MM-DD)",
    "DateTime": "expected a date and time",
    "Float": "expected a finite number",
    "Integer": "expected an integer",
    "BigInteger": "expected an integer",
    "String": "expected text",
    "Text": "expected text",
}


def _arrow_type(name: str) -> Any:
    import pyarrow as pa

    return {
        "Date": pa.date32(),
        "DateTime": pa.timestamp("us"),
        "Float": pa.float64(),
        "Integer": pa.int64(),
        "BigInteger": pa.int64(),
        "String": pa.string(),
        "Text": pa.string(),
    }[name]


def open_store(url: str | os.PathLike[str], *, create: bool = False) -> Store:
    """The store at ``url`` (see the module docstring); ``create`` for a store to write into."""
    return Store(str(url), create=create)
