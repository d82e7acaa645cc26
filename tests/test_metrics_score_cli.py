"""``gansr-score``: file matching, size handling, JSON output, clear errors."""
import json
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from gansr.cli.score import main, match_files, match_hr_stem
from gansr.data.image_io import read_image, to_tensor, write_image
from gansr.metrics import psnr


def test_match_rule():
    hr = ["baby", "baboon", "img_1", "img_10", "bird"]
    assert match_hr_stem("baby", hr) == "baby"
    assert match_hr_stem("baby_x4_SR", hr) == "baby"
    assert match_hr_stem("babyx4", hr) == "baby"
    assert match_hr_stem("baboon_ESRGAN", hr) == "baboon"
    assert match_hr_stem("img_10_SR", hr) == "img_10"  # longest prefix; "img_1" + "0" is not a separator
    assert match_hr_stem("img_1-fasrgan", hr) == "img_1"
    assert match_hr_stem("birdie", hr) is None  # "bird" + "ie": no separator
    assert match_hr_stem("zebra_SR", hr) is None


def test_match_files_reports_leftovers():
    pairs, sr_left, hr_left = match_files(
        [Path("s/baby_SR.png"), Path("s/extra.png")], [Path("h/baby.png"), Path("h/bird.png")]
    )
    assert pairs == [(Path("s/baby_SR.png"), Path("h/baby.png"))]
    assert sr_left == [Path("s/extra.png")] and hr_left == [Path("h/bird.png")]


@pytest.fixture
def folders(shared_data, tmp_path):
    """HR: 192x192 crops of two Set5 images (bird's HR 2 px larger, as an un-mod-cropped HR); SR: blurred copies."""
    hr_dir, sr_dir = tmp_path / "hr", tmp_path / "sr"
    for name, extra in (("baby", 0), ("bird", 2)):
        arr = read_image(shared_data / "Set5" / "HR" / f"{name}.png")[: 192 + extra, : 192 + extra]
        write_image(hr_dir / f"{name}.png", arr)
        blurred = np.asarray(Image.fromarray(arr[:192, :192]).filter(ImageFilter.GaussianBlur(1.5)))
        write_image(sr_dir / f"{name}_x4_SR.png", blurred)
    write_image(sr_dir / "unrelated.png", np.zeros((8, 8, 3), np.uint8))
    return sr_dir, hr_dir


def test_end_to_end_json(folders, shared_data, tmp_path, capsys):
    sr_dir, hr_dir = folders
    out = tmp_path / "scores.json"
    niqe_params = shared_data / "metrics" / "niqe" / "modelparameters.mat"
    main(["--sr", str(sr_dir), "--hr", str(hr_dir), "--scale", "4", "--metrics", "psnr_y,ssim_y,rmse,niqe",
          "--niqe-params", str(niqe_params), "--out", str(out)])
    captured = capsys.readouterr()
    assert "unrelated.png" in captured.err  # unmatched file warned about
    assert "bird.png is 194x194, cropped top-left" in captured.out
    assert "mean" in captured.out and "psnr_y" in captured.out

    doc = json.loads(out.read_text())
    assert set(doc) == {"metrics", "images", "matching", "conventions"}
    assert doc["matching"] == {"scored": 2, "hr_files": 2, "unmatched_hr": [], "unmatched_sr": ["unrelated.png"]}
    assert [(i["name"], i["hr"]) for i in doc["images"]] == [("baby_x4_SR.png", "baby.png"), ("bird_x4_SR.png", "bird.png")]
    assert doc["conventions"]["crop_border"] == 4 and doc["conventions"]["no_reference"]["crop_border"] == 0
    for name in ("psnr_y", "ssim_y", "niqe"):
        assert doc["metrics"][name] == pytest.approx(np.mean([i[name] for i in doc["images"]]))
    assert doc["metrics"]["rmse"] == pytest.approx(np.sqrt(np.mean([i["rmse"] ** 2 for i in doc["images"]])))
    # the per-image value is the library's PSNR of the same files
    sr = to_tensor(read_image(sr_dir / "baby_x4_SR.png"))[None]
    hr = to_tensor(read_image(hr_dir / "baby.png"))[None]
    assert doc["images"][0]["psnr_y"] == pytest.approx(psnr(sr, hr, crop_border=4).item())
    assert 20 < doc["metrics"]["psnr_y"] < 45 and 0 < doc["metrics"]["ssim_y"] < 1


def test_identical_images_give_null_not_infinity(folders, tmp_path):
    _, hr_dir = folders
    out = tmp_path / "same.json"
    main(["--sr", str(hr_dir), "--hr", str(hr_dir), "--metrics", "psnr_rgb", "--out", str(out)])
    doc = json.loads(out.read_text())  # strict JSON: no Infinity
    assert doc["metrics"]["psnr_rgb"] is None and doc["images"][0]["psnr_rgb"] is None


def test_size_mismatch_names_both_files(folders):
    sr_dir, hr_dir = folders
    write_image(sr_dir / "baby_x4_SR.png", np.zeros((100, 100, 3), np.uint8))
    with pytest.raises(SystemExit, match=r"baby_x4_SR.png is 100x100 but HR .*baby.png is 192x192"):
        main(["--sr", str(sr_dir), "--hr", str(hr_dir), "--metrics", "psnr_y"])


