"""The seed's end-to-end run: Phase 1 data → Phase 2 features → Phase 3 models → report.

Every step that learns from data sees training rows only:

* features are causal (row t uses bars ≤ t) and targets carry ``label_end``;
* the chronological train/validation/test split purges training rows whose label is
  known only once the next period has begun, plus an embargo;
* feature selection and scaling are fitted on the training split;
* the validation split (the purged tail before the test period) serves early stopping;
* walk-forward validation runs on every built feature (not the selected ones), so no
  selection fitted on later rows can flatter the earlier folds.

The run directory layout is documented in ``docs/architecture.md``.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perpml.config import RunConfig, dump_config
from perpml.data.schema import interval_to_timedelta
from perpml.exceptions import ConfigError, InsufficientDataError, RunDirectoryError
from perpml.progress import PhaseProgress
from perpml.rundir.io import write_json_atomic, write_text_atomic

__all__ = ["RunResult", "default_run_dir", "prepare_run_dir", "run_pipeline"]


@dataclass(frozen=True)
class RunResult:
    """Where a run landed and its headline numbers.

    ``summary`` has one row per model and baseline on the test split with columns
    model, kind, accuracy, directional_accuracy, r2, rmse, and ``oracle_ratio``.
    """

    run_dir: Path
    summary: pd.DataFrame
    oracle_accuracy: float | None
    feature_set_id: str
    timings: dict[str, float]
    #: The run's answer (``metrics.json["verdict"]``); None without classifiers.
    verdict: Any = None
    audit: Any = None  # perpml.evaluation.audit.AuditReport, None with --no-audit


def _load_market(config: RunConfig) -> tuple[pd.DataFrame, RunConfig]:
    """Load the market and return it with the config's data section resolved.

    Unset symbol / interval / days take what the data says (files) or the
    simulator's defaults, so the run directory records what was actually used.
    """
    from perpml.data import load_market_data

    data = config.data
    if data.source != "synthetic" and data.signal_strength != 1.0:
        raise ConfigError(
            f"--signal-strength / [data] signal_strength applies to the simulator "
            f"only, got {data.signal_strength} with source {data.source!r}. Drop it, "
            "or use --mock."
        )
    common: dict[str, Any] = {
        "symbol": data.symbol,
        "days": data.days,
        "interval": data.interval,
        "start": data.start,
        "end": data.end,
    }
    if data.source == "synthetic":
        market = load_market_data(
            "synthetic",
            **{
                **common,
                "days": 60.0 if data.days is None and not data.end else data.days,
            },
            seed=data.seed,
            signal_strength=data.signal_strength,
        )
    elif data.source == "file":
        market = load_market_data(
            "file",
            **common,
            path=list(data.paths),
            funding_rate_scale=data.funding_rate_scale,
            drop_last_bar=data.drop_last_bar,
            gaps=data.gaps,
            max_gap=data.max_gap,
        )
    elif data.source in ("archive", "binance"):
        market = load_market_data(
            data.source, **common, gaps=data.gaps, max_gap=data.max_gap
        )
    elif data.source == "postgres":
        market = load_market_data("postgres", **common, database=config.database)
    else:
        market = load_market_data(data.source, **common)
    bars = len(market)
    step = interval_to_timedelta(market.attrs["interval"])
    span_days = bars * step / pd.Timedelta(days=1)
    resolved = config.with_overrides(
        "data",
        symbol=market.attrs["symbol"],
        interval=market.attrs["interval"],
        days=data.days if data.days is not None else round(span_days, 6),
    )
    return market, resolved


def default_run_dir(config: RunConfig) -> Path:
    """``runs/SYMBOL_SOURCE_INTERVAL_DAYSd`` for a resolved config (always under runs/)."""
    from perpml.data.loading import check_symbol

    data = config.data
    symbol = check_symbol(data.symbol)
    days = f"{data.days:g}d" if data.days is not None else "all"
    return Path("runs") / f"{symbol}_{data.source}_{data.interval}_{days}"


def check_run_dir(run_dir: Path, *, overwrite: bool) -> None:
    """Raise :class:`RunDirectoryError` if ``run_dir`` cannot take a new run.

    Checked before any work, so a bad ``--out`` fails fast and nothing is deleted.
    """
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirectoryError(
            f"--out {str(run_dir)!r} is an existing file, not a directory. Pass a new "
            "or empty directory to --out."
        )
    if run_dir.is_dir() and any(run_dir.iterdir()):
        if not overwrite:
            raise RunDirectoryError(
                f"Run directory {str(run_dir)!r} is not empty (an earlier run?). Pass "
                "--overwrite to replace it, or another --out."
            )
        if (
            not (run_dir / "run.json").exists()
            and not (run_dir / "config.toml").exists()
        ):
            raise RunDirectoryError(
                f"--overwrite refuses to empty {str(run_dir)!r}: it does not look like "
                "a perpml run directory (no run.json or config.toml). Pass another "
                "--out."
            )
    existing = next((p for p in (run_dir, *run_dir.parents) if p.exists()), None)
    if existing is not None and (
        not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK)
    ):
        raise RunDirectoryError(
            f"Cannot create the run directory {str(run_dir)!r}: {str(existing)!r} is "
            "not a writable directory. Pass a writable --out."
        )


def prepare_run_dir(run_dir: Path, *, overwrite: bool) -> Path:
    """Create ``run_dir``, refusing a non-empty one unless ``overwrite`` empties it.

    Runs never mix: files of an earlier run left beside a new one would be read by
    the report as if they were the new run's.
    """
    check_run_dir(run_dir, overwrite=overwrite)
    if run_dir.is_dir() and any(run_dir.iterdir()):
        for child in run_dir.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / ".perpml-write-test"
        probe.write_text("", encoding="utf-8")
        probe.unlink()
    except OSError as exc:
        raise RunDirectoryError(
            f"Cannot write the run directory {str(run_dir)!r}: {exc.strerror or exc}. "
            "Pass a writable --out."
        ) from None
    return run_dir


def _usable_rows(
    features: pd.DataFrame,
    targets: pd.DataFrame,
    *,
    decide_on: float = 1.0,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, str]]:
    """Drop features that are missing too often, then every row with a gap.

    Which features to keep is decided on the first ``decide_on`` share of the rows
    only (the training period), so later data availability does not shape the
    feature set; rows with a missing kept feature or no label are dropped in every
    period.

    * A feature with no value on the first 10 % of those rows (long warm-up, or an
      input feed that starts late) would cost every model those rows; it is dropped.
    * A feature that is NaN on more than 5 % of the rows after the first complete row
      would likewise delete those rows for every model; it is dropped.

    Returns
    -------
    (X, targets, dropped)
        Complete rows and the ``{feature: reason}`` of every dropped feature.
    """
    labelled = targets["target_class"].notna() & targets["label_end"].notna()
    head = features.iloc[: max(1, int(len(features) * decide_on))]
    n = len(head)
    dropped: dict[str, str] = {}
    valid = head.notna().to_numpy()
    first_valid = np.where(valid.any(axis=0), valid.argmax(axis=0), n)
    for name, first in zip(head.columns, first_valid, strict=True):
        if first > 0.1 * n:
            dropped[str(name)] = (
                f"no value in the first {first} of {n} training-period bars (warm-up, "
                "or input data that starts late): more than 10%"
            )
    head = head.drop(columns=list(dropped))
    complete = head.notna().all(axis=1)
    tail = head.loc[complete.idxmax() :] if complete.any() else head
    for name, share in tail.isna().mean().items():
        if share > 0.05:
            dropped[str(name)] = (
                f"NaN on {share:.0%} of training-period rows after warm-up"
            )
    kept = features.drop(columns=list(dropped))
    ok = kept.notna().all(axis=1) & labelled
    return kept.loc[ok], targets.loc[ok], dropped


def _constant_input_reasons(
    dropped: dict[str, str], quality: dict[str, Any]
) -> dict[str, str]:
    """Name a constant input column as the reason, not "warm-up" or "NaN"."""
    constant = set(quality.get("constant_columns") or [])
    if not constant or not dropped:
        return dropped
    from perpml.features import list_features

    table = list_features().set_index("name")
    out = dict(dropped)
    for name in dropped:
        if name not in table.index:
            continue
        inputs = table.at[name, "inputs"]
        found = (_raw_column(i, constant) for i in _as_tuple(inputs))
        hit = sorted({column for column in found if column is not None})
        if hit:
            out[name] = (
                f"input column {', '.join(hit)} is constant (zero) on every bar, so "
                "the feature carries no information"
            )
    return out


def _as_tuple(inputs: object) -> tuple[str, ...]:
    return (inputs,) if isinstance(inputs, str) else tuple(inputs)  # type: ignore[arg-type]


def _raw_column(name: str, columns: object) -> str | None:
    """The market column a registry input is built from (``log_open_interest`` ->
    ``open_interest``), if it is one of ``columns``; else None."""
    for column in columns:  # type: ignore[attr-defined]
        if name == column or name.endswith(f"_{column}"):
            return str(column)
    return None


#: Canonical columns that are the main kline series, not an optional feed.
_PRICE_COLUMNS = frozenset({"open", "high", "low", "close", "volume"})


def dropped_feed_lines(
    dropped: dict[str, str], market: pd.DataFrame, built: pd.Index
) -> list[str]:
    """One line per optional input feed whose every feature was dropped, with why.

    A feed (open interest, funding, ratios, ...) that does not cover the training
    period loses all of its features; the user should hear that, not find it in a
    table. A column that is constant zero is named as such (not as "warm-up").
    """
    from perpml.features import list_features

    table = list_features()
    by_input: dict[str, list[str]] = {}
    optional = [c for c in market.columns if c not in _PRICE_COLUMNS]
    for name, inputs in zip(table["name"], table["inputs"], strict=True):
        for given in _as_tuple(inputs):
            column = _raw_column(given, optional)
            if column is not None:
                by_input.setdefault(column, []).append(str(name))
    lines = []
    for column, names in sorted(by_input.items()):
        if column not in market.columns:
            continue
        users = [n for n in names if n in built]
        lost = [n for n in users if n in dropped]
        if not lost or len(lost) < len(users):
            continue
        values = market[column]
        if values.notna().any() and (values.fillna(0) == 0).all():
            why = "the column is zero on every bar"
        else:
            first = values.first_valid_index()
            why = (
                "the column has no value at all"
                if first is None
                else f"its first value is at {first.isoformat()}, too late for the "
                "training period"
            )
        lines.append(
            f"input {column}: all {len(lost)} of its features dropped because {why}."
        )
    return lines


def run_pipeline(
    config: RunConfig,
    out_dir: str | Path | None = None,
    *,
    quiet: bool | None = None,
    overwrite: bool = False,
) -> RunResult:
    """Run data → features → models → report and write a run directory.

    Parameters
    ----------
    config : RunConfig
        Resolved configuration (written to ``out_dir/config.toml``).
    out_dir : path, optional
        Run directory; created if missing. ``None``: :func:`default_run_dir` (under
        ``runs/``). A non-empty directory is refused unless ``overwrite``.
    quiet : bool, optional
        Hide progress (default: bars on a terminal, one line per phase elsewhere).
    overwrite : bool, default False
        Empty a non-empty run directory first.

    Returns
    -------
    RunResult
    """
    from perpml.data import data_fingerprint, data_quality_report
    from perpml.features import feature_set_id
    from perpml.features.targets import make_targets
    from perpml.rundir.datasets import export_prepared_datasets, library_versions
    from perpml.store.offline import cached_features
    from perpml.tuning.params_file import read_params_file, record_tuned_params

    if out_dir is not None:
        check_run_dir(Path(out_dir), overwrite=overwrite)
    if config.models.params_file:
        read_params_file(config.models.params_file)  # a bad file fails before Phase 1
    tcfg = config.targets
    horizon = tcfg.horizon
    embargo_bars = (
        config.split.embargo_bars if config.split.embargo_bars >= 0 else horizon
    )

    from perpml.pipeline.audit_step import audit_recording, record_and_audit

    # audit_recording: the splits and fits of this run, for the leakage audit.
    with PhaseProgress(quiet=quiet) as progress, audit_recording() as recorder:
        # ---------------------------------------------------------------- Phase 1
        with progress.phase("Phase 1: market data", total=2):
            progress.stage(f"loading {config.data.source} data")
            market, config = _load_market(config)
            progress.info(
                f"Market: {config.data.symbol} {config.data.interval} from "
                f"{config.data.source}, {market.index[0].isoformat()} to "
                f"{market.index[-1].isoformat()}, {len(market):,} bars"
            )
            run_dir = prepare_run_dir(
                Path(out_dir) if out_dir is not None else default_run_dir(config),
                overwrite=overwrite,
            )
            write_text_atomic(run_dir / "config.toml", dump_config(config))
            progress.advance("validated")
            quality = data_quality_report(market)
            if market.attrs.get("ledger"):  # archive / REST: what came from where
                from perpml.data.sources.ledger import ledger_table

                progress.show(ledger_table(market.attrs["ledger"]))
            for warning in quality.get("warnings") or []:
                progress.warn(str(warning))
            fingerprint = data_fingerprint(market)
            progress.advance(f"{len(market):,} bars")
        interval = interval_to_timedelta(market.attrs["interval"])
        embargo = interval * embargo_bars

        # ---------------------------------------------------------------- Phase 2
        with progress.phase("Phase 2: features and targets", total=4):
            progress.stage("building features")
            features = cached_features(  # the offline store: read if already built
                market,
                list(config.features.categories) or None,
                config.store.dir if config.store.enabled else False,
                progress,
            )
            skipped = dict(features.attrs.get("skipped", {}))
            progress.advance(f"{features.shape[1]} features")
            targets = make_targets(
                market,
                horizon=horizon,
                threshold=tcfg.threshold,
                scale=tcfg.scale,
                vol_window=tcfg.vol_window,
                method=tcfg.method,
            )
            X_all, y_all, sparse = _usable_rows(
                features,
                targets,
                decide_on=1 - config.split.val_fraction - config.split.test_fraction,
            )
            sparse = _constant_input_reasons(sparse, quality)
            skipped.update(sparse)
            for line in dropped_feed_lines(sparse, market, features.columns):
                progress.warn(line)
            progress.advance("targets")
            X_all, parts = split_rows(config, X_all, y_all, embargo, skipped)
            progress.stage("selecting features on the training split")
            selected = _select(config, parts["train"], embargo)
            progress.advance(f"{len(selected)} selected")
            fs_id = feature_set_id(
                selected,
                data_fingerprint=fingerprint,
                params={
                    "targets": tcfg.__dict__,
                    "split": config.split.__dict__,
                    "selection": config.features.__dict__,
                },
            )
            parts = {name: (X[selected], y) for name, (X, y) in parts.items()}
            export_prepared_datasets(
                parts,
                feature_set_id=fs_id,
                root=run_dir / "data",
                extra={"data_fingerprint": fingerprint, "config": dump_config(config)},
            )
            progress.advance("datasets exported")

        # ---------------------------------------------------------------- Phase 3
        n_models = 8 - sum(
            [
                config.models.skip_lstm,
                config.models.skip_catboost,
                config.models.skip_nn,
            ]
        )
        walk_splits = config.split.walk_forward_splits
        stages: dict[str, float] = {}
        with progress.phase("Phase 3: models", total=n_models + 3):
            from perpml.pipeline import scoring
            from perpml.pipeline.walk_zoo import run_walk_forward, walk_forward_rows

            contexts = scoring.lstm_contexts(features, parts, interval)
            results, pipeline = _train_zoo(
                config, parts, horizon, run_dir, progress, embargo, contexts
            )
            stages.update({f"train {n}": r.seconds for n, r in results.items()})
            clock = time.perf_counter()
            progress.stage("baselines and oracle")
            baselines = _baselines(market, parts, horizon)
            base_classes, base_forecasts = scoring.baseline_predictions(
                market, parts, horizon
            )
            oof_rows = (
                walk_forward_rows(config, X_all, y_all, embargo)
                if walk_splits > 0
                else pd.Index([])
            )
            calls = scoring.oracle_calls(
                market, y_all, parts["test"][0].index.union(oof_rows)
            )
            oracle = _oracle_on(calls, parts["test"][1])
            stages["oracle"] = time.perf_counter() - clock
            clock = time.perf_counter()
            val_classes = scoring.add_intervals(
                results, pipeline, parts, horizon, val_context=contexts[0]
            )
            scoring.add_baseline_intervals(
                baselines, base_classes, base_forecasts, parts["test"][1], horizon
            )
            verdict = (
                scoring.run_verdict(
                    results, val_classes, base_classes, parts, horizon, oracle
                )
                if val_classes
                else None
            )
            stages["intervals and verdict"] = time.perf_counter() - clock
            progress.advance("baselines")
            walk = None
            if walk_splits > 0:
                clock = time.perf_counter()
                progress.stage(f"walk-forward validation ({walk_splits} folds)")
                walk = run_walk_forward(
                    config,
                    X_all,
                    y_all,
                    market,
                    horizon=horizon,
                    embargo=embargo,
                    oracle=calls,
                    on_fold=progress.stage,
                )
                stages["walk-forward"] = time.perf_counter() - clock
            progress.advance("walk-forward")

        backtest_note = None
        if config.backtest.enabled and verdict is not None:
            backtest_note = _backtest(
                config, market, verdict, results, walk, parts, y_all, horizon,
                len(val_classes), run_dir, progress,
            )  # fmt: skip

        summary = _summary_table(results, baselines, oracle)
        _write_outputs(
            run_dir,
            results=results,
            baselines=baselines,
            oracle=_oracle_block(calls, parts["test"][1], horizon),
            walk=walk,
            summary=summary,
            verdict=verdict,
        )
        run_info = {
            "symbol": config.data.symbol,
            "interval": config.data.interval,
            "source": config.data.source,
            "start": market.index[0],
            "end": market.index[-1],
            "n_bars": len(market),
            "data_fingerprint": fingerprint,
            "feature_set_id": fs_id,
            "features": selected,
            "n_features_built": int(features.shape[1]),
            "skipped_features": skipped,
            "data_quality": quality,
            "splits": {
                name: {
                    "start": X.index[0],
                    "end": X.index[-1],
                    "n": len(X),
                }
                for name, (X, _) in parts.items()
            },
            "horizon": horizon,
            "embargo": str(embargo),
            "versions": library_versions(),
            "oracle_accuracy": oracle,
            "signal_strength": (
                config.data.signal_strength
                if config.data.source == "synthetic"
                else None
            ),
            "lstm_context_rows": {
                period: 0 if ctx is None else len(ctx)
                for period, ctx in zip(("val", "test"), contexts, strict=True)
            },
            "feature_range_flags": scoring.feature_range_flags(parts),
            "timings": progress.timings,
            "stage_seconds": stages,
            "backtest": backtest_note,
            **record_tuned_params(config.models.params_file, run_dir),
        }
        write_json_atomic(run_dir / "run.json", run_info)
        clock = time.perf_counter()
        audit = record_and_audit(
            run_dir, recorder, progress=progress, enabled=config.audit.enabled
        )
        if audit is not None:
            stages["audit"] = time.perf_counter() - clock
            if verdict is not None:
                from dataclasses import replace

                from perpml.evaluation.verdict import attach_audit

                attach_audit(run_dir / "metrics.json", bool(audit.passed))
                verdict = replace(verdict, audit_passed=bool(audit.passed))
        run_info["timings"] = progress.timings
        write_json_atomic(run_dir / "run.json", run_info)

        if config.report.enabled:
            from perpml.report import build_run_report

            with progress.phase("Report", total=1):
                report_clock = _StageClock(progress, stages, "report: ")
                build_run_report(run_dir, quiet=True, on_stage=report_clock)
                report_clock.close()
                progress.advance("model_report.html")
            run_info["timings"] = progress.timings
            write_json_atomic(run_dir / "run.json", run_info)
    del pipeline
    return RunResult(
        run_dir=run_dir,
        summary=summary,
        oracle_accuracy=oracle,
        feature_set_id=fs_id,
        timings=dict(progress.timings),
        verdict=verdict,
        audit=audit,
    )


def _backtest(
    config: RunConfig,
    market: pd.DataFrame,
    verdict: Any,
    results: dict[str, Any],
    walk: Any,
    parts: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    y_all: pd.DataFrame,
    horizon: int,
    n_compared: int,
    run_dir: Path,
    progress: PhaseProgress,
) -> str:
    """Backtest the verdict's model; return the one-line result (also printed).

    Without funding rates (kline-only files) the backtest cannot be funding-exact;
    it is then skipped with a warning naming the fix, never run with silent zeros.
    """
    from perpml.backtest import check_funding
    from perpml.exceptions import DataContractError
    from perpml.pipeline.backtest_step import run_backtest_step

    chosen = verdict.best_model
    if chosen not in results or "p_long" not in results[chosen].predictions:
        return f"backtest skipped: {chosen} has no class probabilities."
    try:
        check_funding(market, config.backtest)
    except DataContractError as exc:
        line = (
            f"backtest skipped: {exc} Pass --allow-missing-funding (config "
            "[backtest] allow_missing_funding = true) to assume zero funding, or "
            "--no-backtest."
        )
        progress.warn(line)
        return line
    with progress.phase("Backtest", total=1):
        progress.stage("backtest net of fees, slippage and funding")
        # The DSR counts every configuration tried: the models compared here plus
        # the tuning trials behind the params file (read from what the study ran).
        tuning = 0
        if config.models.params_file:
            from perpml.tuning.params_file import read_params_file

            tuned = read_params_file(config.models.params_file)
            tuning = int(sum(dict(tuned.n_trials).values()))
        summary = run_backtest_step(
            config,
            market,
            chosen=chosen,
            results=results,
            walk=walk,
            test_start=parts["test"][0].index[0],
            threshold=y_all["threshold"],
            horizon=horizon,
            n_trials=n_compared + tuning,
            run_dir=run_dir,
        )
        progress.advance("backtest.json")
    line = str(summary.verdict_line())
    progress.info(f"Backtest ({chosen}): {line}")
    return line


def split_rows(
    config: RunConfig,
    X_all: pd.DataFrame,
    y_all: pd.DataFrame,
    embargo: pd.Timedelta,
    skipped: dict[str, str],
) -> tuple[pd.DataFrame, dict[str, tuple[pd.DataFrame, pd.DataFrame]]]:
    """The purged train/val/test split of the usable rows, as every run makes it.

    Also drops calendar features too slow for the training span (recorded in
    ``skipped``). Shared by ``perpml run`` and ``perpml tune`` so both see the same
    rows and features.
    """
    from perpml.evaluation.splits import chronological_split

    if len(X_all) < 500:
        raise InsufficientDataError(
            f"Only {len(X_all)} rows have complete features and labels; at least 500 "
            "are needed. Use more --days, a finer --interval or a shorter horizon."
        )
    split = chronological_split(
        X_all,
        label_end=y_all["label_end"],
        val_fraction=config.split.val_fraction,
        test_fraction=config.split.test_fraction,
        embargo=embargo,
    )
    parts = {
        name: (X_all.iloc[idx], y_all.iloc[idx])
        for name, idx in (
            ("train", split.train),
            ("val", split.val),
            ("test", split.test),
        )
    }
    return _skip_long_calendar(X_all, parts, skipped)


def _select(
    config: RunConfig,
    train: tuple[pd.DataFrame, pd.DataFrame],
    embargo: pd.Timedelta,
) -> list[str]:
    from perpml.evaluation.selection import select_features

    X_train, y_train = train
    n = min(config.features.n_features, X_train.shape[1])
    return list(
        select_features(
            X_train,
            y_train["target_class"].astype("int64"),
            n_features=n,
            method=config.features.selection,
            correlation_threshold=config.features.correlation_threshold,
            label_end=y_train["label_end"],
            n_jobs=config.models.n_jobs,
            embargo=embargo,
        )
    )


def _train_zoo(
    config: RunConfig,
    parts: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    horizon: int,
    run_dir: Path,
    progress: PhaseProgress,
    embargo: pd.Timedelta,
    lstm_context: tuple[pd.DataFrame | None, pd.DataFrame | None] = (None, None),
) -> tuple[dict[str, Any], Any]:
    from perpml.pipeline.training import MLTrainingPipeline

    def on_stage(text: str) -> None:
        progress.advance()
        progress.stage(text)

    pipeline = MLTrainingPipeline(
        random_state=config.models.random_state,
        n_jobs=config.models.n_jobs,
        output_dir=run_dir / "models",
        ensemble_splits=config.models.ensemble_splits,
        on_stage=on_stage,
        params_file=config.models.params_file,
    )
    (Xtr, ytr), (Xva, yva), (Xte, yte) = parts["train"], parts["val"], parts["test"]
    lstm_targets = None
    if "target_oi_change" in ytr and ytr["target_oi_change"].notna().all():
        cols = ["target_return", "target_oi_change"]
        lstm_targets = (ytr[cols], yva[cols], yte[cols])
    results = pipeline.run_full_pipeline(
        Xtr,
        ytr["target_class"].astype("int64"),
        ytr["target_return"],
        Xva,
        yva["target_class"].astype("int64"),
        yva["target_return"],
        Xte,
        yte["target_class"].astype("int64"),
        yte["target_return"],
        feature_set_id=None,
        scaler_type=config.models.scaler,
        apply_scaling=config.models.apply_scaling,
        skip_lstm=config.models.skip_lstm,
        skip_catboost=config.models.skip_catboost,
        skip_nn=config.models.skip_nn,
        label_end_train=ytr["label_end"],
        horizon=horizon,
        lstm_targets=lstm_targets,
        lstm_context=lstm_context,
        embargo=embargo,
    )
    return results, pipeline


def _baselines(
    market: pd.DataFrame,
    parts: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    horizon: int,
) -> dict[str, dict[str, float]]:
    from perpml.evaluation.baselines import (
        classification_baselines,
        past_return_from_close,
        regression_baselines,
    )

    past = past_return_from_close(market["close"], horizon)
    _, ytr = parts["train"]
    _, yte = parts["test"]
    past_test = past.reindex(yte.index)
    out = dict(
        classification_baselines(
            ytr["target_class"].astype("int64"),
            yte["target_class"].astype("int64"),
            past_return=past_test,
            threshold=yte["threshold"],
        )
    )
    for name, scores in regression_baselines(
        yte["target_return"], past_return=past_test
    ).items():
        out[f"{name}_forecast"] = scores
    return out


def _simulated(market: pd.DataFrame) -> Any:
    """The simulated market behind a synthetic frame (for its truth), else None."""
    if market.attrs.get("source") != "synthetic":
        return None
    from perpml.data.sources.synthetic import market_from_attrs

    return market_from_attrs(market)


class _StageClock:
    """An ``on_stage`` callback that also records each stage's seconds in ``stages``."""

    def __init__(
        self, progress: PhaseProgress, stages: dict[str, float], prefix: str
    ) -> None:
        self.progress, self.stages, self.prefix = progress, stages, prefix
        self.current: tuple[str, float] | None = None

    def __call__(self, text: str) -> None:
        self.close()
        self.current = (text, time.perf_counter())
        self.progress.stage(text)

    def close(self) -> None:
        """End the open stage (call once the work is done)."""
        if self.current is not None:
            name, start = self.current
            self.stages[f"{self.prefix}{name}"] = time.perf_counter() - start
            self.current = None


