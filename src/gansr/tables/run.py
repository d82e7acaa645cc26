"""Run a table: train its rows tiny (smoke) and score them, or print / run / submit the paper-scale commands."""
from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

from gansr.tables.plan import TABLE_PRECISION, paper_commands, paper_runs, run_folders
from gansr.tables.plot import plot_perception_distortion
from gansr.tables.report import (NIQE_PARAMS, available_metrics, check_inputs, eval_datasets, log_to_wandb, result_rows,
                                 score_generator, write_results)
from gansr.tables.spec import REPO_DIR, MissingInputsError, Row, TableSpec, load_table
from gansr.training.preemption import StoppedBySignal
from gansr.utils.weights import WEIGHT_FILES, MissingWeightError

#: tiny generator overrides by generator class (as tests/test_experiments.py).
TINY_GENERATOR = {
    "RRDBNet": ["generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4"],
    "SRResNet": ["generator.num_feat=8", "generator.num_block=1"],
    "SRResNetBasicSR": ["generator.num_feat=8", "generator.num_block=1"],
    "EDSR": ["generator.num_feat=8", "generator.num_block=1"],
}


def smoke_overrides(row: Row, iterations: int, train_hr: Path, data_root: Path, cache_dir: Path) -> list[str]:
    """The row's preset and overrides, shrunk to a tiny network trained ``iterations`` steps on ``train_hr``."""
    from gansr.cli import compose_config
    from gansr.cli.train import TRAIN_READS
    from gansr.training.config_keys import check_config_keys

    # the groups this stage reads (a PSNR row has no discriminator or loss to shrink)
    cfg = check_config_keys(compose_config([f"experiment={row.preset}", *row.overrides], cache_dir / "compose"),
                            TRAIN_READS, overrides=())
    overrides = [
        f"experiment={row.preset}",
        *row.overrides,
        "data=folder",
        f"data.train.hr_dir={train_hr}",
        f"data.train.lr_cache_dir={cache_dir / 'lr' / train_hr.parent.name / 'X4'}",
        "data.val=[]",
        "data.patch_size=32",
        "data.batch_size=2",
        "data.num_workers=0",
        f"paths.shared_data={data_root}",
        f"paths.cache_dir={cache_dir}",
        *TINY_GENERATOR[cfg.generator._target_.rsplit(".", 1)[-1]],
        *(["discriminator.num_feat=4"] if "discriminator" in cfg else []),
        f"trainer.max_steps={iterations}",
        f"trainer.val_check_interval={iterations}",
        "trainer.enable_progress_bar=false",
        f"callbacks.checkpoint.every_n_iterations={iterations}",
        "logger=csv",
        "speed.threads=1",  # tiny models train faster on one thread (docs/speed.md "CPU threads")
    ]
    if cfg.get("loss") and cfg.loss.get("perceptual"):
        overrides.append("loss.perceptual.pretrained=false")
    if cfg.get("sharing"):
        overrides += ["sharing.num_feat=8", "+sharing.num_grow_ch=4"]
    return overrides


def train_smoke(row: Row, run_dir: Path, iterations: int, train_hr: Path, data_root: Path, cache_dir: Path):
    """Train one row tiny in ``run_dir`` (``resume=auto``: a stopped table continues, a finished row is not trained
    again); returns ``train()``'s ``TrainResult`` (``preempted_by`` set when a signal stopped it). The run's console
    output (config tree, iteration lines) goes to ``<run_dir>/console.log``; one line says the run is done."""
    import time

    from gansr.cli import compose_config
    from gansr.cli.train import train
    from gansr.training.run_log import console_to_file

    start = time.monotonic()
    with console_to_file(run_dir / "console.log"):
        result = train(compose_config([*smoke_overrides(row, iterations, train_hr, data_root, cache_dir),
                                       "resume=auto"], run_dir))
    print(f"[table] {row.label}: {result.iteration} iterations in {time.monotonic() - start:.0f} s -> {run_dir} "
          "(console.log, train.log)", flush=True)
    return result


def run_stage_command(command: list[str]) -> None:
    """Run one paper-scale command to its end. The command runs in its own session, so a terminal's Ctrl-C reaches
    this process only, which passes each SIGINT/SIGTERM/SIGUSR1 on to it once (the run saves ``last.ckpt`` and
    exits 0; a second Ctrl-C aborts it as usual), waits for it, then raises :class:`StoppedBySignal` so that no
    later command of the chain starts. A failed command raises ``CalledProcessError``."""
    proc = subprocess.Popen(command, cwd=REPO_DIR, start_new_session=True)
    received: list[int] = []

    def forward(signum, frame) -> None:
        received.append(signum)
        proc.send_signal(signum)

    stop_signals = (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)
    previous = {s: signal.signal(s, forward) for s in stop_signals}
    try:
        returncode = proc.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        raise StoppedBySignal(received[0], f"[tables] {signal.Signals(received[0]).name}: stopped during "
                              f"{shlex.join(command)} (exit {returncode}); the later commands were not started")
    if returncode:
        raise subprocess.CalledProcessError(returncode, command)


