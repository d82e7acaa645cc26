"""experiments/<table>/reference.csv transcriptions and a one-row smoke table run (gansr.tables)."""
from __future__ import annotations

import types

import csv
import shutil
from pathlib import Path

import pytest

from gansr.tables import TABLES, load_table, read_reference, run_table

DOCS_TABLES = Path(__file__).resolve().parents[1].parent / "shared" / "docs" / "tables"


@pytest.mark.parametrize("name", TABLES)
def test_reference_csv_parses_and_rows_exist(name):
    table = load_table(name)
    labels = {row.label for row in table.rows}
    assert table.reference, name
    assert {label for label, _, _ in table.reference} <= labels


def test_reference_matches_published_cells():
    fasrgan = read_reference(Path("experiments/fasrgan/reference.csv"))
    mask = read_reference(Path("experiments/mask/reference.csv"))
    assert fasrgan[("FASRGAN", "Urban100", "LPIPS")] == 0.0588
    assert fasrgan[("EnhanceNet", "PIRM_val", "PSNR")] == 25.47
    assert mask[("PESR+Mask", "DIV2K_val", "PI")] == 3.24
    assert mask[("ESRGAN", "PIRM", "PI")] == 2.10
    srgan = read_reference(Path("experiments/srgan/reference.csv"))
    assert srgan[("SRGAN-VGG54", "Set5", "PSNR")] == 29.40
    assert srgan[("SRResNet-MSE", "Set14", "SSIM")] == 0.8184
    ablation = read_reference(Path("experiments/fasrgan_ablation/reference.csv"))
    # the ablation's lambda2=0.01 Urban100 column is the main table's FASRGAN column
    for metric in ("PSNR", "SSIM", "PI", "LPIPS"):
        assert ablation[("FASRGAN lambda2=0.01", "Urban100", metric)] == fasrgan[("FASRGAN", "Urban100", metric)]
    assert ablation[("SRGAN", "Set5", "PI")] == fasrgan[("SRGAN", "Set5", "PI")]


def test_reference_matches_shared_docs_csv():
    path = DOCS_TABLES / "mask_table.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    ours = read_reference(Path("experiments/mask/reference.csv"))
    with open(path, newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["method"] == "EDSR" and r["mask"] == "yes")
    assert ours[("EDSR-GAN+Mask", "Urban100", "PI")] == float(row["Urban100_PI"])


def test_smoke_table_one_row(shared_data, tmp_path, monkeypatch, capfd):
    import gansr.tables.spec as spec

    train_hr = tmp_path / "T91" / "HR"
    train_hr.mkdir(parents=True)
    for image in sorted((shared_data / "T91" / "HR").iterdir())[:2]:
        shutil.copy(image, train_hr)
    monkeypatch.setattr(spec, "EXPERIMENTS_DIR", tmp_path / "experiments")
    shutil.copytree(Path("experiments/srgan"), tmp_path / "experiments" / "srgan")
    md = run_table("srgan", "smoke", iterations=1, eval_limit=2, data_root=shared_data, train_hr=train_hr,
                   cache_dir=tmp_path / "cache", output_root=tmp_path / "runs", rows=["SRGAN-VGG54"])
    text = md.read_text()
    assert "29.4000" in text  # paper PSNR of SRGAN-VGG54 on Set5
    with open(md.parent / "results.csv", newline="") as f:
        cell = next(r for r in csv.DictReader(f) if r["method"] == "SRGAN-VGG54" and r["dataset"] == "Set5" and r["metric"] == "PSNR")
    assert cell["ours"] and float(cell["difference"]) == pytest.approx(float(cell["ours"]) - 29.40)
    assert "smoke (tiny model, 1 iterations, not comparable)" in text
    assert (md.parent / "perception_distortion.png").stat().st_size > 1000
    # one line per run on the console (a smoke table printed 1,344 lines, mostly config trees); the rest in the run
    out = capfd.readouterr()
    run_dir = tmp_path / "runs" / "srgan_vgg54"
    assert "[table] SRGAN-VGG54: 1 iterations in " in out.out and "config (resolved)" not in out.out + out.err
    assert len((out.out + out.err).splitlines()) <= 10, out
    assert "config (resolved)" in (run_dir / "console.log").read_text()


