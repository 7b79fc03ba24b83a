"""Loss functions as plain, separately testable functions.

Conventions: images are in [0, 1]; decoders output *logits*; a reconstruction loss is
summed over pixels and averaged over the batch, i.e. in nats per image.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def bernoulli_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of ``x`` under Bernoulli pixels with ``logits``: nats per image (batch mean)."""
    n = len(x)
    return F.binary_cross_entropy_with_logits(logits.reshape(n, -1), x.reshape(n, -1), reduction="sum") / n
