"""Reading one market-data file and recognising its format by its columns.

Recognised layouts (column names case-insensitive; anything else raises
:class:`~perpml.exceptions.DataFormatError`):

* **canonical**: a ``timestamp`` column (or a DatetimeIndex in Parquet) + canonical
  column names;
* **Binance klines** (``/fapi/v1/klines``, data.binance.vision): ``open_time, open,
  high, low, close, volume, close_time, quote_volume, count, taker_buy_volume,
  taker_buy_quote_volume, ignore``, with or without the header row, and user exports
  such as ``timestamp, datetime, open, high, low, close, volume`` or ``timestamp,
  open, high, low, close, volume, quote_volume, trades, close_time``;
* **archive metrics**: ``create_time, symbol, sum_open_interest,
  sum_open_interest_value, count_toptrader_long_short_ratio,
  sum_toptrader_long_short_ratio, count_long_short_ratio,
  sum_taker_long_short_vol_ratio``;
* **REST openInterestHist**: ``timestamp, symbol, sum_open_interest,
  sum_open_interest_value`` (also ``t, oi, oi_usd`` reshaped dumps);
* **funding**: REST ``fundingTime, fundingRate[, symbol, markPrice]``, archive
  ``calc_time, funding_interval_hours, last_funding_rate``, user dumps ``timestamp,
  symbol, funding_rate`` or ``ts, rate``;
* **liquidation events** (forceOrder fields; archive ``liquidationSnapshot``: ``time,
  side, ..., original_quantity, ..., accumulated_fill_quantity``, or ``timestamp,
  symbol, quantity, side, order_id``): summed per bar, see
  :mod:`perpml.data.liquidations`.

Metrics column mapping (Binance's "Trading Data" statistics; ``sum_*`` are the
position-weighted and ``count_*`` the account-weighted versions):
``sum_toptrader_long_short_ratio`` → ``top_trader_long_short_ratio`` (top traders'
long/short *position* ratio), ``count_long_short_ratio`` → ``long_short_ratio`` (all
accounts' long/short account ratio), ``sum_taker_long_short_vol_ratio`` →
``taker_long_short_ratio`` (taker buy / sell volume). The top traders' *account* ratio
(``count_toptrader_long_short_ratio``) has no canonical column and is dropped.

Epoch times are accepted in s, ms, µs or ns, detected per value by magnitude (the
archive switched from ms to µs in 2025); strings are parsed as ISO 8601, naive = UTC.

Archive file names (``BTCUSDT-5m-2024-01.zip``, ``BTCUSDT-metrics-2024-01-01.zip``,
``BTCUSDT-fundingRate-2024-01.zip``: symbol, kind or interval, then a date) are read
for their symbol and kline interval, since archive kline files have no symbol column.
Other names carry no meaning.
"""

from __future__ import annotations

import gzip
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from perpml.data.schema import (
    INDEX_NAME,
    INTERVALS,
    LIQUIDATION_COLUMNS,
    REQUIRED_COLUMNS,
)
from perpml.data.sources.time_parsing import parse_times
from perpml.exceptions import DataFormatError, DataSourceError

__all__ = ["ParsedFile", "archive_name_info", "read_market_file"]

#: Headerless Binance kline CSV columns, in order.
KLINE_COLUMNS: tuple[str, ...] = (
    "open_time",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "close_time",
    "quote_volume",
    "count",
    "taker_buy_volume",
    "taker_buy_quote_volume",
    "ignore",
)

