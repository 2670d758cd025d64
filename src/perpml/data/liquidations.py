"""Liquidation events: parsing the exchange's formats and aggregating them per bar.

A liquidation is a forced order the exchange sends to close a position whose margin
ran out. Binance publishes them on the ``<symbol>@forceOrder`` WebSocket stream and in
data.binance.vision ``liquidationSnapshot`` files, with the fields (WebSocket letter →
archive column name)::

    s  symbol                 S  side (SELL closes a long, BUY closes a short)
    o  order_type             f  time_in_force
    q  original_quantity      p  price
    ap average_price          X  order_status
    l  last_fill_quantity     z  accumulated_fill_quantity
    T  time (trade time, ms)  E  event time (WebSocket only)

Per-bar columns (:data:`perpml.data.schema.LIQUIDATION_COLUMNS`)
----------------------------------------------------------------
``liquidation_long_volume`` / ``liquidation_short_volume`` are the base-asset
quantities of the SELL / BUY forced orders whose trade time lies in the bar
``[open, open + interval)``; ``liquidation_count`` is their number. All three are known
at the bar's close (THE TIME RULE). Inside the recorded period a bar without
liquidations holds **0**, never NaN; bars outside it (before the first or after the
last recorded event) are NaN, because nobody was listening then.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from perpml.data.schema import INDEX_NAME, LIQUIDATION_COLUMNS, interval_to_timedelta
from perpml.exceptions import DataFormatError

__all__ = [
    "LiquidationEvent",
    "aggregate_liquidations",
    "events_to_frame",
    "parse_force_order",
]

#: Archive / CSV column names of the forced-order quantity, preferred first.
QUANTITY_COLUMNS: tuple[str, ...] = (
    "accumulated_fill_quantity",
    "original_quantity",
    "last_fill_quantity",
    "quantity",
)


@dataclass(frozen=True)
class LiquidationEvent:
    """One forced order as recorded in the ``liquidations`` table.

    Attributes
    ----------
    timestamp : Timestamp
        Trade time of the order, UTC.
    symbol : str
    side : {"SELL", "BUY"}
        ``SELL`` closes a long position, ``BUY`` a short one.
    quantity : float
        Filled base-asset quantity (``z``, else ``q``).
    price : float
        Average fill price (``ap``, else ``p``).
    order_id : str
        Identity of the event (the stream carries no order id): trade time, side,
        quantity and price, so a message received twice (reconnects) is one row.
    """

    timestamp: pd.Timestamp
    symbol: str
    side: str
    quantity: float
    price: float
    order_id: str


def parse_force_order(message: str | bytes | Mapping[str, Any]) -> LiquidationEvent:
    """Parse one ``forceOrder`` WebSocket message (also the combined-stream wrapper).

    Parameters
    ----------
    message : str, bytes or mapping
        ``{"e": "forceOrder", "E": ..., "o": {"s": ..., "S": ..., ...}}`` or
        ``{"stream": "...", "data": {...}}`` as sent by ``/stream?streams=``.

    Raises
    ------
    perpml.exceptions.DataFormatError
        Not JSON, not a forceOrder event, or a field missing / not a number.
    """
    try:
        payload = json.loads(message) if isinstance(message, str | bytes) else message
    except (ValueError, TypeError) as err:
        raise DataFormatError(f"forceOrder message is not JSON: {err}.") from None
    if isinstance(payload, Mapping) and "data" in payload and "e" not in payload:
        payload = payload["data"]
    if not isinstance(payload, Mapping) or payload.get("e") != "forceOrder":
        raise DataFormatError(
            "Expected a forceOrder event ({'e': 'forceOrder', 'o': {...}}), got "
            f"{str(payload)[:120]!r}."
        )
    order = payload.get("o")
    try:
        if not isinstance(order, Mapping):
            raise TypeError
        side = str(order["S"]).upper()
        qty_raw = order.get("z") or order["q"]
        quantity = float(qty_raw)
        price = float(order.get("ap") or order["p"])
        trade_ms = int(order.get("T") or payload["E"])
        symbol = str(order["s"]).upper()
    except (KeyError, TypeError, ValueError):
        raise DataFormatError(
            "forceOrder event lacks a valid field among o.s, o.S, o.q/o.z, o.p/o.ap, "
            f"o.T: {str(payload)[:160]!r}."
        ) from None
    if side not in ("SELL", "BUY") or not math.isfinite(quantity) or quantity < 0:
        raise DataFormatError(
            f"forceOrder side must be SELL or BUY and quantity >= 0, got side {side!r}, "
            f"quantity {qty_raw!r}."
        )
    stamp = pd.Timestamp(trade_ms, unit="ms", tz="UTC")
    return LiquidationEvent(
        timestamp=stamp,
        symbol=symbol,
        side=side,
        quantity=quantity,
        price=price,
        order_id=f"{trade_ms}:{side}:{order.get('q')}:{order.get('p')}",
    )


def events_to_frame(
    times: pd.DatetimeIndex,
    side: pd.Series | np.ndarray,
    quantity: pd.Series | np.ndarray,
    *,
    orders: pd.Series | np.ndarray | None = None,
    long_side: str = "SELL",
    where: str = "liquidation events",
) -> pd.DataFrame:
    """Per-event rows in the per-bar columns (long volume, short volume, count).

    Summing these rows over a bar gives the bar's liquidation columns, so event files
    can be concatenated and de-duplicated like any feed before
    :func:`aggregate_liquidations`.

    Parameters
    ----------
    times : DatetimeIndex of shape (n_events,), UTC
        Trade times.
    side : array of str
        Order side; ``long_side`` (default ``"SELL"``, case-insensitive) closes a long,
        the other of SELL / BUY a short.
    quantity : array of float
        Base-asset quantity, >= 0.
    orders : array of float, optional
        Number of forced orders each row stands for (aggregate rows); default 1.

    Raises
    ------
    perpml.exceptions.DataFormatError
        A side other than SELL / BUY, or a negative / non-numeric quantity.
    """
    sides = (
        pd.Series(np.asarray(side, dtype=object)).astype(str).str.strip().str.upper()
    )
    long_side = long_side.upper()
    short_side = "BUY" if long_side == "SELL" else "SELL"
    bad = ~sides.isin([long_side, short_side])
    if bad.any():
        raise DataFormatError(
            f"{where}: side must be SELL or BUY (SELL closes a long); got "
            f"{sorted(set(sides[bad]))[:5]}. Fix or remove those rows."
        )
    qty = pd.to_numeric(pd.Series(np.asarray(quantity)), errors="coerce").to_numpy(
        dtype="float64"
    )
    if (~np.isfinite(qty) | (qty < 0)).any():
        raise DataFormatError(
            f"{where}: quantities must be finite numbers >= 0; got "
            f"{int((~np.isfinite(qty) | (qty < 0)).sum())} bad value(s)."
        )
    is_long = (sides == long_side).to_numpy()
    count = (
        np.ones(len(qty))
        if orders is None
        else np.nan_to_num(np.asarray(orders, dtype="float64"), nan=1.0)
    )
    index = pd.DatetimeIndex(times).as_unit("ns")
    index.name = INDEX_NAME
    return pd.DataFrame(
        {
            "liquidation_long_volume": np.where(is_long, qty, 0.0),
            "liquidation_short_volume": np.where(is_long, 0.0, qty),
            "liquidation_count": count,
        },
        index=index,
    )


def aggregate_liquidations(
    events: pd.DataFrame,
    index: pd.DatetimeIndex,
    interval: str,
    *,
    coverage: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """Sum per-event rows (:func:`events_to_frame`) into the bars of ``index``.

    Parameters
    ----------
    events : DataFrame of shape (n_events, 3), indexed by trade time, UTC
        Columns :data:`~perpml.data.schema.LIQUIDATION_COLUMNS`.
    index : DatetimeIndex of shape (n_bars,), UTC
        Bar open times, sorted.
    interval : str
        Bar length; an event at ``e`` belongs to the bar with ``open <= e < close``.
    coverage : (Timestamp, Timestamp), optional
        First and last instant the feed was recorded. Bars inside are 0 when empty;
        bars wholly outside are NaN. Default: the first and last event.

    Returns
    -------
    DataFrame of shape (n_bars, 3), indexed by ``index``
    """
    step = interval_to_timedelta(interval)
    out = np.zeros((len(index), len(LIQUIDATION_COLUMNS)))
    bars = index.as_unit("ns").asi8
    if len(events):
        times = pd.DatetimeIndex(events.index).tz_convert("UTC").as_unit("ns").asi8
        pos = np.searchsorted(bars, times, side="right") - 1
        inside = (pos >= 0) & (times < bars[np.clip(pos, 0, None)] + step.value)
        values = events[list(LIQUIDATION_COLUMNS)].to_numpy(dtype="float64")
        for j in range(values.shape[1]):
            np.add.at(out[:, j], pos[inside], values[inside, j])
    if coverage is None and len(events):
        coverage = (events.index.min(), events.index.max())
    if coverage is None:
        out[:] = np.nan
    else:
        first = pd.Timestamp(coverage[0]).as_unit("ns").value
        last = pd.Timestamp(coverage[1]).as_unit("ns").value
        unknown = (bars + step.value <= first) | (bars > last)
        out[unknown] = np.nan
    return pd.DataFrame(out, index=index, columns=list(LIQUIDATION_COLUMNS))


def is_event_file(columns: list[str]) -> bool:
    """True for lower-cased columns of a forced-order events file."""
    return "side" in columns and any(c in columns for c in QUANTITY_COLUMNS)


def read_liquidation_events(raw: pd.DataFrame, path: Any) -> Any:
    """A :class:`~perpml.data.sources.binance_formats.ParsedFile` of forced orders.

    Accepts the forceOrder field layout as data.binance.vision writes it
    (``BTCUSDT-liquidationSnapshot-2023-01-01.zip``: ``time, side, order_type,
    time_in_force, original_quantity, price, average_price, order_status,
    last_fill_quantity, accumulated_fill_quantity``) and the seed's table layout
    (``timestamp, symbol, quantity, side, order_id``); column names lower-cased.
    The frame holds one row per event in the per-bar columns
    (:func:`events_to_frame`), indexed by trade time.
    """
    from pathlib import Path

    from perpml.data.sources.binance_formats import (
        TIME_COLUMNS,
        ParsedFile,
        archive_name_info,
        parse_times,
    )

    path = Path(path)
    columns = list(raw.columns)
    time_col = next((c for c in TIME_COLUMNS if c in columns), None)
    if time_col is None:
        raise DataFormatError(
            f"{str(path)!r} looks like a liquidation events file (side, quantity) but "
            f"has no time column; got {columns}. Add the trade time as `time`."
        )
    qty_col = next(c for c in QUANTITY_COLUMNS if c in columns)
    where = f"{str(path)!r}"
    times = parse_times(raw[time_col], f"{where} column {time_col!r}")
    frame = events_to_frame(times, raw["side"], raw[qty_col], where=where)
    name_symbol, _ = archive_name_info(path)
    found = {name_symbol} if name_symbol else set()
    if "symbol" in raw:
        found |= {str(s).strip().upper() for s in raw["symbol"].dropna()}
    used = {time_col, qty_col, "side", "symbol"}
    return ParsedFile(
        path=path,
        kind="feed",
        frame=frame,
        symbols=tuple(sorted(found)),
        dropped=tuple(c for c in columns if c not in used),
    )


def add_liquidations(
    frame: pd.DataFrame, events: pd.DataFrame, interval: str, label: str
) -> None:
    """Add the per-bar liquidation columns of ``events`` to ``frame`` (in place)."""
    from perpml.data.gaps import add_quality_note

    bars = aggregate_liquidations(events, frame.index, interval)
    for column in bars.columns:
        frame[column] = bars[column]
    unknown = int(bars.iloc[:, 0].isna().sum())
    add_quality_note(
        frame,
        f"liquidations from {label}: {len(events)} forced order(s) summed per bar; "
        f"{unknown} of {len(frame)} bars outside the recorded period are NaN.",
    )
