"""Market data: the canonical frame, its contract, repairs, alignment and sources."""

from __future__ import annotations

from perpml.data.contract import Violation, validate_market_data
from perpml.data.schema import (
    CANONICAL_COLUMNS,
    INTERVALS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
)

__all__ = [
    "CANONICAL_COLUMNS",
    "INTERVALS",
    "OPTIONAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "Violation",
    "validate_market_data",
]
