"""The ``perpml`` command line: a thin typer layer over the public functions.

Every command prints a clear one-line error (no traceback) for perpml errors and exits
with status 2; unexpected failures keep their traceback.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from perpml.exceptions import PerpmlError

# libgomp's default busy-wait makes LightGBM several times slower when the cores are
# shared (e.g. with PyTorch's pool); must be set before any OpenMP library loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

app = typer.Typer(
    name="perpml",
    help=(
        "Machine-learning research on crypto perpetual futures, honestly evaluated.\n\n"
        "Start with `perpml run --mock` (simulated market, no network), then open "
        "RUN_DIR/report/model_report.html."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Wide enough for the results table when output is piped (rich assumes 80 columns).
console = Console(width=None if sys.stdout.isatty() else 120)
err_console = Console(stderr=True)


def _fail(exc: PerpmlError) -> None:
    err_console.print(f"[bold red]error:[/] {type(exc).__name__}: {exc}")
    raise typer.Exit(code=2)


def _fmt(value: object, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.1%}" if pct else f"{value:.4f}"
    return str(value)


_KIND_LABELS = {"classification": "clf", "regression": "reg"}


def print_summary(summary, oracle: float | None) -> None:  # type: ignore[no-untyped-def]
    """Print the per-model test table (models first, then baselines)."""
    table = Table(
        title="Test-period results (models vs baselines)", box=box.SIMPLE_HEAD
    )
    for column in ("model", "kind", "acc", "dir.acc", "÷oracle", "R²", "RMSE"):
        table.add_column(
            column, justify="left" if column in ("model", "kind") else "right"
        )
    for row in summary.itertuples(index=False):
        table.add_row(
            row.model,
            _KIND_LABELS.get(row.kind, row.kind),
            _fmt(row.accuracy, pct=True),
            _fmt(row.directional_accuracy, pct=True),
            _fmt(row.oracle_ratio, pct=True),
            _fmt(row.r2),
            _fmt(row.rmse),
        )
    console.print(table)
    console.print(
        "acc = accuracy; dir.acc = directional accuracy (rows where neither truth nor "
        "prediction is NEUTRAL); ÷oracle = accuracy / oracle accuracy."
    )
    if oracle is not None:
        console.print(
            f"Oracle accuracy (simulator's true probabilities): [bold]{oracle:.1%}[/] "
            "- the best any model could reach on this test period."
        )


@app.command()
def run(
    symbol: Annotated[
        str | None, typer.Option(help="Market symbol, e.g. BTCUSDT.")
    ] = None,
    days: Annotated[float | None, typer.Option(help="Days of history to use.")] = None,
    features: Annotated[
        int | None, typer.Option("--features", help="Number of features to keep.")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(help="Data source: 'synthetic' (offline simulator) or 'file'."),
    ] = None,
    mock: Annotated[
        bool, typer.Option("--mock", help="Shortcut for --source synthetic.")
    ] = False,
    path: Annotated[
        list[Path] | None,
        typer.Option(
            "--path",
            help="Data file(s) for --source file (klines, metrics, funding; repeat).",
        ),
    ] = None,
    interval: Annotated[
        str | None, typer.Option(help="Bar interval, e.g. 5m, 1h.")
    ] = None,
    gaps: Annotated[
        str | None,
        typer.Option(
            help="Missing kline bars in files: 'raise' (default), 'flat' (insert flat "
            "bars, at most [data] max_gap in a row) or 'drop_before' (keep the bars "
            "after the last gap)."
        ),
    ] = None,
    horizon: Annotated[int | None, typer.Option(help="Label horizon in bars.")] = None,
    seed: Annotated[int | None, typer.Option(help="Simulator seed.")] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML config file (see docs).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory to write.")
    ] = None,
    skip_lstm: Annotated[bool, typer.Option(help="Leave the LSTM out.")] = False,
    skip_catboost: Annotated[bool, typer.Option(help="Leave CatBoost out.")] = False,
    no_report: Annotated[
        bool, typer.Option(help="Do not build the HTML report.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bars (CI).")
    ] = False,
) -> None:
    """Run data → features → models → report and write a run directory.

    Options given here override the --config file, which overrides the defaults.
    The run directory holds models, prepared datasets, metrics (JSON and CSV), the
    resolved config, library versions, hashes and report/model_report.html.
    """
    from perpml.config import load_config
    from perpml.pipeline.run import run_pipeline

    try:
        cfg = load_config(config)
        chosen_source = "synthetic" if mock else source
        cfg = cfg.with_overrides(
            "data",
            symbol=symbol,
            days=days,
            source=chosen_source,
            interval=interval,
            seed=seed,
            paths=tuple(str(p) for p in path) if path else None,
            gaps=gaps,
        )
        cfg = cfg.with_overrides("features", n_features=features)
        cfg = cfg.with_overrides("targets", horizon=horizon)
        cfg = cfg.with_overrides(
            "models",
            skip_lstm=True if skip_lstm else None,
            skip_catboost=True if skip_catboost else None,
        )
        if no_report:
            cfg = cfg.with_overrides("report", enabled=False)
        run_dir = out or Path("runs") / (
            f"{cfg.data.symbol}_{cfg.data.source}_{cfg.data.interval}_"
            f"{cfg.data.days:g}d"
        )
        result = run_pipeline(cfg, run_dir, quiet=True if quiet else None)
    except PerpmlError as exc:
        _fail(exc)
        return
    print_summary(result.summary, result.oracle_accuracy)
    console.print(f"Run directory: {result.run_dir}")
    report = result.run_dir / "report" / "model_report.html"
    if report.exists():
        console.print(f"Report: {report}")


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory from `perpml run`.")],
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
) -> None:
    """Rebuild RUN_DIR/report/model_report.html from a saved run, without retraining."""
    from perpml.report import build_run_report

    try:
        path = build_run_report(run_dir, quiet=quiet)
    except PerpmlError as exc:
        _fail(exc)
        return
    console.print(f"Report: {path}")


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
        _fail(exc)
        return
    skipped = dict(frame.attrs.get("skipped", {}))
    frame.attrs = {}
    frame.to_parquet(out)
    console.print(
        f"{frame.shape[1]} features x {frame.shape[0]:,} bars written to {out}"
        + (f" ({len(skipped)} skipped)" if skipped else "")
    )


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
        _fail(exc)
        return
    console.print_json(json.dumps(data_quality_report(market), default=str))


def seed_main(argv: list[str] | None = None) -> None:
    """Entry point of ``run_full_pipeline.py`` with the seed's flags.

    ``--symbol --days --features --mock`` as in the seed; any other ``perpml run``
    option is accepted too.
    """
    args = list(sys.argv[1:] if argv is None else argv)
    if "--mock" not in args and "--source" not in args and "--config" not in args:
        err_console.print(
            "[bold red]error:[/] no data source: pass --mock for the offline simulator "
            "or --source file --path FILE... for your own data (the live exchange "
            "source is not part of this release)."
        )
        raise SystemExit(2)
    app(["run", *args], prog_name="run_full_pipeline.py")


if __name__ == "__main__":  # pragma: no cover
    app()
