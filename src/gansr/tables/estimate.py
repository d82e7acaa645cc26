"""GPU-hour estimate of a table's paper schedule: counted FLOPs per iteration and an assumed throughput."""
from __future__ import annotations

from pathlib import Path

from gansr.tables.plan import paper_runs
from gansr.tables.spec import REPO_DIR, TableSpec

#: assumed sustained training throughput (FLOP/s): H100/H200 bf16, ~15-20 % of dense peak. An assumption.
DEFAULT_THROUGHPUT = 150e12


def iteration_flops(cfg, batch_size: int | None = None) -> int:
    """FLOPs (torch.utils.flop_counter) of one training iteration of ``instantiate(cfg.module)`` on a batch of
    ``cfg.data`` size: G forward, losses, D steps and backward passes as the module's ``training_step`` runs them
    (frozen parts get no weight gradients). On the meta device nothing is computed; optimizer updates not counted."""
    import torch
    from hydra.utils import instantiate
    from torch.utils.flop_counter import FlopCounterMode

    batch = batch_size or int(cfg.data.batch_size)
    hr_size = int(cfg.data.patch_size)
    with torch.device("meta"):
        module = instantiate(cfg.module)
        data = {"lr": torch.rand(batch, 3, hr_size // cfg.scale, hr_size // cfg.scale), "hr": torch.rand(batch, 3, hr_size, hr_size)}
    module.train()
    trainable = {id(p): p.requires_grad for p in module.parameters()}

    class _Optimizer:
        def __init__(self, params):
            self.param_groups = [{"params": list(params)}]

        def zero_grad(self, set_to_none: bool = True) -> None:
            pass

    def toggle(optimizer) -> None:
        owned = {id(p) for p in optimizer.param_groups[0]["params"]}
        for p in module.parameters():
            p.requires_grad_(trainable[id(p)] and id(p) in owned)

    def untoggle(optimizer=None) -> None:
        for p in module.parameters():
            p.requires_grad_(trainable[id(p)])

    def step(optimizer, terms, parameters, prefix) -> None:
        torch.stack(list(terms.values())).sum().backward()

    if hasattr(module, "discriminator_parameters"):
        optimizers = (_Optimizer(module.generator_parameters()), _Optimizer(module.discriminator_parameters()))
    else:
        optimizers = _Optimizer(module.generator_parameters())
    stubs = {"optimizers": lambda *a, **k: optimizers, "toggle_optimizer": toggle, "untoggle_optimizer": untoggle,
             "step_optimizer": step, "finish_iteration": lambda: None, "log": lambda *a, **k: None,
             "log_dict": lambda *a, **k: None}
    for name, fn in stubs.items():
        object.__setattr__(module, name, fn)
    with FlopCounterMode(display=False) as counter:
        module.training_step(data, 0)
    return int(counter.get_total_flops())


def gpu_hours(flops_per_iteration: float, iterations: int, throughput: float = DEFAULT_THROUGHPUT) -> float:
    """Estimated GPU-hours: counted FLOPs x iterations / assumed sustained FLOP/s."""
    return flops_per_iteration * iterations / throughput / 3600.0


def estimate_costs(table: TableSpec, throughput: float = DEFAULT_THROUGHPUT, rows: list[str] | None = None,
                   cache_dir: Path | None = None) -> tuple[list[dict[str, object]], Path]:
    """One entry per :func:`paper_runs` run (the rows and their PSNR pre-training stages); writes ``cost.md``."""
    from gansr.cli import compose_config

    compose_dir = Path(cache_dir or REPO_DIR / ".cache") / "compose"
    out = []
    for run in paper_runs(table, rows):
        cfg = compose_config(run.hydra_overrides, compose_dir)
        if cfg.get("loss") is not None and cfg.loss.get("perceptual"):
            cfg.loss.perceptual.pretrained = False  # FLOPs only: the VGG19 weights file is not needed
        flops = iteration_flops(cfg)
        iterations = int(cfg.trainer.max_steps)
        out.append({"row": run.label, "preset": run.preset + (f" (trainer.max_steps={run.max_steps})" if run.max_steps else ""),
                    "iterations": iterations, "batch": int(cfg.data.batch_size), "patch": int(cfg.data.patch_size),
                    "tflop_per_iteration": flops / 1e12, "gpu_hours": gpu_hours(flops, iterations, throughput)})
    total = sum(e["gpu_hours"] for e in out)
    label = ("estimate from counted FLOPs and an assumed throughput, not measured on a GPU: "
             f"FLOPs of one training iteration counted with torch.utils.flop_counter on the meta device "
             f"(forward + backward of G, D and the VGG loss; optimizer updates, data loading and validation not counted), "
             f"x iterations / {throughput / 1e12:g} TFLOP/s assumed sustained (e.g. H100/H200 bf16)")
    lines = [f"# GPU-hour estimate: {table.title}", "", f"**{label}**", "",
             "| row | preset | iterations | batch | patch (HR) | TFLOP/iteration | estimated GPU-hours |", "|---|---|---|---|---|---|---|"]
    lines += [f"| {e['row']} | {e['preset']} | {e['iterations']:,} | {e['batch']} | {e['patch']} | "
              f"{e['tflop_per_iteration']:.2f} | {e['gpu_hours']:.2f} |" for e in out]
    lines += [f"| **total** | | | | | | **{total:.1f}** |", "",
              (f"Written by `python -m gansr.tables --table {table.name} --estimate --throughput {throughput:g}`. "
               "Pre-training stages are the presets' `pretrain` values (counted once per table, as "
               "`python -m gansr.tables --scale paper` runs them); rows without one train from scratch.")]
    path = table.folder / "cost.md"
    path.write_text("\n".join(lines) + "\n")
    return out, path
