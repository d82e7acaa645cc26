"""gansr.utils.atomic: a failed write leaves the old file, a finished one replaces it, no temporary file stays."""

from pathlib import Path

import pytest
import torch

from gansr.utils.atomic import atomic_path, temporary_name, torch_save_atomic, write_text_atomic


def test_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path: Path):
    target = tmp_path / "result.json"
    target.write_text("old")
    with pytest.raises(OSError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise OSError(28, "No space left on device")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_finished_write_replaces_and_keeps_suffix(tmp_path: Path):
    target = tmp_path / "grid.png"
    assert temporary_name(target).suffix == ".png" and temporary_name(target).name.startswith(".")
    assert temporary_name(target) != temporary_name(target)
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    torch_save_atomic({"w": torch.ones(2)}, tmp_path / "g.pth")
    assert torch.equal(torch.load(tmp_path / "g.pth", weights_only=True)["w"], torch.ones(2))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.pth", "grid.png"]


def test_nothing_written_is_an_error(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with atomic_path(tmp_path / "x.txt"):
            pass
    assert not (tmp_path / "x.txt").exists()
