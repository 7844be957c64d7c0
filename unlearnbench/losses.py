"""Loss functions shared by methods (distillation, soft targets, entropy)."""

from __future__ import annotations

import torch
from torch import nn


def kd_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Hinton et al. (2015) distillation: T² · KL(softmax(teacher/T) ‖ softmax(student/T)), batch mean."""
    t = float(temperature)
    log_p_student = nn.functional.log_softmax(student_logits / t, dim=1)
    log_p_teacher = nn.functional.log_softmax(teacher_logits.detach() / t, dim=1)
    kl = nn.functional.kl_div(log_p_student, log_p_teacher, reduction="batchmean", log_target=True)
    return kl * (t * t)


def soft_cross_entropy(logits: torch.Tensor, target_probs: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against a probability vector per example, batch mean."""
    return -(target_probs * nn.functional.log_softmax(logits, dim=1)).sum(dim=1).mean()


def entropy(logits: torch.Tensor) -> torch.Tensor:
    """Per-example entropy (nats) of softmax(logits)."""
    log_p = nn.functional.log_softmax(logits, dim=1)
    return -(log_p.exp() * log_p).sum(dim=1)
