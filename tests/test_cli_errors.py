"""Every console command reports a bad value, a missing or unsafe file, a read-only output or a missing device in one
line, ``gansr-<command>: error: <message>``, exit status 1 (``gansr.cli.errors``); ``HYDRA_FULL_ERROR=1`` shows
the traceback. Before, gansr-eval printed an 18-line Hydra traceback for each of these, a YAML tag in a run
config a 42-line ConstructorError, and gansr-score exited 0 with an empty table."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from gansr.data.image_io import write_image

REPO = Path(__file__).resolve().parents[1]


def run_command(module: str, *args: str, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300, check=False, env={**os.environ, "PYTHONPATH": str(REPO / "src"), **(env or {})})


def assert_one_line_error(result: subprocess.CompletedProcess, prog: str, *words: str) -> None:
    """Exit status 1, the error as the last stderr line, a short stderr (no traceback), the words in it."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1, result.stderr[-2000:]
    assert "Traceback" not in result.stderr and len(lines) <= 5, result.stderr[-2000:]
    assert lines[-1].startswith(f"{prog}: error: "), lines
    for word in words:
        assert word in lines[-1], (word, lines[-1])


@pytest.fixture(scope="module")
def generator_file(tmp_path_factory) -> Path:
    """A x4 generator file (tiny RRDBNet) as gansr-train writes it."""
    from gansr.archs.rrdbnet import RRDBNet

    path = tmp_path_factory.mktemp("g") / "generator.pth"
    net = RRDBNet(num_feat=8, num_block=1, num_grow_ch=4, scale=4)
    config = {"_target_": "gansr.archs.rrdbnet.RRDBNet", "num_feat": 8, "num_block": 1, "num_grow_ch": 4, "scale": 4}
    torch.save({"params": net.state_dict(), "config": {"generator": config, "extractor": None, "scale": 4}}, path)
    return path


@pytest.fixture(scope="module")
def run_with_tagged_config(tmp_path_factory, generator_file) -> Path:
    """A run folder whose ``.hydra/config.yaml`` carries a Python tag, beside a Lightning checkpoint."""
    run = tmp_path_factory.mktemp("run")
    weights = torch.load(generator_file, weights_only=True)["params"]
    (run / "checkpoints").mkdir()
    torch.save({"state_dict": {f"generator.{k}": v for k, v in weights.items()}, "pytorch-lightning_version": "2",
                "iteration": 1}, run / "checkpoints" / "last.ckpt")
    (run / ".hydra").mkdir()
    (run / ".hydra" / "config.yaml").write_text(
        "scale: 4\nseed: !!python/object/apply:os.system ['echo pwned']\n"
        "generator: {_target_: gansr.archs.rrdbnet.RRDBNet, num_feat: 8, num_block: 1, num_grow_ch: 4, scale: 4}\n")
    return run


@pytest.fixture(scope="module")
def unsafe_file(tmp_path_factory) -> Path:
    class Payload:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path_factory.mktemp("evil") / "G.pth"
    torch.save({"params": Payload()}, path)
    return path


EVAL_CASES = {
    "bad scale": (["scale=2", "checkpoint={generator}"], ["x4 generator", "scale=2", "pass scale=4"]),
    "missing checkpoint": (["checkpoint=/nonexistent/G.pth"], ["/nonexistent/G.pth"]),
    "unknown set": (["sets=[Nope]"], ["unknown benchmark 'Nope'", "Set5"]),
    "unknown metric": (["metrics=[bogus]"], ["unknown metric", "bogus", "psnr_y"]),
    "unsafe file": (["checkpoint={unsafe}"], ["refused to unpickle", "posix.system"]),
    "negative tile": (["tile=-5"], ["tile=-5", ">= 0"]),
    "unknown device": (["device=bogus"], ["device=bogus: not a device name"]),
    "YAML tag in a run config": (["checkpoint={tagged}"], ["config.yaml", "not YAML that gansr reads as data", "python/object"]),
}


@pytest.mark.parametrize("case", list(EVAL_CASES))
def test_gansr_eval_reports_bad_input_in_one_line(case, shared_data, generator_file, unsafe_file,
                                                  run_with_tagged_config, tmp_path, monkeypatch, capfd):
    """In this process (Hydra's main reads sys.argv) for speed; the command line itself: the test below."""
    from gansr.cli import evaluate

    args, words = EVAL_CASES[case]
    paths = {"generator": generator_file, "unsafe": unsafe_file,
             "tagged": run_with_tagged_config / "checkpoints" / "last.ckpt"}
    monkeypatch.setattr("sys.argv", ["gansr-eval", f"root={shared_data}", "sets=[Set5]", "metrics=[psnr_y]",
                                     *[a.format(**paths) for a in args], f"out_dir={tmp_path / 'eval'}",
                                     f"hydra.run.dir={tmp_path / 'hydra'}"])
    with pytest.raises(SystemExit) as info:
        evaluate.main()
    message = str(info.value.code)
    assert message.startswith("gansr-eval: error: ") and "\n" not in message
    assert all(word in message for word in words), message
    output = capfd.readouterr()
    assert "Traceback" not in output.err and "pwned" not in output.out + output.err


