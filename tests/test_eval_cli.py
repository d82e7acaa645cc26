"""``gansr-eval``: several generator files in one table, rows labelled by run name, a missing set names what to pass."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from gansr.archs.rrdbnet import RRDBNet
from gansr.cli import convert as convert_cli
from gansr.data.image_io import write_image

REPO = Path(__file__).resolve().parents[1]
TINY = ["num_feat=8", "num_block=1", "num_grow_ch=4"]


def tiny_run(folder: Path, run_name: str, level: float) -> Path:
    """``<folder>/generator.pth`` of a tiny RRDBNet whose output sits near ``level`` (its last bias) and the
    ``.hydra/config.yaml`` a gansr-train run leaves."""
    torch.manual_seed(0)
    folder.mkdir(parents=True)
    ckpt = folder / "last.ckpt"
    generator = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4)
    with torch.no_grad():
        generator.conv_last.bias.fill_(level)
    state = generator.state_dict()
    torch.save({"state_dict": {f"generator.{k}": v for k, v in state.items()}}, ckpt)
    convert_cli.main(["--checkpoint", str(ckpt), "--arch", "rrdbnet", "--out", str(folder / "generator.pth"),
                      "--set", *TINY])
    (folder / ".hydra").mkdir()
    (folder / ".hydra" / "config.yaml").write_text(f"run_name: {run_name}\nscale: 4\n")
    return folder / "generator.pth"


def run_eval(*overrides: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gansr.cli.evaluate", *overrides, "metrics=[psnr_y]"],
                          capture_output=True, text=True, timeout=300, cwd=cwd)


def test_several_checkpoints_one_table_labelled_by_run_name(tmp_path):
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for i in range(2):
        write_image(root / "Set5" / "HR" / f"im{i}.png", rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
    first = tiny_run(tmp_path / "outputs" / "folder_a", "esrgan_lr1e-4", level=0.3)
    second = tiny_run(tmp_path / "outputs" / "folder_b", "esrgan_lr2e-4", level=0.6)
    out = tmp_path / "eval"
    done = run_eval(f"checkpoint=[{first},{second}]", "sets=[Set5]", f"root={root}", f"out_dir={out}",
                    f"paths.root_dir={tmp_path}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    rows = list(csv.DictReader((out / "results.csv").open()))
    assert [(r["method"], r["set"]) for r in rows] == [("esrgan_lr1e-4", "Set5"), ("esrgan_lr2e-4", "Set5")]
    assert rows[0]["psnr_y"] != rows[1]["psnr_y"]  # two different generators were scored


def test_method_labels_must_match_the_checkpoints(tmp_path):
    first = tiny_run(tmp_path / "a", "a", level=0.5)
    done = run_eval(f"checkpoint=[{first},{first}]", "method=[only_one]", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == ("gansr-eval: error: method= gives 1 label(s) for 2 checkpoint(s); "
                                                    "give one label per checkpoint, e.g. method=[a,b], or leave "
                                                    "method out (rows are then labelled by run name)")


def test_a_missing_default_set_names_the_sets_there_and_what_to_pass(tmp_path):
    """The default sets on a folder like ../shared/data (Set5, Set14, BSD100, Urban100_subset): one line that says
    which sets are there and suggests sets= and folders=, before any scoring."""
    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    for name in ("Set5", "Set14", "BSD100", "Urban100_subset"):
        write_image(root / name / "HR" / "im.png", rng.integers(0, 256, (24, 24, 3), dtype=np.uint8))
    done = run_eval(f"root={root}", f"paths.root_dir={tmp_path}", f"out_dir={tmp_path / 'eval'}", cwd=tmp_path)
    assert done.returncode == 1
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("gansr-eval: error:") and "Urban100" in message
    assert f"sets under {root}: BSD100, Set14, Set5, Urban100_subset" in message
    assert "score those with sets=[Set5,Set14,BSD100]" in message
    assert "folders={Urban100:Urban100_subset}" in message
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "eval" / "results.csv").exists()
