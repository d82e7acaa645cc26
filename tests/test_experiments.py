"""Every experiment preset composes, builds at paper size with the right parameter counts, and trains two tiny
iterations on CPU through the same ``train()`` that ``gansr-train`` runs."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hydra.utils import instantiate

from gansr.cli import CONF_DIR, compose_config
from gansr.cli.train import TRAIN_READS, train
from gansr.training.config_keys import UnusedConfigKeyError, check_config_keys

EXPERIMENTS = sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))
TINY_GENERATOR = {
    "RRDBNet": ["generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4"],
    "SRResNet": ["generator.num_feat=8", "generator.num_block=1"],
    "SRResNetBasicSR": ["generator.num_feat=8", "generator.num_block=1"],
    "EDSR": ["generator.num_feat=8", "generator.num_block=1"],
}




def tiny_overrides(experiment: str, hr_folder: Path, tmp_path: Path) -> list[str]:
    # the groups the stage reads: a PSNR stage has no discriminator or loss to shrink (overriding them is refused)
    cfg = check_config_keys(compose_config([f"experiment={experiment}"], tmp_path), TRAIN_READS, overrides=())
    generator = cfg.generator._target_.rsplit(".", 1)[-1]
    overrides = [
        f"experiment={experiment}",
        "data=folder",
        f"data.train.hr_dir={hr_folder}",
        f"data.train.lr_cache_dir={tmp_path / 'lr'}",
        "data.val=[]",
        "data.patch_size=32",
        "data.batch_size=2",
        "data.num_workers=0",
        *TINY_GENERATOR[generator],
        *(["discriminator.num_feat=4"] if "discriminator" in cfg else []),
        *(["loss.perceptual.pretrained=false"] if cfg.get("loss", {}).get("perceptual") else []),  # demo: no VGG
        "trainer.max_steps=2",
        "trainer.val_check_interval=2",
        "trainer.enable_progress_bar=false",
        "callbacks.checkpoint.every_n_iterations=2",
        "logger=csv",
    ]
    if cfg.get("sharing"):
        overrides += ["sharing.num_feat=8", "+sharing.num_grow_ch=4"]
    return overrides


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_experiment_trains_two_tiny_iterations(experiment, tiny_hr_folder, tmp_path, capsys):
    cfg = compose_config(tiny_overrides(experiment, tiny_hr_folder, tmp_path), tmp_path / "run")
    train(cfg)
    if cfg.get("pretrain") and cfg.module.get("generator_init") is None:  # legal (ablations), said in one line
        assert f"this GAN stage starts from random weights, not from its PSNR stage {cfg.pretrain.preset}" in capsys.readouterr().out
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert checkpoint.is_file()
    exported = tmp_path / "run" / "generator.pth"
    assert exported.is_file()
    from gansr.utils.checkpoint import safe_load

    assert safe_load(checkpoint)["iteration"] == 2


# the README's "Composing mechanisms" examples: any mechanism on any compatible generator/discriminator pair
COMPOSITIONS = [
    ["experiment=srgan", "mask=mse"],
    ["experiment=edsr_gan", "discriminator=unet", "attention=fine_grained", "loss.adversarial_map_weight=5e-3"],
    ["experiment=esrgan", "sharing=shared_extractor", "generator=fs_rrdbnet", "discriminator=fs_vgg192"],
    ["experiment=fasrgan", "gan=vanilla"],
    ["experiment=esrgan", "module.step_order=d_first"],
]


@pytest.mark.parametrize("overrides", COMPOSITIONS, ids=[" ".join(c[1:]) for c in COMPOSITIONS])
def test_readme_compositions_train(overrides, tiny_hr_folder, tmp_path):
    experiment = overrides[0].split("=", 1)[1]
    base = tiny_overrides(experiment, tiny_hr_folder, tmp_path)
    extra = overrides[1:]
    if "sharing=shared_extractor" in extra:
        extra = [*extra, "sharing.num_feat=8", "+sharing.num_grow_ch=4"]
    cfg = compose_config([*base, *extra, "generator.num_feat=8", "generator.num_block=1"], tmp_path / "run")
    train(cfg)
    assert (tmp_path / "run" / "generator.pth").is_file()


def count(module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


# (experiment, G, D, E) at paper size: docs/methods.md §8.4 (D sizes follow each preset's HR patch)
PAPER_SIZES = [
    ("esrgan", 16_697_987, 14_499_401, None),
    ("fasrgan", 16_697_987, 154_359_300, None),  # UNet FC 256*24*24 -> 1024 at the paper's HR 192
    ("fasrgan_official", 16_697_987, 70_473_220, None),  # json HR 128 (docs/methods.md §1.3)
    ("fs_srgan", 11_697_155, 20_735_689, 721_216),
    ("fa_fs_srgan", 10_977_731, 154_394_436, 1_440_640),
    ("fa_fs_srgan_official", 10_977_731, 70_508_356, 1_440_640),
    ("srgan", 1_549_462, 23_563_649, None),
    ("srgan_basicsr", 1_554_499, 14_499_401, None),  # the FASRGAN paper's "1.554K" SRGAN
    ("srgan_fa", 1_554_499, 70_473_220, None),
    ("srgan_fs", 1_368_067, 14_534_537, 112_576),  # G' + E = 1,480,643: the FASRGAN paper's 1.48 M
    ("edsr_gan", 1_517_571, None, None),
    ("pesr", 43_089_947, None, None),
]


@pytest.mark.parametrize("experiment,g_params,d_params,e_params", PAPER_SIZES, ids=[p[0] for p in PAPER_SIZES])
def test_preset_builds_at_paper_size(experiment, g_params, d_params, e_params, tmp_path):
    cfg = compose_config([f"experiment={experiment}", "loss.perceptual.pretrained=false"], tmp_path)
    assert count(instantiate(cfg.generator)) == g_params
    if d_params is not None:
        assert count(instantiate(cfg.discriminator)) == d_params
    if e_params is not None:
        assert count(instantiate(cfg.sharing)) == e_params


def test_missing_dataset_folder_gives_clear_error(tmp_path):
    from gansr.data.image_io import DatasetNotFoundError

    cfg = compose_config(["experiment=esrgan", f"paths.data_dir={tmp_path / 'nowhere'}", "loss.perceptual.pretrained=false"],
                         tmp_path / "run")
    with pytest.raises(DatasetNotFoundError, match="nowhere"):
        train(cfg)


def test_cli_multirun_sweeps_two_tiny_esrgan_runs(tiny_hr_folder, tmp_path):
    """``gansr-train -m ... loss.adversarial_weight=5e-3,1e-2`` runs both jobs (the sweep dir resolves outside
    a job, so it must not depend on job-time interpolations)."""
    import subprocess
    import sys

    overrides = [o for o in tiny_overrides("esrgan", tiny_hr_folder, tmp_path) if not o.startswith("logger=")]
    result = subprocess.run(
        [sys.executable, "-m", "gansr.cli.train", "-m", *overrides, "loss.adversarial_weight=5e-3,1e-2"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list((tmp_path / "multirun" / "esrgan").glob("*/*/generator.pth"))) == 2


def test_srgan_family_of_the_fasrgan_tables_matches_the_papers_counts(tmp_path):
    """FASRGAN paper, SRGAN section: "the number of RB in the deep feature extraction is 13. Hence, the parameter for
    SRGAN_Fs is 1.48K, and 1.554K for SRGAN and SRGAN_FA": BasicSR-2018's SRResNet w/o BN (the FASRGAN repository's
    train_SRGAN.json) is 1,554,499; its SRGAN_Fs (E = model_ex_rb, G' = sr_resnet_G with 13 ResBlocks) 1,480,643."""
    srgan = compose_config(["experiment=srgan_basicsr", "loss.perceptual.pretrained=false"], tmp_path / "a")
    fs = compose_config(["experiment=srgan_fs", "loss.perceptual.pretrained=false"], tmp_path / "b")
    g, e = instantiate(fs.generator), instantiate(fs.sharing)
    assert count(instantiate(srgan.generator)) == 1_554_499 and round(1_554_499 / 1e6, 3) == 1.554
    assert count(g) + count(e) == 1_480_643 and round(1_480_643 / 1e6, 2) == 1.48
    assert len(g.body) == 13
    lr = torch.rand(1, 3, 8, 8)
    assert g(e(lr)).shape == (1, 3, 32, 32)


# ----------------------------------------------------------------------------------------- keys nothing reads
@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_preset_has_only_keys_its_stage_reads(experiment, tmp_path):
    """Each preset passes the unused-key check; the groups its stage does not read are dropped (a PSNR stage shows
    no discriminator, gan or loss), and the preset file itself sets nothing in them (docs/configs.md)."""
    import yaml

    cfg = compose_config([f"experiment={experiment}"], tmp_path)
    used = check_config_keys(cfg, TRAIN_READS)
    dropped = set(cfg) - set(used)
    if used.module._target_ == "gansr.PSNRModule":
        assert {"discriminator", "gan", "loss"} <= dropped
    else:
        assert {"discriminator", "gan", "loss"}.isdisjoint(dropped)
    preset = yaml.safe_load((CONF_DIR / "experiment" / f"{experiment}.yaml").read_text())
    assert not dropped & set(preset), f"{experiment}.yaml sets {dropped & set(preset)}, which its stage never reads"


@pytest.mark.parametrize("override,message", [
    ("+loss.adversarial_wieght=1", "loss.adversarial_wieght is read by no part of this run (did you mean "
                                   "loss.adversarial_weight?)"),
    ("+generator.num_feet=8", "generator.num_feet is not an argument of gansr.archs.rrdbnet.RRDBNet (did you mean "
                              "generator.num_feat?)"),
    ("+speed.compille=true", "speed.compille is not one of the speed settings (did you mean speed.compile?)"),
    ("+callbacks.checkpoint.every_n_iteration=3", "did you mean callbacks.checkpoint.every_n_iterations?"),
])
def test_a_key_nothing_reads_is_refused_before_training(override, message, tiny_hr_folder, tmp_path):
    """Before: ``+loss.adversarial_wieght=1`` (Hydra's own hint for the typo) trained with the typo ignored."""
    cfg = compose_config([*tiny_overrides("esrgan", tiny_hr_folder, tmp_path), override], tmp_path / "run")
    with pytest.raises(UnusedConfigKeyError) as refused:
        train(cfg)
    assert message in str(refused.value)
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_a_psnr_stage_refuses_overrides_of_groups_it_does_not_read(tiny_hr_folder, tmp_path):
    """Before: ``loss.*`` on a PSNR stage changed nothing, silently."""
    cfg = compose_config([*tiny_overrides("esrgan_psnr", tiny_hr_folder, tmp_path), "loss.pixel.weight=5"],
                         tmp_path / "run")
    with pytest.raises(UnusedConfigKeyError, match=r"loss.pixel.weight=5 changes nothing: this run \(module "
                                                    r"gansr.PSNRModule\) reads no loss"):
        train(cfg)


def test_cli_refuses_a_typo_in_one_line(tiny_hr_folder, tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "gansr.cli.train", *tiny_overrides("esrgan", tiny_hr_folder, tmp_path),
                           "+loss.adversarial_wieght=1", f"paths.root_dir={tmp_path}", f"hydra.run.dir={tmp_path / 'run'}"],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1].startswith("gansr-train: error: loss.adversarial_wieght is read by no part")
    assert "Traceback" not in done.stderr


def test_stage_overrides_leave_out_groups_the_stage_does_not_read(tmp_path):
    """``gansr-demo loss=fasrgan discriminator.num_feat=8`` sets the GAN stage's groups, not the PSNR stage's."""
    from gansr.training.config_keys import stage_overrides

    psnr = compose_config(["experiment=demo_psnr"], tmp_path)
    given = ["loss=fasrgan", "discriminator.num_feat=8", "+gan.x=1", "trainer.max_steps=3", "generator.num_feat=8"]
    assert stage_overrides(psnr, TRAIN_READS, given) == ["trainer.max_steps=3", "generator.num_feat=8"]
    assert stage_overrides(compose_config(["experiment=demo"], tmp_path), TRAIN_READS, given) == given
