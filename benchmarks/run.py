"""gansr benchmarks (``make bench``): prints a table and writes ``benchmarks/results.json``.

    python benchmarks/run.py [--out benchmarks/results.json]
    python benchmarks/run.py --merge-iterations gpu_check.json   # per-preset GPU s/iteration -> results.json

The sections live by job in ``benchmarks/``: ``steps.py`` (a, b), ``inference.py`` (c, e, f), ``data.py`` (d),
``presets.py`` (g), ``endtoend.py`` (h); ``common.py`` holds timing and JSON helpers. ``benchmarks/gpu_check.sh``
runs g and h (and the CUDA sync test, and a 3-minute learning run) on a GPU machine within 8 minutes.

Sections (CPU sizes are cut so the run ends in a few minutes on 2 cores; the table says which):
  a. matmul peak: GFLOP/s of a square fp32 matmul (CPU) / bf16 matmul (CUDA).
  b. one ESRGAN training iteration (G step + D step, docs/methods.md §2.4) through the Lightning ``ESRGAN`` module vs
     the same step as a bare PyTorch loop (same modules, same losses): iterations/s (median of per-iteration
     times), effective GFLOP/s (FLOPs of one bare G+D step counted with ``torch.utils.flop_counter``) and
     Lightning's overhead, measured directly and as an absolute cost per iteration (tiny model, many iterations)
     relative to the paper-size step. Tiny (nf 8, 1 RRDB, HR 32) and paper size (nf 64, 23 RRDBs, VGG128 D,
     HR 128, batch 16; batch 2 on CPU). On CUDA both run with the ``speed=gpu`` settings (bf16 autocast,
     channels_last, deferred NaN check). The perceptual loss uses a randomly initialised VGG19
     (``pretrained=False``): same cost, no download.
  c. evaluation time of Set14 (bicubic SR) with psnr_y, ssim_y, niqe, from ../shared/data.
     LPIPS and Ma need pretrained weights that are not available offline and are left out.
  d. data loading: patches/s of the DIV2K sub-image pipeline (``SubImageDataset``, HR patch 128) in one worker
     (main process), on sub-images cut from BSDS200.
  e. inference time per Urban100-size image: tiny and paper-size RRDBNet (tiled on CPU, whole image on CUDA)
     and, on CUDA, the paper-size Fs-SRGAN path E + G' (FASRGAN paper, RTX 2080: ESRGAN 0.3573 s/img,
     Fs-SRGAN 0.1377 s/img on Urban100).
  f. memory of a DIV2K-size (2040x1356 LR) x4 tiled up-scale with the paper-size RRDBNet, in a fresh process:
     peak RSS (CPU) or peak CUDA memory. On CPU only the first tiles are run (the full image takes about an hour
     on 2 cores); the output canvas is allocated before the first tile and every tile has the same size, so the
     peak is the whole run's; the full-image time is projected from the time per tile.
  g. (CUDA only) paper-size ESRGAN, FASRGAN, Fs-SRGAN and ESRGAN-PSNR iterations built from their presets: eager
     fp32, eager TF32, eager bf16 and compiled bf16, the bare step vs Lightning, TFLOP/s, MFU against a.'s bf16
     peak, compile seconds; each preset's fastest setting goes to ``iterations`` (the GPU-hour estimate reads it).
  h. (CUDA only) ``gansr-train experiment=esrgan trainer=gpu`` end to end on a folder (BSDS200 HR images) vs g.
  i. degradations (``degradations.py``): patches/s of the worker path (HR + cached bicubic LR) vs the HR-only worker
     of the device path, and ms per batch of 16 of BD, DN and Real-ESRGAN's pipeline on the device, HR 128 and 256.
A previous file's ``iterations`` entries are kept when a run measures none (CPU runs measure none: their paper
step runs at batch 2, not the presets' batch).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch
from common import CUDA, RESULTS, SHARED, device_name, merge_iterations, read_json
from data import data_loading
from degradations import degradation_costs
from inference import div2k_memory, evaluation, inference
from steps import SIZES, matmul_peak, training

from gansr.utils.atomic import write_text_atomic


def table(results: dict) -> str:
    lines = [f"command: {results['command']}", f"device: {results['device']}  (torch {torch.__version__})", ""]
    mm = results["matmul"]
    lines.append(f"a. matmul peak ({mm['dtype']}, n={mm['n']}): {mm['gflops']:.1f} GFLOP/s")
    lines.append("b. ESRGAN training iteration (G+D step; VGG19 perceptual loss random-init, pretrained=False)")
    lines.append("   | size  | batch | HR  | GFLOP/it | Lightning it/s | bare it/s | Lightning GFLOP/s | bare GFLOP/s | overhead |")
    lines.append("   |-------|-------|-----|----------|----------------|-----------|-------------------|--------------|----------|")
    for size in SIZES:
        r = results["training"][size]
        lines.append(f"   | {size:5s} | {r['batch']:5d} | {r['hr_patch']:3d} | {r['gflop_per_iteration']:8.2f} | {r['lightning_it_s']:14.3f} | "
                     f"{r['bare_it_s']:9.3f} | {r['lightning_gflops']:17.1f} | {r['bare_gflops']:12.1f} | {r['lightning_overhead_pct']:7.1f}% |")
    tr = results["training"]
    lines.append(f"   Lightning's cost per iteration (tiny, median of {tr['tiny']['timed_iterations']}): "
                 f"{tr['lightning_overhead_ms_per_iteration']:.1f} ms = {tr['paper']['overhead_from_tiny_pct']:.2f}% of the paper-size bare step")
    if not CUDA:
        lines.append("   (CPU: paper size at batch 2 instead of 16, 2 timed iterations: its direct overhead figure is noise-dominated)")
    ev = results["evaluation"]
    if "skipped" in ev:
        lines.append(f"c. Set14 evaluation: skipped ({ev['skipped']})")
    else:
        per = ", ".join(f"{k} {ev[k + '_s']:.2f} s" for k in ("load", "sr", "psnr_y", "ssim_y", "niqe"))
        lines.append(f"c. Set14 evaluation ({ev['images']} images, bicubic SR): {ev['total_s']:.2f} s ({per}); {ev['left_out']}")
    dl = results["data_loading"]
    if "skipped" in dl:
        lines.append(f"d. data loading: skipped ({dl['skipped']})")
    else:
        lines.append(f"d. SubImageDataset (DIV2K pipeline) on {dl['sub_images']} BSDS200 sub-images, patch 128: "
                     f"{dl['patches_per_s_per_worker']:.1f} patches/s per worker ({dl['patches_timed']} patches; "
                     f"sub-image extraction {dl['extract_s']:.1f} s)")
    inf = results["inference"]
    if "skipped" in inf:
        lines.append(f"e. inference: skipped ({inf['skipped']})")
    else:
        lines.append(f"e. inference, {inf['image']} (LR {inf['lr_size'][0]}x{inf['lr_size'][1]} -> HR {inf['hr_size'][0]}x{inf['hr_size'][1]}), tiled:")
        for name in ("tiny", "paper", "fs_srgan_paper"):
            if name in inf:
                r = inf[name]
                how = f"tile {r['tile']}, overlap {r['overlap']}" if r["tile"] else "whole image"
                lines.append(f"   {name:14s}: {r['s_per_image']:.3f} s/img ({how})")
        lines.append(f"   reference: {inf['reference']}")
    mem = results["div2k_memory"]
    lines.append(f"f. DIV2K-size x4 (LR {mem['lr_size'][1]}x{mem['lr_size'][0]}), paper RRDBNet, tile {mem['tile']} overlap {mem['overlap']}: "
                 f"peak RSS {mem['peak_rss_gib']:.2f} GiB" + (f", peak CUDA {mem['peak_cuda_gib']:.2f} GiB" if "peak_cuda_gib" in mem else "")
                 + f" (output canvas {mem['output_canvas_gib']:.2f} GiB); {mem['tiles_run']}/{mem['tiles_total']} tiles run, "
                 f"{mem['s_per_tile']:.1f} s/tile, full image {mem['projected_full_image_s'] / 60:.1f} min"
                 + (" (projected)" if mem["tiles_run"] < mem["tiles_total"] else ""))
    lines += degradation_table(results.get("degradations", {}))
    lines += gpu_table(results)
    return "\n".join(lines)


def degradation_table(dg: dict) -> list[str]:
    """i. worker path vs device path (``benchmarks/degradations.py``)."""
    if not dg or "skipped" in dg:
        return [f"i. degradations: skipped ({dg.get('skipped', 'not run')})"]
    lines = [f"i. degradations on {dg['device']}, batch {dg['batch']}: worker patches/s (bicubic pair | HR only); "
             "device ms/batch (samples/s)"]
    for key, entry in dg.items():
        if key.startswith("patch_"):
            device = ", ".join(f"{name} {entry[name]['ms_per_batch']:.0f} ms ({entry[name]['samples_per_s']:.0f}/s)"
                               for name in ("bd", "dn", "realesrgan"))
            lines.append(f"   HR {key[6:]}: worker {entry['worker_bicubic_patches_per_s']:.1f} | "
                         f"{entry['worker_hr_only_patches_per_s']:.1f}; device {device}")
    return lines


def gpu_table(results: dict) -> list[str]:
    """g. and h. (CUDA runs)."""
    lines = []
    if results.get("presets"):
        lines.append("g. paper-preset iterations (bare step; s/it, TFLOP/s, MFU vs a.; compile s)")
        for preset, entry in results["presets"].items():
            for setting, r in entry.items():
                if isinstance(r, dict) and "seconds_per_iteration" in r:
                    extra = "".join([f", {r['tflops']:.1f} TFLOP/s" if "tflops" in r else "",
                                     f", MFU {100 * r['mfu_vs_bf16_matmul_peak']:.1f}%" if "mfu_vs_bf16_matmul_peak" in r else "",
                                     f", overhead {r['overhead_pct']:.1f}%" if "overhead_pct" in r else "",
                                     f", compile {r['compile_s']:.0f} s" if r.get("compile_s") else ""])
                    lines.append(f"   {preset:12s} {setting:24s} {r['seconds_per_iteration']:.4f} s/it{extra}")
                elif isinstance(r, dict) and "error" in r:
                    lines.append(f"   {preset:12s} {setting:24s} failed: {r['error'].splitlines()[-1][:120]}")
    e2e = results.get("endtoend_speed")
    if e2e and "seconds_per_iteration" in e2e:
        lines.append(f"h. gansr-train esrgan end to end on a folder: {e2e['seconds_per_iteration']:.4f} s/it"
                     + (f" ({e2e['overhead_vs_bare_best_pct']:.1f}% over the best bare step)" if "overhead_vs_bare_best_pct" in e2e else ""))
    return lines


def gpu_sections(out: str, results: dict) -> None:
    """g. and h. on CUDA: they write their figures into ``out`` as they go; merged into ``results`` here."""
    import endtoend
    import presets

    write_text_atomic(out, json.dumps(results, indent=2))
    presets.main(["--out", out, "--lightning", "eager bf16", "compiled bf16"])
    folder = SHARED / "BSDS200" / "HR"
    if folder.is_dir():
        endtoend.main(["speed", "--out", out, "--hr-dir", str(folder), "--iterations", "300"])
    results.update({k: v for k, v in read_json(Path(out)).items() if k not in results})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--merge-iterations", metavar="JSON", help="copy the 'iterations' entries of JSON into --out and exit")
    args = parser.parse_args(argv)
    if args.merge_iterations:
        merged = merge_iterations(Path(args.merge_iterations), Path(args.out))
        print(f"{args.out}: iterations for {', '.join(sorted(merged))}")
        return
    kept = read_json(Path(args.out)).get("iterations")
    results = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "device": device_name()}
    print(f"command: {results['command']}\ndevice: {results['device']}", flush=True)
    started = time.perf_counter()
    results["matmul"] = matmul_peak()
    results["training"] = training()
    results["evaluation"] = evaluation()
    results["data_loading"] = data_loading()
    results["inference"] = inference()
    results["div2k_memory"] = div2k_memory()
    results["degradations"] = degradation_costs("cuda" if CUDA else "cpu", repeats=2)
    if CUDA:
        gpu_sections(args.out, results)
    if kept and "iterations" not in results:
        results["iterations"] = kept
    results["total_s"] = time.perf_counter() - started
    write_text_atomic(args.out, json.dumps(results, indent=2))
    print(table(results))
    print(f"total {results['total_s']:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