#: Lower-cased file column -> canonical column.
ALIASES: dict[str, str] = {
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume",
    "quote_volume": "quote_volume",
    "quote_asset_volume": "quote_volume",
    "trades": "trades",
    "count": "trades",
    "number_of_trades": "trades",
    "taker_buy_volume": "taker_buy_volume",
    "taker_buy_base_asset_volume": "taker_buy_volume",
    "taker_buy_quote_volume": "taker_buy_quote_volume",
    "taker_buy_quote_asset_volume": "taker_buy_quote_volume",
    "open_interest": "open_interest",
    "sum_open_interest": "open_interest",
    "sumopeninterest": "open_interest",
    "oi": "open_interest",
    "open_interest_value": "open_interest_value",
    "sum_open_interest_value": "open_interest_value",
    "sumopeninterestvalue": "open_interest_value",
    "oi_usd": "open_interest_value",
    "funding_rate": "funding_rate",
    "fundingrate": "funding_rate",
    "last_funding_rate": "funding_rate",
    "rate": "funding_rate",
    "long_short_ratio": "long_short_ratio",
    "count_long_short_ratio": "long_short_ratio",
    "top_trader_long_short_ratio": "top_trader_long_short_ratio",
    "sum_toptrader_long_short_ratio": "top_trader_long_short_ratio",
    "taker_long_short_ratio": "taker_long_short_ratio",
    "sum_taker_long_short_vol_ratio": "taker_long_short_ratio",
    "mark_price": "mark_price",
    "index_price": "index_price",
    "liquidation_long_volume": "liquidation_long_volume",
    "liquidation_short_volume": "liquidation_short_volume",
    "liquidation_count": "liquidation_count",
}

#: Candidate time columns, most specific first (the first present one is used).
TIME_COLUMNS: tuple[str, ...] = (
    "open_time",
    "timestamp",
    "create_time",
    "calc_time",
    "fundingtime",
    "time",
    "ts",
    "t",
    "datetime",
    "date",
)

#: Columns recognised but not used (why: see module docstring / FileSource docs).
IGNORED: frozenset[str] = frozenset(
    {
        "ignore",
        "close_time",
        "count_toptrader_long_short_ratio",
        "funding_interval_hours",
        "markprice",  # mark price at settlement only: too sparse to be a bar state
        "datetime",
        "date",
    }
)

SUFFIXES: tuple[str, ...] = (
    ".csv",
    ".csv.gz",
    ".csv.zip",
    ".zip",
    ".gz",
    ".parquet",
    ".pq",
)

FileKind = Literal["klines", "feed"]

#: data.binance.vision file names: SYMBOL-<interval or kind>-YYYY-MM[-DD].<suffix>.
_ARCHIVE_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9]{3,})-(?P<kind>[A-Za-z0-9]+)-\d{4}-\d{2}(?:-\d{2})?(?:\.|$)"
)

_ARCHIVE_KINDS = frozenset({"metrics", "fundingRate", "liquidationSnapshot"})

_OI_COLUMNS = frozenset({"open_interest", "open_interest_value"})
_RATIO_COLUMNS = frozenset(
    {"long_short_ratio", "top_trader_long_short_ratio", "taker_long_short_ratio"}
)


def archive_name_info(path: str | Path) -> tuple[str | None, str | None]:
    """Symbol and kline interval encoded in a data.binance.vision file name.

    Parameters
    ----------
    path : str or Path

    Returns
    -------
    (symbol, interval) : tuple of str or None
        ``("BTCUSDT", "5m")`` for ``BTCUSDT-5m-2024-01.zip``, ``("BTCUSDT", None)``
        for ``BTCUSDT-metrics-2024-01-01.zip``, ``(None, None)`` for other names.
    """
    match = _ARCHIVE_NAME.match(Path(path).name)
    if match is None:
        return None, None
    kind = match["kind"]
    if kind in INTERVALS:
        return match["symbol"], kind
    # Only Binance's own kind names: a user's "ETH-funding-2024-01.csv" means nothing.
    if kind in _ARCHIVE_KINDS:
        return match["symbol"], None
    return None, None


