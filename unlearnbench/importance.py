"""Per-parameter importance and gradient estimates shared by the methods that read the loss landscape.

Every helper works over the model's *trainable* parameters (``requires_grad``), in eval mode (BatchNorm
normalises with its running statistics and never updates them; dropout is off). By default the data are
visited in a fixed order without augmentation, so the result is a deterministic function of the model and
the data; the helpers that take a ``generator`` can instead shuffle and augment as a reference code's
training loader does. The model's train/eval flags and its ``.grad`` fields are left as they were found.

- :func:`loss_gradient` / :func:`gradient_magnitudes`: the gradient of the mean cross-entropy over a set
  (optionally through the training augmentation); :func:`summed_batch_gradients`: the sum of minibatch-mean
  gradients over one (shuffled, augmented) pass, SalUn's saliency before its magnitude is taken.
- :func:`squared_batch_gradients`: the mean over minibatches of the squared minibatch gradient (the
  "diagonal Fisher" importance of SSD's reference code).
- :func:`per_example_gradients`: flat per-example gradients of the cross-entropy (influence methods).
- :func:`diagonal_fisher`: the per-example diagonal Fisher information, either the true Fisher (labels
  drawn from the model's own predictive distribution, in expectation) or the empirical one (true labels);
  :func:`memoised_fisher` reuses it within the process when the same model and data come back.
- :func:`global_top_mask`: a hard mask of the top fraction of scores under one threshold over all
  tensors; :func:`flatten` / :func:`unflatten` and :func:`concatenate` (two data sets end to end).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from unlearnbench.data.pipeline import TensorData

#: Per-example gradients are computed in chunks holding at most this many floats at once.
DEFAULT_CHUNK_FLOATS = 1 << 25

FisherKind = Literal["true", "empirical"]


def trainable(model: nn.Module) -> dict[str, nn.Parameter]:
    """The model's trainable parameters by name, in registration order."""
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


@contextlib.contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the block; restore every module's own flag afterwards."""
    flags = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, flag in flags:
            module.training = flag


@contextlib.contextmanager
def _grads_preserved(params: Mapping[str, nn.Parameter]) -> Iterator[None]:
    """Keep whatever ``.grad`` the parameters held before the block."""
    saved = {name: p.grad for name, p in params.items()}
    try:
        yield
    finally:
        for name, p in params.items():
            p.grad = saved[name]


