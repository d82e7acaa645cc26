"""gansr-export: ONNX / TorchScript / torch.export files of gansr's generators that run without gansr (issue 24,
item 3), and the generators' scriptability."""
from __future__ import annotations

import glob
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

from gansr.archs.rrdbnet import RRDBNet
from gansr.cli import export as export_cli
from gansr.utils.safe_config import build_architecture

REPO = Path(__file__).resolve().parents[1]
DEMO_GENERATOR = {"_target_": "gansr.archs.rrdbnet.RRDBNet", "num_feat": 8, "num_block": 1, "num_grow_ch": 4,
                  "scale": 4, "image_skip": "bicubic"}  # the demo's generator, bicubic skip included, tiny


def generator_file(path: Path, node: dict = DEMO_GENERATOR) -> torch.nn.Module:
    torch.manual_seed(0)
    network = build_architecture(node, "test").eval()
    torch.save({"params": network.state_dict(), "config": {"generator": node, "extractor": None, "scale": 4}}, path)
    return network


RUN_WITHOUT_GANSR = textwrap.dedent("""
    import sys
    sys.path.append(sys.argv[1])  # -I -S: the standard library + site-packages, no .pth files (gansr's editable
                                  # install is one), no PYTHONPATH, no current folder: torch and onnxruntime only
    try:
        import gansr
    except ImportError:
        pass
    else:
        raise SystemExit("gansr is importable here: the test would prove nothing")
    import numpy as np, onnxruntime, torch
    stem, lr = sys.argv[2], torch.from_numpy(np.load(sys.argv[3]))
    session = onnxruntime.InferenceSession(stem + ".onnx", providers=["CPUExecutionProvider"])
    outputs = {"onnx": session.run(None, {"lr": lr.numpy()})[0],
               "torchscript": torch.jit.load(stem + ".pt")(lr).detach().numpy(),
               "pt2": torch.export.load(stem + ".pt2").module()(lr).detach().numpy()}
    np.savez(sys.argv[4], **outputs)
""")


@pytest.mark.slow
def test_export_cli_files_run_without_gansr(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    network = generator_file(tmp_path / "demo.pth")
    export_cli.main(["--checkpoint", str(tmp_path / "demo.pth"), "--out-dir", str(tmp_path / "out")])
    printed = capsys.readouterr().out
    assert printed.count("max |difference| vs PyTorch") == 3
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["demo.onnx", "demo.pt", "demo.pt2"]

    lr = torch.rand(2, 3, 13, 21)  # another batch, height and width than any the export saw
    np.save(tmp_path / "lr.npy", lr.numpy())
    site_packages = str(Path(torch.__file__).parents[1])
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", RUN_WITHOUT_GANSR, site_packages, str(tmp_path / "out" / "demo"),
         str(tmp_path / "lr.npy"), str(tmp_path / "outputs.npz")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    with torch.no_grad():
        expected = network(lr).numpy()
    outputs = np.load(tmp_path / "outputs.npz")
    for format in ("onnx", "torchscript", "pt2"):
        assert outputs[format].shape == (2, 3, 52, 84)
        assert np.abs(outputs[format] - expected).max() <= 1e-5, format


def test_export_a_run_checkpoint_with_its_extractor(tmp_path, capsys):
    """A run's .ckpt (Fs-SRGAN: shared extractor + G') -> TorchScript and .pt2 of the whole path."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    OmegaConf.save({"scale": 4, "generator": {"_target_": "gansr.archs.rrdbnet.RRDBNet", "in_channels": 8,
                                              "num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": "${scale}"},
                    "sharing": {"_target_": "gansr.archs.shared_extractor.SharedExtractor", "num_feat": 8,
                                "num_block": 1}}, run / "hparams.yaml")
    torch.manual_seed(1)
    generator = RRDBNet(in_channels=8, num_feat=8, num_block=1, num_grow_ch=4)
    from gansr.archs.shared_extractor import SharedExtractor

    extractor = SharedExtractor(num_feat=8, num_block=1)
    state = {**{f"generator.{k}": v for k, v in generator.state_dict().items()},
             **{f"extractor.{k}": v for k, v in extractor.state_dict().items()}}
    torch.save({"state_dict": state}, run / "checkpoints" / "last.ckpt")
    export_cli.main(["--checkpoint", str(run / "checkpoints" / "last.ckpt"), "--out-dir", str(tmp_path / "out"),
                     "--name", "fs", "--formats", "torchscript", "pt2"])
    assert capsys.readouterr().out.count("max |difference|") == 2
    lr = torch.rand(1, 3, 7, 9)
    with torch.no_grad():
        expected = generator(extractor(lr))
        assert torch.allclose(torch.jit.load(str(tmp_path / "out" / "fs.pt"))(lr), expected, atol=1e-6, rtol=0)
        assert torch.allclose(torch.export.load(str(tmp_path / "out" / "fs.pt2")).module()(lr), expected, atol=1e-6,
                              rtol=0)


def test_export_refuses_what_it_cannot_export_in_one_line(tmp_path):
    pytest.importorskip("spandrel")
    torch.manual_seed(0)
    torch.save(RRDBNet(num_feat=16, num_block=1).state_dict(), tmp_path / "RRDB_ESRGAN_x4.pth")
    with pytest.raises(SystemExit) as info:
        export_cli.main(["--checkpoint", str(tmp_path / "RRDB_ESRGAN_x4.pth"), "--out-dir", str(tmp_path / "out")])
    message = str(info.value.code)
    assert message.startswith("gansr-export: error:") and "spandrel" in message and "\n" not in message


@pytest.mark.parametrize("config", sorted(glob.glob(str(REPO / "conf" / "generator" / "*.yaml"))), ids=lambda p: Path(p).stem)
def test_generators_compile_with_torch_jit_script(config):
    """Every generator but bicubic scripts and computes exactly what the eager network computes."""
    if Path(config).stem == "bicubic":
        pytest.skip("MATLAB-exact bicubic (imresize) is not scriptable; docs/inference.md lists it")
    root = OmegaConf.create({"scale": 4, "g": OmegaConf.load(config)})
    node = OmegaConf.to_container(root, resolve=True)["g"]
    node.update({k: 2 for k in ("num_block",) if k in node})
    network = build_architecture(node, config).eval()
    lr = torch.rand(1, node.get("in_channels", 3), 9, 7)
    with torch.no_grad():
        assert torch.equal(torch.jit.script(network)(lr), network(lr))


def test_export_extra_lists_what_the_makefile_installs():
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["export"]
    listed = [line.strip() for line in (REPO / "requirements-export.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    assert sorted(extra) == sorted(listed) and "requirements-export.txt" in (REPO / "Makefile").read_text()
    assert "gansr-export" in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
