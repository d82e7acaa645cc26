"""h. ``gansr-train`` end to end on a folder dataset (issue 12 items 5 and 7), in a subprocess as a user runs it.

    python benchmarks/endtoend.py speed --out gpu_check.json --hr-dir HR [--lr-cache DIR] [--iterations 300] [--compile]
    python benchmarks/endtoend.py learn --out gpu_check.json --hr-dir HR --data-dir DIR [--minutes 3] [--val-every 500]

``speed``: ``experiment=esrgan trainer=gpu data=folder``, validation and checkpoints off, VGG19 random-init: the
median seconds between consecutive batch starts (the step plus data loading, logging and Lightning's per-batch
work), after the first 20 iterations, next to the bare step of ``benchmarks/presets.py`` when the same JSON has it.

``learn``: ``experiment=esrgan_psnr trainer=gpu data=folder`` for ``--minutes`` (``trainer.max_time``), Set5 PSNR-Y
(under ``--data-dir``) every ``--val-every`` iterations: the curve (iteration, PSNR-Y) from the run's metrics.csv
and the iterations per second. The Set5 bicubic PSNR-Y is 28.42 dB (issue 12; ``gansr-eval`` bicubic row).
With ``--precision P --max-iterations N`` it trains exactly N iterations in ``trainer.precision=P`` instead (stored
under ``endtoend_learn_<P>``): ``benchmarks/gpu_check.sh`` stage ``precision`` runs it for 32-true (with TF32, the
tables' default) and bf16-mixed on the same preset, seed and data, and compares the Set5 PSNR-Y curves (issue 20
item 4, docs/tables.md).

``--cpu-smoke`` shrinks the networks and runs a few iterations on the CPU (``benchmarks/gpu_check.sh --cpu-smoke``).
Every figure lands in ``--out`` under ``endtoend_<mode>``; the run's stdout tail too when it fails.
"""
from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, device_name, read_json, update_json

TINY = ["generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4", "discriminator.num_feat=4",
        "data.patch_size=32", "data.batch_size=2", "data.num_workers=0", "trainer=cpu"]
WARMUP = 20


