"""``adversarial``: a discriminator on logits plus distillation to the frozen original (CS354 course report).

The model is trained so that its logits on the forget set cannot be told apart from its logits on the
retain set by a small discriminator D, while knowledge distillation towards the frozen original model on
the retain set keeps what it knew:

    D(z)       = Linear(HS, 1)(LeakyReLU(0.2)(Linear(num_classes, HS)(z)))
    loss_D     = BCE(D(model(retain)), 1; class-matching weights) + BCE(D(model(forget)), 0)
    loss_model = T² · KL(softmax(original(retain) / T) ‖ softmax(model(retain) / T))
                 + strength · BCE(D(model(forget)), 1)

Both use Adam (betas 0.9, 0.999, no weight decay); D's learning rate ``disc_lr`` defaults to the model's
``lr``. Batches are not augmented (``augment=False``), as every unlearning step of the protocol.

Class matching. Each retain example in D's batch gets the weight ``w_c ∝ p_forget(c) / p_retain(c)`` of
its class, normalised to mean 1 over the retain batch, so the weighted retain batch has the forget
batch's class mix and D cannot separate the two sets by class alone. Retain classes absent from the
forget batch get weight 0 (their share in the forget mix is 0). When no retain example shares a class
with the forget batch (class-wise forgetting: the forget classes never occur in retain) there is no mix
to match, and the weights fall back to uniform.

Schedule (bounded and seeded). ``epochs`` passes over the forget set in batches of ``forget_batch_size``
give the number of model steps; every model step pairs one forget batch with one retain batch of
``retain_batch_size``. D first takes ``disc_warmup`` steps on its own, then ``disc_steps`` steps before
every model step. Batches come from streams shuffled by ``ctx.generator(offset)`` (separate streams for
the model's and D's forget and retain batches); D's initialisation and any dropout draw from a torch seed
derived from ``ctx.seed`` inside a forked RNG, so the same seed gives the same weights on CPU and the
global RNG is left as it was. The loop stops early, after the current step, once ``ctx.time_budget``
seconds have passed; the model is valid at every step.

BatchNorm. BN layers stay in eval mode throughout: they normalise with, and never update, the running
statistics learnt on the full training set. Hundreds of train-mode passes over the small forget set
would otherwise overwrite those statistics with forget-set statistics (a bug of the report's notebook),
and D would be trained on batch-statistics logits that differ from the logits seen at evaluation. The
affine BN parameters are still trained. Other layers (e.g. dropout) are in train mode.

What to expect. When the original model has memorised both sets equally (the usual random forget set),
their logits come from nearly the same distribution, D has little to separate, and the adversarial term
mostly perturbs the forget logits: forget loss rises a little, accuracy barely moves. When the forget
logits differ systematically (class-wise forgetting) D separates them easily and the model is pushed to
give forget examples retain-like (other-class) outputs, so forget accuracy collapses while distillation
holds the retain accuracy.

No "best state" is kept: the model after the bounded schedule is returned. A validation criterion such as
the distillation loss on held-out data rewards staying close to the original (i.e. not forgetting), and
D's accuracy depends on a discriminator that co-adapts with the model, so neither picks a model that has
forgotten more reliably than the schedule's end point.

Differences from the report's published notebook, which are bugs there and are not reproduced: it took
exactly one model step after D's warm-up (here: a full schedule), distilled from the model itself on the
same batch (zero gradient; here: the frozen ``ctx.original``), let BN running statistics drift (here:
frozen) and tracked a "best model" by reference rather than by copy (here: no best-state tracking).

Reference: the report published no code; the method is cited from its account in
``shared/docs/seed-protocol.md`` (section "Unlearning algorithm 2", lines 33-45) and the challenge's
starting kit (unlearning-challenge/starting-kit@901e784c, batch 128 loaders); ``fidelity`` lists the
sources of every default and what the report leaves open.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from unlearnbench.api import UnlearnContext
from unlearnbench.data.pipeline import TensorData
from unlearnbench.fidelity import Difference, Fidelity, Source
from unlearnbench.hookspec import hookimpl

# Generator offsets of the four batch streams (model forget/retain, discriminator forget/retain).
_MODEL_FORGET, _MODEL_RETAIN, _DISC_FORGET, _DISC_RETAIN = 0, 1, 2, 3
# Added to the replicate seed for the torch seed of D's initialisation and dropout.
_TORCH_SEED_OFFSET = 7919

# The report published no code; its method is cited from the project's account of it.
_PROTOCOL = "shared/docs/seed-protocol.md"
_METHODS = "shared/docs/methods-and-metrics.md"
_KIT = ("unlearning-challenge/starting-kit", "901e784c4243eee541a5748a075d132c1724f5ed")
_DIGITS = "digits, hidden_size 16, lr 4e-4, mean of 3 seeds"


class Discriminator(nn.Module):
    """The report's discriminator on logits: Linear(num_classes, HS) → LeakyReLU(0.2) → Linear(HS, 1)."""

    def __init__(self, num_classes: int, hidden_size: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(num_classes, hidden_size), nn.LeakyReLU(0.2), nn.Linear(hidden_size, 1)
        )

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        """One raw score per row (positive: "looks like retain")."""
        return self.net(logits).squeeze(-1)