def test_gansr_eval_command_line_error_is_one_line(shared_data, generator_file, tmp_path):
    result = run_command("gansr.cli.evaluate", f"root={shared_data}", "sets=[Set5]", "metrics=[psnr_y]", "scale=2",
                         f"checkpoint={generator_file}", f"out_dir={tmp_path / 'eval'}", f"hydra.run.dir={tmp_path / 'h'}")
    assert_one_line_error(result, "gansr-eval", "x4 generator", "scale=2")
    assert len(result.stderr.strip().splitlines()) == 1  # before: an 18-line Hydra traceback


def test_hydra_full_error_shows_the_traceback(shared_data, tmp_path):
    result = run_command("gansr.cli.evaluate", f"root={shared_data}", "sets=[Nope]", f"out_dir={tmp_path}",
                         f"hydra.run.dir={tmp_path / 'hydra'}", env={"HYDRA_FULL_ERROR": "1"})
    assert result.returncode == 1 and "Traceback" in result.stderr and "unknown benchmark 'Nope'" in result.stderr


@pytest.fixture
def lr_png(tmp_path) -> Path:
    path = tmp_path / "in" / "a.png"
    write_image(path, np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8))
    return path


def exit_message(main, argv: list[str]) -> SystemExit:
    with pytest.raises(SystemExit) as info:
        main(argv)
    return info.value


@pytest.mark.parametrize("device", ["bogus", "cuda"])
def test_gansr_upscale_checks_the_device_first(device, lr_png, tmp_path):
    from gansr.cli.upscale import main

    if device == "cuda" and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    stop = exit_message(main, ["--input", str(lr_png), "--output", str(tmp_path / "out"), "--generator", "bicubic",
                               "--scale", "2", "--device", device])
    assert str(stop.code).startswith(f"gansr-upscale: error: --device {device}: ") and "cpu" in str(stop.code)
    assert not (tmp_path / "out").exists()


def test_gansr_upscale_refuses_a_run_config_with_a_yaml_tag(run_with_tagged_config, lr_png, tmp_path):
    from gansr.cli.upscale import main

    stop = exit_message(main, ["--input", str(lr_png), "--output", str(tmp_path / "out"),
                               "--checkpoint", str(run_with_tagged_config / "checkpoints" / "last.ckpt")])
    assert str(stop.code).startswith("gansr-upscale: error: ") and "python/object" in str(stop.code)
    assert "\n" not in str(stop.code)


def test_gansr_upscale_names_a_symlink_loop_in_its_input_folder(lr_png, tmp_path):
    """A link to itself in the input folder was left out unsaid ("1 of 1 image(s)"); now it is a failure named."""
    from gansr.cli.upscale import main

    os.symlink("loop.png", lr_png.parent / "loop.png")
    stop = exit_message(main, ["--input", str(lr_png.parent), "--output", str(tmp_path / "out"), "--generator",
                               "bicubic", "--scale", "2"])
    assert "1 image(s) failed" in str(stop.code) and "loop.png" in str(stop.code)
    assert (tmp_path / "out" / "a.png").is_file()


def test_gansr_downscale_scale_0_and_an_unwritable_out(lr_png, tmp_path, capsys):
    from gansr.cli.downscale import main

    assert exit_message(main, ["--hr", str(lr_png.parent), "--out", str(tmp_path / "o"), "--scale", "0"]).code == 2
    assert "--scale: must be >= 1" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("a file where the output folder should be")
    stop = exit_message(main, ["--hr", str(lr_png.parent), "--out", str(blocker / "LR")])
    assert str(stop.code).startswith("gansr-downscale: error: cannot write to the --out folder") and str(blocker) in str(stop.code)


def test_gansr_demo_out_that_is_a_file_fails_before_training(tmp_path):
    from gansr.cli.demo import main

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    stop = exit_message(main, ["--out", str(blocker)])
    assert str(stop.code).startswith("gansr-demo: error: cannot write to the --out folder") and "not a folder" in str(stop.code)
    assert blocker.read_text() == "not a folder"


def test_gansr_score_refuses_scale_0_and_no_metrics(lr_png, tmp_path, capsys):
    from gansr.cli.score import main

    folder = str(lr_png.parent)
    assert exit_message(main, ["--sr", folder, "--hr", folder, "--scale", "0"]).code == 2
    assert "--scale: must be >= 1" in capsys.readouterr().err
    stop = exit_message(main, ["--sr", folder, "--hr", folder, "--scale", "1", "--metrics", ""])
    assert str(stop.code).startswith("gansr-score: error: --metrics '' names no metric")


def test_gansr_convert_explains_several_settings_in_one_argument(generator_file, tmp_path, monkeypatch):
    from gansr.cli import convert

    monkeypatch.setattr("sys.argv", ["gansr-convert", "--checkpoint", str(generator_file), "--arch", "rrdbnet",
                                      "--set", "num_feat=8 num_block=1", "--out", str(tmp_path / "G.pth")])
    with pytest.raises(SystemExit) as info:
        convert.cli()
    message = str(info.value.code)
    assert message.startswith("gansr-convert: error: --set 'num_feat=8 num_block=1': several settings in one argument")
    assert "--set num_feat=8 num_block=1" in message and not (tmp_path / "G.pth").exists()
