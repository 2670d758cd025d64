"""Shared test configuration.

Server- and browser-backed tests carry markers (``redis``, ``postgres``, ``browser``)
and skip locally with a reason when the service is absent. CI sets
``PERPML_REQUIRE_BROWSER=1`` (see ``.ci/run``) so a missing browser fails instead.
"""

from __future__ import annotations

import os
import tempfile

import matplotlib
import pytest

matplotlib.use("Agg")

# Deterministic, quiet, thread-capped runs on a 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "2")
# libgomp's default busy-wait makes LightGBM 7-10x slower when cores are shared.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("PERPML_QUIET", "1")
# `perpml run` writes the offline feature store; tests never touch the user's cache.
os.environ.setdefault("PERPML_STORE_DIR", tempfile.mkdtemp(prefix="perpml-test-store-"))
os.environ.setdefault("PERPML_CACHE_DIR", tempfile.mkdtemp(prefix="perpml-test-cache-"))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):  # type: ignore[no-untyped-def]
    """Turn a skipped browser test into a failure when CI requires the browser."""
    report = yield
    if (
        report.skipped
        and item.get_closest_marker("browser") is not None
        and os.environ.get("PERPML_REQUIRE_BROWSER") == "1"
    ):
        report.outcome = "failed"
        report.longrepr = (
            f"browser test skipped in CI ({report.longrepr}); "
            ".ci/run must install chromium"
        )
    return report


# ------------------------------------------------------------------ real servers
@pytest.fixture(scope="session")
def redis_url():  # type: ignore[no-untyped-def]
    """URL of a real Redis server (from .ci/run, or started here); else skip."""
    from servers import redis_server, require_or_skip

    given = os.environ.get("PERPML_TEST_REDIS_URL")
    if given:
        yield given
        return
    with redis_server() as url:
        if url is None:
            require_or_skip(
                "redis-server is not installed (apt-get install redis-server)"
            )
        yield url


@pytest.fixture(scope="session")
def postgres_url():  # type: ignore[no-untyped-def]
    """URL of a real PostgreSQL server's ``postgres`` database; else skip."""
    from servers import postgres_server, require_or_skip

    given = os.environ.get("PERPML_TEST_POSTGRES_URL")
    if given:
        yield given
        return
    with postgres_server() as url:
        if url is None:
            require_or_skip("PostgreSQL is not installed (apt-get install postgresql)")
        yield url


@pytest.fixture
def postgres_db(postgres_url):  # type: ignore[no-untyped-def]
    """A fresh, empty database on the test server (dropped afterwards); its URL."""
    import uuid

    import psycopg

    name = f"perpml_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = postgres_url.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
