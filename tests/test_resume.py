"""Exact resume: a tiny run stopped at iteration k and resumed from its checkpoint ends bit-identical (weights,
optimizer and scheduler states, iteration counter) to an uninterrupted 5-iteration run, on CPU with a fixed seed.

6 images, batch 2: three batches per pass over the data, read by 2 DataLoader workers. k = 2 stops in the middle of
a pass, k = 3 at its end (and the stopped run's loader ends there too), so the order, the random crops and the
loader position after the restart must all match the uninterrupted run."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from gansr.cli import compose_config
from gansr.cli.train import train
from gansr.data.image_io import write_image
from gansr.utils.atomic import temporary_name
from gansr.utils.checkpoint import safe_load

# (experiment, tiny overrides): PSNR stage, GAN stage, Fs-SRGAN (shared extractor owned by both optimizers)
TINY = {
    "esrgan_psnr": ["generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4"],
    "esrgan": ["generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4", "discriminator.num_feat=4",
               "loss.perceptual=null"],
    "fs_srgan": ["generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4", "discriminator.num_feat=4",
                 "loss.perceptual=null", "sharing.num_feat=8", "+sharing.num_grow_ch=4"],
}


IMAGES, BATCH, ITERATIONS = 6, 2, 5


@pytest.fixture(scope="module")
def hr_folder(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hr") / "HR"
    rng = np.random.default_rng(0)
    for i in range(IMAGES):
        write_image(folder / f"img{i}.png", rng.integers(0, 256, (48, 48, 3), dtype=np.uint8))
    return folder


def run(experiment: str, hr_folder: Path, out: Path, iterations: int, *extra: str) -> dict:
    """Train ``iterations`` in ``out`` (LR milestone at iteration 4, so the LR changes after the resume point).
    ``experiment`` may name a degradation after a ``+`` (``esrgan+realesrgan``: LR made on the device)."""
    experiment, _, degradation = experiment.partition("+")
    milestone = "module.scheduler.milestones=[4]" if experiment.endswith("psnr") else "module.scheduler_g.milestones=[4]"
    overrides = [
        f"experiment={experiment}",
        f"degradation={degradation or 'bicubic_matlab'}",
        "data=folder",
        f"data.train.hr_dir={hr_folder}",
        f"data.train.lr_cache_dir={out.parent / 'lr'}",
        "data.val=[]",
        "data.patch_size=32",
        f"data.batch_size={BATCH}",
        "data.num_workers=2",
        *TINY[experiment],
        milestone,
        f"trainer.max_steps={iterations}",
        "trainer.val_check_interval=100",
        "trainer.enable_progress_bar=false",
        "callbacks.checkpoint.every_n_iterations=1",
        "logger=csv",
        *extra,
    ]
    train(compose_config(overrides, out))
    return safe_load(out / "checkpoints" / "last.ckpt")


def assert_same_state(a, b, where: str = "") -> None:
    """Bit-identical nested containers of tensors/numbers."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} vs {sorted(b)}"
        for k in a:
            assert_same_state(a[k], b[k], f"{where}.{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: lengths differ"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


@pytest.fixture(scope="module")
def straight_runs(hr_folder, tmp_path_factory):
    """The uninterrupted ``ITERATIONS``-iteration run of each experiment (made once, shared by the cases)."""
    cache: dict[str, dict] = {}

    def get(experiment: str) -> dict:
        if experiment not in cache:
            cache[experiment] = run(experiment, hr_folder, tmp_path_factory.mktemp(experiment) / "straight", ITERATIONS)
        return cache[experiment]

    return get


@pytest.mark.parametrize(
    "experiment,stop,resume",
    [("esrgan_psnr", 2, "path"), ("esrgan_psnr", 3, "auto"), ("esrgan", 2, "auto"), ("esrgan", 3, "path"),
     ("fs_srgan", 2, "path"), ("esrgan+realesrgan", 2, "auto")],
)
def test_resume_is_bit_identical_to_an_uninterrupted_run(experiment, stop, resume, hr_folder, straight_runs, tmp_path):
    straight = straight_runs(experiment)

    first = run(experiment, hr_folder, tmp_path / "stopped", stop)
    assert first["iteration"] == stop
    target = str(tmp_path / "stopped" / "checkpoints" / "last.ckpt") if resume == "path" else "auto"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = run(experiment, hr_folder, tmp_path / "stopped", ITERATIONS, f"resume={target}")
    assert not [w for w in caught if "not resumable" in str(w.message)]  # Lightning's mid-epoch resume warning

    assert resumed["iteration"] == straight["iteration"] == ITERATIONS
    if "+" in experiment:  # the device-made LR really trained something else than the cached bicubic LR
        bicubic = straight_runs(experiment.partition("+")[0])
        assert not torch.equal(straight["state_dict"]["generator.conv_first.weight"],
                               bicubic["state_dict"]["generator.conv_first.weight"])
    assert_same_state(resumed["state_dict"], straight["state_dict"], "state_dict")  # G, D, E
    assert any(k.startswith("generator.") for k in straight["state_dict"])
    if not experiment.startswith("esrgan_psnr"):
        assert any(k.startswith("discriminator.") for k in straight["state_dict"])
    if experiment == "fs_srgan":
        assert any(k.startswith("extractor.") for k in straight["state_dict"])
    assert_same_state(resumed["optimizer_states"], straight["optimizer_states"], "optimizer_states")
    assert_same_state(resumed["lr_schedulers"], straight["lr_schedulers"], "lr_schedulers")
    # the milestone at iteration 4 fell after the resume point: the LR was halved once in both runs
    assert first["lr_schedulers"][0]["_last_lr"][0] == first["lr_schedulers"][0]["base_lrs"][0]
    base = straight["lr_schedulers"][0]["base_lrs"][0]
    assert resumed["lr_schedulers"][0]["_last_lr"][0] == pytest.approx(base * 0.5)
    assert resumed["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(base * 0.5)


# ----------------------------------------------------------------------------------------------- run lifecycle
def lifecycle_run(hr_folder: Path, out: Path, iterations: int, *extra: str):
    """The tiny PSNR run of this module, a checkpoint every 2 iterations; returns ``train()``'s result."""
    overrides = [
        "experiment=esrgan_psnr", "data=folder", f"data.train.hr_dir={hr_folder}",
        f"data.train.lr_cache_dir={out.parent / 'lr'}", "data.val=[]", "data.patch_size=32", "data.batch_size=2",
        "data.num_workers=0", *TINY["esrgan_psnr"], f"trainer.max_steps={iterations}",
        "trainer.enable_progress_bar=false", "callbacks.checkpoint.every_n_iterations=2", "logger=csv", *extra,
    ]
    return train(compose_config(overrides, out))


def test_preempted_then_resumed_run_keeps_writing_one_last_checkpoint(hr_folder, tmp_path, monkeypatch):
    """Pre-empted at iteration 3, resumed to 6: ``last.ckpt`` holds iteration 6 and no ``last-v1.ckpt`` exists
    (before, the pre-emption's ``last.ckpt`` made Lightning write ``last-v1.ckpt`` and resume=auto followed it, so
    ``last.ckpt`` stayed at the pre-emption)."""
    import os
    import signal

    from gansr.training.psnr_module import PSNRModule

    original = PSNRModule.training_step

    def step(self, batch, batch_idx):
        out = original(self, batch, batch_idx)
        if self.iteration == 3:
            os.kill(os.getpid(), signal.SIGTERM)
        return out

    with monkeypatch.context() as patch:
        patch.setattr(PSNRModule, "training_step", step)
        first = lifecycle_run(hr_folder, tmp_path / "run", 6)
    checkpoints = tmp_path / "run" / "checkpoints"
    assert first.preempted_by == signal.SIGTERM and safe_load(checkpoints / "last.ckpt")["iteration"] == 3
    resumed = lifecycle_run(hr_folder, tmp_path / "run", 6, "resume=auto")
    assert resumed.preempted_by is None and resumed.iteration == 6
    assert safe_load(checkpoints / "last.ckpt")["iteration"] == 6
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "iter_000002.ckpt", "iter_000004.ckpt", "iter_000006.ckpt", "last.ckpt"]


def test_last_checkpoint_is_no_second_copy_of_the_periodic_one(hr_folder, tmp_path):
    """Checkpoints are named by iteration; at an iteration with a periodic file ``last.ckpt`` is a hard link to it
    (one copy on disk), at any other final iteration a file of its own."""
    import os

    lifecycle_run(hr_folder, tmp_path / "even", 4)
    checkpoints = tmp_path / "even" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["iter_000002.ckpt", "iter_000004.ckpt", "last.ckpt"]
    assert os.stat(checkpoints / "last.ckpt").st_ino == os.stat(checkpoints / "iter_000004.ckpt").st_ino
    assert safe_load(checkpoints / "iter_000002.ckpt")["iteration"] == 2
    lifecycle_run(hr_folder, tmp_path / "even", 4, "resume=auto")  # nothing left to train: files left as they are
    assert os.stat(checkpoints / "last.ckpt").st_ino == os.stat(checkpoints / "iter_000004.ckpt").st_ino

    lifecycle_run(hr_folder, tmp_path / "odd", 3)
    checkpoints = tmp_path / "odd" / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["iter_000002.ckpt", "last.ckpt"]
    assert os.stat(checkpoints / "last.ckpt").st_nlink == 1
    assert safe_load(checkpoints / "last.ckpt")["iteration"] == 3


def test_resume_auto_skips_broken_newest_checkpoints(hr_folder, tmp_path, capsys):
    """A 0-byte and a truncated file newer than the intact ``iter_000004.ckpt``: resume=auto names each with the
    reason and continues from iteration 4 (before: the newest file by time was taken and failed with EOFError)."""
    lifecycle_run(hr_folder, tmp_path / "run", 4)
    checkpoints = tmp_path / "run" / "checkpoints"
    data = (checkpoints / "last.ckpt").read_bytes()
    (checkpoints / "last.ckpt").unlink()  # a hard link to iter_000004.ckpt: never write through it
    (checkpoints / "last.ckpt").write_bytes(data[: len(data) // 2])
    (checkpoints / "iter_000006.ckpt").write_bytes(b"")
    unfinished = temporary_name(checkpoints / "iter_000008.ckpt")  # a write killed half-way
    unfinished.write_bytes(data[:100])
    capsys.readouterr()
    resumed = lifecycle_run(hr_folder, tmp_path / "run", 6, "resume=auto")
    out = capsys.readouterr().out
    assert f"skipped {checkpoints / 'iter_000006.ckpt'}: 0 bytes" in out
    assert f"skipped {checkpoints / 'last.ckpt'}: not a readable checkpoint" in out
    assert unfinished.name not in out.split("continuing from")[0]  # not a candidate
    assert f"continuing from {checkpoints / 'iter_000004.ckpt'} (iteration 4)" in out
    assert resumed.iteration == 6 and safe_load(checkpoints / "last.ckpt")["iteration"] == 6
    assert not unfinished.exists() and f"removed {unfinished}" in out  # removed under the run's lock


def tensor_bytes(path: Path, min_size: int) -> tuple[str, int]:
    """``(member, offset)`` of the first tensor in a PyTorch file whose stored bytes are at least ``min_size``."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if "/data/" in i.filename and i.file_size >= min_size)
    with open(path, "rb") as handle:
        handle.seek(info.header_offset + 26)
        name_length, extra_length = struct.unpack("<HH", handle.read(4))
    return info.filename, info.header_offset + 30 + name_length + extra_length


def test_resume_auto_skips_checkpoints_damaged_in_place(hr_folder, tmp_path, capsys):
    """Issue 19 item 3: a checkpoint changed in place (same size) was taken; torch.load checks no CRC. 4 KB
    overwritten inside a weight of ``last.ckpt``, the low bytes of 64 floats flipped in ``iter_000006.ckpt``:
    resume=auto names both, with the damaged member, and continues from the intact ``iter_000004.ckpt``; the
    stage chain's ``generator_init`` refuses a damaged file in one line."""
    wide = "generator.num_feat=32"  # conv weights of 36 KB: room for 4 KB inside one tensor
    lifecycle_run(hr_folder, tmp_path / "run", 6, wide)
    checkpoints = tmp_path / "run" / "checkpoints"
    last = checkpoints / "last.ckpt"
    data = bytearray(last.read_bytes())
    last.unlink()  # a hard link to iter_000006.ckpt: give it bytes of its own
    member, offset = tensor_bytes(checkpoints / "iter_000006.ckpt", 8192)
    data[offset + 1024 : offset + 1024 + 4096] = np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes()
    last.write_bytes(bytes(data))
    flipped_member, offset = tensor_bytes(checkpoints / "iter_000006.ckpt", 256)
    data = bytearray((checkpoints / "iter_000006.ckpt").read_bytes())
    for i in range(64):
        data[offset + 4 * i] ^= 0xFF  # the low byte of a little-endian float32
    (checkpoints / "iter_000006.ckpt").write_bytes(bytes(data))
    capsys.readouterr()
    resumed = lifecycle_run(hr_folder, tmp_path / "run", 8, wide, "resume=auto")
    out = capsys.readouterr().out
    assert f"skipped {last}: damaged: its member {member} fails its CRC-32 check" in out
    assert f"skipped {checkpoints / 'iter_000006.ckpt'}: damaged: its member {flipped_member} fails" in out
    assert f"continuing from {checkpoints / 'iter_000004.ckpt'} (iteration 4)" in out
    assert resumed.iteration == 8

    from hydra.utils import instantiate

    from gansr.utils.checkpoint import DamagedCheckpointError

    (checkpoints / "iter_000006.ckpt").write_bytes(bytes(data))  # damaged again (the resumed run rewrote it)
    cfg = compose_config(["experiment=esrgan_psnr", *TINY["esrgan_psnr"], wide,
                          f"module.generator_init={checkpoints / 'iter_000006.ckpt'}"], tmp_path / "next")
    with pytest.raises(Exception) as refused:
        instantiate(cfg.module)  # Hydra wraps what the module raises
    cause = refused.value
    while cause.__cause__ is not None:
        cause = cause.__cause__
    assert isinstance(cause, DamagedCheckpointError)
    assert str(cause).startswith(f"{checkpoints / 'iter_000006.ckpt'} is damaged: its member {flipped_member} fails")


def test_a_full_disk_while_exporting_keeps_the_previous_generator_file(hr_folder, tmp_path, monkeypatch):
    """Issue 19 item 2: with ENOSPC while a resumed run wrote ``generator.pth`` the previous good file was lost
    ("failed finding central directory"). The disk fills after half the bytes of the export."""
    import errno

    lifecycle_run(hr_folder, tmp_path / "run", 2)
    generator = tmp_path / "run" / "generator.pth"
    before = generator.read_bytes()
    real_save = torch.save

    def save(obj, f, *args, **kwargs):
        name = Path(getattr(f, "name", f)).name
        if not name.startswith("generator") and not name.startswith(".generator"):
            return real_save(obj, f, *args, **kwargs)
        real_save(obj, f, *args, **kwargs)
        handle = open(f, "r+b") if isinstance(f, (str, Path)) else f  # noqa: SIM115
        handle.truncate(len(before) // 2)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(torch, "save", save)
    with pytest.raises(OSError, match="No space left on device"):
        lifecycle_run(hr_folder, tmp_path / "run", 4, "resume=auto")
    assert generator.read_bytes() == before
    assert safe_load(generator)["params"]
    assert not [p.name for p in generator.parent.iterdir() if p.name.startswith(".")]


def test_resume_from_a_generator_file_says_what_to_pass(hr_folder, tmp_path):
    lifecycle_run(hr_folder, tmp_path / "run", 2)
    generator = tmp_path / "run" / "generator.pth"
    with pytest.raises(ValueError) as refused:
        lifecycle_run(hr_folder, tmp_path / "again", 4, f"resume={generator}")
    message = str(refused.value)
    assert "\n" not in message
    assert f"resume={generator}: generator weights, not a training checkpoint" in message
    assert "resume=<run>/checkpoints/last.ckpt" in message and f"module.generator_init={generator}" in message


@pytest.mark.parametrize("max_steps", [-5, 0])
def test_max_steps_must_be_positive_or_minus_one(max_steps, hr_folder, tmp_path):
    """Before, any negative value trained without limit."""
    with pytest.raises(ValueError, match=rf"trainer.max_steps={max_steps}: give a positive number .* or -1 for no limit"):
        lifecycle_run(hr_folder, tmp_path / "run", max_steps)
    assert not (tmp_path / "run" / "checkpoints").exists()
