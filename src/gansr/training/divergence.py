"""Divergence guard: a non-finite loss term or gradient stops the run (default) or skips the batch.

The gradient is tested through one global norm computed with ``torch._foreach_norm`` (one multi-tensor kernel
per device and dtype, not one norm kernel per parameter tensor: RRDBNet alone has about 700 of them).
``check_finite`` reads that norm and the loss terms back together, one device-to-host read per optimizer step
(CPU runs); ``DeferredFiniteCheck`` keeps the flags on the device and reads them every
``speed.finite_check_interval`` iterations and before every checkpoint (GPU runs: no host sync per step).
Messages name the step (``g``: the generator step, ``d``: the discriminator step), the term and the iteration.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from gansr.utils.errors import GansrError

POLICIES = ("stop", "skip")
#: optimizer-step prefixes (``SRModule.step_optimizer``) and the step each names
STEP_NAMES = {"g": "G step", "d": "D step"}


class DivergenceError(GansrError, RuntimeError):
    """Raised when a loss term or gradient is NaN/Inf and the policy is 'stop'."""


def gradient_norm(parameters: Iterable[torch.nn.Parameter]) -> torch.Tensor | None:
    """Global L2 norm of the gradients of ``parameters`` (0-d, on their device), or None when none has a gradient.

    ``torch._foreach_norm`` launches one fused kernel per (device, dtype) group instead of one per tensor."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return None
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads)).float())


def _named_values(prefix: str, terms: dict[str, torch.Tensor],
                  parameters: Iterable[torch.nn.Parameter] | None) -> tuple[list[str], torch.Tensor]:
    """``<prefix>/<term>`` names (and ``<prefix>/gradient``) and their values as one ``(n,)`` tensor."""
    names = [f"{prefix}/{name}" for name in terms]
    values = [t.detach().float().reshape(()) for t in terms.values()]
    norm = gradient_norm(parameters) if parameters is not None else None
    if norm is not None:
        names.append(f"{prefix}/gradient")
        values.append(norm)
    return names, torch.stack(values)


def _step_of(name: str) -> str:
    return STEP_NAMES.get(name.split("/", 1)[0], "step")


def _stop_or_skip(module, message: str) -> bool:
    if module.on_nonfinite == "skip":
        module.skipped_batches += 1
        module.print(f"[gansr] {message}; batch skipped (on_nonfinite=skip, {module.skipped_batches} so far)")
        return False
    raise DivergenceError(
        f"{message}. The run stopped without saving (no checkpoint holds weights from a non-finite step). "
        "Lower the learning rate or set module.on_nonfinite=skip to drop such batches."
    )


def check_finite(module, prefix: str, terms: dict[str, torch.Tensor],
                 parameters: Iterable[torch.nn.Parameter] | None = None) -> bool:
    """True when every loss term of the ``prefix`` step (``"g"`` or ``"d"``) and, if given, the gradient norm of
    ``parameters`` are finite. One host read.

    Otherwise, with ``module.on_nonfinite == "stop"``, raise :class:`DivergenceError` naming the step, the terms and
    the iteration (1-based, as the log's ``[iter N]``; nothing is saved on the way out, so every checkpoint on disk
    is from before it: ``train()`` names the newest); with
    ``"skip"`` warn, count the skip and return False so the caller drops the batch.
    """
    names, values = _named_values(prefix, terms, parameters)
    host = values.tolist()
    bad = ", ".join(f"{name}={value}" for name, value in zip(names, host) if not math.isfinite(value))
    if not bad:
        return True
    # module.iteration counts the iterations done; this is the next one, as the log's [iter N] counts it
    return _stop_or_skip(module, f"non-finite value in the {_step_of(prefix)} at iteration {module.iteration + 1}: {bad}")


class DeferredFiniteCheck:
    """The divergence guard without a host sync per step (``speed.finite_check_interval > 1``, policy "stop").

    ``record`` keeps, on the device, the first iteration at which each term (or gradient) of a step was
    non-finite: a few element-wise kernels per optimizer step on one ``(n,)`` tensor, nothing read back.
    ``raise_if_nonfinite`` reads them all (one sync) and raises :class:`DivergenceError` naming the step, the terms
    and that iteration. The module calls it every ``finite_check_interval`` iterations and before writing a
    checkpoint, so no checkpoint holds weights updated from a non-finite step.
    """

    def __init__(self) -> None:
        self.first_bad: dict[tuple[str, ...], torch.Tensor] = {}  # names -> (n,) first bad iteration, -1 = none

    def record(self, prefix: str, terms: dict[str, torch.Tensor], parameters: Iterable[torch.nn.Parameter], iteration: int) -> None:
        names, values = _named_values(prefix, terms, parameters)
        key = tuple(names)
        first = self.first_bad.get(key)
        if first is None:
            first = torch.full(values.shape, -1, dtype=torch.long, device=values.device)
        self.first_bad[key] = torch.where((first < 0) & ~torch.isfinite(values), iteration, first)

    def raise_if_nonfinite(self, module) -> None:
        if not self.first_bad:
            return
        names = [name for key in self.first_bad for name in key]
        firsts = torch.cat(list(self.first_bad.values())).tolist()
        bad = {name: it for name, it in zip(names, firsts) if it >= 0}
        if bad:
            first = min(bad.values())
            which = ", ".join(f"{name} ({_step_of(name)})" for name, it in bad.items() if it == first)
            _stop_or_skip(module, f"non-finite {which} first at iteration {first} (checked at iteration {module.iteration}, "
                                  f"speed.finite_check_interval={module.finite_check_interval})")