def test_released_row_is_evaluated_from_its_weights_next_to_the_trained_row(shared_data, tmp_path, monkeypatch):
    """FASRGAN table: the published ESRGAN row is the released model (trained on DF2K+OST), scored from its weights
    (found where gansr-fetch-weights puts them, converted by gansr-convert); the DIV2K-only preset is a separate,
    labelled row. A tiny RRDBNet in BasicSR's ``params`` layout stands in for the released file here."""
    import dataclasses

    import torch
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    import gansr.tables.spec as spec
    from gansr.cli import CONF_DIR
    from gansr.tables.run import released_generator
    from gansr.utils.weights import WEIGHT_FILES, MissingWeightError

    rows = {r.label: r for r in load_table("fasrgan").rows}
    assert rows["ESRGAN"].released == "esrgan_x4" and not rows["ESRGAN"].trains
    assert rows["ESRGAN (DIV2K, trained here)"].preset == "esrgan" and rows["ESRGAN (DIV2K, trained here)"].trains
    from gansr.tables import paper_runs

    assert "ESRGAN" not in {r.label for r in paper_runs(load_table("fasrgan"))}
    assert WEIGHT_FILES["esrgan_x4"].sha256 == "ff704c30" and WEIGHT_FILES["esrgan_x4"].filename.endswith("ff704c30.pth")

    monkeypatch.setenv("GANSR_CACHE", str(tmp_path / "cache"))
    row = dataclasses.replace(rows["ESRGAN"], arch="rrdbnet_tiny")
    with pytest.raises(MissingWeightError, match="gansr-fetch-weights --only esrgan_x4"):
        released_generator(row, tmp_path / "runs" / "esrgan", download=False)
    node = OmegaConf.merge(OmegaConf.load(CONF_DIR / "generator" / "rrdbnet_tiny.yaml"), {"scale": 4})
    torch.manual_seed(0)
    network = instantiate(node)
    (tmp_path / "cache").mkdir()
    torch.save({"params": network.state_dict()}, tmp_path / "cache" / WEIGHT_FILES["esrgan_x4"].filename)
    path = released_generator(row, tmp_path / "runs" / "esrgan", download=False)
    from gansr.inference import load_generator_file

    loaded = load_generator_file(path)
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.equal(loaded(x), network(x))  # the released tensors, strictly loaded
    monkeypatch.setattr(spec, "EXPERIMENTS_DIR", tmp_path / "experiments")
    shutil.copytree(Path("experiments/fasrgan"), tmp_path / "experiments" / "fasrgan")
    runs_yaml = tmp_path / "experiments" / "fasrgan" / "runs.yaml"
    runs_yaml.write_text(runs_yaml.read_text().replace("arch: rrdbnet, key: params", "arch: rrdbnet_tiny, key: params"))
    md = run_table("fasrgan", "smoke", eval_only=True, eval_limit=1, data_root=shared_data, cache_dir=tmp_path / "c",
                   output_root=tmp_path / "runs", rows=["ESRGAN"], wandb=False)
    with open(md.parent / "results.csv", newline="") as f:
        cells = [r for r in csv.DictReader(f) if r["method"] == "ESRGAN" and r["dataset"] == "Set5" and r["metric"] == "PSNR"]
    assert cells and cells[0]["ours"] and cells[0]["paper"]
    assert "released weights" in md.read_text()


def test_smoke_mask_table_header_says_the_mask_rows_equal_their_baselines(shared_data, tmp_path, monkeypatch):
    """The smoke mask table's header itself (not only the docs) says why every +Mask row equals its baseline."""
    import gansr.tables.run as run
    import gansr.tables.spec as spec

    monkeypatch.setattr(spec, "EXPERIMENTS_DIR", tmp_path / "experiments")
    shutil.copytree(Path("experiments/mask"), tmp_path / "experiments" / "mask")
    monkeypatch.setattr(run, "train_smoke", lambda *args: types.SimpleNamespace(preempted_by=None))
    monkeypatch.setattr(run, "score_generator", lambda *args, **kwargs: {"Set5": {"psnr_y": 20.0}})
    train_hr = tmp_path / "T91" / "HR"
    train_hr.mkdir(parents=True)
    shutil.copy(sorted((shared_data / "T91" / "HR").iterdir())[0], train_hr)
    md = run_table("mask", "smoke", iterations=1, eval_limit=1, data_root=shared_data, train_hr=train_hr,
                   cache_dir=tmp_path / "cache", output_root=tmp_path / "runs", rows=["PESR", "PESR+Mask"], wandb=False)
    header = next(line for line in md.read_text().splitlines() if line.startswith("**ours**"))
    assert "+Mask rows equal their baselines" in header and "saturation" in header


