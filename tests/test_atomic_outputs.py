"""Every output file gansr writes goes through gansr.utils.atomic (issue 19 item 2): a full disk while writing leaves
the previous good file as it was, and a command never takes one of its inputs as its output.

A full disk is simulated where it strikes: the writer's bytes go out, then the disk fills (the unfinished file is cut
to half its size and ``OSError(ENOSPC)`` raised before it would replace the target). A writer that writes the target
in place has no such moment: it overwrites the old file (the test fails on it)."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from gansr.utils.atomic import is_temporary


def fill_the_disk(monkeypatch) -> None:
    """From now on every atomic write fails as a full disk would, after half its bytes (see the module docstring)."""
    real_replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if is_temporary(src):
            with open(src, "r+b") as handle:
                handle.truncate(os.path.getsize(src) // 2)
            raise OSError(errno.ENOSPC, "No space left on device", str(src))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)


def weights(folder: Path) -> None:
    from gansr.utils.output_paths import save_weights

    save_weights({"params": {"w": torch.full((64,), 2.0)}}, folder / "G.pth")


def table(folder: Path) -> None:
    from gansr.evaluation import write_table

    write_table([{"method": "new", "psnr_y": 30.0}], folder / "results.md", folder / "results.csv", title="t")


def image(folder: Path) -> None:
    from gansr.data.image_io import write_image

    write_image(folder / "sr.png", np.full((16, 16, 3), 7, np.uint8))


def summary(folder: Path) -> None:
    from gansr.multirun import write_summary

    write_summary(folder)


def scores(folder: Path) -> None:
    from gansr.cli.score import main

    main(["--sr", str(folder / "sr"), "--hr", str(folder / "hr"), "--metrics", "psnr_rgb",
          "--out", str(folder / "scores.json")])


def hparams(folder: Path) -> None:
    from gansr.training.loggers import AppendingCSVLogger

    AppendingCSVLogger(str(folder), name="", version="").log_hyperparams({"generator": {"num_feat": 8}})


def metrics(folder: Path) -> None:
    """A resumed run's first save rewrites ``metrics.csv`` (the rows logged after its checkpoint are dropped)."""
    from gansr.training.loggers import AppendingCSVLogger

    logger = AppendingCSVLogger(str(folder), name="", version="")
    logger.log_metrics({"loss": 0.5}, step=5)
    logger.save()


def prepare_inputs(folder: Path) -> None:
    """What the writers read: a multirun job folder, and SR/HR folders for gansr-score."""
    from gansr.data.image_io import write_image

    (folder / "0" / ".hydra").mkdir(parents=True)
    (folder / "0" / ".hydra" / "overrides.yaml").write_text("- experiment=esrgan\n")
    for name in ("sr", "hr"):
        write_image(folder / name / "a.png", np.full((16, 16, 3), 9, np.uint8))


#: each writer and the files it writes
WRITERS = {weights: ["G.pth"], table: ["results.md", "results.csv"], image: ["sr.png"],
           summary: ["summary.csv", "summary.md"], scores: ["scores.json"], hparams: ["hparams.yaml"],
           metrics: ["metrics.csv"]}


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: w.__name__)
def test_a_full_disk_leaves_the_previous_file(writer, tmp_path, monkeypatch):
    prepare_inputs(tmp_path)
    targets = [tmp_path / name for name in WRITERS[writer]]
    for target in targets:
        target.write_bytes(b"previous good " + target.name.encode())
    fill_the_disk(monkeypatch)
    # a library call raises the OSError; a console command (gansr-score) reports it in one line, exit 1
    with pytest.raises((OSError, SystemExit), match="No space left on device"):
        writer(tmp_path)
    for target in targets:
        assert target.read_bytes() == b"previous good " + target.name.encode(), f"{target.name} was overwritten"
    assert not [p for p in tmp_path.rglob("*") if is_temporary(p)], "an unfinished temporary file was left"


@pytest.mark.parametrize("writer", WRITERS, ids=lambda w: w.__name__)
def test_writers_replace_the_previous_file_when_the_disk_has_room(writer, tmp_path):
    prepare_inputs(tmp_path)
    targets = [tmp_path / name for name in WRITERS[writer]]
    for target in targets:
        target.write_bytes(b"previous")
    writer(tmp_path)
    assert all(t.read_bytes() != b"previous" for t in targets)
    assert not [p for p in tmp_path.rglob("*") if is_temporary(p)]


@pytest.mark.parametrize("command", ["convert", "interpolate"])
def test_out_equal_to_an_input_is_refused_in_one_line(command, tmp_path, monkeypatch):
    """``gansr-convert --checkpoint G.pth --out G.pth`` destroyed its input; now: one line, the file as it was."""
    from gansr.cli import convert, interpolate

    weights_file = tmp_path / "G.pth"
    torch.save({"params": {"w": torch.ones(3)}}, weights_file)
    before = weights_file.read_bytes()
    spelled = str(tmp_path / "." / "G.pth")  # another spelling of the same file
    argv = {"convert": ["--checkpoint", str(weights_file), "--arch", "rrdbnet", "--out", spelled],
            "interpolate": ["--a", str(tmp_path / "other.pth"), "--b", str(weights_file), "--alpha", "0.5",
                            "--out", spelled]}[command]
    monkeypatch.setattr("sys.argv", [f"gansr-{command}", *argv])
    with pytest.raises(SystemExit) as info:
        {"convert": convert.cli, "interpolate": interpolate.cli}[command]()
    which = {"convert": "--checkpoint", "interpolate": "--b"}[command]
    assert str(info.value) == (f"gansr-{command}: error: the --out file {spelled} is the input {which} {weights_file}: "
                               "writing it would replace that input; choose another --out")
    assert weights_file.read_bytes() == before
