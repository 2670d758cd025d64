"""Shared PyTorch plumbing for the neural models: threads, seeding, scaling, training.

Private module: :class:`~perpml.models.neural_net.NeuralNetRegressor` and
:class:`~perpml.models.lstm_forecaster.LSTMForecaster` both train through
:func:`train_module`, so early stopping, the learning-rate schedule and determinism
behave the same way in both.

Determinism
-----------
Training runs inside :func:`seeded` (``torch.random.fork_rng`` + ``torch.manual_seed``)
so weight initialisation, dropout masks and the shuffle order depend only on
``random_state``, and the caller's global torch RNG state is left untouched. Shuffling
uses an explicit ``torch.Generator``; we do not use ``DataLoader`` (its worker
processes and per-batch overhead buy nothing for in-memory float32 tensors).

Threads
-------
Torch runs with ``min(n_jobs, MAX_TORCH_THREADS)`` = 1 intra-op thread (measured: see
:data:`MAX_TORCH_THREADS`). ``torch.set_num_threads`` is process-global. :func:`torch_threads` sets it for the
duration of a fit/predict and restores the previous value afterwards, so other code
(xgboost, numpy) is not left with a changed setting. Two models training concurrently
in *threads* of one process would still race on it; perpml never does that.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from perpml.exceptions import (
    ArtifactError,
    InsufficientDataError,
    ModelError,
    ModelParamsError,
)

#: Measured on the 2-core target (torch 2.13 CPU): one Adam step of the default MLP on
#: a 256-row batch takes 2.7 ms with 1 thread and 42 ms with 2 threads when the other
#: core is busy (xgboost, a second pytest-xdist worker); an LSTM step 0.14-0.18 s with
#: 1 thread vs 1.8-3.2 s with 2 (0.135 s with 2 on an idle machine). OpenMP threads
#: that spin-wait on an oversubscribed core cost far more than they gain on these
#: small tensors, so torch gets one intra-op thread whatever ``n_jobs`` says.
MAX_TORCH_THREADS = 1

#: Standardised inputs are clipped to this many standard deviations so one extreme bar
#: (a liquidation wick) cannot saturate the network.
INPUT_CLIP = 10.0

BatchFn = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]


def resolve_threads(n_jobs: int) -> int:
    """Return the torch thread count for ``n_jobs`` (``<= 0`` means all cores), capped."""
    if n_jobs <= 0:
        n_jobs = os.cpu_count() or 1
    return max(1, min(int(n_jobs), MAX_TORCH_THREADS))


@contextmanager
def torch_threads(n_jobs: int) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(resolve_threads(n_jobs))``, then restore."""
    previous = torch.get_num_threads()
    torch.set_num_threads(resolve_threads(n_jobs))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def seeded(seed: int) -> Iterator[torch.Generator]:
    """Seed torch for the block without changing the caller's global RNG state.

    Yields a ``torch.Generator`` seeded with ``seed`` for shuffling.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        generator = torch.Generator().manual_seed(seed)
        yield generator


@dataclass(frozen=True, eq=False)
class Standardizer:
    """Column-wise ``(x - mean) / scale`` fitted on training rows only.

    NaN/inf inputs become 0 after scaling (the training mean): the pipeline hands the
    models scaled, NaN-free features, but a stray NaN must not turn a whole batch's
    loss into NaN. Columns with zero variance get ``scale = 1``.
    """

    mean: np.ndarray  # shape (n_columns,), float64
    scale: np.ndarray  # shape (n_columns,), float64

    @classmethod
    def fit(cls, values: np.ndarray) -> Standardizer:
        """Fit on ``values`` of shape (n_rows, n_columns); NaN/inf are ignored."""
        arr = np.asarray(values, dtype=np.float64)
        arr = np.where(np.isfinite(arr), arr, np.nan)
        finite_rows = np.isfinite(arr).sum(axis=0)
        # Columns with no finite value would make nanmean warn; give them (0, 1).
        safe = np.where(finite_rows[None, :] > 0, arr, 0.0)
        mean = np.nanmean(safe, axis=0)
        std = np.sqrt(np.nanmean((safe - mean) ** 2, axis=0))
        scale = np.where(std > 1e-12, std, 1.0)
        return cls(mean=mean, scale=scale)

    def transform(
        self, values: np.ndarray, *, clip: float | None = INPUT_CLIP
    ) -> np.ndarray:
        """Scale ``values`` (n_rows, n_columns) to float32; NaN/inf → 0; clip to ±clip."""
        arr = (np.asarray(values, dtype=np.float64) - self.mean) / self.scale
        arr = np.where(np.isfinite(arr), arr, 0.0)
        if clip is not None:
            arr = np.clip(arr, -clip, clip)
        return arr.astype(np.float32)

    def inverse(self, values: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform` (no clipping) into float64."""
        return np.asarray(values, dtype=np.float64) * self.scale + self.mean

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-serialisable form (for the persistence sidecar)."""
        return {"mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Standardizer:
        """Rebuild from :meth:`to_dict` output."""
        return cls(
            mean=np.asarray(data["mean"], dtype=np.float64),
            scale=np.asarray(data["scale"], dtype=np.float64),
        )


@dataclass(frozen=True)
class TrainingHistory:
    """What happened during :func:`train_module`.

    Attributes
    ----------
    train_loss, val_loss : tuple of float
        Mean loss per epoch (standardised-target MSE), ``val_loss`` in eval mode.
        ``val_loss`` is empty when no validation set was given.
    learning_rate : tuple of float
        Learning rate used in each epoch (ReduceLROnPlateau may lower it).
    best_epoch : int or None
        0-based epoch whose weights were restored; ``None`` without validation set
        (the weights of the last epoch are kept).
    stopped_early : bool
        True if patience ran out before ``max_epochs``.
    """

    train_loss: tuple[float, ...]
    val_loss: tuple[float, ...]
    learning_rate: tuple[float, ...]
    best_epoch: int | None
    stopped_early: bool

    @property
    def n_epochs(self) -> int:
        """Number of epochs run."""
        return len(self.train_loss)

    @property
    def best_val_loss(self) -> float:
        """Validation loss of the restored weights (NaN without validation set)."""
        return math.nan if self.best_epoch is None else self.val_loss[self.best_epoch]


def check_positive_int(
    params: Mapping[str, object], name: str, *, minimum: int = 1
) -> int:
    """Return ``params[name]`` as int or raise :class:`ModelParamsError`."""
    value = params[name]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | np.integer)
        or value < minimum
    ):
        raise ModelParamsError(
            f"params[{name!r}] must be an int >= {minimum}, got {value!r}. "
            f"Pass e.g. params={{{name!r}: {max(minimum, 1)}}}."
        )
    return int(value)


def check_fraction(
    params: Mapping[str, object], name: str, *, low: float = 0.0, high: float = 1.0
) -> float:
    """Return ``params[name]`` as float in ``[low, high)`` or raise."""
    value = params[name]
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise ModelParamsError(f"params[{name!r}] must be a number, got {value!r}.")
    if not (low <= float(value) < high):
        raise ModelParamsError(
            f"params[{name!r}] must be in [{low}, {high}), got {value!r}."
        )
    return float(value)


def check_positive_float(
    params: Mapping[str, object], name: str, *, allow_zero: bool = False
) -> float:
    """Return ``params[name]`` as a finite float > 0 (>= 0 with ``allow_zero``)."""
    value = params[name]
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.floating)
        or not math.isfinite(float(value))
        or float(value) < 0
        or (float(value) == 0 and not allow_zero)
    ):
        bound = ">= 0" if allow_zero else "> 0"
        raise ModelParamsError(
            f"params[{name!r}] must be a finite number {bound}, got {value!r}."
        )
    return float(value)


def train_module(
    module: nn.Module,
    *,
    train_batch: BatchFn,
    n_train: int,
    val_batch: BatchFn | None,
    n_val: int,
    generator: torch.Generator,
    learning_rate: float,
    weight_decay: float,
    batch_size: int,
    max_epochs: int,
    patience: int,
    lr_patience: int,
    lr_factor: float = 0.5,
    samples_per_epoch: int | None = None,
    grad_clip: float | None = None,
    min_delta: float = 1e-6,
) -> TrainingHistory:
    """Train ``module`` with Adam + MSE, ReduceLROnPlateau and early stopping.

    Parameters
    ----------
    module : torch.nn.Module
        Maps an input batch to predictions shaped like the targets.
    train_batch, val_batch : callable
        ``fn(idx)`` with ``idx`` a 1-D int64 tensor of sample positions in
        ``[0, n_train)`` / ``[0, n_val)`` returning ``(inputs, targets)``.
    n_train, n_val : int
        Number of training / validation samples. With ``n_val == 0`` there is no
        early stopping: the LR schedule watches the training loss and the weights
        of the last of ``max_epochs`` epochs are kept (the base-class contract for
        "no validation set").
    generator : torch.Generator
        Seeded generator for the shuffle order.
    samples_per_epoch : int, optional
        Train on a fresh random subset of this many samples per epoch (all samples are
        seen across epochs) — bounds the epoch cost of large sequence sets.
    grad_clip : float, optional
        Clip the global gradient norm (recurrent nets).

    Returns
    -------
    TrainingHistory
        The module is left in eval mode holding the weights of the best epoch.
    """
    if n_train < 2:
        raise InsufficientDataError(
            f"Training needs at least 2 labelled samples, got {n_train}. "
            "Pass more training rows (or a shorter lookback)."
        )
    optimizer = torch.optim.Adam(
        module.parameters(), lr=learning_rate, weight_decay=weight_decay
    )
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=lr_factor, patience=lr_patience
    )
    loss_fn = nn.MSELoss()
    per_epoch = (
        n_train if samples_per_epoch is None else min(n_train, samples_per_epoch)
    )

    best_loss = math.inf
    best_state: dict[str, torch.Tensor] = {}
    best_epoch = 0
    since_best = 0
    train_hist: list[float] = []
    val_hist: list[float] = []
    lr_hist: list[float] = []
    stopped_early = False
    for _epoch in range(max_epochs):
        module.train()
        order = torch.randperm(n_train, generator=generator)[:per_epoch]
        total, count = 0.0, 0
        for start in range(0, per_epoch, batch_size):
            idx = order[start : start + batch_size]
            # BatchNorm cannot normalise a batch of one; that row is reshuffled next epoch.
            if len(idx) < 2:
                continue
            inputs, targets = train_batch(idx)
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(module(inputs), targets)
            loss.backward()
            if grad_clip is not None:
                nn.utils.clip_grad_norm_(module.parameters(), grad_clip)
            optimizer.step()
            total += float(loss.detach()) * len(idx)
            count += len(idx)
        train_hist.append(total / max(count, 1))
        lr_hist.append(float(optimizer.param_groups[0]["lr"]))

        if not math.isfinite(train_hist[-1]):
            raise ModelError(
                f"Training diverged: the training loss is {train_hist[-1]} in epoch "
                f"{len(train_hist)}. Lower params['learning_rate'] or check X for "
                "extreme values."
            )
        if val_batch is None or n_val == 0:
            scheduler.step(train_hist[-1])
            continue
        val_loss = evaluate_loss(
            module, val_batch, n_val, batch_size=max(batch_size, 1024)
        )
        val_hist.append(val_loss)
        scheduler.step(val_loss)
        if val_loss < best_loss - min_delta:
            best_loss = val_loss
            best_state = copy.deepcopy(module.state_dict())
            best_epoch = len(val_hist) - 1
            since_best = 0
        else:
            since_best += 1
            if since_best >= patience:
                stopped_early = True
                break

    if n_val > 0:
        if not best_state:
            raise ModelError(
                "Training produced no finite validation loss (NaN in every epoch). "
                "Check X_val/y_val for extreme values or lower params['learning_rate']."
            )
        module.load_state_dict(best_state)
    module.eval()
    return TrainingHistory(
        train_loss=tuple(train_hist),
        val_loss=tuple(val_hist),
        learning_rate=tuple(lr_hist),
        best_epoch=best_epoch if n_val > 0 else None,
        stopped_early=stopped_early,
    )


def evaluate_loss(
    module: nn.Module, batch_fn: BatchFn, n: int, *, batch_size: int
) -> float:
    """Mean MSE of ``module`` over samples ``0..n-1`` in eval mode, without gradients."""
    module.eval()
    total = 0.0
    with torch.no_grad():
        for start in range(0, n, batch_size):
            idx = torch.arange(start, min(start + batch_size, n))
            inputs, targets = batch_fn(idx)
            total += float(((module(inputs) - targets) ** 2).mean()) * len(idx)
    return total / n


def predict_batches(
    module: nn.Module,
    batch_fn: Callable[[torch.Tensor], torch.Tensor],
    n: int,
    *,
    batch_size: int,
) -> np.ndarray:
    """Run ``module`` in eval mode over samples ``0..n-1``; return float64 (n, ...)."""
    module.eval()
    outputs: list[np.ndarray] = []
    with torch.no_grad():
        for start in range(0, n, batch_size):
            idx = torch.arange(start, min(start + batch_size, n))
            outputs.append(module(batch_fn(idx)).numpy().astype(np.float64))
    if not outputs:
        return np.empty((0,), dtype=np.float64)
    return np.concatenate(outputs, axis=0)


def state_dict_to_numpy(module: nn.Module) -> dict[str, np.ndarray]:
    """Copy a module's ``state_dict`` into numpy arrays (for checksumming/tests)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in module.state_dict().items()}


