"""Divergence guard: a non-finite loss term or gradient stops the run (default) or skips the batch.

``check_finite`` costs one device-to-host read per optimizer step (the stacked loss terms and the gradient norm
are tested together), never one per loss term; ``DeferredFiniteCheck`` keeps the flags on the device and reads
them every ``speed.finite_check_interval`` iterations (GPU runs).
"""
from __future__ import annotations

from collections.abc import Iterable

import torch

POLICIES = ("stop", "skip")


class DivergenceError(RuntimeError):
    """Raised when a loss term or gradient is NaN/Inf and the policy is 'stop'."""


def _named_values(terms: dict[str, torch.Tensor], parameters: Iterable[torch.nn.Parameter] | None) -> tuple[list[str], torch.Tensor]:
    """Loss terms (and the gradient norm of ``parameters``, named "gradient") as names and one ``(n,)`` tensor."""
    names = list(terms)
    values = [t.detach().float().reshape(()) for t in terms.values()]
    if parameters is not None:
        grads = [p.grad for p in parameters if p.grad is not None]
        if grads:
            names.append("gradient")
            values.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads])))
    return names, torch.stack(values)


def _stop_or_skip(module, message: str) -> bool:
    if module.on_nonfinite == "skip":
        module.skipped_batches += 1
        module.print(f"[gansr] {message}; batch skipped (on_nonfinite=skip, {module.skipped_batches} so far)")
        return False
    raise DivergenceError(
        f"{message}. The run stopped; the last checkpoint on disk is the last good one. "
        "Lower the learning rate or set module.on_nonfinite=skip to drop such batches."
    )


def check_finite(module, terms: dict[str, torch.Tensor], parameters: Iterable[torch.nn.Parameter] | None = None) -> bool:
    """True when every loss term (and, if given, the gradient norm of ``parameters``) is finite.

    Otherwise, with ``module.on_nonfinite == "stop"``, raise :class:`DivergenceError` naming the terms and the
    iteration (the last checkpoint on disk is the last good one: nothing is saved on the way out); with
    ``"skip"`` warn, count the skip and return False so the caller drops the batch.
    """
    names, values = _named_values(terms, parameters)
    finite = torch.isfinite(values)
    if bool(finite.all()):
        return True
    bad = ", ".join(f"{name}={values[i].item()}" for i, name in enumerate(names) if not bool(finite[i]))
    return _stop_or_skip(module, f"non-finite value at iteration {module.iteration}: {bad}")


class DeferredFiniteCheck:
    """The divergence guard without a host sync per step (``speed.finite_check_interval > 1``, policy "stop").

    ``record`` keeps, on the device, the first iteration at which each term (or gradient) was non-finite;
    ``raise_if_nonfinite`` reads them (one sync) and raises :class:`DivergenceError` naming the terms and that
    iteration. The module calls it every ``finite_check_interval`` iterations and before writing a checkpoint,
    so no checkpoint holds weights updated from a non-finite step.
    """

    def __init__(self) -> None:
        self.first_bad: dict[str, torch.Tensor] = {}

    def record(self, prefix: str, terms: dict[str, torch.Tensor], parameters: Iterable[torch.nn.Parameter], iteration: int) -> None:
        names, values = _named_values(terms, parameters)
        for name, value in zip(names, values):
            key = f"{prefix}/{name}"
            first = self.first_bad.get(key)
            if first is None:
                first = torch.full((), -1, dtype=torch.long, device=value.device)
            self.first_bad[key] = torch.where((first < 0) & ~torch.isfinite(value), iteration, first)

    def raise_if_nonfinite(self, module) -> None:
        if not self.first_bad:
            return
        firsts = torch.stack(list(self.first_bad.values())).tolist()
        bad = {name: it for name, it in zip(self.first_bad, firsts) if it >= 0}
        if bad:
            first = min(bad.values())
            names = ", ".join(name for name, it in bad.items() if it == first)
            _stop_or_skip(module, f"non-finite {names} first at iteration {first} (checked at iteration {module.iteration}, "
                                  f"speed.finite_check_interval={module.finite_check_interval})")