@dataclass
class ParsedFile:
    """One file read into canonical columns.

    Attributes
    ----------
    path : Path
    kind : {"klines", "feed"}
        ``"klines"`` frames are indexed by bar open time; ``"feed"`` frames by the
        time each row became known.
    frame : DataFrame
        Canonical float64 columns, index named ``timestamp``, UTC, file order.
    symbols : tuple of str
        Distinct values of the file's ``symbol`` column plus the symbol of an archive
        file name (empty if neither).
    dropped : tuple of str
        Recognised file columns that were not kept.
    name_interval : str or None
        Kline interval written in an archive file name (``BTCUSDT-5m-2024-01.zip``).
    time_column : str
        The file column the times were read from.
    close_times : DatetimeIndex or None
        Kline files with a ``close_time`` column: those times, row for row (checked
        by :class:`~perpml.data.FileSource` against the open times).
    notes : tuple of str
        How the file was read when it differs from its name (gzip named ``.csv``,
        semicolon-separated, ...).
    """

    path: Path
    kind: FileKind
    frame: pd.DataFrame
    symbols: tuple[str, ...] = ()
    dropped: tuple[str, ...] = field(default_factory=tuple)
    name_interval: str | None = None
    time_column: str = INDEX_NAME
    close_times: pd.DatetimeIndex | None = None
    notes: tuple[str, ...] = ()

    @property
    def layout(self) -> str:
        """What the file holds: ``klines``, ``metrics``, ``open_interest``,
        ``funding`` or ``feed`` (any other canonical feed columns).

        Files of one layout are concatenated in time; different layouts are aligned.
        """
        cols = set(self.frame.columns)
        if self.kind == "klines":
            return "klines"
        if cols == set(LIQUIDATION_COLUMNS):
            return "liquidations"
        if cols == {"funding_rate"}:
            return "funding"
        if cols <= _OI_COLUMNS:
            return "open_interest"
        if cols & _RATIO_COLUMNS and cols <= _OI_COLUMNS | _RATIO_COLUMNS:
            return "metrics"
        return "feed"


def _known_names() -> set[str]:
    return set(ALIASES) | set(TIME_COLUMNS) | set(IGNORED) | {"symbol"}


_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a file / an empty archive
_PARQUET_MAGIC = b"PAR1"


def _sniff_compression(path: Path) -> str | None:
    """The container the file's first bytes show (``gzip``, ``zip``, ``parquet``).

    None for anything else (plain text).

    Decided by content, not by name: a gzip file saved as ``.csv`` is read as gzip,
    and a plain CSV saved as ``.csv.gz`` as plain text.
    """
    with path.open("rb") as handle:
        head = handle.read(4)
    if head.startswith(_GZIP_MAGIC):
        return "gzip"
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head.startswith(_PARQUET_MAGIC):
        return "parquet"
    return None


def _first_line(path: Path, compression: str | None) -> str:
    if compression == "gzip":
        with gzip.open(path, "rt", encoding="utf-8") as text:
            return text.readline()
    if compression == "zip":
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if not members:
                raise DataFormatError(
                    f"Zip file {str(path)!r} holds no file. Re-download it."
                )
            with archive.open(members[0]) as member:
                return member.readline().decode("utf-8")
    with path.open(encoding="utf-8") as text:
        return text.readline()


def _separator(line: str) -> str:
    """``;`` or tab for files that use them instead of commas, else ``,``."""
    for sep in (";", "\t"):
        if sep in line and "," not in line:
            return sep
    return ","


