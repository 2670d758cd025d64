"""The server fixtures give real servers (or skip with a reason)."""

from __future__ import annotations

import pytest


@pytest.mark.redis
def test_redis_fixture_is_a_real_server(redis_url):
    import redis

    client = redis.Redis.from_url(redis_url)
    client.set("perpml:probe", b"1")
    assert client.get("perpml:probe") == b"1"
    client.delete("perpml:probe")


@pytest.mark.postgres
def test_postgres_fixture_gives_a_fresh_database(postgres_db):
    import psycopg

    with psycopg.connect(postgres_db) as conn:
        assert conn.execute(
            "select count(*) from pg_tables where schemaname='public'"
        ).fetchone() == (0,)
