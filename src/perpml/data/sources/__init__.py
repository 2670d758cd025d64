"""Market-data sources (file, synthetic, ...) behind one protocol.

``perpml.data.sources.synthetic`` is imported lazily by
:func:`perpml.data.load_market_data`, never here.
"""

from __future__ import annotations

from perpml.data.sources.base import MarketDataSource
from perpml.data.sources.file import FileSource

__all__ = ["FileSource", "MarketDataSource"]
