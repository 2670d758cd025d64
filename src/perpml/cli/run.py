"""``perpml run``: data → features → models → report, into one run directory."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.table import Table

from perpml.cli._app import app, console, escape, fail
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
from perpml.cli._db_options import (
    DbHostOpt,
    DbNameOpt,
    DbPasswordOpt,
    DbPortOpt,
    DbUrlOpt,
    DbUserOpt,
    apply_db_options,
)
from perpml.exceptions import PerpmlError


def _fmt(value: object, pct: bool = False) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.1%}" if pct else f"{value:.4f}"
    return str(value)


_KIND_LABELS = {"classification": "clf", "regression": "reg"}


def _ci(row: object) -> str:
    low = getattr(row, "accuracy_ci_low", None)
    high = getattr(row, "accuracy_ci_high", None)
    if not isinstance(low, float) or not isinstance(high, float) or low != low:
        return "-"
    return f"{100 * low:.1f}-{100 * high:.1f}"


def print_summary(  # type: ignore[no-untyped-def]
    summary,
    oracle: float | None,
    *,
    verdict: Mapping[str, Any] | None = None,
    audit: Sequence[Mapping[str, Any]] | None = None,
) -> None:
    """Print the per-model test table (models first, then baselines), the verdict
    line and, when the leakage audit ran, its result."""
    table = Table(
        title="Test-period results (models vs baselines)", box=box.SIMPLE_HEAD
    )
    for column in ("model", "kind", "acc", "95% CI", "dir.acc", "÷oracle", "R²"):
        table.add_column(
            column, justify="left" if column in ("model", "kind") else "right"
        )
    chosen = verdict.get("best_model") if verdict else None
    for row in summary.itertuples(index=False):
        table.add_row(
            escape(f"{row.model}{' *' if row.model == chosen else ''}"),
            _KIND_LABELS.get(row.kind, row.kind),
            _fmt(row.accuracy, pct=True),
            _ci(row),
            _fmt(row.directional_accuracy, pct=True),
            _fmt(row.oracle_ratio, pct=True),
            _fmt(row.r2),
        )
    console.print(table)
    console.print(
        "acc = accuracy; 95% CI = its overlap-aware (Newey-West) interval; dir.acc = "
        "directional accuracy (rows where neither truth nor prediction is NEUTRAL); "
        "÷oracle = accuracy / oracle accuracy; * = the model chosen on validation."
    )
    if oracle is not None:
        console.print(
            f"Oracle accuracy (simulator's true probabilities): [bold]{oracle:.1%}[/] "
            "- the best any model could reach on this test period."
        )
    if verdict and verdict.get("sentence"):
        style = "green" if verdict.get("beats_baseline") else "yellow"
        console.print(f"[bold {style}]Verdict:[/] {escape(str(verdict['sentence']))}")
    if audit is not None:
        failed = [str(r.get("check", "?")) for r in audit if not r.get("passed")]
        if failed:
            console.print(
                f"[bold red]Leakage audit FAILED[/]: {escape(', '.join(failed))} "
                "- do not trust these numbers (see audit.json)."
            )
        else:
            console.print(f"[bold green]Leakage audit passed[/] ({len(audit)} checks).")


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
    signal_strength: Annotated[
        float | None,
        typer.Option(
            "--signal-strength",
            help="Simulator only: multiplier of the planted signal (default 1.0; 0 = "
            "pure noise, where the honest verdict is 'no signal').",
        ),
    ] = None,
    config: ConfigOpt = None,
    db_url: DbUrlOpt = None,
    db_host: DbHostOpt = None,
    db_port: DbPortOpt = None,
    db_name: DbNameOpt = None,
    db_user: DbUserOpt = None,
    db_password: DbPasswordOpt = None,
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
    no_audit: Annotated[
        bool,
        typer.Option(
            "--no-audit",
            help="Skip the leakage audit at the end (run `perpml audit RUN_DIR` later).",
        ),
    ] = False,
    no_backtest: Annotated[
        bool,
        typer.Option(
            "--no-backtest",
            help="Skip the cost-aware backtest of the chosen model (docs/backtest.md).",
        ),
    ] = False,
    fee_rate: Annotated[
        float | None,
        typer.Option(help="Backtest taker fee on traded notional (default 0.0005)."),
    ] = None,
    slippage_bps: Annotated[
        float | None,
        typer.Option(help="Backtest slippage in basis points per fill (default 1)."),
    ] = None,
    allow_missing_funding: Annotated[
        bool,
        typer.Option(
            "--allow-missing-funding",
            help="Backtest data without funding rates, assuming zero funding there "
            "(said in the report); without it such data skips the backtest.",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress output.")
    ] = False,
    store_dir: Annotated[
        Path | None,
        typer.Option(
            help="Offline feature store (default $PERPML_STORE_DIR or cache)."
        ),
    ] = None,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Neither read nor write the store.")
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
        cfg = apply_db_options(
            cfg, url=db_url, host=db_host, port=db_port, name=db_name, user=db_user,
            password=db_password, source=source, mock=mock, path=path,
        )  # fmt: skip
        cfg = cfg.with_overrides("data", signal_strength=signal_strength)
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
        if no_audit:
            cfg = cfg.with_overrides("audit", enabled=False)
        cfg = cfg.with_overrides(
            "backtest",
            enabled=False if no_backtest else None,
            fee_rate=fee_rate,
            slippage_bps=slippage_bps,
            allow_missing_funding=True if allow_missing_funding else None,
        )
        cfg = cfg.with_overrides(
            "store",
            dir=str(store_dir) if store_dir else None,
            enabled=False if no_store else None,
        )
        if params is not None:
            cfg = cfg.with_overrides("models", params_file=str(params))
        result = run_pipeline(
            cfg, out, quiet=True if quiet else None, overwrite=overwrite
        )
    except PerpmlError as exc:
        fail(exc)
        return
    from perpml.report.front import audit_rows

    if result.audit is not None:
        from perpml.cli.audit import print_audit

        print_audit(result.audit)  # the pass/fail table; the verdict repeats it
    print_summary(
        result.summary,
        result.oracle_accuracy,
        verdict=None if result.verdict is None else result.verdict.to_dict(),
        audit=audit_rows(result.run_dir),
    )
    console.print(f"Run directory: {escape(str(result.run_dir))}")
    report = result.run_dir / "report" / "model_report.html"
    if report.exists():
        console.print(f"Report: {escape(str(report))}")