def test_no_match_and_unknown_metric_are_errors(folders, tmp_path):
    sr_dir, hr_dir = folders
    other = tmp_path / "other"
    write_image(other / "zebra.png", np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(SystemExit, match="no SR file"):
        main(["--sr", str(other), "--hr", str(hr_dir)])
    with pytest.raises(SystemExit, match="unknown metric"):
        main(["--sr", str(sr_dir), "--hr", str(hr_dir), "--metrics", "psnr_y,fid"])


def test_missing_lpips_weights_is_one_clear_line(folders, tmp_path, monkeypatch):
    sr_dir, hr_dir = folders
    monkeypatch.setattr(torch.hub, "_hub_dir", None)
    torch.hub.set_dir(str(tmp_path / "hub"))

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    with pytest.raises(SystemExit) as info:
        main(["--sr", str(sr_dir), "--hr", str(hr_dir), "--metrics", "lpips"])
    message = str(info.value)
    assert "alexnet-owt-7be5be79.pth" in message and str(tmp_path / "hub" / "checkpoints") in message
    assert "\n" not in message


def test_help(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    assert "longest prefix" in capsys.readouterr().out


@pytest.fixture
def five_hr_three_sr(tmp_path):
    """Five random 32x32 HR images a..e and SR images for a, b, c only (exact copies)."""
    hr_dir, sr_dir = tmp_path / "hr", tmp_path / "sr"
    rng = np.random.default_rng(0)
    for name in "abcde":
        arr = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        write_image(hr_dir / f"{name}.png", arr)
        if name in "abc":
            write_image(sr_dir / f"{name}_SR.png", np.clip(arr.astype(int) + 3, 0, 255).astype(np.uint8))
    return sr_dir, hr_dir


def test_partial_sr_folder_fails_unless_allowed(five_hr_three_sr, tmp_path, capsys):
    sr_dir, hr_dir = five_hr_three_sr
    out = tmp_path / "scores.json"
    args = ["--sr", str(sr_dir), "--hr", str(hr_dir), "--metrics", "psnr_rgb", "--out", str(out)]
    with pytest.raises(SystemExit) as info:
        main(args)
    message = str(info.value)
    assert "2 of 5 HR file(s)" in message and "d.png" in message and "e.png" in message and "--allow-partial" in message
    assert not out.exists()
    main([*args, "--allow-partial"])
    doc = json.loads(out.read_text())
    assert doc["matching"] == {"scored": 3, "hr_files": 5, "unmatched_hr": ["d.png", "e.png"], "unmatched_sr": []}
    assert len(doc["images"]) == 3


def test_unwritable_out_fails_before_scoring(five_hr_three_sr, tmp_path, monkeypatch):
    sr_dir, hr_dir = five_hr_three_sr
    blocker = tmp_path / "results.txt"
    blocker.write_text("a file where a folder is needed")
    monkeypatch.setattr("gansr.cli.score.score_folders", lambda args: pytest.fail("scored before checking --out"))
    with pytest.raises(SystemExit) as info:
        main(["--sr", str(sr_dir), "--hr", str(hr_dir), "--allow-partial", "--out", str(blocker / "scores.json")])
    assert str(blocker / "scores.json") in str(info.value)


def test_mod_crops_plain_hr_like_the_released_fasrgan_hr(shared_data, tmp_path):
    """FASRGAN's released Set5 outputs are x4 of HR cropped to multiples of 8 (folder ``HR_GTmod12``; woman 224 px
    wide from 228): against plain Set5 HR they are a size mismatch; with ``--mod 8`` the scores equal those against
    the released HR images."""
    released = shared_data / "reference_outputs" / "FASRGAN_official" / "Set5"
    sr = released / "FASRGAN"
    with pytest.raises(SystemExit, match="size mismatch.*--mod 8"):
        main(["--sr", str(sr), "--hr", str(shared_data / "Set5" / "HR"), "--metrics", "psnr_y,ssim_y"])
    plain, gtmod12 = tmp_path / "plain.json", tmp_path / "gtmod12.json"
    main(["--sr", str(sr), "--hr", str(shared_data / "Set5" / "HR"), "--mod", "8", "--metrics", "psnr_y,ssim_y",
          "--out", str(plain)])
    main(["--sr", str(sr), "--hr", str(released / "HR_GTmod12"), "--metrics", "psnr_y,ssim_y", "--out", str(gtmod12)])
    plain_doc, gtmod12_doc = json.loads(plain.read_text()), json.loads(gtmod12.read_text())
    assert plain_doc["matching"]["scored"] == 5
    assert plain_doc["metrics"] == gtmod12_doc["metrics"]
    assert plain_doc["conventions"]["hr_mod"] == 8


def test_mod_must_be_positive(folders, capsys):
    sr_dir, hr_dir = folders
    with pytest.raises(SystemExit) as info:
        main(["--sr", str(sr_dir), "--hr", str(hr_dir), "--mod", "0"])
    assert info.value.code == 2 and "argument --mod: must be >= 1, got 0" in capsys.readouterr().err