def _read_raw(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Read a file's rows as strings/numbers; also return notes on how it was read."""
    name = path.name.lower()
    notes: list[str] = []
    if not path.exists():
        raise DataSourceError(
            f"Market-data file {str(path)!r} does not exist. Check the path (it is "
            "resolved relative to the current directory)."
        )
    if not any(name.endswith(s) for s in SUFFIXES):
        raise DataFormatError(
            f"Cannot read {str(path)!r}: the file name must end with one of "
            f"{', '.join(SUFFIXES)}. Rename it or convert it to CSV/Parquet."
        )
    compression: str | None = None
    try:
        if name.endswith((".parquet", ".pq")):
            raw = pd.read_parquet(path)
            if isinstance(raw.index, pd.DatetimeIndex):
                raw = raw.reset_index(names=raw.index.name or INDEX_NAME)
            return raw, notes
        compression = _sniff_compression(path)
        if compression == "parquet":
            notes.append(f"{path.name} is a Parquet file; read it as Parquet.")
            raw = pd.read_parquet(path)
            if isinstance(raw.index, pd.DatetimeIndex):
                raw = raw.reset_index(names=raw.index.name or INDEX_NAME)
            return raw, notes
        named = (
            "gzip" if name.endswith(".gz") else "zip" if name.endswith(".zip") else None
        )
        if compression != named:
            what = compression or "plain text"
            notes.append(
                f"{path.name} is {what} although its name says "
                f"{named or 'plain CSV'}; read it as {what}."
            )
        line = _first_line(path, compression).lstrip("\ufeff")
        if not line.strip():
            raise pd.errors.EmptyDataError
        sep = _separator(line)
        if sep != ",":
            notes.append(
                f"{path.name} is {'semicolon' if sep == ';' else 'tab'}-separated; "
                "read it with that separator."
            )
        options = {"compression": compression, "sep": sep, "encoding": "utf-8-sig"}
        if sep == ";":
            # Semicolon files usually come from locales writing decimal commas; a
            # value written with a point stays text and is converted later anyway.
            options["decimal"] = ","
        first = pd.read_csv(path, header=None, nrows=1, dtype=str, **options)
        cells = {str(c).strip().lower() for c in first.iloc[0]}
        if cells & _known_names():
            raw = pd.read_csv(
                path, header=0, dtype={"symbol": str, "SYMBOL": str}, **options
            )
            return raw, notes
        if first.shape[1] != len(KLINE_COLUMNS):
            raise DataFormatError(
                f"Cannot recognise {str(path)!r}: it has no header row and "
                f"{first.shape[1]} columns, but only Binance kline files (12 columns: "
                f"{', '.join(KLINE_COLUMNS)}) may come without a header. Add a header "
                "row with canonical column names."
            )
        raw = pd.read_csv(path, header=None, names=list(KLINE_COLUMNS), **options)
        return raw, notes
    except pd.errors.EmptyDataError:
        raise DataFormatError(
            f"Market-data file {str(path)!r} is empty. Re-download it."
        ) from None
    except (EOFError, zipfile.BadZipFile, zlib.error, gzip.BadGzipFile) as err:
        kind = compression or "compressed"
        raise DataFormatError(
            f"{str(path)!r} is a truncated or corrupt {kind} file ({err}). Re-download "
            "it (data.binance.vision publishes a .CHECKSUM file beside each archive "
            "to verify the download)."
        ) from None
    except UnicodeDecodeError as err:
        raise DataFormatError(
            f"Cannot read {str(path)!r} as text: it is neither UTF-8 CSV nor a "
            f"gzip/zip archive of one (byte {err.object[err.start : err.start + 1]!r} "
            f"at position {err.start}). Convert it to UTF-8 CSV or Parquet."
        ) from None
    except (pd.errors.ParserError, OSError, ValueError) as err:
        if isinstance(err, DataFormatError):
            raise
        raise DataFormatError(
            f"Cannot parse {str(path)!r} as CSV/Parquet: {err}. Check that the file is "
            "a complete, uncorrupted CSV (optionally .gz/.zip) or Parquet file."
        ) from None


def read_market_file(
    path: str | Path, *, funding_rate_scale: float = 1.0
) -> ParsedFile:
    """Read one file and map its columns onto the canonical schema.

    Parameters
    ----------
    path : str or Path
        CSV (``.csv``, ``.csv.gz``, ``.zip``) or Parquet file.
    funding_rate_scale : float, default 1.0
        Multiplier applied to the funding rate (8 for files storing the 8-hour rate
        divided by 8).

    Returns
    -------
    ParsedFile

    Raises
    ------
    perpml.exceptions.DataSourceError
        The file does not exist.
    perpml.exceptions.DataFormatError
        Empty, unparsable, unknown columns, unparsable times or values.
    """
    path = Path(path)
    raw, notes = _read_raw(path)
    if raw.empty:
        raise DataFormatError(
            f"Market-data file {str(path)!r} has no data rows. Re-download it."
        )
    lower = [str(c).strip().lower() for c in raw.columns]
    if len(set(lower)) != len(lower):
        raise DataFormatError(
            f"{str(path)!r}: column names must be unique (case-insensitive); got "
            f"{list(raw.columns)}. Remove the repeated columns."
        )
    raw.columns = lower = [c.lstrip("\ufeff") for c in lower]
    from perpml.data.liquidations import is_event_file, read_liquidation_events

    if is_event_file(lower):  # forced orders: summed per bar, not aligned
        return read_liquidation_events(raw, path)  # type: ignore[no-any-return]
    time_col = next((c for c in TIME_COLUMNS if c in lower), None)
    unknown = [c for c in lower if c not in _known_names()]
    if time_col is None or unknown:
        problem = f"unknown column(s) {unknown}" if unknown else "no time column"
        raise DataFormatError(
            f"Cannot recognise the format of {str(path)!r}: {problem}; got columns "
            f"{list(raw.columns)}. Supported: canonical (timestamp + "
            "perpml.data.CANONICAL_COLUMNS), Binance klines, archive metrics, "
            "openInterestHist and funding-rate files (see "
            "perpml.data.sources.binance_formats). Rename or drop the columns."
        )
    mapped: dict[str, str] = {}
    for col in lower:
        if col in ALIASES:
            canon = ALIASES[col]
            if canon in mapped.values():
                other = next(k for k, v in mapped.items() if v == canon)
                raise DataFormatError(
                    f"{str(path)!r}: columns {other!r} and {col!r} both mean {canon!r}. "
                    "Keep only one of them."
                )
            mapped[col] = canon
    dropped = tuple(
        c for c in lower if c not in mapped and c not in (time_col, "symbol")
    )
    has_price = any(ALIASES.get(c) in ("open", "high", "low", "close") for c in mapped)
    kind: FileKind = "klines" if has_price else "feed"
    if kind == "klines":
        missing = [c for c in REQUIRED_COLUMNS if c not in mapped.values()]
        if missing:
            raise DataFormatError(
                f"{str(path)!r} looks like a kline file but lacks {missing}; got "
                f"columns {list(raw.columns)}. Klines need {', '.join(REQUIRED_COLUMNS)}."
            )
    elif not mapped:
        raise DataFormatError(
            f"{str(path)!r} holds no usable data column; got {list(raw.columns)}. "
            "A feed file needs e.g. sum_open_interest or fundingRate."
        )
    index = parse_times(raw[time_col], f"{str(path)!r} column {time_col!r}")
    index.name = INDEX_NAME
    data: dict[str, np.ndarray] = {}
    for col, canon in mapped.items():
        try:
            data[canon] = pd.to_numeric(raw[col]).to_numpy(dtype="float64")
        except (TypeError, ValueError):
            bad = raw[col][
                pd.to_numeric(raw[col], errors="coerce").isna() & raw[col].notna()
            ]
            raise DataFormatError(
                f"{str(path)!r} column {col!r}: values must be numbers (empty = unknown); "
                f"got {bad.head(3).tolist()} first at row(s) {bad.index[:3].tolist()}. "
                "Fix or remove those rows."
            ) from None
    if "funding_rate" in data:
        data["funding_rate"] = data["funding_rate"] * funding_rate_scale
    frame = pd.DataFrame(data, index=index)
    name_symbol, name_interval = archive_name_info(path)
    found = {name_symbol} if name_symbol else set()
    if "symbol" in raw:
        found |= {str(s).strip().upper() for s in raw["symbol"].dropna()}
    close_times = None
    if kind == "klines" and "close_time" in raw and time_col != "close_time":
        close_times = parse_times(
            raw["close_time"], f"{str(path)!r} column 'close_time'"
        )
    return ParsedFile(
        path=path,
        kind=kind,
        frame=frame,
        symbols=tuple(sorted(found)),
        dropped=dropped,
        name_interval=name_interval,
        time_column=time_col,
        close_times=close_times,
        notes=tuple(notes),
    )
