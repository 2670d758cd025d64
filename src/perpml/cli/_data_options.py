"""The data options every data-reading command shares (`run`, `validate`, `fetch`, ...).

Commands declare these parameters with the aliases below, so a flag means the same
everywhere, and turn them into config overrides with :func:`apply_data_options`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from perpml.config import RunConfig
from perpml.exceptions import ConfigError

__all__ = [
    "ConfigOpt",
    "DaysOpt",
    "DropLastBarOpt",
    "EndOpt",
    "FundingScaleOpt",
    "GapsOpt",
    "IntervalOpt",
    "MaxGapOpt",
    "MockOpt",
    "PathOpt",
    "SeedOpt",
    "SourceOpt",
    "StartOpt",
    "SymbolOpt",
    "apply_data_options",
]

SymbolOpt = Annotated[
    str | None,
    typer.Option(
        help="Exchange symbol, e.g. BTCUSDT. For files: inferred from the data "
        "(symbol column or Binance archive file names) when not given."
    ),
]
DaysOpt = Annotated[
    float | None,
    typer.Option(
        help="Days of history, counted back from the last bar. Simulator default: "
        "60; files: all of the data."
    ),
]
StartOpt = Annotated[
    str | None,
    typer.Option(help="First bar to use: a UTC date or timestamp (2024-01-01)."),
]
EndOpt = Annotated[
    str | None,
    typer.Option(help="Last bar to use: a UTC date or timestamp (inclusive)."),
]
SourceOpt = Annotated[
    str | None,
    typer.Option(
        help="Data source: 'synthetic' (offline simulator, the default), 'file' "
        "(implied by --path), 'archive' (data.binance.vision) or 'binance' (REST)."
    ),
]
MockOpt = Annotated[
    bool, typer.Option("--mock", help="Use the offline simulator (--source synthetic).")
]
PathOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--path",
        help="Data file or folder (klines, metrics, funding; repeat). Implies "
        "--source file.",
    ),
]
IntervalOpt = Annotated[
    str | None,
    typer.Option(
        help="Bar interval, e.g. 5m, 1h. Simulator default: 5m; files: inferred "
        "from the bar spacing."
    ),
]
GapsOpt = Annotated[
    str | None,
    typer.Option(
        help="Missing kline bars in files: 'raise' (default), 'flat' (insert flat "
        "bars, at most --max-gap in a row) or 'drop_before' (keep the bars after "
        "the last gap)."
    ),
]
MaxGapOpt = Annotated[
    int | None,
    typer.Option(help="Longest run of missing bars --gaps flat may fill (default 12)."),
]
SeedOpt = Annotated[int | None, typer.Option(help="Simulator seed (default 42).")]
FundingScaleOpt = Annotated[
    float | None,
    typer.Option(
        help="Multiply file funding rates by this (default 1; e.g. 8 for files that "
        "store the 8-hour rate divided by 8)."
    ),
]
DropLastBarOpt = Annotated[
    bool | None,
    typer.Option(
        "--drop-last-bar/--keep-last-bar",
        help="Drop the newest kline bar of files, which may still be open "
        "(default: drop).",
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    Path | None, typer.Option("--config", help="TOML config file (docs/config.md).")
]


def apply_data_options(
    cfg: RunConfig,
    *,
    symbol: str | None = None,
    days: float | None = None,
    start: str | None = None,
    end: str | None = None,
    source: str | None = None,
    mock: bool = False,
    path: list[Path] | None = None,
    interval: str | None = None,
    gaps: str | None = None,
    max_gap: int | None = None,
    seed: int | None = None,
    funding_rate_scale: float | None = None,
    drop_last_bar: bool | None = None,
) -> RunConfig:
    """Return ``cfg`` with the given data options applied (``None`` keeps the file's).

    ``--path`` implies ``--source file``; ``--mock`` with ``--path`` or with another
    ``--source`` is a contradiction and raises :class:`ConfigError`.
    """
    if mock and path:
        raise ConfigError(
            "--mock runs the simulator, but --path names data files: pass one or the "
            "other."
        )
    if mock and source not in (None, "synthetic"):
        raise ConfigError(
            f"--mock runs the simulator, but --source {source} was given: pass one or "
            "the other."
        )
    chosen = "synthetic" if mock else source
    if path and chosen is None:
        chosen = "file"
    if path and chosen not in ("file",):
        raise ConfigError(
            f"--path names data files, but --source {chosen} was given: use --source "
            "file (or leave --source out) with --path."
        )
    return cfg.with_overrides(
        "data",
        symbol=symbol,
        days=days,
        start=start,
        end=end,
        source=chosen,
        interval=interval,
        seed=seed,
        paths=tuple(str(p.expanduser().resolve()) for p in path) if path else None,
        gaps=gaps,
        max_gap=max_gap,
        funding_rate_scale=funding_rate_scale,
        drop_last_bar=drop_last_bar,
    )
