"""``perpml validate``: check data files against the market-data contract.

Prints a one-line verdict (``OK`` or ``FAIL (N problems)``) and a readable summary;
``--json`` prints the machine-readable form instead. Exit status: 0 when the data
passes, 1 when it breaks the contract (every violation listed), 2 when it cannot be
read or an option is wrong.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from perpml.cli._app import app, console, escape, fail
from perpml.cli._data_options import (
    DaysOpt,
    DropLastBarOpt,
    EndOpt,
    FundingScaleOpt,
    GapsOpt,
    IntervalOpt,
    MaxGapOpt,
    StartOpt,
    SymbolOpt,
    apply_data_options,
)
from perpml.exceptions import DataContractError, PerpmlError


def _problems(exc: DataContractError) -> list[dict[str, Any]]:
    """Every violation of a contract error as a JSON-ready mapping."""
    if not exc.violations:
        return [{"reason": None, "message": str(exc)}]
    out = []
    for v in exc.violations:
        out.append(
            {
                "reason": getattr(v, "reason", None),
                "column": getattr(v, "column", None),
                "count": getattr(v, "count", None),
                "first_bad": [str(t) for t in getattr(v, "first_bad", ())],
                "message": v.describe() if hasattr(v, "describe") else str(v),
            }
        )
    return out


def _short(stamp: object) -> str:
    if stamp is None:
        return "-"
    return pd.Timestamp(stamp).strftime("%Y-%m-%d %H:%M")  # type: ignore[arg-type]


def _print_summary(report: dict[str, Any], market: pd.DataFrame) -> None:
    from rich import box
    from rich.table import Table

    from perpml.data.quality import feed_coverage
    from perpml.data.schema import REQUIRED_COLUMNS

    resolved = market.attrs.get("resolved", {})

    def how(key: str) -> str:
        text = resolved.get(key)
        return f" ({escape(text)})" if text and text != "given" else ""

    console.print(f"symbol     {escape(str(report['symbol']))}{how('symbol')}")
    console.print(f"interval   {escape(str(report['interval']))}{how('interval')}")
    console.print(
        f"bars       {report['n_rows']:,}, {_short(report['start'])} to "
        f"{_short(report['end'])} (bar open times, UTC)"
    )
    files = market.attrs.get("files", [])
    if files:
        shown = ", ".join(Path(f).name for f in files[:4])
        more = f" and {len(files) - 4} more" if len(files) > 4 else ""
        console.print(f"files      {escape(shown)}{more}")
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("feed", "columns", "coverage", "first", "last"):
        table.add_column(column, justify="right" if column == "coverage" else "left")
    table.add_row("klines", ", ".join(REQUIRED_COLUMNS), "100.0%", "", "")
    for cov in feed_coverage(market):
        table.add_row(
            cov.feed,
            ", ".join(cov.columns),
            f"{cov.share:.1%}",
            _short(cov.first_valid),
            _short(cov.last_valid),
        )
    console.print(table)
    missing = report["missing_optional_columns"]
    if missing:
        console.print(f"absent     {', '.join(missing)}")
    for note in report["notes"]:
        console.print(f"note       {escape(note)}")
    for warning in report["warnings"]:
        console.print(f"[yellow]warning[/]    {escape(warning)}")


@app.command()
def validate(
    path: Annotated[
        list[Path], typer.Argument(help="Market data file(s) or folder(s).")
    ],
    symbol: SymbolOpt = None,
    interval: IntervalOpt = None,
    days: DaysOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    gaps: GapsOpt = None,
    max_gap: MaxGapOpt = None,
    funding_rate_scale: FundingScaleOpt = None,
    drop_last_bar: DropLastBarOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the machine-readable report only.")
    ] = False,
) -> None:
    """Check data files against the market-data contract; print a verdict and summary.

    Exit status: 0 OK; 1 the contract is broken; 2 unreadable input or bad option.
    """
    from perpml.config import RunConfig
    from perpml.data import data_quality_report, load_market_data

    try:
        cfg = apply_data_options(
            RunConfig(),
            symbol=symbol,
            days=days,
            start=start,
            end=end,
            path=path,
            interval=interval,
            gaps=gaps,
            max_gap=max_gap,
            funding_rate_scale=funding_rate_scale,
            drop_last_bar=drop_last_bar,
        )
        data = cfg.data
        market = load_market_data(
            "file",
            symbol=data.symbol,
            days=data.days,
            interval=data.interval,
            start=data.start,
            end=data.end,
            path=list(data.paths),
            funding_rate_scale=data.funding_rate_scale,
            drop_last_bar=data.drop_last_bar,
            gaps=data.gaps,
            max_gap=data.max_gap,
        )
    except DataContractError as exc:
        problems = _problems(exc)
        if as_json:
            payload = {"ok": False, "problems": problems}
            console.print_json(json.dumps(payload, default=str))
        else:
            n = len(problems)
            console.print(f"[bold red]FAIL[/] ({n} problem{'s' if n != 1 else ''})")
            head = str(exc).splitlines()[0]
            if exc.violations and ": [" in head:
                # File-level checks put the file before the violation: keep it.
                head = head.split(": [", 1)[0]
                if not head.startswith("Market data breaks"):
                    console.print(escape(head))
            for i, problem in enumerate(problems, 1):
                console.print(f"  {i}. {escape(problem['message'])}")
        raise typer.Exit(code=1) from None
    except PerpmlError as exc:
        if as_json:
            payload = {"ok": False, "error": type(exc).__name__, "message": str(exc)}
            console.print_json(json.dumps(payload))
            raise typer.Exit(code=2) from None
        fail(exc)
        return
    report = data_quality_report(market)
    if as_json:
        from dataclasses import asdict

        from perpml.data.quality import feed_coverage

        payload = {
            "ok": True,
            "problems": [],
            **report,
            "resolved": market.attrs.get("resolved", {}),
            "files": market.attrs.get("files", []),
            "feeds": [asdict(c) for c in feed_coverage(market)],
        }
        console.print_json(json.dumps(payload, default=str))
        return
    console.print("[bold green]OK[/]")
    _print_summary(report, market)