# --------------------------------------------------------------------------- perception-distortion plot


def test_perception_distortion_second_panel_holds_mask_table_pi():
    """The mask table reports PI only (no PSNR): its paper PI values go to a dot-chart panel, ours filled."""
    import matplotlib.pyplot as plt

    from gansr.tables import perception_distortion_figure, result_rows

    table = load_table("mask")
    ours = {"ESRGAN": {"Set5": {"psnr_y": 20.0, "pi": 7.5}}}
    rows = result_rows(table, ours, ["psnr_y", "ssim_y", "pi"], "smoke")
    fig = perception_distortion_figure(table, rows)
    try:
        plane, dots = fig.axes[:2]
        assert [tuple(c.get_offsets()[0]) for c in plane.collections] == [(20.0, 7.5)]  # only ours has PSNR
        methods = [row.label for row in table.rows]
        assert [t.get_text() for t in dots.get_yticklabels()] == methods
        found = {}
        for collection in dots.collections:
            method, source = collection.get_label().rsplit(" (", 1)
            offsets = collection.get_offsets()
            assert set(offsets[:, 1].round(2)) == {methods.index(method) + (-0.12 if source == "paper)" else 0.12)}
            assert (len(collection.get_facecolors()) == 0 or collection.get_facecolors()[0][3] == 0) == (source == "paper)")
            found[(method, source[:-1])] = sorted(offsets[:, 0].tolist())
        for method in methods:
            expected = sorted(v for (label, _, metric), v in table.reference.items() if label == method and metric == "PI")
            assert found[(method, "paper")] == pytest.approx(expected)
        assert found[("ESRGAN", "ours")] == [7.5] and ("PESR", "ours") not in found
        edge = {c.get_label(): tuple(c.get_edgecolors()[0]) for c in dots.collections}
        assert edge["ESRGAN (paper)"] == edge["ESRGAN (ours)"] != edge["PESR (paper)"]  # one colour per method
        legend = {t.get_text() for t in fig.legends[0].get_texts()}
        assert set(methods) | {"paper (hollow)", "ours (filled)"} <= legend
    finally:
        plt.close(fig)


def test_perception_distortion_paper_points_of_psnr_tables():
    """FASRGAN reports PSNR with LPIPS and PI: one plane each, every paper cell plotted hollow, even when ours has
    neither metric; SRGAN reports no perceptual metric: its paper PSNR goes to a dot chart per method."""
    import matplotlib.pyplot as plt

    from gansr.tables import perception_distortion_figure, result_rows

    table = load_table("fasrgan")
    fig = perception_distortion_figure(table, result_rows(table, {"SRGAN": {"Set5": {"psnr_y": 8.0, "niqe": 90.0}}},
                                                          ["psnr_y", "niqe"], "smoke"))
    try:
        titles = [ax.get_title() for ax in fig.axes]
        assert titles == ["PSNR vs LPIPS", "PSNR vs PI", "PSNR vs NIQE"]
        for ax, metric in zip(fig.axes[:2], ("LPIPS", "PI")):
            plotted = sorted(tuple(xy) for c in ax.collections for xy in c.get_offsets().tolist())
            expected = sorted((table.reference[(m, d, "PSNR")], v) for (m, d, k), v in table.reference.items() if k == metric)
            assert len(plotted) == 35 and [v for xy in plotted for v in xy] == pytest.approx([v for xy in expected for v in xy])
            assert all(c.get_label().endswith("(paper)") for c in ax.collections)
        assert [c.get_label() for c in fig.axes[2].collections] == ["SRGAN (ours)"]
    finally:
        plt.close(fig)
    table = load_table("srgan")  # PSNR/SSIM/MOS only
    fig = perception_distortion_figure(table, result_rows(table, {}, ["psnr_y", "ssim_y"], "smoke"))
    try:
        assert [ax.get_title().split(" (")[0] for ax in fig.axes] == ["PSNR per method"]
        assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == 10  # 5 methods x Set5/Set14
    finally:
        plt.close(fig)


