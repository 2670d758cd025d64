"""Permutation SHAP for :class:`~perpml.models.LSTMForecaster` (the current bar only).

The LSTM forecasts bar ``t`` from the window of rows ``t - lookback + 1 … t``. Here
the **last row of the window** (the features of the bar being predicted, known at its
close) is explained while the ``lookback - 1`` earlier rows stay fixed at their real
values: for bar ``t`` the explained function is

    f_t(x) = forecast of the first output from [rows t-lookback+1 … t-1, x]

and ``shap.PermutationExplainer`` attributes ``f_t(x_t) - E_b[f_t(b)]`` to the
features of ``x_t``, with ``b`` drawn from a seeded background of training rows. The
attribution is therefore *conditional on the bar's history*: it answers "which of
this bar's features moved the forecast, given what came before", and says nothing
about the earlier rows of the window. The base value ``E_b[f_t(b)]`` depends on that
history, so it differs from bar to bar.

One antithetic permutation is run per bar: the values always add up exactly to
``f_t(x_t) - E_b[f_t(b)]`` (checked against ``LSTMForecaster.predict``) and are the
exact Shapley values when ``f_t`` is additive in the bar's features; otherwise they
are an unbiased one-permutation estimate. Cost per bar: one pass over the history,
then ``(2 * n_features + 1) * n_background`` single LSTM steps (the background is at
most :data:`MAX_SEQUENCE_BACKGROUND` rows).

This module imports torch; :mod:`perpml.explain.interpreter` imports it only when it
meets an LSTM, so explaining a tree model never loads torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from perpml.exceptions import InsufficientDataError, ReportError
from perpml.models._torch_utils import torch_threads

__all__ = ["SequenceShap", "explain_last_rows", "window_positions"]

#: Largest background for the LSTM: each background row costs one forward pass of a
#: whole window per evaluated coalition, so the background is kept small.
MAX_SEQUENCE_BACKGROUND = 50

#: Rows per forward pass; bounds memory for wide feature sets.
_WINDOWS_PER_PASS = 4096


@dataclass(frozen=True)
class SequenceShap:
    """SHAP values of the explained bars' last rows.

    Attributes
    ----------
    values : ndarray of shape (n_bars, n_features)
        Contributions in target units of the first output.
    base_values : ndarray of shape (n_bars,)
        ``E_b[f_t(b)]`` per bar (depends on the bar's history).
    predictions : ndarray of shape (n_bars,)
        The model's forecast of each bar (``base_values + values.sum(axis=1)``).
    """

    values: np.ndarray
    base_values: np.ndarray
    predictions: np.ndarray


class _LastRowModel:
    """``f(rows) -> forecast`` with every window's earlier rows fixed to one history.

    The history (the ``lookback - 1`` rows before the explained bar) is the same for
    every evaluation of a bar, so the LSTM state after it is computed once in
    :meth:`set_bar` and each call runs only the last time step from that state: the
    same arithmetic as the full window, ``lookback`` times cheaper.
    """

    def __init__(self, model: Any, scaled: np.ndarray) -> None:
        self.model = model
        self.net = model.native_model_
        self.scaled = scaled
        self.lookback = int(model.params_["lookback"])
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None

    def set_bar(self, position: int) -> None:
        """Fix the history to the ``lookback - 1`` scaled rows before ``position``."""
        if self.lookback == 1:
            self.state = None  # no history: the LSTM starts from its zero state
            return
        history = self.scaled[position - self.lookback + 1 : position]
        with torch.no_grad():
            _, state = self.net.lstm(torch.from_numpy(history[None]))
        self.state = state

    def __call__(self, rows: np.ndarray) -> np.ndarray:
        last = self.model.x_scaler_.transform(np.asarray(rows, dtype=np.float64))
        out = np.empty(len(last), dtype=np.float64)
        for start in range(0, len(last), _WINDOWS_PER_PASS):
            chunk = torch.from_numpy(last[start : start + _WINDOWS_PER_PASS, None, :])
            state = None
            if self.state is not None:
                h, c = self.state
                size = (-1, len(chunk), -1)
                state = (h.expand(size).contiguous(), c.expand(size).contiguous())
            with torch.no_grad():
                step, _ = self.net.lstm(chunk, state)
                raw = self.net.head(step[:, -1]).numpy()
            out[start : start + len(chunk)] = self.model.y_scaler_.inverse(raw)[:, 0]
        return out


def window_positions(
    model: Any, X: pd.DataFrame, *, cap: int | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``X`` to explain (each with a full window inside ``X``) and forecasts.

    Parameters
    ----------
    model : LSTMForecaster
        Fitted.
    X : DataFrame of shape (n_bars, n_features), indexed by bar open time
        Columns in the model's feature order.
    cap : int or None
        ``None``: the last row of ``X`` only (InsufficientDataError if it has no full
        window). Otherwise at most ``cap`` bars with a full window (seeded sample).
    seed : int
        Seed of the sample.

    Returns
    -------
    positions : ndarray of int64
        Ascending positions ``t`` whose rows ``t - lookback + 1 … t`` are consecutive
        bars of ``X`` (rows :meth:`LSTMForecaster.predict` forecasts).
    forecasts : ndarray of shape (n_bars,)
        First-output forecasts (NaN where there is no full window).
    """
    lookback = int(model.params_["lookback"])
    pred = np.asarray(model.predict(X), dtype=np.float64)
    first = pred if pred.ndim == 1 else pred[:, 0]
    positions = np.flatnonzero(np.isfinite(first)).astype(np.int64)
    if len(positions) == 0:
        raise InsufficientDataError(
            f"LSTMForecaster explanation: no row of X has {lookback} consecutive bars "
            f"(lookback) ending at it ({len(X)} rows, from {X.index[0]}). Pass the "
            f"bar to explain together with its {lookback - 1} preceding bars."
        )
    if cap is None:
        if positions[-1] != len(X) - 1:
            raise InsufficientDataError(
                f"The bar to explain ({X.index[-1]}) has no window of {lookback} "
                f"consecutive bars in the {len(X)} rows passed. Pass it with its "
                f"{lookback - 1} preceding bars (no missing bar in between)."
            )
        positions = positions[-1:]
    elif len(positions) > cap:
        rng = np.random.default_rng(seed)
        positions = np.sort(rng.choice(positions, size=cap, replace=False))
    return positions, first


def explain_last_rows(
    model: Any,
    X: pd.DataFrame,
    positions: np.ndarray,
    forecasts: np.ndarray,
    background: np.ndarray,
    *,
    shap: Any,
    seed: int,
    feature_names: list[str],
) -> SequenceShap:
    """Permutation SHAP of the last row of each explained bar's window.

    Parameters
    ----------
    model : LSTMForecaster
        Fitted.
    X : DataFrame of shape (n_bars, n_features)
        Model feature order; holds every explained bar's window.
    positions : ndarray of int
        Rows of ``X`` to explain (see :func:`window_positions`).
    forecasts : ndarray of shape (n_bars,)
        The model's first-output forecasts for ``X`` (checked against the wrapper).
    background : ndarray of shape (n_background, n_features)
        Raw (unscaled) training rows that stand in for a "missing" feature.
    shap : module
        The imported shap package.
    seed : int
        Seed of the permutation order.
    feature_names : list of str

    Returns
    -------
    SequenceShap

    Notes
    -----
    Cost: one antithetic permutation per bar, i.e. ``(2 * n_features + 1) *
    n_background`` single LSTM steps per explained bar (plus one pass over the
    bar's history): about 15 ms per bar for 60 features, lookback 50 and 50
    background rows on one CPU thread, after shap's one-time numba compilation of
    its masker (a few seconds per process, paid by the MLP explainer too).
    """
    data = X.to_numpy(np.float64)
    wrapper = _LastRowModel(model, model.x_scaler_.transform(data))
    masker = shap.maskers.Independent(background, max_samples=len(background))
    explainer = shap.PermutationExplainer(
        wrapper, masker, seed=seed, feature_names=feature_names
    )
    n_features = data.shape[1]
    batch = max(1, _WINDOWS_PER_PASS // len(background))
    values = np.empty((len(positions), n_features), dtype=np.float64)
    base = np.empty(len(positions), dtype=np.float64)
    net = model.native_model_
    was_training = net.training
    net.eval()
    try:
        with torch_threads(int(model.n_jobs)):
            for k, pos in enumerate(positions):
                wrapper.set_bar(int(pos))
                # One antithetic permutation (2F+1 coalitions): exactly efficient
                # (values add up to f(x) - base) and a fair Shapley estimate.
                explanation = explainer(
                    data[pos : pos + 1],
                    max_evals=2 * n_features + 1,
                    batch_size=batch,
                    silent=True,
                )
                values[k] = np.asarray(explanation.values, dtype=np.float64)[0]
                base[k] = float(np.ravel(explanation.base_values)[0])
    finally:
        net.train(was_training)
    predictions = base + values.sum(axis=1)
    expected = forecasts[positions]
    tolerance = 1e-4 * max(float(np.abs(expected).max()), 1e-12) + 1e-9
    worst = float(np.abs(predictions - expected).max())
    if worst > tolerance:
        raise ReportError(
            f"LSTM SHAP values do not add up to the model's forecasts (worst gap "
            f"{worst:.3g} > {tolerance:.3g}): the explainer's window rebuild no longer "
            "matches LSTMForecaster.predict. This is a perpml bug; please report it."
        )
    return SequenceShap(values=values, base_values=base, predictions=predictions)
