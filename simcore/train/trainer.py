"""``train(spec, dataset, ...)``: one training loop for the ANN and the spiking path.

Deterministic with a seed on the CPU: the batch order of epoch ``e`` comes from a generator
seeded with ``(seed, e)``, and the global RNG (dropout, rate encoding) is saved in every
checkpoint. A checkpoint is written atomically after each epoch (``checkpoint.pt`` in
``checkpoint_dir``); with ``resume`` a run that was killed picks up the latest one and redoes
the interrupted epoch from its start, with the RNG states restored, so it ends with the
metrics an uninterrupted run gets.

Progress goes to ``on_progress`` as :class:`Progress` structs (one per batch and one per
epoch); the result holds the trained model and :class:`TrainMetrics` (the history per epoch
and a confusion matrix).
"""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

import msgspec
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from simcore.spec import ModelSpec, SpecError, Training
from simcore.train.encoding import encode, read_out
from simcore.train.models import SpecModel, build_model

CHECKPOINT = "checkpoint.pt"
LOSSES = ("cross_entropy", "mse", "nll")
OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")


class Progress(msgspec.Struct, frozen=True):
    """One progress event: after a batch (``phase="batch"``) or an epoch (``"epoch"``).

    ``loss`` and ``accuracy`` are running means over the epoch so far (training set);
    ``eval_*`` are set on epoch events when an evaluation set was given."""

    phase: Literal["batch", "epoch"]
    epoch: int
    """0-based."""
    epochs: int
    batch: int
    """Batches done in this epoch."""
    batches: int
    loss: float
    accuracy: float
    samples_per_s: float
    """Training throughput over the epoch so far."""
    memory_bytes: int
    """Peak memory: of the GPU on CUDA, of the process (resident set) on the CPU."""
    device: str
    backend: str | None = None
    """The LIF backend that ran (``triton``, ``torch``); None for an ANN."""
    eval_loss: float | None = None
    eval_accuracy: float | None = None


class EpochMetrics(msgspec.Struct, frozen=True):
    epoch: int
    loss: float
    accuracy: float
    eval_loss: float | None
    eval_accuracy: float | None
    seconds: float
    samples_per_s: float


class TrainMetrics(msgspec.Struct, frozen=True):
    """What a run writes: metrics per epoch and the confusion matrix of the evaluation set
    (the training set when there is none): ``confusion[true][predicted]``."""

    history: list[EpochMetrics]
    confusion: list[list[int]]
    device: str
    backend: str | None
    resumed_from: int | None
    """The epoch a resumed run started at (None: started from scratch)."""


@dataclass
class TrainResult:
    model: SpecModel
    metrics: TrainMetrics

    @property
    def final(self) -> EpochMetrics:
        return self.metrics.history[-1]


class TrainError(ValueError):
    """A training setup that cannot run: ``errors`` says what and where."""

    def __init__(self, errors: list[SpecError]) -> None:
        self.errors = errors
        lines = "\n".join(f"  {error.path}: {error.message}" for error in errors)
        super().__init__(f"the model cannot be trained ({len(errors)} problems):\n{lines}")


ProgressFn = Callable[[Progress], None]


