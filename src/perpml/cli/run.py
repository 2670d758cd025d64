"""``perpml run``: data → features → models → report, into one run directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from perpml.cli._app import app, console, fail
from perpml.cli._data_options import (
    ConfigOpt,
    DaysOpt,
    DropLastBarOpt,
    EndOpt,
    FundingScaleOpt,
    GapsOpt,
    IntervalOpt,
    MaxGapOpt,
    MockOpt,
    PathOpt,
    SeedOpt,
    SourceOpt,
    StartOpt,
    SymbolOpt,
    apply_data_options,
)
from perpml.exceptions import PerpmlError


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
    symbol: SymbolOpt = None,
    days: DaysOpt = None,
    start: StartOpt = None,
    end: EndOpt = None,
    features: Annotated[
        int | None,
        typer.Option("--features", help="Number of features to keep (default 50)."),
    ] = None,
    source: SourceOpt = None,
    mock: MockOpt = False,
    path: PathOpt = None,
    interval: IntervalOpt = None,
    gaps: GapsOpt = None,
    max_gap: MaxGapOpt = None,
    funding_rate_scale: FundingScaleOpt = None,
    drop_last_bar: DropLastBarOpt = None,
    horizon: Annotated[
        int | None, typer.Option(help="Label horizon in bars (default 12).")
    ] = None,
    seed: SeedOpt = None,
    config: ConfigOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Run directory to write (default runs/SYMBOL_SOURCE_INTERVAL_DAYS).",
        ),
    ] = None,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite", help="Empty a non-empty run directory first (else refuse)."
        ),
    ] = False,
    skip_lstm: Annotated[
        bool, typer.Option("--skip-lstm", help="Leave the LSTM out.")
    ] = False,
    skip_catboost: Annotated[
        bool, typer.Option("--skip-catboost", help="Leave CatBoost out.")
    ] = False,
    skip_nn: Annotated[
        bool, typer.Option("--skip-nn", help="Leave the PyTorch MLP out.")
    ] = False,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Do not build the HTML report.")
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress output.")
    ] = False,
    params: Annotated[
        Path | None,
        typer.Option("--params", help="Tuned params file from `perpml tune`."),
    ] = None,
) -> None:
    """Run data → features → models → report and write a run directory.

    Options given here override the --config file, which overrides the defaults.
    The run directory holds models, prepared datasets, metrics (JSON and CSV), the
    resolved config, library versions, hashes and report/model_report.html.
    """
    from perpml.config import load_config
    from perpml.pipeline.run import run_pipeline

    try:
        cfg = apply_data_options(
            load_config(config),
            symbol=symbol,
            days=days,
            start=start,
            end=end,
            source=source,
            mock=mock,
            path=path,
            interval=interval,
            gaps=gaps,
            max_gap=max_gap,
            seed=seed,
            funding_rate_scale=funding_rate_scale,
            drop_last_bar=drop_last_bar,
        )
        cfg = cfg.with_overrides("features", n_features=features)
        cfg = cfg.with_overrides("targets", horizon=horizon)
        cfg = cfg.with_overrides(
            "models",
            skip_lstm=True if skip_lstm else None,
            skip_catboost=True if skip_catboost else None,
            skip_nn=True if skip_nn else None,
        )
        if no_report:
            cfg = cfg.with_overrides("report", enabled=False)
        if params is not None:
            cfg = cfg.with_overrides("models", params_file=str(params))
        result = run_pipeline(
            cfg, out, quiet=True if quiet else None, overwrite=overwrite
        )
    except PerpmlError as exc:
        fail(exc)
        return
    print_summary(result.summary, result.oracle_accuracy)
    console.print(f"Run directory: {result.run_dir}")
    report = result.run_dir / "report" / "model_report.html"
    if report.exists():
        console.print(f"Report: {report}")