def flatten(tensors: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Concatenate the tensors, in mapping order, into one flat vector."""
    return torch.cat([t.reshape(-1) for t in tensors.values()])


def unflatten(vector: torch.Tensor, like: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Split a flat vector back into tensors shaped like ``like`` (the inverse of :func:`flatten`)."""
    total = sum(t.numel() for t in like.values())
    if vector.numel() != total:
        raise ValueError(f"vector has {vector.numel()} entries, the parameters {total}")
    out: dict[str, torch.Tensor] = {}
    start = 0
    for name, t in like.items():
        out[name] = vector[start : start + t.numel()].view_as(t)
        start += t.numel()
    return out


def concatenate(first: TensorData, second: TensorData) -> TensorData:
    """``first`` followed by ``second``, with ``first``'s normalisation and augmentation settings."""
    return TensorData(
        torch.cat([first.x, second.x.to(first.device)]),
        torch.cat([first.y, second.y.to(first.device)]),
        first.mean,
        first.std,
        first.crop_padding,
        first.hflip,
    )


def loss_gradient(
    model: nn.Module,
    data: TensorData,
    batch_size: int = 256,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    *,
    augment: bool = False,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Gradient of the mean loss over ``data`` w.r.t. each trainable parameter (eval mode).

    ``loss_fn(logits, y)`` must return the *summed* loss of a batch (default: summed cross-entropy), so
    the result does not depend on ``batch_size``. With ``augment`` every example is seen once through the
    data's training augmentation (random crop and flip drawn from ``generator``), as reference codes
    that compute their gradients through the training transform; by default it is not augmented.
    """
    params = trainable(model)
    total = {name: torch.zeros_like(p) for name, p in params.items()}
    n = len(data)
    if n == 0:
        return total
    summed = loss_fn or (lambda logits, y: nn.functional.cross_entropy(logits, y, reduction="sum"))
    with evaluation_mode(model), _grads_preserved(params):
        for x, y in data.batches(batch_size, augment=augment, generator=generator):
            grads = torch.autograd.grad(summed(model(x), y), list(params.values()), allow_unused=True)
            for name, g in zip(params, grads, strict=True):
                if g is not None:
                    total[name] += g
    return {name: g / n for name, g in total.items()}


def gradient_magnitudes(model: nn.Module, data: TensorData, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """``|∇θ mean CE(data)|`` per trainable parameter (the mean over examples, unaugmented)."""
    return {name: g.abs() for name, g in loss_gradient(model, data, batch_size).items()}


def summed_batch_gradients(
    model: nn.Module,
    data: TensorData,
    batch_size: int = 256,
    *,
    augment: bool = False,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Sum over minibatches of the gradient of each minibatch's *mean* cross-entropy (eval mode).

    SalUn's saliency accumulates ``∇θ mean CE(batch)`` over one pass of its shuffled, augmented forget
    loader, so the examples of a partial last batch weigh more than the others. With a ``generator`` the
    batches are drawn in a random order from it (and augmented with it when ``augment``); without one,
    in data order. Equal batches give ``len(data) / batch_size`` times :func:`loss_gradient`.
    """
    params = trainable(model)
    total = {name: torch.zeros_like(p) for name, p in params.items()}
    if len(data) == 0:
        return total
    batches = data.batches(batch_size, shuffle=generator is not None, augment=augment, generator=generator)
    with evaluation_mode(model), _grads_preserved(params):
        for x, y in batches:
            loss = nn.functional.cross_entropy(model(x), y)
            grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
            for name, g in zip(params, grads, strict=True):
                if g is not None:
                    total[name] += g
    return total


def squared_batch_gradients(
    model: nn.Module, data: TensorData, batch_size: int = 128
) -> dict[str, torch.Tensor]:
    """Mean over minibatches (in data order) of the squared gradient of the minibatch's mean cross-entropy.

    This is the importance SSD's reference code calls the diagonal Fisher: it squares *minibatch*
    gradients, so its scale depends on ``batch_size``; compare two estimates only at the same batch size.
    """
    params = trainable(model)
    total = {name: torch.zeros_like(p) for name, p in params.items()}
    batches = 0
    with evaluation_mode(model), _grads_preserved(params):
        for x, y in data.batches(batch_size):
            loss = nn.functional.cross_entropy(model(x), y)
            grads = torch.autograd.grad(loss, list(params.values()), allow_unused=True)
            for name, g in zip(params, grads, strict=True):
                if g is not None:
                    total[name] += g.pow(2)
            batches += 1
    return {name: t / max(batches, 1) for name, t in total.items()}


def _functional(model: nn.Module) -> tuple[dict[str, torch.Tensor], Callable[..., torch.Tensor]]:
    """Detached trainable parameters and ``f(params, x) -> logits`` of one example ``x`` (C, H, W)."""
    params = {name: p.detach() for name, p in trainable(model).items()}
    frozen = {name: p.detach() for name, p in model.named_parameters() if name not in params}
    buffers = dict(model.named_buffers())

    def logits_of(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        out = torch.func.functional_call(model, {**frozen, **buffers, **p}, (x.unsqueeze(0),))
        return out.squeeze(0)

    return params, logits_of


def _chunk(per_example_floats: int, chunk_floats: int) -> int:
    """How many examples fit in one chunk of at most ``chunk_floats`` floats (at least one)."""
    return max(1, chunk_floats // max(per_example_floats, 1))


def per_example_gradients(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, chunk_floats: int = DEFAULT_CHUNK_FLOATS
) -> torch.Tensor:
    """Flat gradients of each example's cross-entropy, shape (B, P) over the trainable parameters.

    Computed in eval mode with ``torch.func`` (a vmap over examples, chunked to bound memory); ``x`` is
    already normalised. Row ``i`` equals the gradient of ``CE(model(x[i:i+1]), y[i:i+1])``.
    """
    with evaluation_mode(model):
        params, logits_of = _functional(model)

        def loss(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
            return nn.functional.cross_entropy(logits_of(p, xi).unsqueeze(0), yi.unsqueeze(0))

        per_example = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0, 0))
        size = _chunk(sum(p.numel() for p in params.values()), chunk_floats)
        rows = []
        for start in range(0, x.shape[0], size):
            grads = per_example(params, x[start : start + size], y[start : start + size])
            rows.append(torch.cat([g.reshape(g.shape[0], -1) for g in grads.values()], dim=1))
    if not rows:
        return torch.zeros(0, sum(p.numel() for p in params.values()), device=x.device)
    return torch.cat(rows)


def diagonal_fisher(
    model: nn.Module,
    data: TensorData,
    kind: FisherKind = "true",
    order: torch.Tensor | None = None,
    max_examples: int | None = None,
    time_budget: float | None = None,
    chunk_floats: int = DEFAULT_CHUNK_FLOATS,
) -> tuple[dict[str, torch.Tensor], int]:
    """Diagonal Fisher information per trainable parameter, averaged over examples; also the count used.

    - ``kind="true"``: ``mean_x Σ_k p(k|x) (∂θ log p(k|x))²``, the expectation under the model's own
      predictive distribution, computed exactly over the classes (Golatkar et al.'s estimate).
    - ``kind="empirical"``: ``mean_x (∂θ log p(y|x))²`` with the true label ``y``.

    Per-example gradients (not minibatch gradients) are squared. Examples are visited in ``order``
    (default: data order), at most ``max_examples`` of them; with a ``time_budget`` (seconds) the
    estimate stops after the chunk that exceeds it and averages over the examples seen so far, so pass
    a shuffled ``order`` when a budget may cut it short.
    """
    params_live = trainable(model)
    total = {name: torch.zeros_like(p) for name, p in params_live.items()}
    index = _visit_order(data, order, max_examples)
    seen = 0
    start_time = time.perf_counter()
    with evaluation_mode(model):
        params, logits_of = _functional(model)
        accumulate, size = _fisher_accumulator(model, data, kind, params, logits_of, chunk_floats)
        for begin in range(0, int(index.numel()), size):
            idx = index[begin : begin + size]
            x = data.normalise(data.x.index_select(0, idx))
            accumulate(x, idx, total)
            seen += int(idx.numel())
            if time_budget is not None and time.perf_counter() - start_time > time_budget:
                break
    return {name: t / max(seen, 1) for name, t in total.items()}, seen


#: Adds a chunk's squared gradients, summed over its examples, into the running totals:
#: ``accumulate(normalised x, indices into data, totals by parameter name)``.
_Accumulate = Callable[[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]], None]


def _visit_order(data: TensorData, order: torch.Tensor | None, max_examples: int | None) -> torch.Tensor:
    """Indices of the examples to visit, on the data's device: ``order`` (default data order), capped."""
    index = order if order is not None else torch.arange(len(data))
    if max_examples is not None:
        index = index[: max(int(max_examples), 0)]
    return index.to(data.device)


def _fisher_accumulator(
    model: nn.Module,
    data: TensorData,
    kind: FisherKind,
    params: dict[str, torch.Tensor],
    logits_of: Callable[..., torch.Tensor],
    chunk_floats: int,
) -> tuple[_Accumulate, int]:
    """The chunk update of ``kind``'s Fisher and the examples per chunk; ValueError for an unknown kind."""
    num_params = sum(p.numel() for p in params.values())
    if kind == "true":
        return _true_fisher_accumulator(model, data, params, logits_of, num_params, chunk_floats)
    if kind == "empirical":
        return _empirical_fisher_accumulator(data, params, logits_of, num_params, chunk_floats)
    raise ValueError(f"unknown Fisher kind {kind!r}; use 'true' or 'empirical'")


def _true_fisher_accumulator(
    model: nn.Module,
    data: TensorData,
    params: dict[str, torch.Tensor],
    logits_of: Callable[..., torch.Tensor],
    num_params: int,
    chunk_floats: int,
) -> tuple[_Accumulate, int]:
    """``Σ_k p(k|x) (∂θ log p(k|x))²`` per chunk, from the Jacobian of the log-probabilities over classes."""

    def log_probs(p: dict[str, torch.Tensor], xi: torch.Tensor) -> torch.Tensor:
        return nn.functional.log_softmax(logits_of(p, xi), dim=-1)

    jacobian = torch.func.vmap(torch.func.jacrev(log_probs), in_dims=(None, 0))
    with torch.no_grad():
        classes = int(model(data.normalise(data.x[:1])).shape[1]) if len(data) else 1

    def accumulate(x: torch.Tensor, idx: torch.Tensor, total: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            probs = nn.functional.softmax(model(x), dim=-1)  # (B, K)
        jac = jacobian(params, x)  # name -> (B, K, *shape)
        for name, j in jac.items():
            weights = probs.view(*probs.shape, *([1] * (j.dim() - 2)))
            total[name] += (weights * j.pow(2)).sum(dim=(0, 1))

    return accumulate, _chunk(num_params * classes, chunk_floats)


def _empirical_fisher_accumulator(
    data: TensorData,
    params: dict[str, torch.Tensor],
    logits_of: Callable[..., torch.Tensor],
    num_params: int,
    chunk_floats: int,
) -> tuple[_Accumulate, int]:
    """``(∂θ log p(y|x))²`` per chunk with the true labels ``y``, from vmapped per-example gradients."""

    def label_loss(p: dict[str, torch.Tensor], xi: torch.Tensor, yi: torch.Tensor) -> torch.Tensor:
        # −log p(y|x): its square is that of ∂ log p(y|x).
        return nn.functional.cross_entropy(logits_of(p, xi).unsqueeze(0), yi.unsqueeze(0))

    label_grad = torch.func.vmap(torch.func.grad(label_loss), in_dims=(None, 0, 0))

    def accumulate(x: torch.Tensor, idx: torch.Tensor, total: dict[str, torch.Tensor]) -> None:
        grads = label_grad(params, x, data.y.index_select(0, idx))
        for name, g in grads.items():
            total[name] += g.pow(2).sum(dim=0)

    return accumulate, _chunk(num_params, chunk_floats)


@dataclass(frozen=True)
class FisherEstimate:
    """A diagonal Fisher with the number of examples it averages and the seconds its computation took."""

    fisher: dict[str, torch.Tensor]
    examples: int
    seconds: float
    #: True when the estimate came from the in-process memo rather than being computed by this call.
    reused: bool = False


#: Complete Fisher estimates of this process, most recent last (see :func:`memoised_fisher`).
_FISHER_MEMO: OrderedDict[str, FisherEstimate] = OrderedDict()
_FISHER_MEMO_SIZE = 2


def _digest(*parts: object) -> str:
    """sha256 over tensors' bytes (moved to the CPU) and the ``repr`` of anything else."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, torch.Tensor):
            t = part.detach().to("cpu").contiguous()
            h.update(f"{t.dtype}{tuple(t.shape)}".encode())
            h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        else:
            h.update(repr(part).encode())
    return h.hexdigest()


def memoised_fisher(
    model: nn.Module,
    data: TensorData,
    kind: FisherKind = "true",
    order: torch.Tensor | None = None,
    max_examples: int | None = None,
    time_budget: float | None = None,
) -> FisherEstimate:
    """:func:`diagonal_fisher`, reused within the process when the same model and data come back.

    The Fisher of the original model on the retain set is the same for every grid point and replicate
    of a method that only changes what is done with it, and it can dominate the method's cost. The key
    covers the model's full state (parameters and buffers, with which of them are trainable), the data,
    ``kind`` and the examples visited; only complete estimates (not cut short by ``time_budget``) are
    kept. A reused estimate reports the seconds its computation originally took, so the caller can
    charge the real cost.
    """
    index = order if order is not None else torch.arange(len(data))
    if max_examples is not None:
        index = index[: max(int(max_examples), 0)]
    state = model.state_dict()
    key = _digest(
        kind, sorted(trainable(model)), *(x for pair in sorted(state.items()) for x in pair),
        data.x, data.y, data.mean, data.std, index,
    )  # fmt: skip
    hit = _FISHER_MEMO.get(key)
    if hit is not None:
        _FISHER_MEMO.move_to_end(key)
        return FisherEstimate({k: v.clone() for k, v in hit.fisher.items()}, hit.examples, hit.seconds, True)
    start = time.perf_counter()
    fisher, seen = diagonal_fisher(model, data, kind=kind, order=index, time_budget=time_budget)
    estimate = FisherEstimate(fisher, seen, time.perf_counter() - start)
    if seen == int(index.numel()):
        _FISHER_MEMO[key] = FisherEstimate({k: v.clone() for k, v in fisher.items()}, seen, estimate.seconds)
        while len(_FISHER_MEMO) > _FISHER_MEMO_SIZE:
            _FISHER_MEMO.popitem(last=False)
    return estimate


def clear_fisher_memo() -> None:
    """Forget every memoised Fisher estimate (tests, or to free memory)."""
    _FISHER_MEMO.clear()


def global_top_mask(scores: Mapping[str, torch.Tensor], fraction: float) -> dict[str, torch.Tensor]:
    """Boolean masks selecting the ``floor(fraction · P)`` largest scores over all tensors together.

    One hard threshold over every entry of every tensor (not per tensor); ties are broken by position,
    so exactly that many entries are selected and the result is deterministic.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must lie in [0, 1], got {fraction}")
    flat = flatten(scores)
    keep = int(math.floor(flat.numel() * fraction))
    chosen = torch.zeros(flat.numel(), dtype=torch.bool, device=flat.device)
    if keep > 0:
        order = torch.argsort(flat, descending=True, stable=True)
        chosen[order[:keep]] = True
    return {name: m.clone() for name, m in unflatten(chosen, scores).items()}
