"""``perpml validate``: check data files against the market-data contract."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perpml.cli._app import app, console, fail
from perpml.exceptions import PerpmlError


@app.command()
def validate(
    path: Annotated[list[Path], typer.Argument(help="Market data file(s).")],
    symbol: Annotated[str, typer.Option()] = "BTCUSDT",
    interval: Annotated[str, typer.Option()] = "5m",
) -> None:
    """Check data files against the market-data contract and print a quality report."""
    import json

    from perpml.data import data_quality_report, load_market_data

    try:
        market = load_market_data(
            "file",
            symbol=symbol,
            days=None,
            interval=interval,
            path=[str(p) for p in path],
        )
    except PerpmlError as exc:
        fail(exc)
        return
    console.print_json(json.dumps(data_quality_report(market), default=str))
