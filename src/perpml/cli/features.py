"""``perpml list-features`` and ``perpml features``: the feature registry and builds."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from perpml.cli._app import app, console, fail
from perpml.exceptions import PerpmlError


@app.command("list-features")
def list_features_cmd(
    category: Annotated[
        str | None, typer.Option(help="Only this category, e.g. open_interest.")
    ] = None,
) -> None:
    """List every registered feature: name, category, input columns and warm-up."""
    from perpml.features import list_features

    table = list_features()
    if category:
        table = table[table["category"] == category]
    out = Table(title=f"{len(table)} features")
    for column in ("name", "category", "inputs", "warmup"):
        out.add_column(column)
    for row in table.itertuples(index=False):
        inputs = row.inputs if isinstance(row.inputs, str) else ", ".join(row.inputs)
        out.add_row(row.name, row.category, inputs, str(row.warmup))
    console.print(out)


@app.command()
def features(
    out: Annotated[Path, typer.Option("--out", help="Parquet file to write.")] = Path(
        "features.parquet"
    ),
    symbol: Annotated[str, typer.Option()] = "BTCUSDT",
    days: Annotated[float, typer.Option()] = 30,
    interval: Annotated[str, typer.Option()] = "5m",
    source: Annotated[str, typer.Option(help="'synthetic' or 'file'.")] = "synthetic",
    path: Annotated[list[Path] | None, typer.Option("--path")] = None,
    seed: Annotated[int, typer.Option()] = 42,
) -> None:
    """Build every feature for a market and write them to a Parquet file."""
    from perpml.data import load_market_data
    from perpml.features import build_features

    try:
        if source == "file":
            market = load_market_data(
                "file",
                symbol=symbol,
                days=days,
                interval=interval,
                path=[str(p) for p in path or []],
            )
        else:
            market = load_market_data(
                source, symbol=symbol, days=days, interval=interval, seed=seed
            )
        frame = build_features(market)
    except PerpmlError as exc:
        fail(exc)
        return
    skipped = dict(frame.attrs.get("skipped", {}))
    frame.attrs = {}
    frame.to_parquet(out)
    console.print(
        f"{frame.shape[1]} features x {frame.shape[0]:,} bars written to {out}"
        + (f" ({len(skipped)} skipped)" if skipped else "")
    )
