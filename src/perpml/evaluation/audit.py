"""Leakage audit of a run directory: five checks, a pass/fail table, ``audit.json``.

``perpml audit RUN_DIR`` and the end of ``perpml run`` call :func:`audit_run`. Each
check is independent evidence against look-ahead; a run passes only if all do.

1. ``truncation`` — the run's own source is re-loaded as it stood at several cut
   times ``T`` (files: only rows known by ``T``, through the loader), every selected
   feature is rebuilt and compared with the full-history rows. A difference names
   the feature or the input column (:mod:`perpml.evaluation._audit_truncation`).
2. ``permutation`` — the main classifier (the verdict's chosen model when it is a
   tree classifier, else XGBoost) is retrained on training (and
   early-stopping) labels permuted in blocks of ``horizon`` bars; its test accuracy
   must stay inside the chance band: at most the best constant prediction's test
   accuracy plus 2 Newey–West standard errors (``horizon`` lags). Below-chance
   scores pass (they are no sign of look-ahead). The real-vs-shuffled gap is given.
3. ``overlap`` — every split the run recorded (``splits.json``: outer split,
   walk-forward folds, early-stopping tails, stacking blocks) must have zero
   training rows whose ``label_end`` reaches into the test period widened by the
   **run's** embargo (a split that purged with a smaller embargo fails too).
4. ``fit_scope`` — every recorded fit (``fit_scopes.json``: scalers, selectors, the
   stacking meta-models) used only training rows of the split it belongs to.
5. ``ceiling`` — on the simulator a classifier whose test accuracy exceeds the
   oracle's by more than its honest standard error fails ("look-ahead suspected").
   On real data, results no market allows at these horizons fail as suspicious:
   see :data:`REAL_DATA_LIMITS`.

Standard errors: ``metrics.json`` ``models[name]["test"]["accuracy_se"]`` when the
run wrote it, else a Newey–West s.e. with ``horizon`` lags from
``predictions/<name>.parquet`` (the detail says which).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from perpml.exceptions import PerpmlError, RunDirectoryError

__all__ = [
    "AUDIT_FILE",
    "CHECKS",
    "REAL_DATA_LIMITS",
    "AuditReport",
    "audit_run",
    "newey_west_se",
]

AUDIT_FILE = "audit.json"
CHECKS = ("truncation", "permutation", "overlap", "fit_scope", "ceiling")
#: Real-data plausibility limits for test-period results (n >= 500 rows). Why: on
#: liquid perpetuals at horizons of minutes to hours, the best published signals
#: have information coefficients of a few hundredths and directional hit rates of
#: 50-55 %; a model that beats the best baseline by 10 accuracy points, calls
#: direction right 60 % of the time or reaches an |IC| of 0.15 over thousands of
#: bars would be worth a fortune - far likelier it sees the future.
REAL_DATA_LIMITS = {
    "accuracy_over_best_baseline": 0.10,
    "directional_accuracy": 0.60,
    "abs_ic": 0.15,
}
_MIN_ROWS_FOR_LIMITS = 500
#: z of the chance band's upper edge in the permutation check.
_Z = 2.0


@dataclass(frozen=True)
class AuditReport:
    """Outcome of :func:`audit_run`.

    Attributes
    ----------
    run_dir : Path
    passed : bool
        True when every check passed.
    checks : DataFrame
        One row per check, columns ``check`` (str), ``passed`` (bool), ``detail``
        (str: what was compared, the numbers, what failed and where).
    seconds : float
        Time the audit took.
    """

    run_dir: Path
    passed: bool
    checks: pd.DataFrame
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """``{"passed": bool, "checks": [{check, passed, detail}, ...], "seconds"}``."""
        return {
            "passed": bool(self.passed),
            "checks": [
                {
                    "check": str(r.check),
                    "passed": bool(r.passed),
                    "detail": str(r.detail),
                }
                for r in self.checks.itertuples(index=False)
            ],
            "seconds": round(float(self.seconds), 2),
        }

    def write(self, path: str | Path | None = None) -> Path:
        """Write :meth:`to_json` (default ``RUN_DIR/audit.json``), atomically."""
        from perpml.rundir.io import write_json_atomic

        target = Path(path) if path is not None else self.run_dir / AUDIT_FILE
        return write_json_atomic(target, self.to_json())


def newey_west_se(values: np.ndarray, lags: int) -> float:
    """Newey–West (Bartlett kernel) standard error of the mean of ``values``.

    Parameters
    ----------
    values : ndarray of shape (n,)
        E.g. 1.0 where a prediction was right, else 0.0, in time order.
    lags : int
        Autocovariance lags (>= the label horizon: overlapping labels make
        neighbouring outcomes dependent).
    """
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    if n < 2:
        return float("nan")
    d = x - x.mean()
    var = float(d @ d) / n
    for k in range(1, min(int(lags), n - 1) + 1):
        var += 2.0 * (1.0 - k / (lags + 1.0)) * float(d[k:] @ d[:-k]) / n
    return math.sqrt(max(var, 0.0) / n)


# ----------------------------------------------------------------------- run files
@dataclass(frozen=True)
class _Run:
    path: Path
    info: dict[str, Any]
    metrics: dict[str, Any]
    config: Any
    horizon: int
    embargo: pd.Timedelta


def _read_json(path: Path) -> Any:
    from perpml.exceptions import ArtifactError
    from perpml.rundir.io import read_json

    try:
        return read_json(path)
    except ArtifactError as exc:
        raise RunDirectoryError(
            f"{exc} (pass a run directory written by `perpml run`)"
        ) from None


def _open_run(run_dir: str | Path) -> _Run:
    from perpml.config import load_config

    path = Path(run_dir)
    if not path.is_dir():
        raise RunDirectoryError(
            f"Run directory {str(path)!r} does not exist. Pass the directory "
            "`perpml run` wrote (e.g. runs/BTCUSDT_synthetic_5m_60d)."
        )
    missing = [
        n
        for n in ("run.json", "config.toml", "metrics.json")
        if not (path / n).is_file()
    ]
    if missing:
        raise RunDirectoryError(
            f"{str(path)!r} is not a complete perpml run directory: {missing} missing. "
            "Pass a directory written by `perpml run` (re-run it if it was cut short)."
        )
    info = _read_json(path / "run.json")
    metrics = _read_json(path / "metrics.json")
    config = load_config(path / "config.toml")
    horizon = int(info.get("horizon") or config.targets.horizon)
    embargo = pd.Timedelta(info["embargo"]) if info.get("embargo") else pd.Timedelta(0)
    return _Run(path, info, metrics, config, horizon, embargo)


# ----------------------------------------------------------------------- checks
def _check_truncation(run: _Run, state: dict[str, Any]) -> tuple[bool, str]:
    from perpml.evaluation._audit_truncation import load_run_market, truncation_check

    features = [str(f) for f in run.info.get("features") or []]
    if not features:
        return False, "run.json lists no selected features: nothing to rebuild"
    market = load_run_market(run.config)
    state["market"] = market
    result = truncation_check(run.config, features, market)
    state["truncation"] = result
    return result.passed, result.detail


def _main_classifier(run: _Run) -> str | None:
    """The verdict's chosen model when it is a tree classifier, else XGBoost's."""
    models = run.metrics.get("models", {})
    verdict = run.metrics.get("verdict")
    chosen = verdict.get("best_model") if isinstance(verdict, dict) else None
    candidates = ("xgb_classifier", "lgb_classifier", "cat_classifier")
    if chosen in candidates and (run.path / "models" / str(chosen)).is_dir():
        return str(chosen)
    for name in candidates:
        if name in models and (run.path / "models" / name).is_dir():
            return name
    return None


def _block_permutation(n: int, block: int, rng: np.random.Generator) -> np.ndarray:
    """Positions 0..n-1 with blocks of ``block`` rows in shuffled order."""
    starts = np.arange(0, n, block)
    order = rng.permutation(starts.size)
    return np.concatenate([np.arange(s, min(s + block, n)) for s in starts[order]])


def _check_permutation(run: _Run, state: dict[str, Any]) -> tuple[bool, str]:
    from sklearn.base import clone

    from perpml.evaluation.preprocessing import FeatureScaler
    from perpml.models import load_model
    from perpml.rundir.datasets import load_prepared_datasets

    name = _main_classifier(run)
    if name is None:
        return False, "no saved tree classifier in models/: nothing to retrain"
    fs_id = str(run.info["feature_set_id"])
    X_tr, y_tr, X_va, y_va, X_te, y_te, _ = load_prepared_datasets(
        fs_id, run.path / "data"
    )
    scaler_path = run.path / "models" / "scaler.json"
    if scaler_path.is_file():
        scaler = FeatureScaler.load(scaler_path)
        X_tr, X_va, X_te = (scaler.transform(X) for X in (X_tr, X_va, X_te))
    model = clone(load_model(run.path / "models" / name))
    seed = int(run.config.models.random_state)
    rng = np.random.default_rng(seed)
    block = max(1, run.horizon)
    y_perm = y_tr.to_numpy()[_block_permutation(len(y_tr), block, rng)]
    y_val_perm = y_va.to_numpy()[_block_permutation(len(y_va), block, rng)]
    model.fit(
        X_tr,
        pd.Series(y_perm, index=y_tr.index),
        X_va if len(X_va) else None,
        pd.Series(y_val_perm, index=y_va.index) if len(X_va) else None,
    )
    truth = y_te.to_numpy()
    correct = (np.asarray(model.predict(X_te)) == truth).astype(np.float64)
    shuffled = float(correct.mean())
    counts = np.bincount(truth.astype(np.int64), minlength=3)
    best_class = int(counts.argmax())
    constant = float(counts.max() / counts.sum())
    se = newey_west_se(correct, run.horizon)
    upper = constant + _Z * se
    real = run.metrics["models"][name]["test"].get("accuracy")
    gap = "" if real is None else f"; real model {real:.4f}, gap {real - shuffled:+.4f}"
    labels = {0: "SHORT", 1: "NEUTRAL", 2: "LONG"}
    passed = shuffled <= upper
    detail = (
        f"{name} retrained on training labels permuted in blocks of {block} bars: "
        f"test accuracy {shuffled:.4f} vs best constant ({labels[best_class]}) "
        f"{constant:.4f}; chance band upper edge {upper:.4f} (best constant + "
        f"{_Z:g} Newey-West s.e., {run.horizon} lags){gap}"
    )
    if not passed:
        detail = "shuffled labels still predict the test period: " + detail
    return passed, detail


def _overlap_rows(split: dict[str, Any], embargo_s: float) -> tuple[int, bool]:
    """Offending training rows of one recorded split (and whether it is a floor)."""
    before = split.get("gap_before_seconds") or []
    after = split.get("gap_after_seconds") or []
    bad_before = sum(1 for g in before if g is None or g <= embargo_s)
    bad_after = sum(1 for g in after if g <= embargo_s)
    floor = (
        before and bad_before == len(before) and len(before) < split["n_train_before"]
    ) or (after and bad_after == len(after) and len(after) < split["n_train_after"])
    return bad_before + bad_after, bool(floor)


def _records(run: _Run, name: str) -> list[dict[str, Any]] | None:
    path = run.path / name
    return _read_json(path) if path.is_file() else None


def _check_overlap(run: _Run, state: dict[str, Any]) -> tuple[bool, str]:
    from perpml.evaluation.fit_scope import SPLITS_FILE

    splits = _records(run, SPLITS_FILE)
    if splits is None:
        return False, f"no {SPLITS_FILE} in the run directory: splits were not recorded"
    embargo_s = run.embargo.total_seconds()
    bad = []
    kinds: dict[str, int] = {}
    for split in splits:
        kinds[split["kind"]] = kinds.get(split["kind"], 0) + 1
        n_bad, floor = _overlap_rows(split, embargo_s)
        if n_bad:
            bad.append((split, n_bad, floor))
    counted = ", ".join(f"{n} {k}" for k, n in kinds.items())
    if not bad:
        return True, (
            f"0 training rows with label_end within the run's embargo ({run.embargo}) "
            f"of a test period, over {len(splits)} recorded splits ({counted})"
        )
    shown = "; ".join(
        f"{s['kind']}{' ' + s['part'] if s['part'] else ''} in {s['scope']} "
        f"(test from {s['test_start']}): {'>=' if floor else ''}{n} row(s)"
        for s, n, floor in bad[:5]
    )
    return False, (
        f"{len(bad)} of {len(splits)} splits keep training rows whose label_end "
        f"reaches into the test period or the run's embargo ({run.embargo}): {shown}"
    )


def _inside(ranges: list[list[str]], container: list[list[str]]) -> bool:
    boxes = [(pd.Timestamp(a), pd.Timestamp(b)) for a, b in container]
    for a, b in ranges:
        lo, hi = pd.Timestamp(a), pd.Timestamp(b)
        if not any(c <= lo and hi <= d for c, d in boxes):
            return False
    return True


def _check_fit_scope(run: _Run, state: dict[str, Any]) -> tuple[bool, str]:
    from perpml.evaluation.fit_scope import FIT_SCOPES_FILE, SPLITS_FILE

    fits = _records(run, FIT_SCOPES_FILE)
    splits = _records(run, SPLITS_FILE)
    if fits is None or splits is None:
        return False, f"no {FIT_SCOPES_FILE} / {SPLITS_FILE}: fits were not recorded"
    by_id = {s["id"]: s for s in splits}
    steps: dict[str, int] = {}
    bad = []
    for fit in fits:
        steps[fit["step"]] = steps.get(fit["step"], 0) + 1
        ref = by_id.get(fit["reference"])
        if ref is None:
            bad.append(
                f"{fit['component']} ({fit['step']}) in {fit['scope']}: fitted "
                "outside any recorded split"
            )
        elif not _inside(fit["ranges"], ref["train_ranges"]):
            bad.append(
                f"{fit['component']} ({fit['step']}) in {fit['scope']} fitted on "
                f"{fit['first']}..{fit['last']} ({fit['n']} rows), beyond the "
                f"training rows of its split (test from {ref['test_start']})"
            )
    counted = ", ".join(f"{n} {k}" for k, n in steps.items())
    if not fits:
        return False, "no fit was recorded (scaler, selectors, meta-model)"
    if bad:
        return (
            False,
            f"{len(bad)} of {len(fits)} fits used non-training rows: "
            + "; ".join(bad[:5]),
        )
    return True, f"{len(fits)} fits ({counted}) used training rows of their split only"


def _accuracy_se(run: _Run, name: str, test: dict[str, Any]) -> tuple[float, str]:
    se = test.get("accuracy_se")
    if isinstance(se, int | float) and math.isfinite(se):
        return float(se), "metrics.json accuracy_se"
    path = run.path / "predictions" / f"{name}.parquet"
    frame = pd.read_parquet(path, columns=["y_true", "y_pred"])
    ok = frame["y_pred"].notna() & frame["y_true"].notna()
    correct = (frame.loc[ok, "y_pred"] == frame.loc[ok, "y_true"]).to_numpy(np.float64)
    return newey_west_se(correct, run.horizon), f"Newey-West, {run.horizon} lags"


def _check_ceiling(run: _Run, state: dict[str, Any]) -> tuple[bool, str]:
    models = run.metrics.get("models", {})
    oracle = run.info.get("oracle_accuracy")
    if oracle is None and isinstance(run.metrics.get("oracle"), dict):
        oracle = run.metrics["oracle"].get("accuracy")
    if oracle is not None:
        rows, bad = [], []
        for name, entry in models.items():
            test = entry.get("test", {})
            if entry.get("task") != "classification" or test.get("accuracy") is None:
                continue
            acc = float(test["accuracy"])
            se, how = _accuracy_se(run, name, test)
            rows.append(f"{name} {acc:.4f} (s.e. {se:.4f})")
            if acc - float(oracle) > se:
                bad.append(
                    f"{name} {acc:.4f} > oracle {oracle:.4f} + s.e. {se:.4f} ({how})"
                )
        if bad:
            return False, "look-ahead suspected: " + "; ".join(bad)
        return True, (
            f"no classifier beats the simulator's oracle ({oracle:.4f}) by more than "
            f"its s.e.: " + ", ".join(rows)
        )
    return _real_data_limits(run, models)


def _real_data_limits(run: _Run, models: dict[str, Any]) -> tuple[bool, str]:
    base = [
        float(b["accuracy"])
        for b in run.metrics.get("baselines", {}).values()
        if isinstance(b, dict) and b.get("accuracy") is not None
    ]
    best = max(base) if base else None
    lim = REAL_DATA_LIMITS
    flags = []
    for name, entry in models.items():
        test = entry.get("test", {})
        if (test.get("n") or 0) < _MIN_ROWS_FOR_LIMITS:
            continue
        acc, dacc = test.get("accuracy"), test.get("directional_accuracy")
        if (
            acc is not None
            and best is not None
            and acc - best > lim["accuracy_over_best_baseline"]
        ):
            flags.append(
                f"{name} accuracy {acc:.4f} is {acc - best:+.4f} over the best baseline"
            )
        if dacc is not None and dacc > lim["directional_accuracy"]:
            flags.append(f"{name} directional accuracy {dacc:.4f}")
        for key in ("pearson_ic", "spearman_ic"):
            ic = test.get(key)
            if ic is not None and abs(ic) > lim["abs_ic"]:
                flags.append(f"{name} {key} {ic:+.4f}")
    limits = (
        f"limits: accuracy > best baseline + {lim['accuracy_over_best_baseline']:.2f}, "
        f"directional accuracy > {lim['directional_accuracy']:.2f}, |IC| > "
        f"{lim['abs_ic']:.2f} (implausible for liquid perpetuals at these horizons)"
    )
    if flags:
        return False, "suspicious on real data: " + "; ".join(flags) + f" ({limits})"
    return True, f"real data: no result beyond what markets allow ({limits})"


_CHECKS: dict[str, Callable[[_Run, dict[str, Any]], tuple[bool, str]]] = {
    "truncation": _check_truncation,
    "permutation": _check_permutation,
    "overlap": _check_overlap,
    "fit_scope": _check_fit_scope,
    "ceiling": _check_ceiling,
}


def audit_run(
    run_dir: str | Path,
    *,
    write: bool = True,
    checks: tuple[str, ...] | list[str] | None = None,
    on_check: Callable[[str], None] | None = None,
) -> AuditReport:
    """Audit a run directory for look-ahead (see the module docstring).

    Parameters
    ----------
    run_dir : path
        A directory written by ``perpml run``.
    write : bool, default True
        Write ``RUN_DIR/audit.json``.
    checks : sequence of str, optional
        A subset of :data:`CHECKS` (default: all five).
    on_check : callable, optional
        Called with each check's name before it runs (progress display).

    Returns
    -------
    AuditReport

    Raises
    ------
    RunDirectoryError
        ``run_dir`` is missing or not a complete run directory.
    """
    start = time.perf_counter()
    run = _open_run(run_dir)
    names = list(CHECKS if checks is None else checks)
    unknown = [n for n in names if n not in _CHECKS]
    if unknown:
        from perpml.exceptions import ConfigError

        raise ConfigError(f"Unknown audit check(s) {unknown}; valid: {list(CHECKS)}.")
    state: dict[str, Any] = {}
    rows = []
    for name in names:
        if on_check is not None:
            on_check(name)
        try:
            passed, detail = _CHECKS[name](run, state)
        except (PerpmlError, OSError, ValueError, KeyError) as exc:
            # A check that cannot run cannot vouch for the run: it fails, saying why.
            passed, detail = False, f"could not run: {type(exc).__name__}: {exc}"
        rows.append({"check": name, "passed": bool(passed), "detail": detail})
    table = pd.DataFrame(rows, columns=["check", "passed", "detail"])
    report = AuditReport(
        run_dir=run.path,
        passed=bool(table["passed"].all()),
        checks=table,
        seconds=time.perf_counter() - start,
    )
    if write:
        report.write()
    return report
