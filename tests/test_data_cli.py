"""gansr-downscale and gansr-check-data."""
from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from gansr.cli import check_data, downscale
from gansr.data.datasets import make_lr
from gansr.data.image_io import read_image


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _png16_gray_rgb(h, w) -> bytes:
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(6 * w) for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_downscale_writes_exact_lr_with_suffix_and_mod_crop_note(tmp_path, capsys):
    _save(tmp_path / "HR" / "a.png", _rgb(32, 24))
    _save(tmp_path / "HR" / "b.png", _rgb(35, 26, 1))  # not a multiple of 4
    assert downscale.main(["--hr", str(tmp_path / "HR"), "--out", str(tmp_path / "LR"), "--scale", "4"]) == 0
    out = capsys.readouterr().out
    assert "b.png 26x35 -> 24x32" in out and "a.png" not in out.split("note:")[1].split("wrote")[0]
    assert sorted(p.name for p in (tmp_path / "LR").iterdir()) == ["ax4.png", "bx4.png"]
    hr_b = read_image(tmp_path / "HR" / "b.png")[:32, :24]
    assert np.array_equal(read_image(tmp_path / "LR" / "bx4.png"), make_lr(hr_b, 4))
    assert downscale.main(["--hr", str(tmp_path / "HR"), "--out", str(tmp_path / "LR2"), "--scale", "2",
                           "--suffix", ""]) == 0
    assert read_image(tmp_path / "LR2" / "a.png").shape == (16, 12, 3)


def test_downscale_missing_folder_exits_1(tmp_path):
    with pytest.raises(SystemExit) as info:
        downscale.main(["--hr", str(tmp_path / "nope"), "--out", str(tmp_path / "o")])
    assert str(info.value).startswith("gansr-downscale: error: image folder") and "does not exist" in str(info.value)


def test_downscale_refuses_to_replace_its_inputs(tmp_path, capsys):
    """Issue 19 item 5: ``--hr d --out d --suffix ""`` replaced d/baby.png by its LR, exit 0. Now: exit 1 naming the
    file, before anything is written (also when another spelling of the folder is given)."""
    _save(tmp_path / "d" / "a.png", _rgb(32, 32))
    _save(tmp_path / "d" / "b.png", _rgb(32, 32, 1))
    before = {p.name: p.read_bytes() for p in (tmp_path / "d").iterdir()}
    spelled = tmp_path / "d" / ".." / "d"
    with pytest.raises(SystemExit) as info:  # gansr.cli.errors: the one-line error of every command
        downscale.main(["--hr", str(tmp_path / "d"), "--out", str(spelled), "--suffix", ""])
    err = str(info.value)
    assert f"the output {spelled / 'a.png'} is the input HR image {tmp_path / 'd' / 'a.png'}" in err
    assert "give another --out or --suffix" in err and len(err.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in (tmp_path / "d").iterdir()} == before
    # the same folder with a suffix that names new files is fine
    assert downscale.main(["--hr", str(tmp_path / "d"), "--out", str(tmp_path / "d"), "--scale", "2"]) == 0
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["a.png", "ax2.png", "b.png", "bx2.png"]


@pytest.mark.parametrize("suffix", ["/../../escape", "/sub", "x4/..", "..", "a\\b"])
def test_downscale_refuses_a_suffix_that_is_a_path(suffix, tmp_path, capsys):
    """Issue 19 item 5: ``--suffix "/../../escape"`` wrote outside ``--out``."""
    _save(tmp_path / "HR" / "a.png", _rgb(32, 32))
    with pytest.raises(SystemExit) as info:
        downscale.main(["--hr", str(tmp_path / "HR"), "--out", str(tmp_path / "a" / "b" / "LR"), "--suffix", suffix])
    assert info.value.code == 2
    assert f"--suffix {suffix!r} is appended to a file name" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["HR", "a.png"]


def test_check_data_finds_every_planted_problem(tmp_path, capsys):
    root = tmp_path / "ds"
    _save(root / "HR" / "good.png", _rgb(64, 64))
    _save(root / "HR" / "gray.png", np.zeros((64, 64), np.uint8))
    _save(root / "HR" / "rgba.png", np.zeros((64, 64, 4), np.uint8))
    (root / "HR" / "deep.png").write_bytes(_png16_gray_rgb(64, 64))
    _save(root / "HR" / "small.png", _rgb(32, 64))
    _save(root / "HR" / "odd.png", _rgb(66, 64))
    (root / "HR" / "trunc.png").write_bytes((root / "HR" / "good.png").read_bytes()[:200])
    _save(root / "LR_bicubic" / "X4" / "goodx4.png", _rgb(16, 16))  # LR: small on purpose, not reported
    (root / "empty").mkdir()
    code = check_data.main([str(root), "--scale", "4", "--patch-size", "48"])
    out = capsys.readouterr().out
    assert code == 1
    expected = {"gray.png": "grayscale", "rgba.png": "alpha", "deep.png": "16-bit", "small.png": "smaller than",
                "odd.png": "not divisible by the scale 4", "trunc.png": "unreadable", "empty": "empty folder"}
    for name, problem in expected.items():
        assert any(name in line and problem in line for line in out.splitlines()), (name, out)
    assert "good.png" not in out and "goodx4.png" not in out
    assert "7 problem(s)" in out


def test_check_data_clean_tree_exits_0(tmp_path, capsys):
    _save(tmp_path / "HR" / "a.png", _rgb(64, 64))
    assert check_data.main([str(tmp_path), "--patch-size", "64"]) == 0
    assert "OK: 1 image(s)" in capsys.readouterr().out


@pytest.mark.parametrize("module", [downscale, check_data])
def test_help(module, capsys):
    with pytest.raises(SystemExit) as info:
        module.main(["--help"])
    assert info.value.code == 0 and "usage" in capsys.readouterr().out


def test_check_data_tree_without_images_fails(tmp_path, capsys):
    (tmp_path / "ds" / "notes").mkdir(parents=True)
    (tmp_path / "ds" / "notes" / "readme.txt").write_text("no pictures here")
    assert check_data.main([str(tmp_path / "ds")]) == 1
    out = capsys.readouterr().out
    assert "no images found" in out and "OK" not in out


def test_check_data_on_a_file_says_it_is_a_file(tmp_path, capsys):
    _save(tmp_path / "a.png", _rgb(64, 64))
    assert check_data.main([str(tmp_path / "a.png")]) == 1
    out = capsys.readouterr().out
    assert "is a file, not a folder" in out and "does not exist" not in out


@pytest.mark.parametrize("option", [["--scale", "0"], ["--scale", "-4"], ["--patch-size", "-1"]])
def test_check_data_bad_numbers_are_clear_usage_errors(option, tmp_path, capsys):
    _save(tmp_path / "HR" / "a.png", _rgb(64, 64))
    with pytest.raises(SystemExit) as info:
        check_data.main([str(tmp_path), *option])
    assert info.value.code == 2 and f"{option[0]}: must be an integer >=" in capsys.readouterr().err
