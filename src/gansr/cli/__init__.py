"""Console entry points (see pyproject.toml ``[project.scripts]``) and the config composer they share."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # omegaconf loads with the commands that compose configs, not with every --help
    from omegaconf import DictConfig

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"


def job_run_name(fallback: str) -> str:
    """The default ``run_name`` of ``conf/train.yaml`` (``${gansr.run_name:<launch time>}``).

    Under SLURM (``SLURM_JOB_ID`` set) the run folder follows the job: ``<job name>-<job id>``, for an array task
    ``<job name>-<array job id>_<task index>`` -- the same in every rank of the job (each ``srun`` task composes its
    own config) and after every requeue (the job keeps its id), so all of them write one folder and a requeued job
    finds its checkpoints (docs/slurm.md). Elsewhere ``fallback``, the launch time. A job that trains more than one
    run names each (``run_name=...``).
    """
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return fallback
    array_job, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array_job and task:
        job = f"{array_job}_{task}"
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", os.environ.get("SLURM_JOB_NAME", "")).strip("._-") or "job"
    return f"{name}-{job}"


def register_resolvers() -> None:
    """The config resolvers gansr's configs use (``gansr.run_name``: :func:`job_run_name`); registered by
    :func:`compose_config` and by the ``@hydra.main`` commands before they compose."""
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("gansr.run_name"):
        OmegaConf.register_new_resolver("gansr.run_name", job_run_name)


def compose_config(overrides: list[str], output_dir: str | Path, config_name: str = "train") -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` outside ``@hydra.main`` (demo, tests, notebooks).

    ``paths.root_dir`` becomes the current directory and ``paths.output_dir`` the given folder, which
    ``@hydra.main`` would otherwise derive from the run.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    register_resolvers()
    GlobalHydra.instance().clear()
    output_dir = Path(output_dir).resolve()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        cfg = compose(
            config_name=config_name,
            overrides=[f"paths.root_dir={Path.cwd()}", f"paths.output_dir={output_dir}", *overrides],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)
    return cfg


def group_keys(group: str) -> frozenset[str]:
    """The keys the options of config group ``conf/<group>/`` may set: those of any of its files (docs/configs.md)."""
    import yaml

    keys: set[str] = set()
    for path in (CONF_DIR / group).glob("*.yaml"):
        keys |= set(yaml.safe_load(path.read_text()) or {}) - {"defaults"}
    return frozenset(keys)
