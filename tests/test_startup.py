"""``import gansr`` and the light commands' ``--help`` load no heavy package (issue 16 item 18)."""
from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("pytorch_lightning", "lightning", "torchmetrics", "transformers", "cv2", "matplotlib", "scipy", "pyiqa",
         "lpips", "omegaconf", "torch")


def modules_after(code: str, repo_root) -> set[str]:
    probe = f"{code}\nimport sys\nprint('LOADED:', *sorted(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                            env={"PYTHONPATH": str(repo_root / "src"), "PATH": "/usr/bin:/bin"}, timeout=300)
    return set(result.stdout.strip().splitlines()[-1].split()[1:])


def test_import_gansr_and_downscale_help_stay_light(repo_root):
    assert modules_after("import gansr, gansr.cli.downscale, gansr.cli.fetch_weights", repo_root) == set()
    code = "import gansr.cli.downscale as d\ntry:\n    d.main(['--help'])\nexcept SystemExit:\n    pass"
    assert modules_after(code, repo_root) == set()


def test_import_gansr_metrics_needs_torch_only(repo_root):
    assert modules_after("import gansr.metrics", repo_root) == {"torch"}


def test_lazy_exports_resolve_and_unknown_names_fail():
    import gansr

    assert all(getattr(gansr, name) is not None for name in gansr.__all__)  # each public name resolves
    assert gansr.ESRGAN.__name__ == "ESRGAN" and gansr.GANModule.__name__ == "GANModule"
    from gansr import FASRGAN, PSNRModule  # noqa: F401  (the documented import form)

    with pytest.raises(AttributeError, match="no attribute 'NotAThing'"):
        gansr.NotAThing  # noqa: B018
    import gansr.metrics

    assert gansr.metrics.build_metrics.__module__ == "gansr.metrics.collection"
