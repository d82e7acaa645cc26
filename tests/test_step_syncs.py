"""No host-device synchronisation in the steady-state training step (issue 12 item 1): values are logged only on
logging iterations, read back once there; the NaN/Inf guard is batched and read every N iterations; NaN messages
name the step. On CPU the logic is checked by recording every host read of a tensor; on CUDA (when present)
``torch.cuda.set_sync_debug_mode("error")`` around steady-state iterations proves it."""
from __future__ import annotations

import functools
import sys
import traceback

import pytest
import pytorch_lightning as pl
import torch
from test_gan_module import PATCH, RandomPairs, tiny_esrgan
from torch.utils.data import DataLoader

from gansr import PSNRModule
from gansr.archs.rrdbnet import RRDBNet
from gansr.losses import PixelLoss
from gansr.training.divergence import DivergenceError
from gansr.training.mask import ErrorMask
from gansr.training.speed import apply_speed_settings

DEFERRED = {"channels_last": False, "finite_check_interval": 3}
#: Tensor methods that copy a value to the host (a device sync when the tensor lives on a GPU)
HOST_READS = ("item", "tolist", "numpy", "cpu", "__bool__", "__float__", "__int__", "__index__")
#: frames whose host reads touch tensors that live on the CPU on a GPU run too: Adam's step counters
#: (``torch.optim``, non-capturable), the DataLoader's sampler seed
CPU_RESIDENT = ("torch/optim/", "torch/utils/data/")


def trainer(iterations: int, module: pl.LightningModule, log_every: int, callbacks=(), **kwargs) -> pl.Trainer:
    return pl.Trainer(accelerator=kwargs.pop("accelerator", "cpu"), devices=1, max_steps=iterations * module.optimizer_steps_per_iteration,
                      log_every_n_steps=log_every, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, callbacks=list(callbacks), **kwargs)


def tiny_psnr() -> PSNRModule:
    torch.manual_seed(0)
    return PSNRModule(RRDBNet(num_feat=8, num_block=1, num_grow_ch=4), PixelLoss(1.0),
                      optimizer=functools.partial(torch.optim.Adam, lr=1e-3))


class HostReadRecorder(pl.Callback):
    """Records, per training iteration, every host read of a tensor made between the start and the end of the
    batch (the training step, Lightning's optimizer plumbing and the module's hooks)."""

    def __init__(self) -> None:
        self.reads: dict[int, list[str]] = {}
        self.iteration: int | None = None
        self._saved = {}

    def __enter__(self):
        for name in HOST_READS:
            original = getattr(torch.Tensor, name)
            self._saved[name] = original

            def read(tensor, *args, _name=name, _original=original, **kwargs):
                if self.iteration is not None:
                    caller = sys._getframe(1).f_code.co_filename
                    if not any(marker in caller for marker in CPU_RESIDENT):
                        where = "".join(traceback.format_stack(limit=8)[:-1])
                        self.reads.setdefault(self.iteration, []).append(f"{_name}\n{where}")
                return _original(tensor, *args, **kwargs)

            setattr(torch.Tensor, name, read)
        return self

    def __exit__(self, *exc) -> None:
        for name, original in self._saved.items():
            setattr(torch.Tensor, name, original)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.iteration = pl_module.iteration

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.iteration = None


@pytest.mark.parametrize("stage", ["gan", "psnr"])
def test_values_are_logged_only_on_logging_iterations(stage):
    module = tiny_esrgan() if stage == "gan" else tiny_psnr()
    apply_speed_settings(module, DEFERRED)
    calls = []
    for name in ("log", "log_dict"):
        original = getattr(module, name)
        object.__setattr__(module, name, lambda *a, _o=original, **k: (calls.append(module.iteration), _o(*a, **k))[1])
    run = trainer(8, module, log_every=3)
    run.fit(module, DataLoader(RandomPairs(), batch_size=4))
    # the first, every 3rd (iterations 2 and 5: the batches Lightning writes to its loggers) and the last
    assert sorted(set(calls)) == [0, 2, 5, 7]
    logged = run.logged_metrics
    assert logged["step"] == 8 and logged["train/g/total"].device.type == "cpu"  # step: the iteration, 1-based
    if stage == "gan":
        assert {"train/g/pixel", "train/g/adversarial", "train/d/adversarial", "train/d/real_logit"} <= set(logged)
        assert {"lr/G", "lr/D"} <= set(logged) and not [k for k in logged if k.startswith("lr-")]


@pytest.mark.parametrize("stage", ["gan", "psnr"])
def test_no_host_read_of_a_tensor_outside_logging_iterations(stage):
    module = tiny_esrgan() if stage == "gan" else tiny_psnr()
    apply_speed_settings(module, DEFERRED)  # deferred NaN guard read every 3 iterations = every logging iteration
    with HostReadRecorder() as recorder:
        trainer(8, module, log_every=3, callbacks=[recorder]).fit(module, DataLoader(RandomPairs(), batch_size=4))
    quiet = [1, 3, 4, 6]
    assert not any(i in recorder.reads for i in quiet), "\n".join(recorder.reads[next(i for i in quiet if i in recorder.reads)])
    # a logging iteration reads twice: the logged values, copied to the host in one piece (Lightning's logger and
    # progress bar then read host tensors only), and the deferred NaN/Inf flags
    ours = [read.splitlines()[0] for read in recorder.reads[2] if "gansr/training/" in read.splitlines()[-2]]
    assert sorted(ours) == ["cpu", "tolist"]