# ------------------------------------------------------------------------------------------------ W&B


@pytest.mark.parametrize("name", TABLES)
def test_paper_command_overrides_reach_wandb_logger_group(name, tmp_path):
    from hydra.utils import instantiate

    from gansr.cli import compose_config
    from gansr.tables import paper_commands

    table = load_table(name)
    command = paper_commands(table, tmp_path / "runs")[0]
    assert command[:2] == ["gansr-train", "-m"]
    cfg = compose_config([a for a in command[2:] if not a.startswith("hydra.")], tmp_path / "out")
    assert cfg.logger.wandb.group == table.wandb_group
    assert cfg.trainer.accelerator == "gpu" and "csv" in cfg.logger
    logger = instantiate(cfg.logger.wandb)  # lazy: no W&B run is started
    assert logger._wandb_init["group"] == table.wandb_group
    assert logger._wandb_init["job_type"] == "train"


@pytest.mark.parametrize("precision", [None, "bf16-mixed"])
def test_paper_commands_train_in_fp32_with_tf32_unless_bf16_is_asked_for(precision, tmp_path):
    """Table rows compose to the papers' arithmetic, 32-true with TF32 matmuls (cuDNN convolutions use TF32 by
    default); bf16-mixed only when asked for (issue 20 item 4)."""
    from gansr.cli import compose_config
    from gansr.tables import paper_commands

    table = load_table("fasrgan")
    commands = paper_commands(table, tmp_path, **({"precision": precision} if precision else {}))
    for command in (commands[0], commands[-1]):  # a PSNR stage and a GAN row
        cfg = compose_config([a for a in command[2:] if not a.startswith("hydra.")], tmp_path / "c")
        assert cfg.trainer.precision == (precision or "32-true")
        assert cfg.speed.float32_matmul_precision == "high" and cfg.trainer.accelerator == "gpu"
    with pytest.raises(ValueError, match="16-mixed"):
        paper_commands(table, tmp_path, precision="16-mixed")


def test_log_to_wandb_offline_writes_image_and_table(tmp_path, monkeypatch):
    import json

    import wandb

    from gansr.tables import log_to_wandb, plot_perception_distortion, result_rows

    wandb.teardown()  # a W&B session started by an earlier test would ignore the variables below
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_SILENT", "true")
    calls = []
    real_init = wandb.init
    monkeypatch.setattr(wandb, "init", lambda **kw: calls.append(kw) or real_init(**kw))
    table = load_table("mask")
    rows = result_rows(table, {"ESRGAN": {"Set5": {"psnr_y": 20.0, "pi": 7.5}}}, ["psnr_y", "pi"], "smoke")
    png = plot_perception_distortion(table, rows, tmp_path / "pd.png")
    folder = log_to_wandb(table, rows, png, "smoke", tmp_path / "runs")
    assert calls[0]["group"] == "table-mask" and calls[0]["job_type"] == "table"
    assert folder.parent == tmp_path / "wandb" and folder.name.startswith("offline-run-")
    assert list(folder.glob("run-*.wandb"))
    media = folder / "files" / "media"
    assert [p.suffix for p in (media / "images").iterdir()] == [".png"]
    tables = list((media / "table").glob("*.table.json"))
    assert len(tables) == 1
    logged = json.loads(tables[0].read_text())
    assert logged["columns"][:5] == ["method", "dataset", "metric", "paper", "ours"]
    assert ["PESR+Mask", "DIV2K_val", "PI", 3.24] in [r[:4] for r in logged["data"]]


# -------------------------------------------------------------------------------------------- cost estimate


