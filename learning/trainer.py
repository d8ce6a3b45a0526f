"""The trainer shared by every rule: data on the device, seeded shuffling, an optimizer, progress, history.

``train(TrainConfig(rule="dfa"))`` returns a :class:`TrainResult` holding the trained network, the rule (for its
record) and one :class:`EpochStats` per epoch. A non-finite loss stops training with a :class:`TrainingError`
naming the epoch.

Training runs on one CPU thread (``torch.set_num_threads(1)`` for the run, restored after): torch splits a
reduction differently for different thread counts, so with ``OMP_NUM_THREADS`` left to the machine the same seed
gave different weights on different machines. One thread fixes the order of every sum; the networks trained here
are small enough that it costs little (``bench/train_threads.py`` measures it).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace

import numpy as np
import torch
from tqdm.auto import tqdm

from errors import ConfigError, TrainingError
from learning.datasets import Dataset, load_dataset
from learning.mlp import ACTIVATIONS, MLP
from learning.rules import Rule, get_rule
from learning.rules.base import HyperValue

OPTIMIZERS = ("adam", "sgd")
MAX_WEIGHTS = 1 << 26
"""The largest network ``train`` builds (weights of all layers; 256 MiB in float32)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run (with the seed, the result is reproducible on one device)."""

    rule: str = "dfa"
    dataset: str = "digits"
    hidden: tuple[int, ...] = (64,)
    activation: str | None = None
    epochs: int = 40
    batch_size: int = 32
    lr: float | None = None
    """``None`` here and for ``optimizer`` and ``activation``: the rule's default (``Rule.defaults``)."""
    optimizer: str | None = None
    seed: int = 0
    device: str = "auto"
    options: dict[str, HyperValue] = field(default_factory=dict)

    def resolved(self) -> TrainConfig:
        """This config with ``lr``, ``optimizer`` and ``activation`` filled in from the rule's defaults."""
        defaults = get_rule(self.rule).defaults
        return replace(self, lr=self.lr if self.lr is not None else float(defaults["lr"]),
                       optimizer=self.optimizer if self.optimizer is not None else str(defaults["optimizer"]),
                       activation=self.activation if self.activation is not None else str(defaults["activation"]))

    def validate(self) -> None:
        get_rule(self.rule)
        if self.lr is None or self.optimizer is None or self.activation is None:
            return self.resolved().validate()
        if not isinstance(self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr <= 0:
            raise ConfigError(f"learning rate must be a positive finite number, not {self.lr!r}")
        if not isinstance(self.epochs, int) or isinstance(self.epochs, bool) or self.epochs < 0:
            raise ConfigError(f"epochs must be a non-negative integer (0 keeps the initial weights), not "
                              f"{self.epochs!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ConfigError(f"batch size must be a positive integer, not {self.batch_size!r}")
        if any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ConfigError(f"hidden layer sizes must be positive integers, not {self.hidden!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ConfigError(f"unknown optimizer {self.optimizer!r}: must be one of {', '.join(OPTIMIZERS)}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"unknown activation {self.activation!r}: must be one of {', '.join(ACTIVATIONS)}")

    def common_hyper(self) -> dict[str, HyperValue]:
        """The rule-independent hyper-parameters, as recorded in the ``learn`` dialect."""
        assert self.lr is not None and self.optimizer is not None and self.activation is not None, "resolve first"
        return {"lr": float(self.lr), "optimizer": self.optimizer, "batch_size": self.batch_size,
                "epochs": self.epochs, "activation": self.activation}


@dataclass(frozen=True)
class EpochStats:
    epoch: int
    loss: float
    train_accuracy: float
    test_accuracy: float
    seconds: float


@dataclass
class TrainResult:
    config: TrainConfig
    dataset: Dataset
    net: MLP
    rule: Rule
    history: list[EpochStats]

    @property
    def test_accuracy(self) -> float:
        if not self.history:  # zero epochs: the initial weights
            return accuracy(self.net, torch.from_numpy(self.dataset.x_test), torch.from_numpy(self.dataset.y_test))
        return self.history[-1].test_accuracy

    def history_dicts(self) -> list[dict[str, float]]:
        return [asdict(h) for h in self.history]


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when torch sees a GPU, else the CPU; asking for an absent GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as e:
        raise ConfigError(f"unknown device {name!r}: must be auto, cpu, cuda or cuda:N") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for, but torch sees no CUDA GPU on this machine")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"unknown device {name!r}: must be auto, cpu, cuda or cuda:N")
    return device


@torch.no_grad()
def accuracy(net: MLP, x: torch.Tensor, y: torch.Tensor, batch: int = 4096) -> float:
    correct = 0
    for i in range(0, len(x), batch):
        correct += int((net(x[i:i + batch]).argmax(dim=1) == y[i:i + batch]).sum())
    return correct / len(x)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """torch on a single intra-op thread inside the block (see the module docstring)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train(config: TrainConfig, data: Dataset | None = None, progress: bool = True) -> TrainResult:
    """Train an MLP on ``config.dataset`` (or ``data``) with ``config.rule``; the same config and seed give the same
    weights whatever the machine's thread count."""
    with one_thread():
        return _train(config, data, progress)


def _train(config: TrainConfig, data: Dataset | None, progress: bool) -> TrainResult:
    config.validate()
    config = config.resolved()
    assert config.lr is not None and config.activation is not None
    data = data if data is not None else load_dataset(config.dataset)
    sizes = [data.n_features, *config.hidden, data.n_classes]
    weights = sum(a * b for a, b in itertools.pairwise(sizes))
    if weights > MAX_WEIGHTS:
        raise ConfigError(f"a {'-'.join(map(str, sizes))} network has {weights} weights, more than the {MAX_WEIGHTS} "
                          "neurocc trains")
    device = resolve_device(config.device)
    gen = torch.Generator().manual_seed(config.seed)
    net = MLP(sizes, config.activation, gen).to(device)
    rule = get_rule(config.rule)(net, dict(config.options), gen)
    params = list(net.parameters()) + rule.extra_parameters()
    opt: torch.optim.Optimizer = (torch.optim.Adam(params, lr=config.lr) if config.optimizer == "adam"
                                  else torch.optim.SGD(params, lr=config.lr, momentum=0.9))
    x_tr = torch.from_numpy(data.x_train).to(device)
    y_tr = torch.from_numpy(data.y_train).to(device)
    x_te = torch.from_numpy(data.x_test).to(device)
    y_te = torch.from_numpy(data.y_test).to(device)
    history: list[EpochStats] = []
    bar = tqdm(range(1, config.epochs + 1), desc=f"{config.rule} on {data.name}", unit="epoch",
               disable=not progress, leave=False)
    for epoch in bar:
        start = time.perf_counter()
        order = torch.randperm(len(x_tr), generator=gen).to(device)
        total = torch.zeros((), device=device)
        for i in range(0, len(order), config.batch_size):
            idx = order[i:i + config.batch_size]
            opt.zero_grad(set_to_none=True)
            loss = rule.updates(x_tr[idx], y_tr[idx])
            total += loss * len(idx)
            opt.step()
        mean_loss = float(total) / len(x_tr)
        seconds = time.perf_counter() - start
        if not math.isfinite(mean_loss):
            raise TrainingError(f"training diverged at epoch {epoch}: the loss is {mean_loss!r} "
                                f"(rule {config.rule!r}, learning rate {config.lr!r}); try a smaller learning rate")
        stats = EpochStats(epoch, mean_loss, accuracy(net, x_tr, y_tr), accuracy(net, x_te, y_te), seconds)
        history.append(stats)
        bar.set_postfix(loss=f"{stats.loss:.4f}", test=f"{stats.test_accuracy:.4f}")
    net.cpu()
    return TrainResult(config, data, net, rule, history)


def predictions(net: MLP, x: np.ndarray) -> np.ndarray:
    """Float32 torch logits of a trained network (for comparisons with the reference)."""
    with torch.no_grad():
        return net(torch.from_numpy(x)).numpy()
