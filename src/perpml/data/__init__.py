"""Market data: the canonical frame, its contract, repairs, alignment and sources.

``perpml.data.sources.synthetic`` is imported lazily (by ``load_market_data``), so
this package imports without it.
"""

from __future__ import annotations

from perpml.data.alignment import align_asof
from perpml.data.contract import Violation, validate_market_data
from perpml.data.fingerprint import data_fingerprint
from perpml.data.gaps import drop_duplicate_bars, fill_gaps, sort_bars
from perpml.data.loading import load_market_data
from perpml.data.quality import data_quality_report
from perpml.data.schema import (
    CANONICAL_COLUMNS,
    INTERVALS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
)
from perpml.data.sources.base import MarketDataSource
from perpml.data.sources.file import FileSource

__all__ = [
    "CANONICAL_COLUMNS",
    "INTERVALS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "FileSource",
    "MarketDataSource",
    "Violation",
    "align_asof",
    "data_fingerprint",
    "data_quality_report",
    "drop_duplicate_bars",
    "fill_gaps",
    "load_market_data",
    "sort_bars",
    "validate_market_data",
]