def released_generator(row: Row, run_dir: Path, download: bool = True) -> Path:
    """A released-weights row's generator file: the file ``gansr-fetch-weights --only <row.released>`` fetches
    (found on disk, else downloaded when ``download``, its sha256 prefix checked; ``MissingWeightError`` when neither
    works), converted once by ``gansr-convert --arch <row.arch> [--key <row.key>]`` to ``<run_dir>/generator.pth``."""
    from gansr.cli.convert import main as convert
    from gansr.utils.weights import fetch_weight

    spec = WEIGHT_FILES[row.released]
    out = run_dir / "generator.pth"
    if not out.is_file():
        on_disk = spec.folder() / spec.filename
        if not download and not on_disk.is_file():
            raise MissingWeightError(f"{on_disk} not found (gansr-fetch-weights --only {row.released} fetches it)",
                                     path=on_disk, url=spec.url, reason="not downloaded at smoke scale")
        source = fetch_weight(spec.filename, spec.url, sha256=spec.sha256, cache_dir=spec.folder())
        run_dir.mkdir(parents=True, exist_ok=True)
        convert(["--checkpoint", str(source), "--arch", row.arch or "rrdbnet", *(["--key", row.key] if row.key else []),
                 "--out", str(out)])
    return out


#: the line hydra_plugins.gansr_launcher prints per queued job
SUBMITTED = re.compile(r"^\[gansr\] submitted SLURM job (\S+):", re.MULTILINE)


def stage_extra_overrides(run, overrides: list[str]) -> list[str]:
    """The ``--override`` values that apply to ``run``'s stage: a PSNR stage reads no discriminator, GAN objective
    or adversarial loss, and ``gansr-train`` refuses keys that nothing reads (docs/configs.md), so such overrides
    go to the GAN runs only (:func:`gansr.training.config_keys.stage_overrides`, as ``gansr-demo`` does)."""
    import tempfile

    from gansr.cli import compose_config
    from gansr.cli.train import TRAIN_READS
    from gansr.training.config_keys import stage_overrides

    if not overrides:
        return []
    with tempfile.TemporaryDirectory() as scratch:
        return stage_overrides(compose_config(list(run.hydra_overrides), scratch), TRAIN_READS, overrides)


def submit_paper_runs(table: TableSpec, output_root: Path, rows: list[str] | None = None,
                      overrides: list[str] = (), precision: str = TABLE_PRECISION) -> dict[str, str]:
    """Queue :func:`~gansr.tables.plan.paper_commands` on SLURM (``hydra/launcher=submitit_slurm`` + ``overrides``):
    PSNR stages first, each row or chained stage with ``--dependency=afterok:<job of the run it starts from>``, so
    one command queues a whole table. Returns ``{run name: SLURM job id}``."""
    jobs: dict[str, str] = {}
    for run, command in zip(paper_runs(table, rows), paper_commands(table, output_root, rows, precision)):
        command = [*command, "hydra/launcher=submitit_slurm", *stage_extra_overrides(run, overrides)]
        if run.init_from:
            command.append(f"++hydra.launcher.additional_parameters.dependency=afterok:{jobs[run.init_from]}")
        print(shlex.join(command), flush=True)
        done = subprocess.run(command, cwd=REPO_DIR, stdout=subprocess.PIPE, text=True, check=False)
        sys.stdout.write(done.stdout)
        found = SUBMITTED.findall(done.stdout)
        if done.returncode or len(found) != 1:
            raise RuntimeError(f"submitting {run.name} failed (exit {done.returncode}); queued so far: {jobs or 'none'}")
        jobs[run.name] = found[0]
    print("[gansr] queued " + ", ".join(f"{name}: job {job}" for name, job in jobs.items()))
    return jobs


