"""gansr.analysis (inspect a trained GAN run) and notebooks/results.ipynb executed on tiny demo outputs."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from gansr.analysis import crop_panel_figure, default_mask, inspect_crop, load_gan_run
from gansr.archs.rrdbnet import RRDBNet
from gansr.archs.unet_discriminator import UNetDiscriminator
from gansr.archs.vgg_discriminator import VGGStyleDiscriminator
from gansr.losses.attention import FineGrainedAttentionLoss, attention_weights
from gansr.training.mask import ErrorMask
from gansr.training.variants import ESRGAN, FASRGAN, PESR

REPO = Path(__file__).resolve().parents[1]


def tiny_fasrgan(mask=None) -> FASRGAN:
    torch.manual_seed(0)
    g = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
    d = UNetDiscriminator(num_feat=4, input_size=32)
    return FASRGAN(g, d, optimizer_g=torch.optim.Adam, optimizer_d=torch.optim.Adam, mask=mask).eval()


def test_inspect_crop_shapes_mask_and_attention():
    module = tiny_fasrgan()
    lr, hr = torch.rand(3, 12, 12), torch.rand(3, 48, 48)
    crop = inspect_crop(module, lr, hr)
    assert crop["size"] == 32 and (crop["top"], crop["left"]) == (8, 8)
    for key in ("sr", "hr", "bicubic"):
        assert crop[key].shape == (3, 32, 32)
    for key in ("mask", "score_map", "attention"):
        assert crop[key].shape == (32, 32)
    assert crop["map_logits"].shape == (3, 32, 32)
    assert torch.equal(crop["hr"], hr[:, 8:40, 8:40])
    # the paper-default mask when the run had none, exactly ErrorMask's
    assert crop["mask_source"] == "default (k=0.2, b=0.5, error_scale 1)"
    expected_mask = ErrorMask(k=0.2, b=0.5)(crop["sr"][None], crop["hr"][None])[0].mean(0)
    assert torch.allclose(crop["mask"], expected_mask)
    # attention = the weights the loss uses on the same map
    weights = attention_weights(crop["map_logits"])
    assert torch.allclose(crop["attention"], weights.mean(0))
    assert torch.allclose(crop["score_map"], torch.sigmoid(crop["map_logits"]).mean(0))
    loss = FineGrainedAttentionLoss(weight=1.0)(crop["sr"][None], crop["hr"][None], crop["map_logits"][None])
    assert torch.allclose(loss, (weights * (crop["sr"] - crop["hr"]).abs()).mean())
    fig = crop_panel_figure(crop)
    assert len(fig.axes) == 6 + 3  # six panels + three colorbars


def test_inspect_crop_uses_the_runs_mask():
    module = tiny_fasrgan(mask=ErrorMask(k=0.2, b=0.5, error_scale=255.0))
    crop = inspect_crop(module, torch.rand(3, 8, 8), torch.rand(3, 32, 32))
    assert crop["mask_source"] == "run"
    assert torch.allclose(crop["mask"], module.mask(crop["sr"][None], crop["hr"][None])[0].mean(0))


def test_default_mask_uses_the_baselines_units():
    g = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
    pesr = PESR(g, UNetDiscriminator(num_feat=4, input_size=32), optimizer_g=torch.optim.Adam,
                optimizer_d=torch.optim.Adam)
    assert default_mask(pesr).error_scale == 255.0 and default_mask(tiny_fasrgan()).error_scale == 1.0
    assert inspect_crop(pesr, torch.rand(3, 8, 8), torch.rand(3, 32, 32))["mask_source"].endswith("error_scale 255)")


def test_inspect_crop_needs_a_map_discriminator():
    g = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
    d = VGGStyleDiscriminator(num_feat=4, input_size=32)
    module = ESRGAN(g, d, optimizer_g=torch.optim.Adam, optimizer_d=torch.optim.Adam)
    with pytest.raises(ValueError, match="discriminator=unet"):
        inspect_crop(module, torch.rand(3, 8, 8), torch.rand(3, 32, 32))


def test_load_gan_run_errors_clearly(tmp_path):
    with pytest.raises(FileNotFoundError, match="hparams.yaml"):
        load_gan_run(tmp_path)


@pytest.mark.slow
@pytest.mark.xdist_group("demo")
def test_notebook_runs_on_demo_outputs(demo_run, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")

    out = demo_run  # the full demo, shared with tests/test_demo.py
    module = load_gan_run(out / "gan")
    assert isinstance(module, FASRGAN) and module.iteration == 100
    with pytest.raises(ValueError, match="not a GAN run"):
        load_gan_run(out / "psnr")
    # a gansr-train folder without the CSV logger: the config @hydra.main saved
    hydra_run = tmp_path / "hydra_run"
    (hydra_run / ".hydra").mkdir(parents=True)
    shutil.copy(out / "gan" / "hparams.yaml", hydra_run / ".hydra" / "config.yaml")
    shutil.copytree(out / "gan" / "checkpoints", hydra_run / "checkpoints")
    assert load_gan_run(hydra_run).iteration == 100

    nb = nbformat.read(REPO / "notebooks" / "results.ipynb", as_version=4)
    env = {**os.environ, "GANSR_DEMO_DIR": str(out), "GANSR_TABLE": ""}
    old = dict(os.environ)
    os.environ.update(env)
    try:
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(REPO / "notebooks")}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(old)
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    warned = [o.text for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    assert not [text for text in warned if "TqdmWarning" in text], warned  # tqdm.auto's "IProgress not found"
    pngs = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(pngs) >= 3  # the demo grid and two crop panels
    panel_cells = [c for c in nb.cells if c.cell_type == "code" and "crop_panel_figure(crop" in c.source]
    assert panel_cells
    for cell in panel_cells:  # each panel cell drew its figure (bicubic | SR | HR | mask | score map | attention)
        assert any("image/png" in o.get("data", {}) for o in cell.outputs)
    assert "mask: default (k=0.2, b=0.5, error_scale 1)" in "".join(
        o.get("text", "") for o in panel_cells[0].outputs if o.output_type == "stream"
    )
