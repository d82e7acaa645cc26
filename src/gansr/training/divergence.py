"""Divergence guard: a non-finite loss term or gradient stops the run (default) or skips the batch.

The check costs one device-to-host read per optimizer step (the stacked loss terms and the gradient norm are
tested together), never one per loss term.
"""
from __future__ import annotations

from collections.abc import Iterable

import torch

POLICIES = ("stop", "skip")


class DivergenceError(RuntimeError):
    """Raised when a loss term or gradient is NaN/Inf and the policy is 'stop'."""


def check_finite(module, terms: dict[str, torch.Tensor], parameters: Iterable[torch.nn.Parameter] | None = None) -> bool:
    """True when every loss term (and, if given, the gradient norm of ``parameters``) is finite.

    Otherwise, with ``module.on_nonfinite == "stop"``, raise :class:`DivergenceError` naming the terms and the
    iteration (the last checkpoint on disk is the last good one: nothing is saved on the way out); with
    ``"skip"`` warn, count the skip and return False so the caller drops the batch.
    """
    values = [t.detach().float().reshape(()) for t in terms.values()]
    if parameters is not None:
        grads = [p.grad for p in parameters if p.grad is not None]
        if grads:
            values.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])))
    finite = torch.isfinite(torch.stack(values))
    if bool(finite.all()):
        return True
    names = list(terms) + (["gradient"] if len(values) > len(terms) else [])
    bad = ", ".join(f"{name}={values[i].item()}" for i, name in enumerate(names) if not bool(finite[i]))
    message = f"non-finite value at iteration {module.iteration}: {bad}"
    if module.on_nonfinite == "skip":
        module.skipped_batches += 1
        module.print(f"[gansr] {message}; batch skipped (on_nonfinite=skip, {module.skipped_batches} so far)")
        return False
    raise DivergenceError(
        f"{message}. The run stopped; the last checkpoint on disk is the last good one. "
        "Lower the learning rate or set module.on_nonfinite=skip to drop such batches."
    )