def _skip_long_calendar(
    X_all: pd.DataFrame,
    parts: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    skipped: dict[str, str],
) -> tuple[pd.DataFrame, dict[str, tuple[pd.DataFrame, pd.DataFrame]]]:
    """Drop calendar features whose period exceeds half the training span.

    With fewer than two cycles in the training rows such an encoding is a time index
    (year-of-date on three months: monotonic on training rows, unseen values on test
    rows); the reason is recorded in ``skipped``.
    """
    from perpml.features.calendar import long_period_features

    train = parts["train"][0]
    too_long = long_period_features(X_all.columns, train.index[-1] - train.index[0])
    if not too_long:
        return X_all, parts
    skipped.update(too_long)
    drop = list(too_long)
    return X_all.drop(columns=drop), {
        name: (X.drop(columns=drop), y) for name, (X, y) in parts.items()
    }


def _oracle_on(calls: pd.Series | None, targets: pd.DataFrame) -> float | None:
    """Accuracy of the simulator's true probabilities on the rows of ``targets``."""
    if calls is None:
        return None
    truth = targets["target_class"].dropna().astype("int64")
    return float((calls.reindex(truth.index) == truth).mean())


def _oracle_block(
    calls: pd.Series | None, targets: pd.DataFrame, horizon: int
) -> dict[str, Any] | None:
    """``metrics.json["oracle"]``: the oracle's test accuracy with its interval."""
    if calls is None:
        return None
    from perpml.evaluation.intervals import classification_intervals

    truth = targets["target_class"].dropna().astype("int64")
    pred = calls.reindex(truth.index).to_numpy()
    return {
        "accuracy": float((pred == truth.to_numpy()).mean()),
        "n": float(len(truth)),
        **classification_intervals(truth.to_numpy(), pred, horizon=horizon),
    }