def test_pretrain_stage_from_preset_config():
    from gansr.tables import pretrain_chain, pretrain_stage

    assert pretrain_stage("esrgan") == ("esrgan_psnr", None)
    assert pretrain_stage("esrgan_mask") == ("esrgan_mask_psnr", None)  # the mask paper's 10-epoch MSE warm-up
    assert pretrain_stage("fasrgan") == ("esrgan_psnr", None)  # RRDB_PSNR_x4
    assert pretrain_stage("fs_srgan") == ("fs_srgan_psnr", None)
    assert pretrain_stage("fa_fs_srgan") == ("fa_fs_srgan_psnr", None)  # FASRGAN paper: every G L1-pretrained
    assert pretrain_stage("edsr_gan_mask") == ("edsr_psnr_x2", None)  # inherited from edsr_gan: x4 GAN from x2
    assert pretrain_stage("srgan_fa") == ("srgan_basicsr_psnr", None)  # inherited from srgan_basicsr
    assert pretrain_stage("srgan_fs") == ("srgan_fs_psnr", None)
    assert pretrain_chain("edsr_gan") == [("edsr_psnr_x2", None)]
    assert pretrain_chain("edsr_gan_from_x4") == [("edsr_psnr_x2", None), ("edsr_psnr", None)]  # the old chain


def test_paper_commands_chain_the_psnr_stages(tmp_path):
    """Stages come first, each once; every row (and chained stage) starts from its stage's last checkpoint."""
    from gansr.cli import compose_config
    from gansr.tables import paper_commands

    commands = paper_commands(load_table("mask"), tmp_path)
    folders = [next(a.split("=", 1)[1] for a in c if a.startswith("hydra.sweep.subdir=")) for c in commands]
    assert folders[:3] == ["pretrain_esrgan_mask_psnr", "pretrain_pesr_psnr", "pretrain_edsr_psnr_x2"]
    inits = {f: next((a.split("=", 1)[1] for a in c if a.startswith("module.generator_init=")), None)
             for f, c in zip(folders, commands)}
    last = lambda name: str(tmp_path / name / "checkpoints" / "last.ckpt")  # noqa: E731
    assert inits["pretrain_edsr_psnr_x2"] is None
    assert inits["esrgan"] == inits["esrgan_mask"] == last("pretrain_esrgan_mask_psnr")
    assert inits["edsr_gan"] == inits["edsr_gan_mask"] == last("pretrain_edsr_psnr_x2")  # mask paper: x4 GAN from x2
    warmup = compose_config([a for a in commands[0][2:] if not a.startswith("hydra.")], tmp_path / "c")
    assert warmup.trainer.max_steps == 10000 and warmup.module._target_ == "gansr.PSNRModule"
    assert warmup.module.pixel_loss.criterion == "mse" and warmup.data.patch_size == 256  # 001 Sec. 3.1
    gan = compose_config([a for a in commands[folders.index("edsr_gan")][2:] if not a.startswith("hydra.")], tmp_path / "g")
    assert gan.module.generator_init_scale == 2


def test_iteration_flops_positive_and_linear_in_batch(tmp_path):
    from gansr.cli import compose_config
    from gansr.tables import iteration_flops

    # the paper-size ESRGAN iteration (RRDBNet 23 blocks, HR 128, VGG128 D, VGG19 conv5_4 loss) on the meta device
    cfg = compose_config(["experiment=esrgan", "loss.perceptual.pretrained=false"], tmp_path)
    one, two = iteration_flops(cfg, 1), iteration_flops(cfg, 2)
    # hand count: RRDBNet ~18.5 GMAC per 32x32 LR image forward, x3 with backward = 0.11 TFLOP; VGG ~0.04; D ~0.01
    assert 0.1e12 < one < 0.4e12
    assert two / one == pytest.approx(2.0, rel=0.02)


def test_iteration_flops_of_a_fp32_sr_mask_row(tmp_path):
    """``pesr_mask`` keeps SR in fp32 (``module.fp32_sr``): its step must still run on the meta device, which has no
    autocast to leave (``make table-mask ESTIMATE=1`` failed with "unsupported scalarType")."""
    from gansr.cli import compose_config
    from gansr.tables import iteration_flops

    cfg = compose_config(["experiment=pesr_mask", "loss.perceptual.pretrained=false", "generator.num_block=1"], tmp_path)
    assert cfg.module.fp32_sr
    assert iteration_flops(cfg, 1) > 0


