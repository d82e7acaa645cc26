"""gansr-fetch-weights, the metric defaults that follow the files on disk, and NIQE's parameters found next to the data
(issue 16 items 4 and 15; issue 13 item 15: a missing file says what was tried)."""
from __future__ import annotations

import urllib.error

import numpy as np
import pytest
import scipy.io
import torch

from gansr.cli.fetch_weights import main as fetch_main
from gansr.metrics.availability import DEFAULT_METRICS, available_metrics
from gansr.utils.weights import (
    WEIGHT_FILES,
    MissingWeightError,
    fetch_weight,
    find_shipped_niqe_params,
    torch_hub_checkpoints_dir,
)


@pytest.fixture
def offline_home(tmp_path, monkeypatch):
    """Empty torch hub and gansr caches, no data folder in the environment, every download refused."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("GANSR_CACHE", str(tmp_path / "gansr"))
    monkeypatch.delenv("GANSR_DATA", raising=False)
    monkeypatch.delenv("GANSR_SHARED_DATA", raising=False)
    monkeypatch.chdir(tmp_path)

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("no network in tests")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    return tmp_path


def write_niqe_params(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"mu_prisparam": np.zeros((1, 36)), "cov_prisparam": np.eye(36)})
    return path


def test_vgg19_entry_matches_torchvision():
    from torchvision.models import AlexNet_Weights, VGG19_Weights

    assert WEIGHT_FILES["vgg19"].url == VGG19_Weights.IMAGENET1K_V1.url
    assert WEIGHT_FILES["alexnet"].url == AlexNet_Weights.IMAGENET1K_V1.url


def test_offline_fetch_fails_with_one_line_per_file(offline_home, capsys):
    with pytest.raises(SystemExit) as info:
        fetch_main(["--data-dir", str(offline_home / "no_data")])
    assert info.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == len(WEIGHT_FILES)
    for line, spec in zip(lines, WEIGHT_FILES.values()):
        assert line.startswith(f"MISSING {spec.filename}: tried {spec.url}")
        assert str(spec.folder() / spec.filename) in line and "no network in tests" in line


def test_fetch_finds_files_on_disk_and_the_shipped_niqe(offline_home, capsys):
    hub = torch_hub_checkpoints_dir()
    hub.mkdir(parents=True)
    torch.save({"features.0.weight": torch.zeros(1)}, hub / WEIGHT_FILES["vgg19"].filename)
    shipped = write_niqe_params(offline_home / "data" / "metrics" / "niqe" / "modelparameters.mat")
    fetch_main(["--only", "vgg19,niqe", "--data-dir", str(offline_home / "data")])
    out = capsys.readouterr().out
    assert f"ok      vgg19-dcbb9e9d.pth: already there, {hub / 'vgg19-dcbb9e9d.pth'} (sha256 " in out
    assert f"shipped with the data, {shipped}" in out


def test_fetch_rejects_a_wrong_parameter_file(offline_home, capsys):
    bad = WEIGHT_FILES["niqe"].folder() / WEIGHT_FILES["niqe"].filename
    bad.parent.mkdir(parents=True)
    scipy.io.savemat(bad, {"something_else": np.zeros(3)})
    with pytest.raises(SystemExit):
        fetch_main(["--only", "niqe", "--data-dir", str(offline_home / "no_data")])
    assert capsys.readouterr().err.startswith(f"BAD     {WEIGHT_FILES['niqe'].filename}")


def test_unknown_file_name_is_refused(offline_home):
    with pytest.raises(SystemExit, match="unknown file"):
        fetch_main(["--only", "vgg16"])


def test_missing_weight_message_says_what_was_tried(offline_home, capsys):
    with pytest.raises(MissingWeightError) as info:
        fetch_weight("model.pth", "https://example.invalid/model.pth", cache_dir=offline_home / "cache")
    message = str(info.value)
    assert "\n" not in message and "automatic download" not in message
    assert "https://example.invalid/model.pth failed (no network in tests)" in message
    assert f"copy the file to {offline_home / 'cache' / 'model.pth'}" in message and "gansr-fetch-weights" in message
    assert "downloading https://example.invalid/model.pth" in capsys.readouterr().err  # never silent


def test_shipped_niqe_params_found_from_an_hr_folder(offline_home):
    shipped = write_niqe_params(offline_home / "data" / "metrics" / "niqe" / "modelparameters.mat")
    (offline_home / "data" / "Set5" / "HR").mkdir(parents=True)
    assert find_shipped_niqe_params(offline_home / "data" / "Set5" / "HR") == shipped
    assert find_shipped_niqe_params(offline_home / "elsewhere") is None


def test_default_metrics_follow_the_files_on_disk(offline_home):
    kept, note = available_metrics(DEFAULT_METRICS)
    assert kept == ["psnr_y", "ssim_y"]
    assert "\n" not in note and "lpips (no alexnet-owt-7be5be79.pth)" in note
    assert "pi (no niqe_modelparameters.mat / NRQM_model.mat)" in note and "gansr-fetch-weights" in note
    write_niqe_params(offline_home / "data" / "metrics" / "niqe" / "modelparameters.mat")
    kept, note = available_metrics(DEFAULT_METRICS, search=(offline_home / "data",))
    assert kept == ["psnr_y", "ssim_y", "niqe"] and "niqe (" not in note


def test_score_defaults_to_the_metrics_whose_files_exist(offline_home, shared_data, capsys):
    """Without --metrics: PSNR/SSIM and NIQE (parameters shipped next to the --hr data), one line on the rest."""
    import json

    from gansr.cli.score import main as score_main

    out = offline_home / "scores.json"
    hr = shared_data / "Set5" / "HR"
    score_main(["--sr", str(hr), "--hr", str(hr), "--scale", "4", "--out", str(out)])
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("gansr-score:")]
    assert len(notes) == 1 and "left out lpips" in notes[0] and "ma (no NRQM_model.mat)" in notes[0]
    assert set(json.loads(out.read_text())["metrics"]) == {"psnr_y", "ssim_y", "niqe"}


def test_eval_missing_set_and_missing_weight_stop_in_one_line(offline_home, shared_data, monkeypatch, capsys):
    import sys

    from gansr.cli.evaluate import main as eval_main

    monkeypatch.setenv("GANSR_DEVICE", "cpu")
    for override, expected in ((f"paths.data_dir={offline_home / 'datasets'}", "Set5"),
                               (f"paths.data_dir={shared_data}", "alexnet-owt-7be5be79.pth")):
        monkeypatch.setattr(sys, "argv", ["gansr-eval", override, "sets=[Set5]", "metrics=[psnr_y,lpips]",
                                          f"out_dir={offline_home / 'eval'}", "hydra.run.dir=.",
                                          "hydra.output_subdir=null"])
        with pytest.raises(SystemExit) as info:
            eval_main()
        message = str(info.value.code)
        assert message.startswith("gansr-eval: error:") and "\n" not in message and expected in message
        # besides the error, at most the announcement of the download that was tried
        other = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
        assert all(line.startswith("gansr: ") for line in other), other
