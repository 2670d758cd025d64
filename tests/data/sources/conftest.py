"""A local fake exchange (127.0.0.1, random port) for the archive and REST tests."""

from __future__ import annotations

import pandas as pd
import pytest
from tests.data.sources._exchange import Exchange, ExchangeServer

#: The fake exchange's and the clients' clock: mid-day, early in a month.
NOW = pd.Timestamp("2024-03-10 12:00", tz="UTC")


@pytest.fixture
def exchange():
    with ExchangeServer(
        Exchange(now=NOW, listed=pd.Timestamp("2023-11-01", tz="UTC"))
    ) as ex:
        yield ex


class Sleeps(list):
    """An injectable ``sleep`` that records instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()