def test_finite_check_batches_the_gradient_norm(monkeypatch):
    """One ``_foreach_norm`` and one norm per optimizer step, not one norm per parameter tensor."""
    counts = {"foreach": 0, "norm": 0}
    foreach, norm = torch._foreach_norm, torch.linalg.vector_norm
    monkeypatch.setattr(torch, "_foreach_norm", lambda *a, **k: (counts.__setitem__("foreach", counts["foreach"] + 1), foreach(*a, **k))[1])
    monkeypatch.setattr(torch.linalg, "vector_norm", lambda *a, **k: (counts.__setitem__("norm", counts["norm"] + 1), norm(*a, **k))[1])
    for interval in (1, 3):
        counts.update(foreach=0, norm=0)
        module = tiny_esrgan()
        apply_speed_settings(module, {**DEFERRED, "finite_check_interval": interval})
        assert len(list(module.generator.parameters())) > 20
        trainer(2, module, log_every=50).fit(module, DataLoader(RandomPairs(), batch_size=4))
        assert counts == {"foreach": 4, "norm": 4}  # 2 iterations x (G step + D step)


class NaNDiscriminatorLoss(torch.nn.Module):
    """RaGAN whose D loss is NaN (the G loss stays finite): a divergence in the D step."""

    uses_real_in_generator_step = True

    def generator_loss(self, real, fake):
        return (fake - real.mean()).mean()

    def discriminator_loss(self, real, fake):
        return (real - fake).mean() * float("nan")


@pytest.mark.parametrize("interval", [1, 3])
def test_nan_message_names_the_step_term_and_iteration(interval):
    module = tiny_esrgan()
    module.objective = NaNDiscriminatorLoss()
    apply_speed_settings(module, {**DEFERRED, "finite_check_interval": interval})
    expected = r"in the D step at iteration 1: d/adversarial=nan" if interval == 1 else r"d/adversarial \(D step\).* first at iteration 1"
    with pytest.raises(DivergenceError, match=expected):
        trainer(4, module, log_every=50).fit(module, DataLoader(RandomPairs(), batch_size=4))


def capture_step_dtypes(module) -> dict[str, torch.dtype]:
    """Runs one ``training_step`` under CPU bf16 autocast with the steps stubbed; returns SR's and the mask's dtypes."""
    seen = {}

    def record(optimizer, sr, hr, mask):
        seen.update(sr=sr.dtype, mask=mask.dtype)

    for name, value in {"optimizers": lambda: (None, None), "generator_step": record, "discriminator_step": record,
                        "finish_iteration": lambda: None}.items():
        object.__setattr__(module, name, value)
    batch = {"lr": torch.rand(2, 3, PATCH // 4, PATCH // 4), "hr": torch.rand(2, 3, PATCH, PATCH)}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        module.training_step(batch, 0)
    return seen


def test_fp32_sr_keeps_sr_and_the_255_mask_in_fp32_under_bf16_autocast():
    mixed = capture_step_dtypes(tiny_esrgan(mask=ErrorMask(error_scale=255.0)))
    assert mixed["sr"] == torch.bfloat16  # what bf16-mixed does without the setting
    assert capture_step_dtypes(tiny_esrgan(mask=ErrorMask(error_scale=255.0), fp32_sr=True)) == {"sr": torch.float32, "mask": torch.float32}


def test_fp32_sr_runs_under_64_true():
    """``trainer.precision=64-true`` with ``fp32_sr`` (pesr_mask, edsr_gan_mask): SR stays in the weights' float64
    (issue 20 item 6: the input was cast to fp32 and the float64 convolution refused it)."""
    module = tiny_esrgan(mask=ErrorMask(error_scale=255.0), fp32_sr=True)
    trainer = pl.Trainer(accelerator="cpu", precision="64-true", max_steps=2, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, DataLoader(RandomPairs(), batch_size=4))
    assert module.iteration == 1 and next(module.generator.parameters()).dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA: torch.cuda.set_sync_debug_mode only sees GPU syncs "
                    "(the CPU tests above check the same logic by recording host reads)")
@pytest.mark.parametrize("stage", ["gan", "psnr"])
def test_cuda_steady_state_iterations_do_not_synchronise(stage):
    class SyncErrors(pl.Callback):
        """``set_sync_debug_mode("error")`` from the start of iteration 1 to the start of logging iteration 4: the
        steps, Lightning's plumbing, the progress-bar values and the next batch's fetch and transfer."""

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
            torch.cuda.set_sync_debug_mode("default")  # our own synchronize below is not the code under test
            torch.cuda.synchronize()
            torch.cuda.set_sync_debug_mode("error" if 1 <= pl_module.iteration < 4 else "default")

        def on_train_end(self, trainer, pl_module) -> None:
            torch.cuda.set_sync_debug_mode("default")

    module = tiny_esrgan() if stage == "gan" else tiny_psnr()
    apply_speed_settings(module, {"channels_last": True, "finite_check_interval": 5})
    run = trainer(6, module, log_every=5, callbacks=[SyncErrors()], accelerator="gpu", precision="bf16-mixed")
    try:
        run.fit(module, DataLoader(RandomPairs(), batch_size=4, pin_memory=True))
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert module.iteration == 6


def test_fp32_sr_is_on_for_the_255_mask_rows_only(tmp_path):
    from gansr.cli import compose_config

    for experiment, expected in (("pesr_mask", True), ("edsr_gan_mask", True), ("pesr", False), ("esrgan_mask", False)):
        cfg = compose_config([f"experiment={experiment}", "trainer=gpu"], tmp_path)
        assert cfg.module.fp32_sr is expected, experiment
        assert expected is (cfg.mask is not None and cfg.mask.error_scale == 255.0)
