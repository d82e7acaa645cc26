"""Find a pretrained weight or parameter file: local path, cache folder, then an announced, checked download.

Development and CI machines are offline (docs/methods.md §8.3), so a missing file must fail with one short line that says
which file is missing, where it was looked for, which URL was tried and where to put it, instead of a long urllib
traceback. Nothing downloads silently: a download prints what it fetches and where it puts it (stderr), and
``gansr-fetch-weights`` (``gansr.cli.fetch_weights``) fetches every file up front on a connected machine.

Folders (``cache_dir``):
  * files that torchvision / LPIPS load themselves (``vgg19-dcbb9e9d.pth``, ``alexnet-owt-7be5be79.pth``) live where
    torchvision looks: :func:`torch_hub_checkpoints_dir` (``$TORCH_HOME/hub/checkpoints``, by default
    ``~/.cache/torch/hub/checkpoints``);
  * every other file (NIQE / Ma parameter files, ...) lives in :func:`default_cache_dir` (``$GANSR_CACHE``, by default
    ``~/.cache/gansr/weights``).

:data:`WEIGHT_FILES` lists the files gansr uses, with their URL, checksum and folder.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from gansr.utils.errors import GansrError

__all__ = [
    "MissingWeightError",
    "WEIGHT_FILES",
    "WeightChecksumError",
    "WeightFile",
    "default_cache_dir",
    "fetch_weight",
    "find_shipped_niqe_params",
    "torch_hub_checkpoints_dir",
]

#: where the official NIQE parameters ship with a data folder (``../shared/data/metrics/niqe/modelparameters.mat``)
SHIPPED_NIQE_PARAMS = Path("metrics") / "niqe" / "modelparameters.mat"


class MissingWeightError(GansrError, FileNotFoundError):
    """A weight file is neither on disk nor downloadable; the message is one line: file, folder, URL tried, reason.

    ``path`` is where the file belongs, ``url`` the URL tried (``None`` when none was) and ``reason`` why it failed.
    """

    def __init__(self, message: str, *, path: Path | None = None, url: str | None = None, reason: str | None = None):
        super().__init__(message)
        self.path, self.url, self.reason = path, url, reason

    def __str__(self) -> str:
        return str(self.args[0])


class WeightChecksumError(GansrError, RuntimeError):
    """A downloaded weight file does not have the expected sha256."""


def default_cache_dir() -> Path:
    """``$GANSR_CACHE`` if set, else ``~/.cache/gansr/weights``."""
    env = os.environ.get("GANSR_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gansr" / "weights"


def torch_hub_checkpoints_dir() -> Path:
    """The folder where torchvision (and so LPIPS and the VGG losses) look for ImageNet weights."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def fetch_weight(
    filename: str,
    url: str,
    sha256: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    local_path: str | os.PathLike | None = None,
    announce: bool = True,
) -> Path:
    """Return the path of ``filename``, downloading it into ``cache_dir`` when it is not there yet.

    Order: ``local_path`` (a file, or a folder holding ``filename``; when given it must exist, there is no silent
    fallback), then ``cache_dir / filename`` (default :func:`default_cache_dir`), then a download from ``url``,
    announced on stderr (the URL, then the path written).
    ``sha256`` is the full hex digest or a prefix of it (torchvision names carry the first 8 digits, e.g.
    ``vgg19-dcbb9e9d.pth``); downloads are checked against it before they are moved into the cache (as
    ``torch.hub`` does; files already on disk are trusted).

    ``announce=False`` keeps stderr quiet (``gansr-fetch-weights`` prints its own line per file).

    Raises:
        MissingWeightError: the file is absent and the download failed (offline machine).
        WeightChecksumError: the downloaded file has the wrong sha256 (nothing is kept).
    """
    if local_path is not None:
        path = Path(local_path).expanduser()
        path = path / filename if path.is_dir() else path
        if not path.is_file():
            raise MissingWeightError(f"weight file {path} does not exist; get {filename} from {url}", path=path)
        return path
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = folder / filename
    if path.is_file():
        return path
    import torch.hub

    if announce:
        print(f"gansr: {filename} is not in {folder}/; downloading {url}", file=sys.stderr)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(url, str(path), hash_prefix=sha256.lower() if sha256 else None, progress=False)
    except RuntimeError as err:  # torch.hub's hash check; the partial file is already removed
        raise WeightChecksumError(f"{filename} downloaded from {url} failed its sha256 check ({err})") from err
    except OSError as err:  # URLError, HTTPError, DNS failure, read-only folder
        reason = getattr(err, "reason", err)
        raise MissingWeightError(
            f"missing weight file {filename}: not in {folder}/ and the download from {url} failed ({reason}); "
            f"run gansr-fetch-weights on a connected machine, or copy the file to {path}",
            path=path, url=url, reason=str(reason),
        ) from None
    if announce:
        print(f"gansr: wrote {path}", file=sys.stderr)
    return path


