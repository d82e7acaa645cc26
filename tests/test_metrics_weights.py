"""fetch_weight: local path, cache folder, checked download, one-line offline error (docs/methods.md §8.3)."""
import hashlib

import pytest
import torch

from gansr.utils.weights import (
    MissingWeightError,
    WeightChecksumError,
    default_cache_dir,
    fetch_weight,
    torch_hub_checkpoints_dir,
)

UNREACHABLE = "http://127.0.0.1:9/weights/model.pth"  # discard port: connection refused at once


@pytest.fixture
def source(tmp_path):
    """A 'remote' file served through a file:// URL, and its sha256."""
    path = tmp_path / "remote" / "model.pth"
    path.parent.mkdir()
    path.write_bytes(b"weights" * 100)
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def test_local_path_file_and_folder(tmp_path):
    weight = tmp_path / "model.pth"
    weight.write_bytes(b"x")
    assert fetch_weight("model.pth", UNREACHABLE, local_path=weight) == weight
    assert fetch_weight("model.pth", UNREACHABLE, local_path=tmp_path) == weight


def test_missing_local_path_does_not_fall_back(tmp_path):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "model.pth").write_bytes(b"x")
    with pytest.raises(MissingWeightError, match="nope.pth does not exist"):
        fetch_weight("model.pth", UNREACHABLE, cache_dir=tmp_path / "cache", local_path=tmp_path / "nope.pth")


def test_cache_hit_needs_no_network(tmp_path):
    (tmp_path / "model.pth").write_bytes(b"x")
    assert fetch_weight("model.pth", UNREACHABLE, cache_dir=tmp_path) == tmp_path / "model.pth"


def test_default_cache_dir_follows_env(tmp_path, monkeypatch):
    monkeypatch.setenv("GANSR_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    (tmp_path / "model.pth").write_bytes(b"x")
    assert fetch_weight("model.pth", UNREACHABLE) == tmp_path / "model.pth"
    monkeypatch.delenv("GANSR_CACHE")
    assert default_cache_dir().parts[-3:] == (".cache", "gansr", "weights")


def test_torch_hub_dir_is_where_torchvision_looks():
    assert torch_hub_checkpoints_dir() == torch_hub_checkpoints_dir().parent / "checkpoints"
    assert str(torch_hub_checkpoints_dir()).startswith(torch.hub.get_dir())


def test_download_with_full_and_prefix_checksum(tmp_path, source):
    path, digest = source
    for name, sha in (("full.pth", digest), ("prefix.pth", digest[:8])):
        got = fetch_weight(name, path.as_uri(), sha256=sha, cache_dir=tmp_path / "cache")
        assert got == tmp_path / "cache" / name
        assert got.read_bytes() == path.read_bytes()


def test_download_with_wrong_checksum_keeps_nothing(tmp_path, source):
    path, _ = source
    with pytest.raises(WeightChecksumError, match="sha256"):
        fetch_weight("model.pth", path.as_uri(), sha256="00000000", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache" / "model.pth").exists()


def test_offline_error_is_one_line_with_file_folder_and_url(tmp_path):
    with pytest.raises(MissingWeightError) as info:
        fetch_weight("model.pth", UNREACHABLE, cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert "\n" not in message
    assert "model.pth" in message and str(tmp_path / "cache") in message and UNREACHABLE in message