def class_match_weights(retain_y: torch.Tensor, forget_y: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Per-retain-example weights that give the retain batch the forget batch's class mix.

    ``w_c = p_forget(c) / p_retain(c)`` for each class ``c`` of the retain batch, normalised so the
    weights average 1 over the retain batch; classes absent from the forget batch get 0. When the two
    batches share no class, the weights are uniform (all 1).
    """
    n_retain = int(retain_y.numel())
    if n_retain == 0:
        return torch.ones(0, device=retain_y.device)
    retain_counts = torch.bincount(retain_y, minlength=num_classes).float()
    forget_counts = torch.bincount(forget_y, minlength=num_classes).float()
    retain_share = retain_counts / n_retain
    forget_share = forget_counts / max(int(forget_y.numel()), 1)
    per_class = torch.where(
        retain_counts > 0, forget_share / retain_share.clamp_min(1e-12), torch.zeros_like(forget_share)
    )
    weights = per_class[retain_y]
    total = weights.sum()
    if float(total) <= 0.0:
        return torch.ones(n_retain, device=retain_y.device)
    return weights * (n_retain / total)


def distillation_loss(student: torch.Tensor, teacher: torch.Tensor, temperature: float) -> torch.Tensor:
    """``T² · KL(softmax(teacher / T) ‖ softmax(student / T))``, averaged over the batch."""
    t = float(temperature)
    log_p_student = nn.functional.log_softmax(student / t, dim=1)
    log_p_teacher = nn.functional.log_softmax(teacher / t, dim=1)
    kl = nn.functional.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * (t * t)


def discriminator_loss(
    disc: nn.Module,
    retain_logits: torch.Tensor,
    forget_logits: torch.Tensor,
    retain_weights: torch.Tensor,
) -> torch.Tensor:
    """BCE of D: weighted mean over retain (label 1) plus mean over forget (label 0)."""
    retain_scores = disc(retain_logits)
    forget_scores = disc(forget_logits)
    retain_term = nn.functional.binary_cross_entropy_with_logits(
        retain_scores, torch.ones_like(retain_scores), weight=retain_weights
    )
    forget_term = nn.functional.binary_cross_entropy_with_logits(
        forget_scores, torch.zeros_like(forget_scores)
    )
    return retain_term + forget_term


def set_batchnorm_eval(model: nn.Module) -> None:
    """Put every BatchNorm layer of ``model`` in eval mode (running statistics used, never updated)."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def _stream(
    data: TensorData, batch_size: int, generator: torch.Generator, augment: bool = False
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless shuffled batches of ``data``, reshuffled on every pass (augmented when ``augment``)."""
    while True:
        yield from data.batches(batch_size, shuffle=True, augment=augment, generator=generator)


def _positive_int(params: dict[str, Any], key: str, minimum: int = 1) -> int:
    """``params[key]`` as an int, checked to be at least ``minimum``."""
    value = int(params[key])
    if value < minimum:
        raise ValueError(f"adversarial: {key} must be >= {minimum}, got {params[key]!r}")
    return value


class Adversarial:
    """The CS354 course report's adversarial unlearning, with the notebook's bugs fixed."""

    name: ClassVar[str] = "adversarial"
    #: What ``unlearn`` reads from its context (checked by the runner: unlearnbench.runner.access).
    data_access: ClassVar[tuple[str, ...]] = ("retain", "forget", "original")
    description: ClassVar[str] = (
        "Discriminator on logits (forget vs retain) fooled by the model, plus distillation to the frozen "
        "original on retain (CS354 course report)"
    )
    defaults: ClassVar[dict[str, Any]] = {
        "hidden_size": 16,
        "lr": 4e-4,
        "disc_lr": None,  # None: the model's lr
        "temperature": 4.0,
        "strength": 0.5,
        "epochs": 5,
        "forget_batch_size": 128,
        "retain_batch_size": 128,
        "disc_warmup": 10,
        "disc_steps": 1,
        "weight_decay": 0.0,
        "augment": False,
    }
    grid: ClassVar[dict[str, list[Any]]] = {
        "hidden_size": [8, 16, 128],
        "lr": [4e-3, 4e-4, 4e-5],
    }
    fidelity: ClassVar[Fidelity] = Fidelity(
        paper="CS354 course report \"Machine Unlearning\", algorithm 2 (adversarial regularisation), as "
        "described in shared/docs/seed-protocol.md section 'Unlearning algorithm 2'; no public code",
        repository=None,
        commit=None,
        loop=(
            Source(_PROTOCOL, "34-36", note="D on logits, BCE retain 1 / forget 0, retain weighted to the forget mix"),
            Source(_PROTOCOL, "37-40", note="model: fool D + KD (T 4) to the frozen original; D's 10 steps first"),
        ),
        defaults={
            "hidden_size": Source(_METHODS, "14", value=16, note="HS 16; the report's first row (seed-protocol.md 76)"),
            "lr": Source(_PROTOCOL, "39", value=4e-4, note="Adam lr 4e-4"),
            "disc_lr": Source(
                _PROTOCOL, "39", value=None, note="one lr (4e-4) for both optimisers; None = the model's lr"
            ),
            "temperature": Source(_PROTOCOL, "38", value=4.0, note="temperature T = 4"),
            "strength": Source(_PROTOCOL, "39", value=0.5, note="loss = distill + 0.5 * adversarial"),
            "epochs": Source(
                _PROTOCOL, "41-42", value=None,
                note="ours: the report states no schedule; its notebook's single model step is a bug",
            ),
            "forget_batch_size": Source(
                "unlearning-CIFAR10.ipynb", "cell 3", value=128, note="the kit's forget_loader, batch_size=128",
                repository=_KIT[0], commit=_KIT[1],
            ),
            "retain_batch_size": Source(
                "unlearning-CIFAR10.ipynb", "cell 3", value=128, note="the kit's retain_loader, batch_size=128",
                repository=_KIT[0], commit=_KIT[1],
            ),
            "disc_warmup": Source(_PROTOCOL, "40", value=10, note="D takes 10 steps before the model's first step"),
            "disc_steps": Source(_PROTOCOL, "40", value=None, note="ours: one D step per model step after the warm-up"),
            "weight_decay": Source(
                _PROTOCOL, "39", value=0.0, note="Adam with betas and lr only: PyTorch's default weight decay 0"
            ),
            "augment": Source(_PROTOCOL, "15", value=False, note="no augmentation during unlearning"),
        },
        differences=(
            Difference(
                what="BatchNorm layers stay in eval mode while the model trains (running statistics used, never "
                "updated); the report does not say, and its notebook let them drift.",
                why="Many train-mode passes over the small forget set overwrite the running statistics with "
                "forget-set statistics (seed-protocol.md 43-44), and D would learn from batch-statistics logits "
                "that differ from those seen at evaluation.",
                effect=f"{_DIGITS}: 10 % random forget, BN frozen FA 1.000 / TA 0.974 / MIA 0.561, BN in train "
                "mode (patched for the measurement) FA 1.000 / TA 0.969 / MIA 0.536; --forget class:3, frozen "
                "FA 1.000 / TA 0.977 / MIA 0.487, train mode FA 0.730 / TA 0.910 / MIA 0.643.",
            ),
            Difference(
                what="No \"best model\" is kept: the model after the bounded schedule is returned.",
                why="The report's criterion needs a sound validation signal; the distillation loss rewards not "
                "forgetting and D's accuracy co-adapts with the model (and the notebook kept references, not "
                "copies, seed-protocol.md 44).",
                effect="Not measured: the report defines no criterion that could be run without the oracle.",
            ),
            Difference(
                what="Under class-wise forgetting the retain weights fall back to uniform.",
                why="No retain example shares a class with the forget batch, so the report's per-class "
                "re-weighting (seed-protocol.md 35-36) would give every retain example weight 0.",
                effect="Not measured: the report's weighting is undefined in that case.",
            ),
        ),
        paper_over_code=(
            "The report's notebook made exactly one model step after D's 10 warm-up steps, distilled from the "
            "model itself on the same batch (zero gradient), let BatchNorm statistics drift and kept its best "
            "model by reference (seed-protocol.md 41-45); the method follows the report's description "
            "(seed-protocol.md 33-40): a full schedule, distillation to the frozen original.",
        ),
    )

    def unlearn(self, model: nn.Module, ctx: UnlearnContext) -> nn.Module:
        """Run the bounded adversarial schedule on ``model`` in place and return it (in eval mode)."""
        params = {**self.defaults, **ctx.params}
        if len(ctx.forget) == 0:
            model.eval()
            return model
        if len(ctx.retain) == 0:
            raise ValueError("adversarial needs a non-empty retain set (distillation and D's positives)")
        settings = GameSettings.from_params(params)
        device = torch.device(ctx.device)
        model.to(device)
        forget = ctx.forget.to(device) if ctx.forget.device != device else ctx.forget
        retain = ctx.retain.to(device) if ctx.retain.device != device else ctx.retain
        model_steps = settings.epochs * math.ceil(len(forget) / settings.forget_batch_size)
        total = settings.warmup + settings.disc_steps * model_steps + model_steps
        start = time.perf_counter()

        def over_budget() -> bool:
            return ctx.time_budget is not None and time.perf_counter() - start > ctx.time_budget

        def report(done: int) -> None:
            if ctx.progress is not None:
                ctx.progress(self.name, done, total)

        devices = [device.index or 0] if device.type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(ctx.seed) + _TORCH_SEED_OFFSET)
            game = Game(model, ctx, settings, forget, retain, device)
            model.train()
            set_batchnorm_eval(model)
            try:
                done = play(game, model_steps, over_budget, report)
            finally:
                model.eval()
        report(done)
        return model


@dataclass(frozen=True)
class GameSettings:
    """The validated parameters of one adversarial run."""

    hidden_size: int
    epochs: int
    forget_batch_size: int
    retain_batch_size: int
    warmup: int
    disc_steps: int
    lr: float
    disc_lr: float
    temperature: float
    strength: float
    weight_decay: float
    augment: bool

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GameSettings:
        """Read and check the method's parameters (``disc_lr`` None: the model's ``lr``)."""
        lr = float(params["lr"])
        return cls(
            hidden_size=_positive_int(params, "hidden_size"),
            epochs=_positive_int(params, "epochs", minimum=0),
            forget_batch_size=_positive_int(params, "forget_batch_size"),
            retain_batch_size=_positive_int(params, "retain_batch_size"),
            warmup=_positive_int(params, "disc_warmup", minimum=0),
            disc_steps=_positive_int(params, "disc_steps", minimum=0),
            lr=lr,
            disc_lr=lr if params.get("disc_lr") is None else float(params["disc_lr"]),
            temperature=float(params["temperature"]),
            strength=float(params["strength"]),
            weight_decay=float(params["weight_decay"]),
            augment=bool(params["augment"]),
        )


class Game:
    """The two players: the model (distilled from the frozen original, fooling D) and the discriminator D.

    Built under the run's forked, seeded RNG: D's initial weights, then the two Adam optimisers (betas
    0.9, 0.999, the run's weight decay), then four independent batch streams with their own generators.
    """

    def __init__(
        self,
        model: nn.Module,
        ctx: UnlearnContext,
        settings: GameSettings,
        forget: TensorData,
        retain: TensorData,
        device: torch.device,
    ) -> None:
        self.model, self.original, self.num_classes = model, ctx.original, ctx.num_classes
        self.settings = settings
        self.disc = Discriminator(ctx.num_classes, settings.hidden_size).to(device)
        self.model_opt = torch.optim.Adam(
            [p for p in model.parameters() if p.requires_grad],
            lr=settings.lr,
            betas=(0.9, 0.999),
            weight_decay=settings.weight_decay,
        )
        self.disc_opt = torch.optim.Adam(
            self.disc.parameters(), lr=settings.disc_lr, betas=(0.9, 0.999), weight_decay=settings.weight_decay
        )
        augment = settings.augment
        self.model_forget = _stream(forget, settings.forget_batch_size, ctx.generator(_MODEL_FORGET), augment)
        self.model_retain = _stream(retain, settings.retain_batch_size, ctx.generator(_MODEL_RETAIN), augment)
        self.disc_forget = _stream(forget, settings.forget_batch_size, ctx.generator(_DISC_FORGET), augment)
        self.disc_retain = _stream(retain, settings.retain_batch_size, ctx.generator(_DISC_RETAIN), augment)

    def disc_step(self) -> None:
        """One step of D: retain logits are positives, forget logits negatives, classes matched."""
        xf, yf = next(self.disc_forget)
        xr, yr = next(self.disc_retain)
        with torch.no_grad():
            forget_logits = self.model(xf)
            retain_logits = self.model(xr)
        weights = class_match_weights(yr, yf, self.num_classes)
        self.disc_opt.zero_grad(set_to_none=True)
        discriminator_loss(self.disc, retain_logits, forget_logits, weights).backward()
        self.disc_opt.step()

    def model_step(self) -> None:
        """One step of the model: distil the original on retain data and make D call forget logits retain."""
        xf, _ = next(self.model_forget)
        xr, _ = next(self.model_retain)
        with torch.no_grad():
            teacher = self.original(xr)
        self.disc.requires_grad_(False)
        scores = self.disc(self.model(xf))
        fool = nn.functional.binary_cross_entropy_with_logits(scores, torch.ones_like(scores))
        loss = distillation_loss(self.model(xr), teacher, self.settings.temperature) + self.settings.strength * fool
        self.model_opt.zero_grad(set_to_none=True)
        loss.backward()
        self.model_opt.step()
        self.disc.requires_grad_(True)


def play(game: Game, model_steps: int, over_budget: Callable[[], bool], report: Callable[[int], None]) -> int:
    """D's warm-up, then ``model_steps`` rounds of ``disc_steps`` D steps and one model step; returns the steps.

    A budget spent during the warm-up leaves no time for model steps; ``report`` gets the step count after
    every epoch's worth of model steps.
    """
    settings = game.settings
    done = 0
    for _ in range(settings.warmup):
        if over_budget():
            break
        game.disc_step()
        done += 1
    planned = model_steps if done == settings.warmup else 0
    per_epoch = max(model_steps // max(settings.epochs, 1), 1)
    for step in range(planned):
        if over_budget():
            break
        for _ in range(settings.disc_steps):
            game.disc_step()
            done += 1
        game.model_step()
        done += 1
        if (step + 1) % per_epoch == 0:
            report(done)
    return done


@hookimpl
def unlearnbench_add_methods() -> list[type]:
    """Register the ``adversarial`` method."""
    return [Adversarial]