def test_gpu_hours_formula():
    from gansr.tables import gpu_hours

    assert gpu_hours(150e12 * 3600, 1, 150e12) == pytest.approx(1.0)
    assert gpu_hours(2e12, 1000, 1e12) == pytest.approx(2000 / 3600)


def test_estimate_writes_cost_md(tmp_path, monkeypatch):
    import gansr.tables as tables

    monkeypatch.setattr(tables.spec, "EXPERIMENTS_DIR", tmp_path)
    shutil.copytree(Path("experiments/srgan"), tmp_path / "srgan")
    entries, path = tables.estimate_costs(load_table("srgan"), 100e12, rows=["SRGAN-VGG54"], cache_dir=tmp_path,
                                          benchmark=tmp_path / "no_benchmark.json")
    assert [(e["row"], e["preset"], e["iterations"], e["batch"], e["patch"]) for e in entries] == [
        ("PSNR pre-training for SRGAN-VGG54", "srresnet_psnr", 1000000, 16, 96),  # the row's start (srgan.yaml)
        ("SRGAN-VGG54", "srgan", 200000, 16, 96)]
    assert entries[1]["gpu_hours"] == pytest.approx(tables.gpu_hours(entries[1]["tflop_per_iteration"] * 1e12, 200000, 100e12))
    text = path.read_text()
    assert path == tmp_path / "srgan" / "cost.md"
    assert "not measured on a GPU" in text and "| SRGAN-VGG54 | srgan | 200,000 | 16 | 96 |" in text
    assert text.count("| assumed 100 TFLOP/s |") == 2


def test_estimate_uses_measured_seconds_per_iteration(tmp_path, monkeypatch):
    """benchmarks/results.json (the GPU benchmark's schema) measured srgan at the row's batch: that row costs
    measured s/iteration x iterations; the PSNR stage (not measured) and a batch mismatch fall back to FLOPs."""
    import json

    import gansr.tables as tables

    monkeypatch.setattr(tables.spec, "EXPERIMENTS_DIR", tmp_path)
    shutil.copytree(Path("experiments/srgan"), tmp_path / "srgan")
    bench = tmp_path / "results.json"
    measured = {"seconds_per_iteration": 0.09, "setting": "bf16 compiled", "device": "NVIDIA H200", "batch_size": 16,
                "date": "2026-12-04"}
    bench.write_text(json.dumps({"iterations": {"srgan": measured, "srresnet_psnr": {**measured, "batch_size": 8}}}))
    entries, path = tables.estimate_costs(load_table("srgan"), 100e12, rows=["SRGAN-VGG54"], cache_dir=tmp_path,
                                          benchmark=bench)
    stage, row = entries
    assert row["gpu_hours"] == pytest.approx(0.09 * 200000 / 3600)
    assert row["source"].startswith("measured 0.09 s/iteration (NVIDIA H200, bf16 compiled, 2026-12-04)")
    assert stage["gpu_hours"] == pytest.approx(tables.gpu_hours(stage["tflop_per_iteration"] * 1e12, 1000000, 100e12))
    assert stage["source"] == "assumed 100 TFLOP/s (measured at batch 8, not 16)"
    text = path.read_text()
    assert "measured on a GPU by the benchmark (results.json)" in text and "rows it did not measure" in text
    bench.write_text(json.dumps({"iterations": {"srgan": {"setting": "bf16"}}}))
    with pytest.raises(ValueError, match="results.json: iterations.srgan needs a positive seconds_per_iteration"):
        tables.estimate_costs(load_table("srgan"), rows=["SRGAN-VGG54"], cache_dir=tmp_path, benchmark=bench)


# ------------------------------------------------------------------------------------------------ row configs


def _row_config(table_name: str, label: str, tmp_path):
    from gansr.cli import compose_config

    row = next(r for r in load_table(table_name).rows if r.label == label)
    return compose_config([f"experiment={row.preset}", *row.overrides], tmp_path)


