"""Databases for the tests of ``twin.live``: every database test runs on SQLite and on PostgreSQL.

SQLite is a file in the test's temporary folder. PostgreSQL is the server at
``TWIN_TEST_POSTGRES_URL`` (``.ci/run`` starts one and sets it): each test gets a database of its
own, dropped afterwards. Without the variable the PostgreSQL cases are skipped (a machine without a
server), unless ``TWIN_REQUIRE_POSTGRES`` is set (CI sets it), when they fail instead.

Import the fixtures into a test module to use them (``from databases import
database_url_fixture``), then ask for ``database_url`` or ``store_url``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

POSTGRES_ENV = "TWIN_TEST_POSTGRES_URL"
REQUIRE_ENV = "TWIN_REQUIRE_POSTGRES"
DATABASES = ("sqlite", "postgresql")


def postgres_server() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        if os.environ.get(REQUIRE_ENV):
            pytest.fail(
                f"{REQUIRE_ENV} is set but {POSTGRES_ENV} is not: no PostgreSQL server to test on"
            )
        pytest.skip(f"no PostgreSQL server ({POSTGRES_ENV} is not set)")
    return url


def _fresh_database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'twin.db'}"
        return
    import sqlalchemy as sa

    server = sa.engine.make_url(postgres_server())
    name = f"twin_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')
        admin.dispose()


@pytest.fixture(name="database_url", params=DATABASES)
def database_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, then a PostgreSQL database."""
    yield from _fresh_database(request.param, tmp_path)


@pytest.fixture(name="store_url", params=(*DATABASES, "parquet"))
def store_url_fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store: a SQLite file, a PostgreSQL database, a folder of Parquet files."""
    if request.param == "parquet":
        yield str(tmp_path / "tables")
        return
    yield from _fresh_database(request.param, tmp_path)
