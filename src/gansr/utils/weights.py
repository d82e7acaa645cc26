"""Find a pretrained weight or parameter file: local path, cache folder, then a checked download.

Development and CI machines are offline (METHODS.md 8.3), so a missing file must fail with one short line that says
which file is missing, which folder to put it in and where to get it, instead of a long urllib traceback.

Folders (``cache_dir``):
  * files that torchvision / LPIPS load themselves (``vgg19-dcbb9e9d.pth``, ``alexnet-owt-7be5be79.pth``) live where
    torchvision looks: :func:`torch_hub_checkpoints_dir` (``$TORCH_HOME/hub/checkpoints``, by default
    ``~/.cache/torch/hub/checkpoints``);
  * every other file (NIQE / Ma parameter files, ...) lives in :func:`default_cache_dir` (``$GANSR_CACHE``, by default
    ``~/.cache/gansr/weights``).
"""
from __future__ import annotations

import os
from pathlib import Path

import torch.hub

__all__ = [
    "MissingWeightError",
    "WeightChecksumError",
    "default_cache_dir",
    "fetch_weight",
    "torch_hub_checkpoints_dir",
]


class MissingWeightError(FileNotFoundError):
    """A weight file is neither on disk nor downloadable; the message is one line: file, folder, URL."""


class WeightChecksumError(RuntimeError):
    """A downloaded weight file does not have the expected sha256."""


def default_cache_dir() -> Path:
    """``$GANSR_CACHE`` if set, else ``~/.cache/gansr/weights``."""
    env = os.environ.get("GANSR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gansr" / "weights"


def torch_hub_checkpoints_dir() -> Path:
    """The folder where torchvision (and so LPIPS and the VGG losses) look for ImageNet weights."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def fetch_weight(
    filename: str,
    url: str,
    sha256: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_path: str | os.PathLike | None = None,
) -> Path:
    """Return the path of ``filename``, downloading it into ``cache_dir`` when it is not there yet.

    Order: ``local_path`` (a file, or a folder holding ``filename``; when given it must exist, there is no silent
    fallback), then ``cache_dir / filename`` (default :func:`default_cache_dir`), then a download from ``url``.
    ``sha256`` is the full hex digest or a prefix of it (torchvision names carry the first 8 digits, e.g.
    ``vgg19-dcbb9e9d.pth``); downloads are checked against it before they are moved into the cache (as
    ``torch.hub`` does; files already on disk are trusted).

    Raises:
        MissingWeightError: the file is absent and the download failed (offline machine).
        WeightChecksumError: the downloaded file has the wrong sha256 (nothing is kept).
    """
    if local_path is not None:
        path = Path(local_path).expanduser()
        path = path / filename if path.is_dir() else path
        if not path.is_file():
            raise MissingWeightError(f"weight file {path} does not exist; get {filename} from {url}")
        return path
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = folder / filename
    if path.is_file():
        return path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), hash_prefix=sha256.lower() if sha256 else None)
    except RuntimeError as err:  # torch.hub's hash check; the partial file is already removed
        raise WeightChecksumError(f"{filename} downloaded from {url} failed its sha256 check ({err})") from err
    except OSError as err:  # URLError, HTTPError, DNS failure, read-only folder
        reason = getattr(err, "reason", err)
        raise MissingWeightError(
            f"missing weight file {filename}: put it in {folder}/ (download from {url}; automatic download "
            f"failed: {reason})"
        ) from None
    return path