def resolve_device(device: str) -> torch.device:
    """``"auto"``: CUDA when there is a GPU, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise TrainError([SpecError("device", "CUDA was asked for, but there is no GPU here")])
    return resolved


def train(
    spec: ModelSpec,
    dataset: Dataset[tuple[Tensor, Any]],
    *,
    eval_dataset: Dataset[tuple[Tensor, Any]] | None = None,
    seed: int = 0,
    device: str = "auto",
    epochs: int | None = None,
    checkpoint_dir: str | os.PathLike[str] | None = None,
    resume: bool = True,
    on_progress: ProgressFn | None = None,
    mixed_precision: bool = True,
) -> TrainResult:
    """Trains the model ``spec`` describes on ``dataset`` (``(x, label)`` samples; ``x`` in
    [0, 1] for an SNN, which encodes it with ``training.encoding``).

    ``epochs`` overrides ``spec.training.epochs``. ``mixed_precision`` applies on CUDA only
    (float16 autocast with a gradient scaler). Raises :class:`ModelError` for layers that cannot
    be built and :class:`TrainError` for a training setup that cannot run."""
    training = spec.training or Training()
    torch.manual_seed(seed)
    where = resolve_device(device)
    errors = list(_setup_problems(spec, training))
    if errors:
        raise TrainError(errors)
    x0, _ = dataset[0]
    model = build_model(spec, tuple(torch.as_tensor(x0).shape)).to(where)
    optimizer = _optimizer(training, model)
    amp = mixed_precision and where.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    n_epochs = epochs if epochs is not None else training.epochs
    history: list[EpochMetrics] = []
    start, resumed_from = 0, None
    path = Path(checkpoint_dir) / CHECKPOINT if checkpoint_dir is not None else None
    if path is not None and resume and path.exists():
        start, history = _load_checkpoint(path, spec, seed, model, optimizer, scaler, where)
        resumed_from = start
    loop = _Loop(spec, training, model, where, amp, n_epochs, on_progress)
    for epoch in range(start, n_epochs):
        metrics = loop.epoch(epoch, dataset, seed, optimizer, scaler)
        if eval_dataset is not None:
            eval_loss, eval_acc, _ = loop.evaluate(eval_dataset, seed)
            metrics = msgspec.structs.replace(metrics, eval_loss=eval_loss, eval_accuracy=eval_acc)
        history.append(metrics)
        loop.emit_epoch(metrics)
        if path is not None:
            _save_checkpoint(path, spec, seed, epoch + 1, model, optimizer, scaler, history)
    _, _, confusion = loop.evaluate(eval_dataset if eval_dataset is not None else dataset, seed)
    return TrainResult(
        model=model,
        metrics=TrainMetrics(
            history=history,
            confusion=confusion.tolist(),
            device=str(where),
            backend=model.backend,
            resumed_from=resumed_from,
        ),
    )


def _setup_problems(spec: ModelSpec, training: Training) -> list[SpecError]:
    problems = []
    if training.loss not in LOSSES:
        problems.append(
            SpecError(
                "training/loss", f"unknown loss {training.loss!r}; known: {', '.join(LOSSES)}"
            )
        )
    if training.optimizer not in OPTIMIZERS:
        known = ", ".join(OPTIMIZERS)
        problems.append(
            SpecError(
                "training/optimizer", f"unknown optimizer {training.optimizer!r}; known: {known}"
            )
        )
    if spec.kind == "snn" and training.time_steps is None:
        problems.append(SpecError("training/time_steps", "an SNN needs time_steps to unroll over"))
    return problems


def _optimizer(training: Training, model: nn.Module) -> torch.optim.Optimizer:
    lr = training.learning_rate
    params = model.parameters()
    if training.optimizer == "adam":
        return torch.optim.Adam(params, lr=lr)
    if training.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr)
    if training.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9)
    return torch.optim.RMSprop(params, lr=lr)


def _loss(name: str, scores: Tensor, labels: Tensor) -> Tensor:
    scores = scores.float()
    if name == "cross_entropy":
        return nn.functional.cross_entropy(scores, labels)
    if name == "nll":
        return nn.functional.nll_loss(torch.log_softmax(scores, dim=1), labels)
    target = nn.functional.one_hot(labels, scores.shape[1]).to(scores.dtype)
    return nn.functional.mse_loss(scores, target)


def _peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)  # bytes on macOS, KiB on Linux


def _loader(
    dataset: Dataset[tuple[Tensor, Any]], batch_size: int, shuffle: bool, seed: int
) -> DataLoader[tuple[Tensor, Any]]:
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator)


class _Loop:
    """The parts of one run every epoch shares."""

    def __init__(
        self,
        spec: ModelSpec,
        training: Training,
        model: SpecModel,
        device: torch.device,
        amp: bool,
        epochs: int,
        on_progress: ProgressFn | None,
    ) -> None:
        self.training = training
        self.model = model
        self.device = device
        self.amp = amp
        self.epochs = epochs
        self.on_progress = on_progress
        self.classes = model.output_shape[0]
        self.snn = spec.kind == "snn"

    def scores(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        if self.snn:
            assert self.training.time_steps is not None
            x = encode(x, self.training.encoding or "rate", self.training.time_steps, generator)
        with torch.autocast(device_type=self.device.type, dtype=torch.float16, enabled=self.amp):
            out = self.model(x)
        return read_out(out, self.training.readout or "rate") if self.snn else out

    def batch(self, x: Any, y: Any) -> tuple[Tensor, Tensor]:
        x = torch.as_tensor(x, device=self.device).float()
        y = torch.as_tensor(y, device=self.device).long()
        if y.numel() and (int(y.min()) < 0 or int(y.max()) >= self.classes):
            bad = int(y.max()) if int(y.max()) >= self.classes else int(y.min())
            raise TrainError(
                [
                    SpecError(
                        "training/dataset",
                        f"label {bad} is outside 0..{self.classes - 1}: the last layer has "
                        f"{self.classes} outputs",
                    )
                ]
            )
        return x, y

    def epoch(
        self,
        epoch: int,
        dataset: Dataset[tuple[Tensor, Any]],
        seed: int,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler,
    ) -> EpochMetrics:
        self.model.train()
        loader = _loader(dataset, self.training.batch_size, True, seed * 100_003 + epoch)
        batches = len(loader)
        total_loss, correct, seen = 0.0, 0, 0
        started = time.perf_counter()
        for index, (raw_x, raw_y) in enumerate(loader):
            x, y = self.batch(raw_x, raw_y)
            scores = self.scores(x)
            loss = _loss(self.training.loss, scores, y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if self.training.gradient_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), self.training.gradient_clip)
            scaler.step(optimizer)
            scaler.update()
            total_loss += loss.item() * len(y)
            correct += int((scores.argmax(1) == y).sum())
            seen += len(y)
            if self.on_progress is not None:
                self.on_progress(
                    self.progress(
                        "batch", epoch, index + 1, batches, total_loss, correct, seen, started
                    )
                )
        elapsed = time.perf_counter() - started
        if seen == 0:
            raise TrainError([SpecError("training/dataset", "the training set is empty")])
        if not math.isfinite(total_loss):
            raise TrainError(
                [SpecError("training/learning_rate", "the loss diverged: try a smaller rate")]
            )
        return EpochMetrics(
            epoch=epoch,
            loss=total_loss / seen,
            accuracy=correct / seen,
            eval_loss=None,
            eval_accuracy=None,
            seconds=elapsed,
            samples_per_s=seen / elapsed if elapsed > 0 else 0.0,
        )

    def progress(
        self,
        phase: Literal["batch", "epoch"],
        epoch: int,
        batch: int,
        batches: int,
        total_loss: float,
        correct: int,
        seen: int,
        started: float,
    ) -> Progress:
        elapsed = time.perf_counter() - started
        return Progress(
            phase=phase,
            epoch=epoch,
            epochs=self.epochs,
            batch=batch,
            batches=batches,
            loss=total_loss / max(seen, 1),
            accuracy=correct / max(seen, 1),
            samples_per_s=seen / elapsed if elapsed > 0 else 0.0,
            memory_bytes=_peak_memory(self.device),
            device=str(self.device),
            backend=self.model.backend,
        )

    def emit_epoch(self, metrics: EpochMetrics) -> None:
        if self.on_progress is None:
            return
        event = Progress(
            phase="epoch",
            epoch=metrics.epoch,
            epochs=self.epochs,
            batch=0,
            batches=0,
            loss=metrics.loss,
            accuracy=metrics.accuracy,
            samples_per_s=metrics.samples_per_s,
            memory_bytes=_peak_memory(self.device),
            device=str(self.device),
            backend=self.model.backend,
            eval_loss=metrics.eval_loss,
            eval_accuracy=metrics.eval_accuracy,
        )
        self.on_progress(event)

    @torch.no_grad()
    def evaluate(
        self, dataset: Dataset[tuple[Tensor, Any]], seed: int
    ) -> tuple[float, float, Tensor]:
        """Mean loss, accuracy and confusion matrix; rate encoding draws from its own
        generator, so evaluating leaves the training's random stream as it was."""
        self.model.eval()
        generator = torch.Generator(device=self.device).manual_seed(seed)
        confusion = torch.zeros(self.classes, self.classes, dtype=torch.long)
        total_loss, seen = 0.0, 0
        for raw_x, raw_y in _loader(dataset, self.training.batch_size, False, seed):
            x, y = self.batch(raw_x, raw_y)
            scores = self.scores(x, generator)
            total_loss += _loss(self.training.loss, scores, y).item() * len(y)
            seen += len(y)
            pairs = y.cpu() * self.classes + scores.argmax(1).cpu()
            confusion += torch.bincount(pairs, minlength=self.classes**2).view_as(confusion)
        if seen == 0:
            return math.nan, math.nan, confusion
        accuracy = float(confusion.diagonal().sum()) / seen
        return total_loss / seen, accuracy, confusion


