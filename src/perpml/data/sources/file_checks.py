"""Checks :class:`~perpml.data.FileSource` runs on the files before combining them.

Each check looks for one recognisable cause and names it, so a user reads "the rows
are shuffled" or "two symbols are interleaved" instead of a symptom such as "the most
common bar spacing is 0 days":

* :func:`resolve_symbol` / :func:`resolve_interval`: what the data says (symbol
  column, Binance archive file names, file name, bar spacing) against what was asked;
* :func:`check_order`: shuffled rows (reported alone, before anything else), several
  series interleaved in one file;
* :func:`check_close_times`: klines stamped by close time (a look-ahead leak);
* :func:`drop_feed_repeats`: a feed time held by several rows with different values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from perpml.data.alignment import snap_times
from perpml.data.contract import Violation
from perpml.data.schema import (
    SYMBOL_PATTERN,
    check_symbol,
    infer_interval,
    interval_to_timedelta,
)
from perpml.data.sources.binance_formats import SUFFIXES, ParsedFile
from perpml.exceptions import ConfigError, DataContractError, DataFormatError

__all__ = [
    "QUOTE_ASSETS",
    "check_close_times",
    "check_order",
    "drop_feed_repeats",
    "resolve_interval",
    "resolve_symbol",
    "symbol_from_file_name",
]

#: Quote assets a symbol at the start of a file name must end with to be trusted
#: (``ETHUSDT_1h_2020.csv`` names ETHUSDT; ``ETH_oi_5m.csv`` names nothing).
QUOTE_ASSETS: tuple[str, ...] = ("USDT", "USDC", "FDUSD", "BUSD", "USD")

# Share of repeated bar times from which a kline file is taken for several series.
_INTERLEAVED_SHARE = 0.3

_ONE_MS = pd.Timedelta(milliseconds=1).value


def _span(ns: int) -> str:
    """A duration for messages: ``-1 ms``, ``1 µs``, ``3599999 ms``."""
    if ns % 1_000_000 == 0:
        return f"{ns // 1_000_000} ms"
    if ns % 1_000 == 0:
        return f"{ns // 1_000} µs"
    return f"{ns} ns"


def _stem(path_name: str) -> str:
    lower = path_name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if lower.endswith(suffix):
            return path_name[: -len(suffix)]
    return path_name


def symbol_from_file_name(name: str) -> str | None:
    """The symbol a plain file name states, or None.

    The whole stem when it is a valid symbol (``ETHUSDT.csv``), else its first token
    (split at ``-``, ``_``, ``.`` or space) when that is a valid symbol ending with a
    quote asset of :data:`QUOTE_ASSETS` (``ETHUSDT_1h_2020-03.csv``).
    """
    stem = _stem(name)
    if SYMBOL_PATTERN.match(stem):
        return stem
    token = re.split(r"[-_.\s]", stem, maxsplit=1)[0]
    if SYMBOL_PATTERN.match(token) and any(
        token.endswith(q) and len(token) > len(q) for q in QUOTE_ASSETS
    ):
        return token
    return None


def resolve_symbol(parsed: Sequence[ParsedFile], symbol: str | None) -> tuple[str, str]:
    """Return ``(symbol, how it was found)`` for the files, or raise.

    The data's symbol (``symbol`` columns, archive file names) wins over everything;
    a given ``symbol`` that contradicts it raises :class:`DataFormatError` naming
    ``--symbol``. Without either, the kline files' names are tried
    (:func:`symbol_from_file_name`); if they say nothing, :class:`ConfigError` asks
    for ``--symbol``.
    """
    holders: dict[str, list[str]] = {}
    for item in parsed:
        for sym in item.symbols:
            holders.setdefault(sym, []).append(item.path.name)
    mixed = [item for item in parsed if len(item.symbols) > 1]
    if mixed:
        item = mixed[0]
        raise DataFormatError(
            f"{str(item.path)!r} holds rows of {len(item.symbols)} symbols "
            f"({', '.join(item.symbols)}): several symbols interleaved in one file. "
            "Keep the rows of one symbol (filter on the symbol column) and pass that "
            "file."
        )
    if len(holders) > 1:
        shown = "; ".join(f"{s}: {names[:3]}" for s, names in sorted(holders.items()))
        raise DataFormatError(
            f"All files must hold one symbol; got {len(holders)} ({shown}). Pass only "
            "the files of one symbol" + (f" (--symbol {symbol})." if symbol else ".")
        )
    found = next(iter(holders), None)
    if found is not None:
        found = check_symbol(found) if SYMBOL_PATTERN.match(found) else found
        if not SYMBOL_PATTERN.match(found):
            raise DataFormatError(
                f"{holders[found][0]!r} names the symbol {found!r}, which is not an "
                "exchange symbol (2-24 upper-case letters and digits, like BTCUSDT). "
                "Fix the symbol column of the file."
            )
    names = {
        item.path.name: symbol_from_file_name(item.path.name)
        for item in parsed
        if item.kind == "klines"
    }
    if symbol is not None:
        wanted = check_symbol(symbol)
        if found is not None and found != wanted:
            raise DataFormatError(
                f"--symbol {wanted} (config key [data] symbol) was given, but "
                f"{holders[found][0]!r} holds {found}. Leave --symbol out to use the "
                f"file's symbol, or pass the files of {wanted}."
            )
        named = {g for g in names.values() if g is not None and g != wanted}
        if found is None and named:
            return wanted, f"given; the file name says {sorted(named)[0]}"
        return wanted, "given"
    if found is not None:
        return found, f"from {holders[found][0]}"
    guesses = {g for g in names.values() if g is not None}
    if len(guesses) == 1 and None not in names.values():
        return guesses.pop(), "from the file name"
    shown = ", ".join(list(names)[:3])
    raise ConfigError(
        f"Cannot tell the symbol of {shown}: no symbol column, no Binance archive "
        "name (BTCUSDT-5m-2024-01.zip) and no symbol at the start of the file name. "
        "Pass --symbol (config key [data] symbol), e.g. --symbol ETHUSDT."
    )


def _repeated_share(index: pd.DatetimeIndex) -> float:
    return float(index.duplicated().mean()) if len(index) else 0.0


def _interleaved(item: ParsedFile) -> DataFormatError:
    frame = item.frame
    dup = frame.index.duplicated(keep=False)
    sample = frame.loc[dup].sort_index(kind="stable")
    stamp = sample.index[0]
    closes = sample.loc[[stamp], "close"].tolist()
    return DataFormatError(
        f"{str(item.path)!r}: {int(frame.index.duplicated().sum())} of {len(frame)} "
        "kline rows repeat a bar time of another row with other prices (e.g. "
        f"{stamp.isoformat()}: close {' vs '.join(f'{c:g}' for c in closes[:3])}): "
        "the file looks like several series (two symbols, or two intervals) "
        "interleaved. Keep one series per file (filter it by symbol or interval)."
    )


def check_order(item: ParsedFile) -> None:
    """Refuse a kline file whose rows are not in time order, before anything else.

    Shuffled rows are reported alone, because every later check (gaps, the dropped
    last bar, spacing) would otherwise report symptoms of the wrong order.
    """
    index = item.frame.index
    if _repeated_share(index) >= _INTERLEAVED_SHARE:
        copies = item.frame.groupby(level=0)["close"].nunique()
        if (copies > 1).mean() >= _INTERLEAVED_SHARE:
            raise _interleaved(item)
    if index.is_monotonic_increasing:
        return
    values = index.asi8
    back = np.flatnonzero(values[1:] < values[:-1]) + 1
    row = int(back[0])
    fix = (
        "Sort the file by its time column (in Python: "
        f"`pd.read_csv(path).sort_values({item.time_column!r}).to_csv(path, "
        "index=False)`, or `perpml.data.sort_bars(frame)` on a loaded frame); perpml "
        "does not reorder rows itself, so that a shuffled export is noticed."
    )
    detail = (
        f"kline rows must be in time order; got {back.size} row(s) earlier than the "
        f"row before, first row {row} ({index[row].isoformat()} after "
        f"{index[row - 1].isoformat()})"
    )
    violation = Violation(
        "unsorted", None, int(back.size), tuple(index[back[:5]]), fix, detail
    )
    raise DataContractError(f"{str(item.path)!r}: {violation.describe()}", [violation])


def resolve_interval(
    klines: Sequence[ParsedFile], interval: str | None
) -> tuple[str, str]:
    """Return ``(interval, how it was found)`` for the kline files, or raise.

    Every kline file's bar spacing (or archive-name interval for a one-bar file)
    must agree; a given ``interval`` contradicting it raises naming ``--interval``.
    """
    found: dict[str, list[str]] = {}
    for item in klines:
        index = item.frame.index.unique().sort_values()
        if len(index) >= 2:
            try:
                spacing = infer_interval(index)
            except DataContractError as err:  # unsupported spacing
                raise DataFormatError(
                    f"{str(item.path)!r}: {err} (Pass only bars of one supported "
                    "interval; resampling is not supported yet.)"
                ) from None
        elif item.name_interval is not None:
            spacing = item.name_interval
        else:
            continue
        found.setdefault(spacing, []).append(str(item.path))
    if len(found) > 1:
        shown = "; ".join(f"{k}: {v[:3]}" for k, v in found.items())
        raise DataFormatError(
            f"All kline files must have one interval; got {len(found)} ({shown}). "
            "Pass only the files of one interval (resampling is not supported yet)."
        )
    if not found:
        if interval is None:
            raise ConfigError(
                "Cannot tell the bar interval from a single kline bar. Pass --interval "
                "(config key [data] interval), e.g. --interval 5m."
            )
        return interval, "given"
    spacing, names = next(iter(found.items()))
    if interval is not None and interval != spacing:
        where = repr(names[0]) if len(names) == 1 else f"{names[:3]}"
        raise DataFormatError(
            f"--interval {interval} (config key [data] interval) was given, but {where} "
            f"holds {spacing} klines. Leave --interval out to use the data's interval "
            f"or pass --interval {spacing} (resampling is not supported yet)."
        )
    return spacing, "given" if interval is not None else "from the bar spacing"


def check_close_times(item: ParsedFile, interval: str) -> None:
    """Refuse kline files whose times are bar closes rather than bar opens.

    With a ``close_time`` column, ``close_time - open time`` must lie between
    ``interval - 1 ms`` (Binance: a 1h bar opening at 00:00 closes at 00:59:59.999;
    the µs archive files give ``interval - 1 µs``) and ``interval``. Without one,
    times sitting 1 ms (or 1 µs) before a bar boundary (``00:59:59.999``) are close
    times. Either would put every feed value one bar early: a look-ahead leak.
    """
    step = interval_to_timedelta(interval).value
    index = item.frame.index
    where = f"{str(item.path)!r} column {item.time_column!r}"
    close = item.close_times
    if close is not None and len(close) == len(index):
        diff = close.asi8 - index.asi8
        bad = np.flatnonzero(~((diff >= step - _ONE_MS) & (diff <= step)))
        if bad.size:
            row = int(bad[0])
            got = _span(int(diff[row]))
            hint = (
                f"The {item.time_column!r} times look like bar close times (or later): "
                "the file is stamped by close time, which would hand every bar the "
                "feed values of the next one. Use the bar open time as the time "
                "column (Binance's open_time)"
                if diff[row] < step - _ONE_MS
                else f"Check that the file holds {interval} bars"
            )
            violation = Violation(
                "close_time",
                item.time_column,
                int(bad.size),
                tuple(index[bad[:5]]),
                f"{hint}, or fix the close_time column.",
                f"close_time - open time must be {interval} - 1 ms (Binance's "
                f"convention); got {got} at row {row} ({index[row].isoformat()}, "
                f"close_time {close[row].isoformat()})",
            )
            raise DataContractError(f"{where}: {violation.describe()}", [violation])
    offset = index.asi8 % step
    on_close = (
        (offset == step - _ONE_MS) | (offset == step - 1_000) | (offset == step - 1)
    )
    if len(index) and on_close.mean() >= 0.5:
        sample = index[np.flatnonzero(on_close)[0]]
        lag = _span(int(step - offset[np.flatnonzero(on_close)[0]])).replace(" ", "")
        violation = Violation(
            "close_time",
            item.time_column,
            int(on_close.sum()),
            tuple(index[on_close][:5]),
            "Use bar open times: the exchange's open_time column, or the times "
            f"shifted back by {interval} - {lag} (in Python: `frame.index = "
            f"frame.index - pd.Timedelta('{interval}') + pd.Timedelta('{lag}')`).",
            f"kline times must be bar open times on the {interval} grid; got times "
            f"{lag} before a bar boundary (e.g. {sample.isoformat()}), which are bar "
            "close times: every feed value would land one bar early",
        )
        raise DataContractError(f"{where}: {violation.describe()}", [violation])


def drop_feed_repeats(
    feed: pd.DataFrame, layout: str, label: str, snap_tolerance: object
) -> tuple[pd.DataFrame, int]:
    """Drop identical repeats of a feed time; raise on repeats with other values.

    Times are compared after jitter snapping (:func:`perpml.data.alignment.snap_times`),
    since two settlements stamped ``08:00:00.000`` and ``08:00:00.007`` are one.

    Returns
    -------
    (feed, n_dropped)
        Sorted by time, one row per time.

    Raises
    ------
    perpml.exceptions.DataContractError
        Reason ``duplicate``, naming up to five times and both values of each.
    """
    known = snap_times(feed.index, snap_tolerance)  # type: ignore[arg-type]
    order = np.argsort(known.asi8, kind="stable")
    feed = feed.iloc[order]
    stamps = known.asi8[order]
    first = np.searchsorted(stamps, stamps, side="left")
    repeat = first != np.arange(len(stamps))
    if not repeat.any():
        return feed, 0
    values = feed.to_numpy(dtype="float64")
    a, b = values[repeat], values[first[repeat]]
    same = ((a == b) | (np.isnan(a) & np.isnan(b))).all(axis=1)
    if not same.all():
        rows = np.flatnonzero(repeat)[~same]
        columns = list(feed.columns)
        shown: list[str] = []
        for row in rows[:5]:
            base = int(first[row])
            differs = ~(
                (values[row] == values[base])
                | np.isnan(values[row]) & np.isnan(values[base])
            )
            col = int(np.argmax(differs))
            shown.append(
                f"{feed.index[base].isoformat()}: {columns[col]} "
                f"{float(values[base, col])!r} vs {float(values[row, col])!r}"
            )
        col0 = columns[int(np.argmax(~(values[rows[0]] == values[first[rows[0]]])))]
        violation = Violation(
            "duplicate",
            col0,
            int(rows.size),
            tuple(feed.index[first[rows[:5]]]),
            f"Keep one row per time in {label}: delete the wrong copy (perpml does not "
            "pick one, since a silently winning later row hides a corrupt file).",
            f"each {layout} time must hold one value; got {rows.size} time(s) held by "
            f"rows with different values ({'; '.join(shown)})",
        )
        raise DataContractError(f"{label}: {violation.describe()}", [violation])
    return feed.iloc[~repeat], int(repeat.sum())
