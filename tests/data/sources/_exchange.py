"""A local stand-in for fapi.binance.com and data.binance.vision (tests, benchmark).

Serves, on 127.0.0.1 and a random port, the exchange's own formats built from
deterministic numbers: JSON arrays for the REST endpoints, zips plus ``.CHECKSUM``
files for the archive, and a 404 with S3's XML body for a file that does not exist.
Faults are queued per path prefix and consumed one per request.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pandas as pd

S3_404 = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>NoSuchKey</Code>'
    "<Message>The specified key does not exist.</Message><Key>{key}</Key>"
    "<RequestId>4442587FB7D0A2F9</RequestId><HostId>perpml-test</HostId></Error>"
)
KLINE_HEADER = (
    "open_time,open,high,low,close,volume,close_time,quote_volume,count,"
    "taker_buy_volume,taker_buy_quote_volume,ignore"
)
METRICS_HEADER = (
    "create_time,symbol,sum_open_interest,sum_open_interest_value,"
    "count_toptrader_long_short_ratio,sum_toptrader_long_short_ratio,"
    "count_long_short_ratio,sum_taker_long_short_vol_ratio"
)
#: The fake exchange's and the test clients' clock: mid-day, early in a month.
NOW = pd.Timestamp("2024-03-10 12:00", tz="UTC")

STEPS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}
DAY = 86_400_000
FIVE = 300_000


def _price(ms: np.ndarray) -> np.ndarray:
    i = ms / FIVE
    return 2000.0 + 50.0 * np.sin(i / 50.0) + (i % 7) * 0.1


def kline_rows(
    start_ms: int, end_ms: int, step: int, feed: str = "klines"
) -> np.ndarray:
    """Rows (open_time, o, h, l, c, v, close_time, qv, n, tbv, tbqv) in [start, end)."""
    first = -(-start_ms // step) * step
    t = np.arange(first, end_ms, step).astype("int64")
    close = _price(t + step)
    open_ = _price(t)
    scale = {"klines": 1.0, "mark": 1.0001, "index": 0.9999}[feed]
    close, open_ = close * scale, open_ * scale
    vol = 10.0 + (t // step) % 13 if feed == "klines" else np.zeros(len(t))
    return np.column_stack(
        [
            t,
            open_,
            np.fmax(open_, close) + 1.0,
            np.fmin(open_, close) - 1.0,
            close,
            vol,
            t + step - 1,
            vol * close,
            100 + (t // step) % 17,
            vol * 0.5,
            vol * 0.5 * close,
        ]
    )


def metrics_rows(start_ms: int, end_ms: int) -> np.ndarray:
    """Snapshots (t, oi, oi_value, top_acc, top_pos, acc, taker) every 5 min."""
    t = np.arange(start_ms - start_ms % FIVE, end_ms, FIVE).astype("int64")
    t = t[t >= start_ms]
    oi = 1000.0 + (t // FIVE) % 100
    return np.column_stack(
        [
            t,
            oi,
            oi * _price(t),
            1.1 + 0 * t,
            1.2 + ((t // FIVE) % 10) / 100,
            0.9 + 0 * t,
            1.0 + ((t // FIVE) % 5) / 50,
        ]
    )


def funding_rows(start_ms: int, end_ms: int) -> np.ndarray:
    """Settlements (time + 7 ms jitter, rate) at 00, 08, 16 UTC."""
    eight = 8 * 3_600_000
    t = np.arange(start_ms - start_ms % eight, end_ms, eight).astype("int64")
    stamps = t + 7
    keep = (stamps >= start_ms) & (stamps < end_ms)
    t = t[keep]
    return np.column_stack([t + 7, 0.0001 * (1 + ((t // eight) % 5) / 10)])


def _zip(name: str, text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name.replace(".zip", ".csv"), text)
    return buf.getvalue()


@lru_cache(maxsize=4096)
def archive_file(path: str) -> bytes | None:
    """The zip for an archive path, built from the deterministic series."""
    parts = path.strip("/").split("/")
    # data/futures/um/<granularity>/<folder>/<SYM>[/<iv>]/<file>
    if len(parts) < 7 or parts[:3] != ["data", "futures", "um"]:
        return None
    granularity, folder, name = parts[3], parts[4], parts[-1]
    label = name[: -len(".zip")].rsplit("-", 3 if granularity == "daily" else 2)[1:]
    start = pd.Timestamp("-".join(label), tz="UTC")
    end = start + (
        pd.Timedelta(days=1) if granularity == "daily" else pd.offsets.MonthBegin(1)
    )
    a, b = start.value // 1_000_000, end.value // 1_000_000
    if folder in ("klines", "markPriceKlines", "indexPriceKlines"):
        feed = {
            "klines": "klines",
            "markPriceKlines": "mark",
            "indexPriceKlines": "index",
        }[folder]
        rows = kline_rows(a, b, STEPS[parts[6]], feed)
        frame = pd.DataFrame(rows)
        for c in (0, 6, 8):
            frame[c] = frame[c].astype("int64")
        frame[11] = 0
        text = (
            KLINE_HEADER
            + "\n"
            + frame.to_csv(header=False, index=False, float_format="%.8f")
        )
    elif folder == "metrics":
        rows = metrics_rows(a, b)
        symbol = parts[5]
        stamps = pd.to_datetime(rows[:, 0].astype("int64"), unit="ms").strftime(
            "%Y-%m-%d %H:%M:%S"
        )
        frame = pd.DataFrame(
            {"t": stamps, "s": symbol, **{i: rows[:, i] for i in range(1, 7)}}
        )
        text = (
            METRICS_HEADER
            + "\n"
            + frame.to_csv(header=False, index=False, float_format="%.8f")
        )
    elif folder == "fundingRate":
        rows = funding_rows(a, b)
        frame = pd.DataFrame({"t": rows[:, 0].astype("int64"), "h": 8, "r": rows[:, 1]})
        text = "calc_time,funding_interval_hours,last_funding_rate\n" + frame.to_csv(
            header=False, index=False, float_format="%.8f"
        )
    else:
        return None
    return _zip(name, text)


@dataclass
class Exchange:
    """The fake exchange's state: clock, listing, faults and the request log.

    Attributes
    ----------
    now : Timestamp
        The exchange's clock (publishing, the 30-day statistics window).
    listed : Timestamp
        First day with data.
    missing : set of str
        Archive paths answered with 404 (S3 XML body).
    bad_checksum, truncated : set of str
        Archive zips whose ``.CHECKSUM`` does not match / whose body is cut short
        (always, so retries cannot fix them).
    files : dict of str to bytes
        Archive paths served with these zips instead of the generated ones.
    faults : dict of str to list of dict
        Path prefix -> faults consumed one per request: ``status`` (+ ``headers``,
        ``body``), ``delay`` (seconds before answering), ``empty``, ``shift`` (rows
        moved this many points earlier: an overlapping page), ``truncate``,
        ``headers`` (extra headers on a normal answer).
    requests : list of str
        Every request's path and query, in order.
    """

    now: pd.Timestamp
    listed: pd.Timestamp = pd.Timestamp("2023-01-01", tz="UTC")
    missing: set[str] = field(default_factory=set)
    bad_checksum: set[str] = field(default_factory=set)
    truncated: set[str] = field(default_factory=set)
    faults: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)
    url: str = ""

    def count(self, prefix: str = "") -> int:
        """Requests whose path starts with ``prefix``."""
        return sum(1 for r in self.requests if r.startswith(prefix))

    def hits(self, path: str) -> int:
        """Requests of exactly ``path`` (query ignored)."""
        return sum(1 for r in self.requests if r.split("?", 1)[0] == path)

    def take_fault(self, path: str) -> dict[str, Any] | None:
        for prefix, queue in self.faults.items():
            if path.startswith(prefix) and queue:
                return queue.pop(0)
        return None

    # -- archive --------------------------------------------------------------

    def published(self, path: str) -> bool:
        parts = path.strip("/").split("/")
        name = parts[-1].split(".zip")[0]
        granularity = parts[3] if len(parts) > 3 else ""
        pieces = name.rsplit("-", 3 if granularity == "daily" else 2)[1:]
        try:
            start = pd.Timestamp("-".join(pieces), tz="UTC")
        except ValueError:
            return False
        end = start + (
            pd.Timedelta(days=1) if granularity == "daily" else pd.offsets.MonthBegin(1)
        )
        return end <= self.now and start >= self.listed.floor("D")

    def archive(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        is_sum = path.endswith(".CHECKSUM")
        zip_path = path[: -len(".CHECKSUM")] if is_sum else path
        if zip_path in self.missing or not self.published(zip_path):
            return (
                404,
                S3_404.format(key=path.lstrip("/")).encode(),
                {"Content-Type": "application/xml"},
            )
        body = self.files.get(zip_path) or archive_file(zip_path)
        if body is None:
            return (
                404,
                S3_404.format(key=path.lstrip("/")).encode(),
                {"Content-Type": "application/xml"},
            )
        if is_sum:
            digest = hashlib.sha256(body).hexdigest()
            if zip_path in self.bad_checksum:
                digest = hashlib.sha256(body + b"x").hexdigest()
            name = zip_path.rsplit("/", 1)[1]
            return 200, f"{digest}  {name}\n".encode(), {"Content-Type": "text/plain"}
        if zip_path in self.truncated:
            body = body[: len(body) // 2]
        return 200, body, {"Content-Type": "application/zip"}

    # -- REST -----------------------------------------------------------------

    def rest(
        self, path: str, query: dict[str, str], fault: dict[str, Any] | None
    ) -> tuple[int, bytes, dict[str, str]]:
        now_ms = self.now.value // 1_000_000
        listed_ms = self.listed.value // 1_000_000
        limit_max = (
            500
            if path.startswith("/futures/data/")
            else (1000 if path.endswith("fundingRate") else 1500)
        )
        limit = int(query.get("limit", 500 if limit_max != 500 else 30))
        if limit > limit_max:
            return (
                400,
                json.dumps(
                    {
                        "code": -1130,
                        "msg": "Data sent for parameter 'limit' is not valid.",
                    }
                ).encode(),
                {},
            )
        start = int(query.get("startTime", 0))
        end = int(query.get("endTime", now_ms))
        if path.startswith("/futures/data/") and start < now_ms - 30 * DAY:
            return (
                400,
                json.dumps(
                    {"code": -1130, "msg": "parameter 'startTime' is invalid."}
                ).encode(),
                {},
            )
        lo, hi = max(start, listed_ms), min(end, now_ms) + 1
        shift = int(fault.get("shift", 0)) if fault else 0
        out: list[Any]
        if path in (
            "/fapi/v1/klines",
            "/fapi/v1/markPriceKlines",
            "/fapi/v1/indexPriceKlines",
        ):
            step = STEPS[query["interval"]]
            lo -= shift * step
            feed = {
                "klines": "klines",
                "markPriceKlines": "mark",
                "indexPriceKlines": "index",
            }[path.rsplit("/", 1)[1]]
            rows = kline_rows(lo, hi, step, feed)[:limit]
            out = [
                [
                    int(r[0]),
                    f"{r[1]:.8f}",
                    f"{r[2]:.8f}",
                    f"{r[3]:.8f}",
                    f"{r[4]:.8f}",
                    f"{r[5]:.3f}",
                    int(r[6]),
                    f"{r[7]:.5f}",
                    int(r[8]),
                    f"{r[9]:.3f}",
                    f"{r[10]:.5f}",
                    "0",
                ]
                for r in rows
            ]
            # The open bar: its close time lies after now (a partial bar).
            out = [r for r in out if r[0] <= now_ms]
        elif path == "/fapi/v1/fundingRate":
            rows = funding_rows(lo, hi)[:limit]
            out = [
                {
                    "symbol": query["symbol"],
                    "fundingTime": int(r[0]),
                    "fundingRate": f"{r[1]:.8f}",
                    "markPrice": "2000.00000000",
                }
                for r in rows
            ]
        elif path.startswith("/futures/data/"):
            rows = metrics_rows(lo - shift * FIVE, hi)
            # These endpoints answer the *latest* `limit` points of the window.
            rows = rows[-limit:] if len(rows) > limit else rows
            name = path.rsplit("/", 1)[1]
            out = []
            for r in rows:
                t = int(r[0])
                if name == "openInterestHist":
                    out.append(
                        {
                            "symbol": query["symbol"],
                            "sumOpenInterest": f"{r[1]:.8f}",
                            "sumOpenInterestValue": f"{r[2]:.8f}",
                            "timestamp": t,
                        }
                    )
                elif name == "globalLongShortAccountRatio":
                    out.append(
                        {
                            "symbol": query["symbol"],
                            "longShortRatio": f"{r[5]:.4f}",
                            "longAccount": "0.5",
                            "shortAccount": "0.5",
                            "timestamp": t,
                        }
                    )
                elif name == "topLongShortPositionRatio":
                    out.append(
                        {
                            "symbol": query["symbol"],
                            "longShortRatio": f"{r[4]:.4f}",
                            "longAccount": "0.5",
                            "shortAccount": "0.5",
                            "timestamp": t,
                        }
                    )
                else:
                    out.append(
                        {
                            "buySellRatio": f"{r[6]:.4f}",
                            "sellVol": "10.0",
                            "buyVol": "10.0",
                            "timestamp": t,
                        }
                    )
        else:
            return (
                404,
                b"<html><body><h1>404 Not Found</h1></body></html>",
                {"Content-Type": "text/html"},
            )
        if fault and fault.get("empty"):
            out = []
        return (
            200,
            json.dumps(out).encode(),
            {"Content-Type": "application/json", "X-MBX-USED-WEIGHT-1M": "10"},
        )


class _Handler(BaseHTTPRequestHandler):
    exchange: Exchange

    def log_message(self, *args: object) -> None:  # quiet
        return

    def do_GET(self) -> None:
        parsed = urlparse(self.path)
        path = parsed.path
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        ex = self.exchange
        ex.requests.append(path + ("?" + parsed.query if parsed.query else ""))
        fault = ex.take_fault(path)
        if fault and "delay" in fault:
            time.sleep(fault["delay"])
        if fault and "status" in fault:
            status, body, headers = (
                fault["status"],
                fault.get("body", b""),
                dict(fault.get("headers", {})),
            )
        elif path.startswith("/data/"):
            status, body, headers = ex.archive(path)
        else:
            status, body, headers = ex.rest(path, query, fault)
        if fault and fault.get("truncate"):
            body = body[: len(body) // 2]
        if fault and "headers" in fault and "status" not in fault:
            headers.update(fault["headers"])
        try:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class ExchangeServer:
    """Run an :class:`Exchange` on 127.0.0.1 (random port) in a daemon thread."""

    def __init__(self, exchange: Exchange) -> None:
        handler = type("Handler", (_Handler,), {"exchange": exchange})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        exchange.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.exchange = exchange
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> Exchange:
        self.thread.start()
        return self.exchange

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