def run_table(table_name: str, scale: str = "smoke", eval_only: bool = False, *, iterations: int = 3,
              eval_limit: int | None = 5, data_root: Path | None = None, train_hr: Path | None = None,
              cache_dir: Path | None = None, output_root: Path | None = None, rows: list[str] | None = None,
              execute: bool = False, wandb: bool | None = None, slurm: bool = False,
              overrides: list[str] = (), precision: str = TABLE_PRECISION) -> Path | None:
    """Fill ``experiments/<table>/results.md`` (smoke / eval-only) or print the paper-scale commands (``execute``:
    run them one after another here; with ``slurm``: queue them, :func:`submit_paper_runs`). A signal that stops a
    row's training (smoke) or a command (``execute``) stops the chain: :class:`StoppedBySignal`, nothing written.

    ``rows`` restricts the trainable rows by label; ``wandb`` (default: paper scale only) logs plot and results to
    W&B; ``overrides`` are added to every paper-scale command, which trains in ``precision`` (fp32 + TF32 unless
    ``bf16-mixed`` is asked for: :data:`gansr.tables.plan.TABLE_PRECISION`). Returns the results.md path (None at paper scale
    without ``eval_only``).
    """
    table = load_table(table_name)
    data_root = Path(data_root or REPO_DIR.parent / "shared" / "data").resolve()
    cache_dir = Path(cache_dir or REPO_DIR / ".cache").resolve()
    output_root = Path(output_root or REPO_DIR / "outputs" / "tables" / table.name / scale).resolve()
    trainable = [r for r in table.rows if r.trains and (rows is None or r.label in rows)]
    released = [r for r in table.rows if r.released and (rows is None or r.label in rows)]
    if scale == "paper" and not eval_only:
        for row in released:
            print(f"# {row.label}: released weights, evaluated only (gansr-fetch-weights --only {row.released}; "
                  "then --eval-only)")
        if slurm and execute:
            submit_paper_runs(table, output_root, rows, overrides, precision)
            return None
        for run, command in zip(paper_runs(table, rows), paper_commands(table, output_root, rows, precision)):
            command += [*(["hydra/launcher=submitit_slurm"] if slurm else []), *stage_extra_overrides(run, overrides)]
            print(shlex.join(command), flush=True)
            if execute:
                run_stage_command(command)
        return None
    train_hr = None if eval_only else Path(train_hr or data_root / "T91" / "HR")
    folders = run_folders(trainable)  # rows of one configuration share one run
    generators = {label: output_root / folder / "generator.pth" for label, folder in folders.items()}
    notes: list[str] = []
    for row in released:  # converted to <output_root>/<slug>/generator.pth, scored like a trained row
        try:
            generators[row.label] = released_generator(row, output_root / row.slug, download=scale == "paper")
            notes.append(f"{row.label}: ours = the released weights ({WEIGHT_FILES[row.released].filename}), not "
                         "trained here, evaluated with this table's conventions")
        except MissingWeightError as err:
            if scale == "paper":
                raise MissingInputsError(f"missing for table {table.name}: {err}") from None
            notes.append(f"{row.label}: released weights not on disk, row left out ({err})")
    check_inputs(table, scale, data_root, train_hr, generators if eval_only else {})
    niqe_params = data_root / NIQE_PARAMS
    metrics, metric_notes = available_metrics(scale, table.lpips_version, niqe_params)
    notes += metric_notes
    datasets = eval_datasets(table, scale, data_root, cache_dir, eval_limit if scale == "smoke" else None)
    ours = {}
    for number, row in enumerate(trainable, start=1):
        if not eval_only and folders[row.label] == row.slug:
            result = train_smoke(row, output_root / row.slug, iterations, train_hr, data_root, cache_dir)
            if result.preempted_by is not None:
                raise StoppedBySignal(result.preempted_by, (
                    f"[tables] {signal.Signals(result.preempted_by).name}: stopped at row {number} of {len(trainable)} "
                    f"({row.label}, saved {output_root / row.slug / 'checkpoints' / 'last.ckpt'}); later rows were not "
                    f"trained and {table.folder / 'results.md'} was not written. Run the same command again to continue"))
        ours[row.label] = score_generator(generators[row.label], datasets, metrics, table.lpips_version, niqe_params)
    for row in released:
        if row.label in generators:
            ours[row.label] = score_generator(generators[row.label], datasets, metrics, table.lpips_version, niqe_params)
    ours_label = f"smoke (tiny model, {iterations} iterations, not comparable)" if scale == "smoke" else "paper schedule"
    header = (f"**ours** = {ours_label}; evaluated on {', '.join(f'{d.table_name} ({len(d)} images)' for d in datasets)}; "
              f"x4, PSNR/SSIM on Y, crop 4, HR mod {table.mod or 4}; difference = ours - paper."
              + (f" {table.smoke_note}" if scale == "smoke" and table.smoke_note else ""))
    notes += [f"{label} / {ds}: NIQE undefined (near-flat SR images), left empty" for label, per in ours.items()
              for ds, values in per.items() if values.get("niqe", 0.0) != values.get("niqe", 0.0)]
    notes += [f"{r.label}: reference only ({r.note})" for r in table.rows if r.reference_only]
    result = result_rows(table, ours, metrics, ours_label)
    md = write_results(table, result, notes, header)
    png = plot_perception_distortion(table, result, table.folder / "perception_distortion.png")
    if scale == "paper" if wandb is None else wandb:
        log_to_wandb(table, result, png, scale, output_root)
    return md