def _ci_columns(scores: dict[str, Any]) -> dict[str, Any]:
    """Accuracy interval and n_eff as flat summary columns."""
    low, high = scores.get("accuracy_ci") or (None, None)
    return {
        "accuracy_ci_low": low,
        "accuracy_ci_high": high,
        "n_eff": scores.get("n_eff"),
    }


def _summary_table(
    results: dict[str, Any],
    baselines: dict[str, dict[str, float]],
    oracle: float | None,
) -> pd.DataFrame:
    rows = []
    for name, result in results.items():
        test = result.test
        rows.append(
            {
                "model": name,
                "kind": result.task,
                "accuracy": test.get("accuracy"),
                **_ci_columns(test),
                "directional_accuracy": test.get("directional_accuracy"),
                "r2": test.get("r2"),
                "rmse": test.get("rmse"),
                "seconds": round(result.seconds, 2),
            }
        )
    for name, scores in baselines.items():
        rows.append(
            {
                "model": name,
                "kind": "baseline",
                "accuracy": scores.get("accuracy"),
                **_ci_columns(scores),
                "directional_accuracy": scores.get("directional_accuracy"),
                "r2": scores.get("r2"),
                "rmse": scores.get("rmse"),
                "seconds": None,
            }
        )
    table = pd.DataFrame(rows)
    if oracle:
        table["oracle_ratio"] = table["accuracy"] / oracle
    else:
        table["oracle_ratio"] = np.nan
    return table