def gansr_train(overrides: list[str], workdir: Path, timeout: float | None) -> tuple[int, str, float]:
    """Runs ``python -m gansr.cli.train`` with ``benchmarks/`` importable (for the timer callback)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT / "benchmarks"), env.get("PYTHONPATH", "")])
    env.setdefault("PYTHONUNBUFFERED", "1")
    command = [sys.executable, "-m", "gansr.cli.train", *overrides, f"paths.root_dir={workdir}", "run_name=bench",
               "+callbacks.timer._target_=common.IterationTimer", f"+callbacks.timer.path={workdir / 'timer.json'}"]
    start = time.perf_counter()
    done = subprocess.run(command, check=False, env=env, capture_output=True, text=True, timeout=timeout)
    return done.returncode, (done.stdout + done.stderr)[-4000:], time.perf_counter() - start


def metrics_rows(workdir: Path) -> list[dict]:
    found = sorted((workdir / "outputs").rglob("metrics.csv"))
    if not found:
        return []
    with found[-1].open() as f:
        return list(csv.DictReader(f))


def timer_figures(workdir: Path, skip: int) -> dict:
    timer = read_json(workdir / "timer.json")
    intervals = timer.get("intervals", [])[skip:]
    steps = timer.get("seconds", [])[skip:]
    out = {"iterations_run": len(timer.get("seconds", []))}
    if intervals:
        out.update(seconds_per_iteration=statistics.median(intervals), iterations_per_s=1 / statistics.median(intervals),
                   step_seconds=statistics.median(steps))
    return out


def speed(args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="gansr_e2e_"))
    iterations = args.iterations
    overrides = ["experiment=esrgan", "trainer=gpu", "data=folder", f"data.train.hr_dir={args.hr_dir}",
                 "data.train.repeat=100", "data.val=[]", "loss.perceptual.pretrained=false", "logger=csv",
                 f"trainer.max_steps={iterations}", "trainer.val_check_interval=1000000",
                 "callbacks.checkpoint.every_n_iterations=1000000", "trainer.enable_progress_bar=false"]
    if args.lr_cache:
        overrides.append(f"data.train.lr_cache_dir={args.lr_cache}")
    if args.compile:
        overrides.append("speed.compile=true")
    overrides += TINY if args.cpu_smoke else ["data.num_workers=12"]
    code, tail, wall = gansr_train(overrides, workdir, args.timeout)
    out = {"command": "gansr-train " + " ".join(overrides), "returncode": code, "wall_s": wall, "device": device_name(),
           **timer_figures(workdir, 0 if args.cpu_smoke else WARMUP)}
    bare = read_json(Path(args.out)).get("presets", {}).get("esrgan", {})
    best = min((v["seconds_per_iteration"] for k, v in bare.items() if isinstance(v, dict) and "seconds_per_iteration" in v
                and not k.startswith("lightning")), default=None)
    if best and "seconds_per_iteration" in out:
        out["bare_best_seconds_per_iteration"] = best
        out["overhead_vs_bare_best_pct"] = 100 * (out["seconds_per_iteration"] / best - 1)
    if code != 0:
        out["output_tail"] = tail
    return out


def learn(args) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix="gansr_learn_"))
    overrides = ["experiment=esrgan_psnr", "trainer=gpu", "data=folder", f"data.train.hr_dir={args.hr_dir}",
                 "data.train.repeat=100", f"paths.data_dir={args.data_dir}", "logger=csv",
                 f"trainer.val_check_interval={args.val_every}", "callbacks.checkpoint.every_n_iterations=1000000",
                 "trainer.enable_progress_bar=false", f"trainer.log_every_n_steps={min(50, args.val_every)}"]
    if args.max_iterations:  # a fixed number of iterations (precision comparison), not a time budget
        overrides.append(f"trainer.max_steps={args.max_iterations}")
    else:
        overrides.append(f"+trainer.max_time=00:00:{int(args.minutes):02d}:{round(60 * (args.minutes % 1)):02d}")
    if args.precision:
        overrides.append(f"trainer.precision={args.precision}")
    if args.lr_cache:
        overrides.append(f"data.train.lr_cache_dir={args.lr_cache}")
    overrides += [*(o for o in TINY if not o.startswith("discriminator")), "trainer.max_steps=4"] if args.cpu_smoke else ["data.num_workers=12"]
    code, tail, wall = gansr_train(overrides, workdir, args.timeout)
    # metrics.csv's step is the training iteration (docs/logging.md), validation rows included
    curve = [{"iteration": int(float(r["step"])), "psnr_y": float(r["val/Set5/psnr_y"])}
             for r in metrics_rows(workdir) if r.get("val/Set5/psnr_y")]
    out = {"command": "gansr-train " + " ".join(overrides), "returncode": code, "wall_s": wall, "device": device_name(),
           "set5_psnr_y_curve": curve, "set5_bicubic_psnr_y": 28.42, **timer_figures(workdir, 0 if args.cpu_smoke else WARMUP)}
    if code != 0:
        out["output_tail"] = tail
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["speed", "learn"])
    parser.add_argument("--out", required=True)
    parser.add_argument("--hr-dir", required=True)
    parser.add_argument("--lr-cache")
    parser.add_argument("--data-dir", help="folder holding Set5/HR (learn)")
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--val-every", type=int, default=500)
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--precision", choices=["32-true", "bf16-mixed"], help="learn: trainer.precision")
    parser.add_argument("--max-iterations", type=int, help="learn: train this many iterations (no time budget)")
    parser.add_argument("--timeout", type=float)
    parser.add_argument("--cpu-smoke", action="store_true")
    args = parser.parse_args(argv)
    result = speed(args) if args.mode == "speed" else learn(args)
    key = f"endtoend_{args.mode}" + ("_compiled" if args.compile else "") + (f"_{args.precision}" if args.precision else "")
    update_json(Path(args.out), key, result)
    print({k: v for k, v in result.items() if k != "output_tail"})
    if result["returncode"] != 0:
        print(result.get("output_tail", ""))


if __name__ == "__main__":
    main()
