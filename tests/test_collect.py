"""``perpml collect`` against a local WebSocket server and a real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from typer.testing import CliRunner

from perpml.cli import app
from perpml.data.liquidations import parse_force_order
from perpml.exceptions import DataFormatError

runner = CliRunner()
T0 = 1_704_067_200_000  # 2024-01-01 00:00 UTC, ms


def force_order(i: int, symbol: str = "BTCUSDT", side: str | None = None) -> str:
    side = side or ("SELL" if i % 3 else "BUY")
    qty = f"{0.01 * (i + 1):.3f}"
    return json.dumps(
        {
            "e": "forceOrder",
            "E": T0 + 1000 * i + 5,
            "o": {
                "s": symbol, "S": side, "o": "LIMIT", "f": "IOC", "q": qty,
                "p": "42000.1", "ap": "42010.5", "X": "FILLED", "l": qty, "z": qty,
                "T": T0 + 1000 * i,
            },
        }
    )  # fmt: skip


class FakeBinance:
    """A WebSocket server on 127.0.0.1 playing one script per connection.

    Each connection sends its list of messages, then closes (the last script keeps
    the connection open until the client leaves).
    """

    def __init__(self, scripts: list[list[str]]) -> None:
        self.scripts = scripts
        self.paths: list[str] = []
        self.port = 0
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()))

    async def _handler(self, ws) -> None:  # type: ignore[no-untyped-def]
        n = len(self.paths)
        self.paths.append(ws.request.path)
        script = self.scripts[min(n, len(self.scripts) - 1)]
        for message in script:
            await ws.send(message)
        if n < len(self.scripts) - 1:
            await ws.close()
        else:
            await ws.wait_closed()

    async def _main(self) -> None:
        from websockets.asyncio.server import serve

        self._loop = asyncio.get_running_loop()
        self._stop = self._loop.create_future()
        async with serve(self._handler, "127.0.0.1", 0) as server:
            self.port = next(iter(server.sockets)).getsockname()[1]
            self._ready.set()
            await self._stop

    def __enter__(self) -> FakeBinance:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set_result, None)
        self._thread.join(10)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def _rows(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT timestamp, symbol, quantity, side, order_id FROM liquidations "
            "ORDER BY timestamp"
        ).fetchall()


@pytest.fixture
def replaying_server() -> Iterator[FakeBinance]:
    # connection 1: events 0-4, then drops; connection 2 replays 3-4 (duplicates), a
    # subscription reply, another symbol's event, then 5-9
    first = [force_order(i) for i in range(5)]
    second = [
        force_order(3),
        force_order(4),
        json.dumps({"result": None, "id": 1}),
        force_order(20, symbol="ETHUSDT"),
        *(force_order(i) for i in range(5, 10)),
    ]
    with FakeBinance([first, second]) as server:
        yield server


@pytest.mark.postgres
def test_collect_reconnects_and_stores_each_event_once(
    postgres_db: str, replaying_server: FakeBinance
) -> None:
    args = ["collect", "--symbol", "BTCUSDT", "--db-url", postgres_db,
            "--ws-url", replaying_server.url, "--max-events", "10",
            "--duration", "30", "--backoff", "0.05"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Recorded 10 liquidation(s)" in result.output
    assert replaying_server.paths[:2] == ["/ws/btcusdt@forceOrder"] * 2
    rows = _rows(postgres_db)
    assert len(rows) == 10
    assert [r[2] for r in rows] == pytest.approx([0.01 * (i + 1) for i in range(10)])
    assert {r[3] for r in rows} == {"SELL", "BUY"} and {r[1] for r in rows} == {
        "BTCUSDT"
    }
    # a second run, replayed events 3-9 again, adds nothing (upsert on the identity)
    again = runner.invoke(app, [*args[:-6], "--max-events", "7", *args[-4:]])
    assert again.exit_code == 0, again.output
    assert _rows(postgres_db) == rows


@pytest.mark.postgres
def test_collected_events_become_per_bar_liquidations(
    postgres_db: str, replaying_server: FakeBinance
) -> None:
    from perpml.data.database import connect, write_market
    from perpml.data.sources.postgres import PostgresSource
    from perpml.data.sources.synthetic import simulate_market

    result = runner.invoke(
        app, ["collect", "--db-url", postgres_db, "--ws-url", replaying_server.url,
              "--max-events", "10", "--backoff", "0.05"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    frame = simulate_market("BTCUSDT", days=1, interval="5m", seed=1).frame
    bars = frame.drop(columns=[c for c in frame.columns if c.startswith("liq")])
    engine = connect(postgres_db)
    write_market(engine, bars.iloc[:12], symbol="BTCUSDT", interval="5m")
    engine.dispose()
    got = PostgresSource(postgres_db).load("BTCUSDT", None, "5m")
    # events 0..9 are one second apart from 00:00: all in the first 5m bar
    sells = sum(0.01 * (i + 1) for i in range(10) if i % 3)
    buys = sum(0.01 * (i + 1) for i in range(10) if not i % 3)
    assert got["liquidation_long_volume"].iloc[0] == pytest.approx(sells)
    assert got["liquidation_short_volume"].iloc[0] == pytest.approx(buys)
    assert got["liquidation_count"].iloc[0] == 10
    assert got["liquidation_count"].iloc[1:].isna().all()  # after the last event


@pytest.mark.postgres
def test_collect_retries_while_the_stream_is_down_and_stops_on_duration(
    postgres_db: str,
) -> None:
    from servers import free_port

    start = time.monotonic()
    result = runner.invoke(
        app, ["collect", "--db-url", postgres_db, "--ws-url",
              f"ws://127.0.0.1:{free_port()}", "--duration", "1.5", "--backoff", "0.1"],
    )  # fmt: skip
    elapsed = time.monotonic() - start
    assert result.exit_code == 0, result.output
    assert "Recorded 0 liquidation(s)" in result.output
    assert result.output.count("reconnecting in") >= 3  # 0.1, 0.2, 0.4, ... s
    assert 1.4 <= elapsed < 10


def test_collect_database_down_names_the_host() -> None:
    from servers import free_port

    port = free_port()
    result = runner.invoke(
        app, ["collect", "--db-url", f"postgresql://u@127.0.0.1:{port}/db",
              "--max-events", "1"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert f"127.0.0.1:{port}" in " ".join(result.output.split())


@pytest.mark.parametrize(
    ("message", "match"),
    [
        pytest.param("not json", "not JSON", id="not-json"),
        pytest.param('{"e": "aggTrade"}', "forceOrder event", id="other-event"),
        pytest.param('{"e": "forceOrder", "o": {"s": "BTCUSDT"}}', "lacks", id="field"),
        pytest.param(
            force_order(1).replace('"SELL"', '"HOLD"'), "SELL or BUY", id="side"
        ),
    ],
)
def test_bad_messages_are_refused(message: str, match: str) -> None:
    with pytest.raises(DataFormatError, match=match):
        parse_force_order(message)


def test_message_parsing_follows_the_payload_fields() -> None:
    event = parse_force_order(force_order(2))
    assert event.side == "SELL" and event.quantity == pytest.approx(0.03)
    assert event.price == pytest.approx(42010.5)  # average price
    assert event.timestamp.value == (T0 + 2000) * 1_000_000
    wrapped = json.dumps(
        {"stream": "btcusdt@forceOrder", "data": json.loads(force_order(2))}
    )
    assert parse_force_order(wrapped) == event  # combined-stream wrapper
