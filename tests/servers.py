"""Real Redis and PostgreSQL servers for the tests that claim them.

A test marked ``redis`` or ``postgres`` asks for the ``redis_url`` / ``postgres_url``
fixture (``tests/conftest.py``). The server comes from, in order:

1. an environment variable naming a running server (``PERPML_TEST_REDIS_URL``,
   ``PERPML_TEST_POSTGRES_URL``) — ``.ci/run`` starts both and sets these;
2. a private server this module starts on 127.0.0.1 on a free port, in a temporary
   directory, when the binaries are installed (``redis-server``; PostgreSQL's
   ``initdb`` / ``pg_ctl``, run as the ``postgres`` user when we are root, because
   PostgreSQL refuses to run as root);
3. otherwise the test skips with the reason — or fails when ``CI=true``, where server
   tests must run.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["free_port", "postgres_server", "redis_server", "require_or_skip"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_or_skip(reason: str) -> None:
    """Skip the test with ``reason``; under ``CI=true`` fail instead."""
    import pytest

    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: server tests must run; .ci/run starts them)")
    pytest.skip(reason)


def _wait_for_port(port: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


@contextmanager
def redis_server() -> Iterator[str | None]:
    """Yield a Redis URL (persistence off), or None when redis-server is missing."""
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="perpml-redis-")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        if not _wait_for_port(port):
            yield None
            return
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def _pg_bindir() -> Path | None:
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    found = shutil.which("pg_ctl")
    return Path(found).parent if found else None


@contextmanager
def postgres_server() -> Iterator[str | None]:
    """Yield a PostgreSQL URL (user ``postgres``, trust auth on 127.0.0.1), or None."""
    bindir = _pg_bindir()
    if bindir is None:
        yield None
        return
    as_postgres: list[str] = []
    workdir = Path(tempfile.mkdtemp(prefix="perpml-pg-"))
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            shutil.rmtree(workdir, ignore_errors=True)
            yield None
            return
        os.chown(workdir, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data = workdir / "data"
    port = free_port()
    run = {"check": True, "stdout": subprocess.DEVNULL, "stderr": subprocess.PIPE}
    try:
        subprocess.run(
            [
                *as_postgres,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
            ],
            **run,  # type: ignore[call-overload]
        )
        subprocess.run(
            [
                *as_postgres,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(workdir / "log"),
                "-w",
                "-o",
                f"-p {port} -c listen_addresses=127.0.0.1 -k {workdir} "
                "-c fsync=off -c full_page_writes=off",
                "start",
            ],
            **run,  # type: ignore[call-overload]
        )
    except (subprocess.CalledProcessError, OSError):
        shutil.rmtree(workdir, ignore_errors=True)
        yield None
        return
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [
                *as_postgres,
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-m",
                "fast",
                "stop",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
        )
        shutil.rmtree(workdir, ignore_errors=True)
