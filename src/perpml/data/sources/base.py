"""The :class:`MarketDataSource` protocol every data source implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import pandas as pd

__all__ = ["MarketDataSource"]


@runtime_checkable
class MarketDataSource(Protocol):
    """Something that produces canonical market frames.

    Attributes
    ----------
    name : str
        Short identifier stored in ``frame.attrs["source"]`` (``"file"``,
        ``"synthetic"``, ...).

    Notes
    -----
    :func:`perpml.data.load_market_data` calls :meth:`load` once per request and
    validates the result with :func:`perpml.data.validate_market_data`; a source
    should validate too, so direct calls get the same guarantee.

    Two optional class attributes change how it is called:

    * ``infers_market = True``: ``symbol`` and ``interval`` may be ``None``, and the
      source reads them from its data (setting ``attrs["symbol"]`` /
      ``attrs["interval"]``); otherwise unset values become ``"BTCUSDT"`` / ``"5m"``;
    * ``supports_range = True``: ``load`` also takes keyword arguments ``start`` and
      ``end`` (UTC Timestamps or None) and keeps the bars whose open time lies in
      ``[start, end]``; otherwise ``load_market_data`` trims the result.
    """

    name: str

    def load(self, symbol: str, days: float | None, interval: str) -> pd.DataFrame:
        """Return the market frame for ``symbol`` at ``interval``.

        Parameters
        ----------
        symbol : str
            Exchange symbol such as ``"BTCUSDT"``.
        days : float or None
            Length of history to return, counted back from the last bar's close;
            ``None`` means everything the source has.
        interval : str
            Bar length, one of :data:`perpml.data.INTERVALS`.

        Returns
        -------
        DataFrame of shape (n_bars, n_columns), indexed by bar open time, UTC
            Canonical market frame passing ``validate_market_data``; ``attrs``
            carries ``symbol``, ``interval`` and ``source``.
        """
        ...
