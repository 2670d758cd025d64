"""The market database against a real PostgreSQL server (``postgres_db`` fixture)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psycopg
import pytest
from typer.testing import CliRunner

from perpml.cli import app
from perpml.config import DatabaseConfig
from perpml.data import load_market_data
from perpml.data.database import connect, init_schema, write_market
from perpml.data.sources.postgres import PostgresSource
from perpml.exceptions import ConfigError, DataSourceError

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()
TABLES = ("ohlcv", "open_interest", "funding_rate", "long_short_ratio", "liquidations")
INJECTION = "BTCUSDT'; DROP TABLE ohlcv; --"


def _sim(days: float = 2) -> pd.DataFrame:
    return load_market_data("synthetic", symbol="BTCUSDT", days=days, interval="5m")


def _flat(text: str) -> str:
    return " ".join(text.split())


def _counts(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        return {
            t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[index]
            for t in TABLES
        }


def _dump(url: str) -> dict[str, list[tuple]]:
    with psycopg.connect(url) as conn:
        return {
            t: conn.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3").fetchall()
            for t in TABLES
        }


@pytest.mark.postgres
def test_init_creates_the_schema_with_keys(postgres_db: str) -> None:
    result = runner.invoke(app, ["db", "init", "--db-url", postgres_db])
    assert result.exit_code == 0, result.output
    assert "plain tables" in result.output  # no TimescaleDB on the test server
    again = runner.invoke(app, ["db", "init", "--db-url", postgres_db])
    assert again.exit_code == 0, again.output
    with psycopg.connect(postgres_db) as conn:
        keys = dict(
            conn.execute(
                "SELECT tc.table_name, string_agg(kcu.column_name, ',' ORDER BY "
                "kcu.ordinal_position) FROM information_schema.table_constraints tc "
                "JOIN information_schema.key_column_usage kcu USING (constraint_name) "
                "WHERE tc.constraint_type = 'PRIMARY KEY' AND tc.table_schema = 'public' "
                "GROUP BY tc.table_name"
            ).fetchall()
        )
    assert keys == {
        "ohlcv": "symbol,timestamp",
        "open_interest": "symbol,timestamp",
        "funding_rate": "symbol,timestamp",
        "long_short_ratio": "symbol,timestamp",
        "liquidations": "symbol,timestamp,order_id",
    }


@pytest.mark.postgres
def test_load_then_read_round_trips_the_frame(postgres_db: str) -> None:
    result = runner.invoke(
        app, ["db", "load", "--mock", "--days", "2", "--db-url", postgres_db]
    )
    assert result.exit_code == 0, result.output
    assert "ohlcv 576" in result.output
    back = load_market_data("postgres", symbol="BTCUSDT", days=None, interval="5m",
                            url=postgres_db)  # fmt: skip
    frame = _sim()
    assert list(back.columns) == list(frame.columns)
    pd.testing.assert_frame_equal(back, frame, check_freq=False)
    assert back.attrs["source"] == "postgres"
    # inferred symbol and interval, and a days window counted back from the last bar
    tail = load_market_data("postgres", symbol=None, days=1, interval=None,
                            url=postgres_db)  # fmt: skip
    pd.testing.assert_frame_equal(tail, frame.iloc[-288:], check_freq=False)


@pytest.mark.postgres
def test_reloading_duplicates_nothing(postgres_db: str) -> None:
    engine = connect(postgres_db)
    init_schema(engine)
    frame = _sim()
    write_market(engine, frame, symbol="BTCUSDT", interval="5m")
    first = _dump(postgres_db)
    write_market(engine, frame, symbol="BTCUSDT", interval="5m")
    assert _dump(postgres_db) == first
    # an overlapping range: the overlap is upserted, nothing duplicated (at most a
    # zero-volume coverage row is added at its first bar)
    write_market(engine, frame.iloc[100:400], symbol="BTCUSDT", interval="5m")
    engine.dispose()
    counts = _counts(postgres_db)
    assert {t: counts[t] for t in TABLES[:4]} == dict.fromkeys(TABLES[:4], len(frame))
    assert counts["liquidations"] - len(first["liquidations"]) in (0, 1, 2)
    back = load_market_data("postgres", symbol="BTCUSDT", days=None, interval="5m",
                            url=postgres_db)  # fmt: skip
    pd.testing.assert_frame_equal(back, frame, check_freq=False)


@pytest.mark.postgres
def test_killed_load_leaves_nothing_and_rerun_gives_the_same_table(
    postgres_db: str,
) -> None:
    engine = connect(postgres_db)
    init_schema(engine)
    engine.dispose()
    args = ["db", "load", "--mock", "--days", "2", "--db-url", postgres_db]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    code = "import sys; from perpml.cli import app; app(sys.argv[1:])"
    blocker = psycopg.connect(postgres_db)
    # hold the last table so the load blocks mid-transaction, after merging the others
    blocker.execute("LOCK TABLE liquidations IN ACCESS EXCLUSIVE MODE")
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        with psycopg.connect(postgres_db, autocommit=True) as watch:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                waiting = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                    "current_database() AND wait_event_type = 'Lock'"
                ).fetchone()[0]  # type: ignore[index]
                if waiting or proc.poll() is not None:
                    break
                time.sleep(0.05)
            assert waiting, f"the load never blocked (exit code {proc.poll()})"
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            blocker.rollback()
            deadline = time.monotonic() + 30
            while (
                watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                    "current_database() AND pid <> pg_backend_pid() AND "
                    "backend_type = 'client backend' AND state <> 'idle'"
                ).fetchone()[0]
                and time.monotonic() < deadline
            ):  # type: ignore[index]
                time.sleep(0.05)
    finally:
        blocker.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert _counts(postgres_db) == dict.fromkeys(TABLES, 0)  # nothing half-written
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    back = load_market_data("postgres", symbol="BTCUSDT", days=None, interval="5m",
                            url=postgres_db)  # fmt: skip
    pd.testing.assert_frame_equal(back, _sim(), check_freq=False)


@pytest.mark.postgres
def test_injection_symbol_is_refused_or_harmless(postgres_db: str) -> None:
    engine = connect(postgres_db)
    init_schema(engine)
    write_market(engine, _sim(1), symbol="BTCUSDT", interval="5m")
    engine.dispose()
    result = runner.invoke(
        app, ["db", "load", "--mock", "--days", "1", "--symbol", INJECTION,
              "--db-url", postgres_db],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "not an exchange symbol" in _flat(result.output)
    with pytest.raises(ConfigError, match="not an exchange symbol"):
        load_market_data("postgres", symbol=INJECTION, url=postgres_db)
    # below the symbol check the value is a bound parameter: no match, no harm
    with pytest.raises(DataSourceError, match="no bar of symbol"):
        PostgresSource(postgres_db).load(INJECTION, None, "5m")
    assert _counts(postgres_db)["ohlcv"] == 288


def test_database_down_is_a_clear_error_naming_the_host() -> None:
    from servers import free_port

    port = free_port()
    with pytest.raises(DataSourceError, match=f"127.0.0.1:{port}.*--mock"):
        load_market_data("postgres", url=f"postgresql://u:secret@127.0.0.1:{port}/x")
    result = runner.invoke(
        app, ["run", "--db-host", "127.0.0.1", "--db-port", str(port),
              "--db-password", "secret", "--days", "1"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert f"127.0.0.1:{port}" in _flat(result.output)
    assert "--mock" in _flat(result.output) and "secret" not in result.output


@pytest.mark.slow
def test_seed_command_without_mock_stops_when_the_database_is_down() -> None:
    from servers import free_port

    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    env.pop("PERPML_DB_URL", None)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "run_full_pipeline.py"), "--db-port", str(port),
         "--days", "1"],
        capture_output=True, text=True, env=env, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2
    assert f"localhost:{port}" in _flat(proc.stderr) and "--mock" in proc.stderr


def test_mock_with_a_database_option_is_a_contradiction() -> None:
    result = runner.invoke(
        app, ["run", "--mock", "--db-url", "postgresql://u@h/db", "--days", "1"]
    )
    assert result.exit_code == 2
    assert "--mock" in _flat(result.output) and "--db-url" in _flat(result.output)


@pytest.mark.postgres
def test_configured_table_names_are_used(postgres_db: str) -> None:
    config = DatabaseConfig(ohlcv_table="bars", funding_rate_table="fr",
                            funding_rate_column="rate")  # fmt: skip
    engine = connect(postgres_db)
    init_schema(engine, config)
    frame = _sim(1)
    write_market(engine, frame, symbol="BTCUSDT", interval="5m", config=config)
    engine.dispose()
    with psycopg.connect(postgres_db) as conn:
        assert conn.execute("SELECT count(rate) FROM fr").fetchone()[0] == 288  # type: ignore[index]
    back = load_market_data("postgres", symbol="BTCUSDT", days=None, interval="5m",
                            url=postgres_db, database=config)  # fmt: skip
    pd.testing.assert_frame_equal(back, frame, check_freq=False)


@pytest.mark.postgres
def test_seed_tables_without_the_extra_columns_are_read(postgres_db: str) -> None:
    # the seed's own minimal Phase 1 schema, collected as events and snapshots
    with psycopg.connect(postgres_db) as conn:
        conn.execute(
            "CREATE TABLE ohlcv (timestamp TIMESTAMPTZ, symbol TEXT, open FLOAT, "
            "high FLOAT, low FLOAT, close FLOAT, volume FLOAT);"
            "CREATE TABLE funding_rate (timestamp TIMESTAMPTZ, symbol TEXT, "
            "funding_rate FLOAT);"
            "CREATE TABLE liquidations (timestamp TIMESTAMPTZ, symbol TEXT, "
            "quantity FLOAT, side TEXT, order_id TEXT)"
        )
        for i in range(6):
            conn.execute(
                "INSERT INTO ohlcv VALUES (%s, 'ETHUSDT', 10, 11, 9, 10, 5)",
                (
                    pd.Timestamp("2024-01-01 07:30", tz="UTC")
                    + pd.Timedelta(minutes=5 * i),
                ),
            )
        conn.execute("INSERT INTO funding_rate VALUES ('2024-01-01 00:00:00.007+00', "
                     "'ETHUSDT', 0.0001), ('2024-01-01 08:00:00.005+00', 'ETHUSDT', 0.0003)")  # fmt: skip
        conn.execute(
            "INSERT INTO liquidations VALUES "
            "('2024-01-01 07:36:00+00', 'ETHUSDT', 2, 'SELL', 'a'),"
            "('2024-01-01 07:39:59+00', 'ETHUSDT', 1, 'BUY', 'b'),"
            "('2024-01-01 07:50:00+00', 'ETHUSDT', 4, 'SELL', 'c')"
        )
    got = load_market_data("postgres", symbol="ETHUSDT", days=None, interval="5m",
                           url=postgres_db)  # fmt: skip
    # 08:00 settlement counts from the bar closing at 08:00 (opens 07:55)
    assert got["funding_rate"].tolist() == [0.0001] * 5 + [0.0003]
    # a SELL forced order closes a long; bars inside the recorded period are 0
    assert got["liquidation_long_volume"].tolist()[1:5] == [2.0, 0.0, 0.0, 4.0]
    assert got["liquidation_short_volume"].tolist()[1:5] == [1.0, 0.0, 0.0, 0.0]
    assert got["liquidation_count"].tolist()[1:5] == [2.0, 0.0, 0.0, 1.0]
    # before the first recorded event nothing is known; after the last, 07:55 neither
    assert got["liquidation_count"].isna().tolist() == [True] + [False] * 4 + [True]


@pytest.mark.postgres
@pytest.mark.slow
def test_seed_command_on_the_database_builds_the_same_features_as_mock(
    postgres_db: str, tmp_path: Path
) -> None:
    from perpml.cli.seed import seed_main

    loaded = runner.invoke(app, ["db", "load", "--mock", "--days", "3", "--db-url",
                                 postgres_db])  # fmt: skip
    assert loaded.exit_code == 0, loaded.output
    small = tmp_path / "small.toml"
    small.write_text("[split]\nwalk_forward_splits = 0\n")
    common = ["--days", "3", "--features", "5", "--skip-lstm", "--skip-catboost",
              "--skip-nn", "--no-report", "--quiet", "--config", str(small)]  # fmt: skip
    runs = {}
    for name, extra in (("mock", ["--mock"]), ("db", ["--db-url", postgres_db])):
        out = tmp_path / name
        with pytest.raises(SystemExit) as done:
            seed_main([*common, *extra, "--out", str(out)])
        assert done.value.code in (0, None)
        runs[name] = out
    meta = {k: json.loads((v / "run.json").read_text()) for k, v in runs.items()}
    assert meta["db"]["source"] == "postgres" and meta["mock"]["source"] == "synthetic"
    for key in ("data_fingerprint", "feature_set_id", "features", "n_features_built"):
        assert meta["db"][key] == meta["mock"][key], key
    sets = {k: next((v / "data").iterdir()) for k, v in runs.items()}
    for part in ("X_train", "X_test"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(sets["db"] / f"{part}.parquet"),
            pd.read_parquet(sets["mock"] / f"{part}.parquet"),
        )


@pytest.mark.parametrize(
    "database",
    [
        pytest.param({"url": "postgresql://me:secret@db:5432/trading_db"}, id="url"),
        pytest.param({"password": "secret", "host": "db"}, id="parts"),
    ],
)
def test_the_password_never_reaches_the_run_config(database: dict) -> None:
    from perpml.config import RunConfig, config_from_mapping, dump_config

    cfg = RunConfig().with_overrides("database", **database)
    text = dump_config(cfg)
    assert "secret" not in text
    back = config_from_mapping(__import__("tomllib").loads(text))
    assert back.database.host == cfg.database.host
    if "url" in database:
        assert back.database.url == "postgresql://me@db:5432/trading_db"