def _write_outputs(
    run_dir: Path,
    *,
    results: dict[str, Any],
    baselines: dict[str, dict[str, float]],
    oracle: dict[str, Any] | None,
    walk: Any,
    summary: pd.DataFrame,
    verdict: Any = None,
) -> None:
    from perpml.evaluation.intervals import INTERVAL_METHOD

    metrics = {
        "models": {
            name: {"task": r.task, "test": r.test, "val": r.val, "seconds": r.seconds}
            for name, r in results.items()
        },
        "baselines": baselines,
        "oracle": oracle,
        "verdict": None if verdict is None else verdict.to_dict(),
        "walk_forward": None
        if walk is None
        else {"pooled": walk.metrics, "n_folds": int(walk.folds["fold"].nunique())},
        "intervals": {"method": INTERVAL_METHOD, "confidence": 0.95},
    }
    write_json_atomic(run_dir / "metrics.json", metrics)
    write_text_atomic(run_dir / "metrics.csv", summary.to_csv(index=False))
    if walk is not None:
        write_text_atomic(
            run_dir / "walk_forward.csv", walk.table().to_csv(index=False)
        )
    pred_dir = run_dir / "predictions"
    pred_dir.mkdir(exist_ok=True)
    for name, result in results.items():
        result.predictions.to_parquet(pred_dir / f"{name}.parquet")
