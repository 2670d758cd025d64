"""A local fake exchange (127.0.0.1, random port) for the archive and REST tests."""

from __future__ import annotations

import pandas as pd
import pytest

from ._exchange import NOW, Exchange, ExchangeServer


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