def _rng_states(device: torch.device) -> dict[str, Any]:
    states: dict[str, Any] = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    return states


def _save_checkpoint(
    path: Path,
    spec: ModelSpec,
    seed: int,
    next_epoch: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    history: list[EpochMetrics],
) -> None:
    """Writes the checkpoint next to its final name and renames it over the old one, so a
    crash leaves the previous checkpoint or the new one, never half of one."""
    device = next(model.parameters()).device
    state = {
        "spec": msgspec.json.encode(spec),
        "seed": seed,
        "next_epoch": next_epoch,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict(),
        "history": msgspec.to_builtins(history),
        "rng": _rng_states(device),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    with partial.open("wb") as handle:
        torch.save(state, handle)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(partial, path)


def _load_checkpoint(
    path: Path,
    spec: ModelSpec,
    seed: int,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    device: torch.device,
) -> tuple[int, list[EpochMetrics]]:
    state = torch.load(path, map_location=device, weights_only=True)
    if state["spec"] != msgspec.json.encode(spec) or state["seed"] != seed:
        raise TrainError([SpecError("checkpoint", f"{path.name} belongs to another model or seed")])
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["rng"]["cpu"].cpu())
    if "cuda" in state["rng"] and device.type == "cuda":
        torch.cuda.set_rng_state(state["rng"]["cuda"].cpu(), device)
    history = msgspec.convert(state["history"], list[EpochMetrics])
    return cast(int, state["next_epoch"]), history
