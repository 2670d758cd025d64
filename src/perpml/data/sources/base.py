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