def find_shipped_niqe_params(*places: str | os.PathLike | None) -> Path | None:
    """The official NIQE ``modelparameters.mat`` shipped next to a data folder, or ``None``.

    Looks for ``metrics/niqe/modelparameters.mat`` in each of ``places`` (data roots, HR folders, ...) and in their
    parent folders, then under ``$GANSR_DATA`` and ``$GANSR_SHARED_DATA``: ``--hr ../shared/data/Set5/HR`` finds
    ``../shared/data/metrics/niqe/modelparameters.mat``.
    """
    candidates = [*places, os.environ.get("GANSR_DATA"), os.environ.get("GANSR_SHARED_DATA")]
    for place in candidates:
        if not place:
            continue
        folder = Path(place).expanduser().resolve()
        for parent in (folder, *folder.parents):
            if (parent / SHIPPED_NIQE_PARAMS).is_file():
                return parent / SHIPPED_NIQE_PARAMS
    return None


@dataclass(frozen=True)
class WeightFile:
    """One pretrained file gansr uses: ``filename`` at ``url`` (``sha256``: full digest or prefix, ``None`` when no
    digest is published), kept in the torch hub folder (``hub=True``) or in :func:`default_cache_dir`."""

    key: str
    filename: str
    url: str
    sha256: str | None
    hub: bool
    used_by: str

    def folder(self) -> Path:
        return torch_hub_checkpoints_dir() if self.hub else default_cache_dir()


_PYIQA_STORE = "https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main"

#: every pretrained file gansr loads; torchvision names carry the first 8 hex digits of the file's sha256 (torch.hub
#: checks that prefix); pyiqa publishes no digest for its parameter files.
WEIGHT_FILES: dict[str, WeightFile] = {
    "vgg19": WeightFile("vgg19", "vgg19-dcbb9e9d.pth", "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth",
                        "dcbb9e9d", hub=True, used_by="perceptual losses (VGG19)"),
    "alexnet": WeightFile("alexnet", "alexnet-owt-7be5be79.pth",
                          "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth", "7be5be79", hub=True,
                          used_by="LPIPS (AlexNet trunk)"),
    "niqe": WeightFile("niqe", "niqe_modelparameters.mat", f"{_PYIQA_STORE}/niqe_modelparameters.mat", None,
                       hub=False, used_by="NIQE, PI"),
    "nrqm": WeightFile("nrqm", "NRQM_model.mat", f"{_PYIQA_STORE}/NRQM_model.mat", None, hub=False,
                       used_by="Ma (NRQM), PI"),
    # the released ESRGAN (RRDB_ESRGAN_x4, trained on DIV2K + Flickr2K + OST) in BasicSR's keys ("params"); the
    # name carries the first 8 hex digits of its sha256, BasicSR's convention (docs/tables.md)
    "esrgan_x4": WeightFile("esrgan_x4", "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth",
                            "https://github.com/xinntao/Real-ESRGAN/releases/download/v0.1.1/"
                            "ESRGAN_SRx4_DF2KOST_official-ff704c30.pth", "ff704c30", hub=False,
                            used_by="the FASRGAN tables' ESRGAN row (released model, evaluated only)"),
}