def save_net(
    path: Path, module: nn.Module, x_scaler: Standardizer, y_scaler: Standardizer
) -> None:
    """Write the weights and both scalers to ``path`` as a flat dict of tensors.

    Tensors only (no pickled objects), so :func:`load_net` can use
    ``torch.load(weights_only=True)``. Scalers stay float64 so predictions after
    loading are bit-identical.
    """
    state = {f"net.{k}": v for k, v in module.state_dict().items()}
    state["x_mean"] = torch.from_numpy(x_scaler.mean.copy())
    state["x_scale"] = torch.from_numpy(x_scaler.scale.copy())
    state["y_mean"] = torch.from_numpy(y_scaler.mean.copy())
    state["y_scale"] = torch.from_numpy(y_scaler.scale.copy())
    torch.save(state, path)


def load_net(
    path: Path, module: nn.Module
) -> tuple[nn.Module, Standardizer, Standardizer]:
    """Load what :func:`save_net` wrote into ``module``; return it (eval) and scalers.

    Raises
    ------
    ArtifactError
        Unreadable file, not a dict of tensors, or missing/mismatched tensors.
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ArtifactError(
            f"{path} could not be read as a tensor file ({exc}). Save the model again."
        ) from exc
    if not isinstance(state, dict):
        raise ArtifactError(
            f"{path} must hold a dict of tensors, got {type(state).__name__}. Save "
            "the model again."
        )
    try:
        x_scaler = Standardizer(state["x_mean"].numpy(), state["x_scale"].numpy())
        y_scaler = Standardizer(state["y_mean"].numpy(), state["y_scale"].numpy())
        module.load_state_dict(
            {
                k.removeprefix("net."): v
                for k, v in state.items()
                if k.startswith("net.")
            }
        )
    except (KeyError, RuntimeError) as exc:
        raise ArtifactError(
            f"{path} does not match the saved model's architecture or lacks a tensor "
            f"({exc}). Save the model again."
        ) from exc
    module.eval()
    return module, x_scaler, y_scaler
