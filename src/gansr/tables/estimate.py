"""GPU-hour estimate of a table's paper schedule: measured seconds per iteration per preset where the GPU benchmark
wrote them (``benchmarks/results.json``), else counted FLOPs per iteration and an assumed throughput."""
from __future__ import annotations

import json
from pathlib import Path

from gansr.tables.plan import paper_runs
from gansr.tables.spec import REPO_DIR, TableSpec
from gansr.utils.atomic import write_text_atomic

#: assumed sustained training throughput (FLOP/s): H100/H200 bf16, ~15-20 % of dense peak. An assumption.
DEFAULT_THROUGHPUT = 150e12
#: the GPU benchmark's output (``make bench`` / benchmarks/gpu_check.sh): ``{"iterations": {"<preset>":
#: {"seconds_per_iteration", "setting", "device", "batch_size", "date"}}}``
BENCHMARK_RESULTS = REPO_DIR / "benchmarks" / "results.json"


def measured_iterations(path: Path = BENCHMARK_RESULTS) -> dict[str, dict]:
    """``{preset: measurement}`` from the benchmark's JSON (its ``iterations`` entry); empty when the file or the
    entry is missing. Entries without a positive ``seconds_per_iteration`` are an error naming the file."""
    if not Path(path).is_file():
        return {}
    measured = json.loads(Path(path).read_text()).get("iterations") or {}
    for preset, entry in measured.items():
        if not isinstance(entry, dict) or not float(entry.get("seconds_per_iteration") or 0) > 0:
            raise ValueError(f"{path}: iterations.{preset} needs a positive seconds_per_iteration, got {entry!r}")
    return measured


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

    class _Optimizer:
        def __init__(self, params):
            self.param_groups = [{"params": list(params)}]

        def zero_grad(self, set_to_none: bool = True) -> None:
            pass

    def step(optimizer, terms, parameters, prefix) -> None:
        torch.stack(list(terms.values())).sum().backward()

    if hasattr(module, "discriminator_parameters"):
        optimizers = (_Optimizer(module.generator_parameters()), _Optimizer(module.discriminator_parameters()))
    else:
        optimizers = _Optimizer(module.generator_parameters())
    stubs = {"optimizers": lambda *a, **k: optimizers, "step_optimizer": step, "finish_iteration": lambda: None,
             "log": lambda *a, **k: None,
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
                   cache_dir: Path | None = None, benchmark: Path = BENCHMARK_RESULTS) -> tuple[list[dict[str, object]], Path]:
    """One entry per :func:`paper_runs` run (the rows and their PSNR pre-training stages); writes ``cost.md``.

    A run whose preset the benchmark measured (``benchmark``, :func:`measured_iterations`) at the run's batch size
    costs measured seconds per iteration x iterations; any other run counted FLOPs / ``throughput``. Each entry's
    ``source`` (a column of cost.md) says which."""
    from gansr.cli import compose_config

    compose_dir = Path(cache_dir or REPO_DIR / ".cache") / "compose"
    measured = measured_iterations(benchmark)
    out = []
    for run in paper_runs(table, rows):
        cfg = compose_config(run.hydra_overrides, compose_dir)
        if cfg.get("loss") is not None and cfg.loss.get("perceptual"):
            cfg.loss.perceptual.pretrained = False  # FLOPs only: the VGG19 weights file is not needed
        flops = iteration_flops(cfg)
        iterations, batch = int(cfg.trainer.max_steps), int(cfg.data.batch_size)
        hours, source = gpu_hours(flops, iterations, throughput), f"assumed {throughput / 1e12:g} TFLOP/s"
        entry = measured.get(run.preset)
        if entry is not None and int(entry.get("batch_size", batch)) == batch:
            hours = float(entry["seconds_per_iteration"]) * iterations / 3600.0
            source = (f"measured {float(entry['seconds_per_iteration']):.4g} s/iteration ({entry.get('device', '?')}, "
                      f"{entry.get('setting', '?')}, {entry.get('date', '?')})"
                      + (f"; not with this row's overrides {' '.join(run.overrides)}" if run.overrides else ""))
        elif entry is not None:
            source += f" (measured at batch {entry['batch_size']}, not {batch})"
        out.append({"row": run.label, "preset": run.preset + (f" (trainer.max_steps={run.max_steps})" if run.max_steps else ""),
                    "iterations": iterations, "batch": batch, "patch": int(cfg.data.patch_size),
                    "tflop_per_iteration": flops / 1e12, "gpu_hours": hours, "source": source})
    total = sum(e["gpu_hours"] for e in out)
    assumed = ("counted FLOPs and an assumed throughput, not measured on a GPU: "
               f"FLOPs of one training iteration counted with torch.utils.flop_counter on the meta device "
               f"(forward + backward of G, D and the VGG loss; optimizer updates, data loading and validation not "
               f"counted), x iterations / {throughput / 1e12:g} TFLOP/s assumed sustained (e.g. H100/H200 bf16)")
    kinds = {e["source"].startswith("measured") for e in out}
    label = ("estimate from " + assumed if kinds == {False} else
             f"estimate from seconds per iteration measured on a GPU by the benchmark ({Path(benchmark).name}) x "
             "iterations" + ("" if kinds == {True} else "; rows it did not measure: " + assumed))
    lines = [f"# GPU-hour estimate: {table.title}", "", f"**{label}**", "",
             "| row | preset | iterations | batch | patch (HR) | TFLOP/iteration | estimated GPU-hours | source |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {e['row']} | {e['preset']} | {e['iterations']:,} | {e['batch']} | {e['patch']} | "
              f"{e['tflop_per_iteration']:.2f} | {e['gpu_hours']:.2f} | {e['source']} |" for e in out]
    lines += [f"| **total** | | | | | | **{total:.1f}** | |", "",
              (f"Written by `python -m gansr.tables --table {table.name} --estimate --throughput {throughput:g}`. "
               "Pre-training stages are the presets' `pretrain` values (counted once per table, as "
               "`python -m gansr.tables --scale paper` runs them); rows without one train from scratch.")]
    path = table.folder / "cost.md"
    write_text_atomic(path, "\n".join(lines) + "\n")
    return out, path
