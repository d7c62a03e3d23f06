"""Fine-tune the last blocks of EfficientNet-Lite0 together with a classification head.

A head on frozen ImageNet features can only re-weigh what ImageNet taught the network; the
last blocks decide which shapes become features at all. On a 2-core CPU a full backbone epoch
is out of reach, so everything below block `-blocks` stays frozen and is run once per image
(and per dihedral view, the augmentation that galaxies allow: they have no up or right). The
training then runs only the unfrozen tail on those cached activations, seconds per epoch for
hundreds of images.

BatchNorm keeps its ImageNet running statistics (the network stays in eval mode): batches of a
few dozen labelled images would give worse estimates than the ones it has, and eval mode also
keeps drop-connect and dropout off, so the embedder later sees exactly the trained network.

Blocking (torch): run it on the training thread.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from astrolens.ml.embedders.torch_runtime import torch_module
from astrolens.ml.learning.finetune import (
    ClassifierHead,
    HeadHyperParameters,
    TrainingCancelled,
    train_head,
)

ProgressFn = Callable[[float, str], None]
CancelledFn = Callable[[], bool]
BatchFn = Callable[[Sequence[Any]], Any]  # images -> normalised (N, 3, S, S) tensor


@dataclass(frozen=True)
class BackboneHyperParameters:
    blocks: int = 2  # trainable MBConv blocks at the end (the conv head is always trained)
    epochs: int = 15
    learning_rate: float = 3e-4  # for the blocks; the head, warm-started, uses 10x
    weight_decay: float = 1e-4
    batch_size: int = 32
    views: int = 4  # dihedral views cached per image (1 = no augmentation)
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class FineTunedBackbone:
    network: Any  # the whole torch module, tail trained, in eval mode
    head: ClassifierHead  # over the new network's L2-normalised pooled features


def _views(batch: Any, n: int) -> list[Any]:
    """The first n of: identity, horizontal flip, vertical flip, 180-degree rotation."""
    flips = [(), (3,), (2,), (2, 3)]
    return [batch if not dims else batch.flip(dims) for dims in flips[:n]]


class _Tail:
    """The unfrozen end of the network: blocks[-k:], conv head, BN, swish, pooling."""

    def __init__(self, network: Any, blocks: int) -> None:
        self.network = network
        total = len(network._blocks)
        if not 0 <= blocks <= total:
            raise ValueError(f"blocks must be within 0..{total}, not {blocks}")
        self.first = total - blocks
        self.total = total

    def frozen(self, x: Any) -> Any:
        n = self.network
        x = n._swish(n._bn0(n._conv_stem(x)))
        for block in n._blocks[: self.first]:
            x = block(x)  # eval mode: drop-connect is off whatever the rate
        return x

    def pooled(self, x: Any) -> Any:
        n = self.network
        for block in n._blocks[self.first :]:
            x = block(x)
        x = n._swish(n._bn1(n._conv_head(x)))
        return x.mean(dim=(2, 3))

    def parameters(self) -> list[Any]:
        n = self.network
        modules = [*n._blocks[self.first :], n._conv_head, n._bn1]
        return [p for m in modules for p in m.parameters()]


def embed_with(network: Any, images: Sequence[Any], batch: BatchFn) -> npt.NDArray[np.float32]:
    """L2-normalised pooled features of `network` (what the embedder will produce)."""
    torch = torch_module()  # one clear message where torch is missing (the bundle)

    tail = _Tail(network, 0)
    out = []
    with torch.inference_mode():
        for start in range(0, len(images), 32):
            x = batch(images[start : start + 32])
            out.append(torch.nn.functional.normalize(tail.pooled(tail.frozen(x)), dim=1).numpy())
    if not out:
        return np.zeros((0, 0), np.float32)
    return np.concatenate(out).astype(np.float32)


def finetune_backbone(
    network: Any,
    images: Sequence[Any],
    labels: npt.ArrayLike,
    classes: Sequence[str],
    batch: BatchFn,
    params: BackboneHyperParameters | None = None,
    *,
    progress: ProgressFn | None = None,
    cancelled: CancelledFn | None = None,
) -> FineTunedBackbone:
    """Train a copy of `network`'s last blocks and a softmax head on (images, labels).

    The head is first fitted on the frozen features (the product's `train_head`), so the
    blocks start from a sensible gradient instead of a random head's noise.
    """
    torch = torch_module()  # one clear message where torch is missing (the bundle)

    hp = params or BackboneHyperParameters()
    y_all = np.asarray(labels, dtype=np.int64)
    n_classes = len(classes)
    if len(images) == 0 or n_classes < 2 or len(set(y_all.tolist())) < 2:
        raise ValueError("need labelled images of at least two classes")
    torch.manual_seed(hp.seed)
    model = copy.deepcopy(network).float().eval()
    model = model.to(memory_format=torch.contiguous_format)
    for p in model.parameters():
        p.requires_grad_(False)
    tail = _Tail(model, hp.blocks)
    report = progress or (lambda fraction, message: None)

    # 1. the frozen part, once per image and view (a fifth of the run's progress)
    cached: list[Any] = []  # per view: (N, C, H, W) activations
    pooled0 = []
    with torch.inference_mode():
        per_view: list[list[Any]] = [[] for _ in range(hp.views)]
        for start in range(0, len(images), 32):
            if cancelled is not None and cancelled():
                raise TrainingCancelled
            x = batch(images[start : start + 32])
            for v, view in enumerate(_views(x, hp.views)):
                a = tail.frozen(view)
                per_view[v].append(a)
                if v == 0:
                    pooled0.append(torch.nn.functional.normalize(tail.pooled(a), dim=1))
            report(0.2 * min(start + 32, len(images)) / len(images), "caching frozen layers")
        cached = [torch.cat(chunks) for chunks in per_view]
        features0 = torch.cat(pooled0).numpy()

    # 2. warm start: the head on the frozen features
    warm = train_head(
        features0, y_all, classes, "warm-start", HeadHyperParameters(epochs=100, seed=hp.seed)
    )
    head = torch.nn.Linear(features0.shape[1], n_classes)
    with torch.no_grad():
        head.weight.copy_(torch.as_tensor(warm.weight))
        head.bias.copy_(torch.as_tensor(warm.bias))

    # 3. the tail and the head together
    trainable = tail.parameters()
    for p in trainable:
        p.requires_grad_(True)
    optimiser = torch.optim.AdamW(
        [
            {"params": trainable, "lr": hp.learning_rate},
            {"params": head.parameters(), "lr": 10 * hp.learning_rate},
        ],
        weight_decay=hp.weight_decay,
    )
    y = torch.as_tensor(y_all)
    counts = torch.bincount(y, minlength=n_classes).float()
    class_weight = torch.where(counts > 0, counts.sum() / (n_classes * counts), 0.0)
    loss_fn = torch.nn.CrossEntropyLoss(weight=class_weight)
    generator = torch.Generator().manual_seed(hp.seed)
    for epoch in range(hp.epochs):
        order = torch.randperm(len(y), generator=generator)
        view_of = torch.randint(0, hp.views, (len(y),), generator=generator)
        total = 0.0
        for start in range(0, len(y), hp.batch_size):
            if cancelled is not None and cancelled():
                raise TrainingCancelled
            rows = order[start : start + hp.batch_size]
            x = torch.stack([cached[int(view_of[r])][r] for r in rows])
            features = torch.nn.functional.normalize(tail.pooled(x), dim=1)
            loss = loss_fn(head(features), y[rows])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(rows)
        report(
            0.2 + 0.8 * (epoch + 1) / hp.epochs,
            f"epoch {epoch + 1}/{hp.epochs} loss {total / len(y):.3f}",
        )
    for p in trainable:
        p.requires_grad_(False)
    result = ClassifierHead(
        "pending",  # the caller names the backbone once its weights are saved
        tuple(classes),
        head.weight.detach().numpy().astype(np.float32),
        head.bias.detach().numpy().astype(np.float32),
        {"params": hp.as_dict()},
    )
    return FineTunedBackbone(model.eval(), result)