@pytest.mark.parametrize("name", TABLES)
def test_every_trainable_row_composes(name, tmp_path):
    """Each row's preset + overrides is a valid Hydra config (a typo would only surface at paper scale)."""
    for row in load_table(name).rows:
        if row.trains:
            assert _row_config(name, row.label, tmp_path).module._target_.startswith("gansr.")


def test_mask_table_rows_differ_only_by_the_mask(tmp_path):
    """Mask table: the baseline row is its mask preset without the mask (same schedule, HR 256)."""
    base = _row_config("mask", "ESRGAN", tmp_path)
    masked = _row_config("mask", "ESRGAN+Mask", tmp_path)
    assert base.get("mask") is None and masked.mask is not None
    assert base.trainer.max_steps == masked.trainer.max_steps and base.data.patch_size == masked.data.patch_size


def test_ablation_without_fa_drops_attention_and_map_term(tmp_path):
    without = _row_config("fasrgan_ablation", "FASRGAN w/o FA", tmp_path)
    full = _row_config("fasrgan_ablation", "FASRGAN", tmp_path)
    assert without.get("attention") is None and full.attention.weight > 0
    assert without.loss.adversarial_map_weight == 0.0 and full.loss.adversarial_map_weight > 0
    assert _row_config("fasrgan_ablation", "FASRGAN lambda2=0.005", tmp_path).attention.weight == 0.005


def test_rows_of_one_configuration_share_one_paper_run():
    """The ablation's "FASRGAN" and "lambda2=0.01" rows are one configuration: one run trains it, both rows read it."""
    from gansr.tables import paper_runs
    from gansr.tables.plan import run_folders

    table = load_table("fasrgan_ablation")
    runs = paper_runs(table)
    configurations = [(run.preset, tuple(run.overrides), run.max_steps) for run in runs]
    assert len(configurations) == len(set(configurations))
    [shared] = [run for run in runs if run.name == "fasrgan"]
    assert shared.label == "FASRGAN = FASRGAN lambda2=0.01"
    folders = run_folders([r for r in table.rows if r.trains])
    assert folders["FASRGAN lambda2=0.01"] == folders["FASRGAN"] == "fasrgan"
    assert folders["FASRGAN lambda2=0.05"] == "fasrgan_lambda2_0_05"


def test_flat_smoke_output_leaves_niqe_empty_without_torch_cov_warning(shared_data, monkeypatch):
    """An untrained smoke generator's near-flat SR: NIQE is undefined (NaN, said in the table's notes); torch's
    "cov(): degrees of freedom is <= 0" from inside pyiqa is not printed as well."""
    import math
    import warnings

    import torch

    from gansr.tables.report import NIQE_PARAMS, score_generator

    def flat(lr):
        return torch.full((1, 3, lr.shape[-2] * 4, lr.shape[-1] * 4), 0.5)

    class FlatSet(list):
        table_name = "flat"

    monkeypatch.setattr("gansr.inference.load_generator_file", lambda path: flat)
    images = FlatSet([{"lr": torch.rand(3, 50, 50), "hr": torch.rand(3, 200, 200), "name": "a"}])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = score_generator(Path("G.pth"), [images], ["niqe"], "0.1", shared_data / NIQE_PARAMS)
    assert math.isnan(scores["flat"]["niqe"])
    assert not [w for w in caught if "degrees of freedom" in str(w.message)]


def test_paper_overrides_go_only_to_the_stages_that_read_them(capsys, tmp_path):
    """``--override discriminator.num_feat=4`` on a table with a PSNR stage: gansr-train refuses keys that nothing
    reads, so the PSNR stage's command must not get it (it did, and the two-node chain's stage job failed)."""
    from gansr.tables.run import run_table

    run_table("srgan", scale="paper", rows=["SRGAN-MSE"], output_root=tmp_path, wandb=False,
              overrides=["discriminator.num_feat=4", "generator.num_feat=8"])
    commands = [line for line in capsys.readouterr().out.splitlines() if line.startswith("gansr-train")]
    stage, row = commands
    assert "experiment=srresnet_psnr" in stage and "discriminator.num_feat=4" not in stage
    assert "generator.num_feat=8" in stage
    assert "discriminator.num_feat=4" in row and "generator.num_feat=8" in row
