"""What a run folder records about its runs, written only once a run is accepted (docs/reliability.md, "Reading
run folders and weight files").

``gansr-train`` used to let Hydra write ``<run>/.hydra/{config,hydra,overrides}.yaml`` before the task started, so
a request refused a moment later (``resume=/nonexist.ckpt``, a changed architecture) had already replaced the
recorded config of a finished run, and its ``generator.pth``/``last.ckpt`` no longer matched it. Now
``conf/train.yaml`` sets ``hydra.output_subdir: null`` (Hydra writes nothing there) and, once ``gansr-train``
accepts the run:

* :func:`check_resume_architecture` - a resumed run's networks (the module's ``generator``, ``discriminator``,
  ``extractor`` and ``scale``) must equal those its checkpoint's run recorded (read as data, :mod:`gansr.utils.run_folder`); otherwise the
  request is refused in one line naming the differing keys;
* :func:`write_hydra_files` - the three files Hydra would have written, with the same content, each written
  atomically (:mod:`gansr.utils.atomic`).
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from gansr.utils.atomic import write_text_atomic
from gansr.utils.errors import GansrError
from gansr.utils.run_folder import read_sections, run_config_files
from gansr.utils.yaml_data import ConfigFileError

#: the module's networks and scale: a resumed run may not change them (``module.discriminator`` is absent in a
#: PSNR run, ``module.extractor`` null without a shared extractor)
ARCHITECTURE_KEYS = ("module.generator", "module.discriminator", "module.extractor", "module.scale")
#: where Hydra keeps its files in a run folder (Hydra's default ``hydra.output_subdir``)
HYDRA_SUBDIR = ".hydra"


class ArchitectureChangedError(GansrError, ValueError):
    """A resumed run whose networks differ from the ones its checkpoint's run recorded (one line, naming keys)."""


def _flatten(value: object, prefix: str) -> dict[str, object]:
    if isinstance(value, Mapping) and value:
        return {k: v for key, item in value.items() for k, v in _flatten(item, f"{prefix}.{key}").items()}
    return {prefix: value}


def recorded_config_file(checkpoint: str | Path) -> Path | None:
    """The run config recorded beside ``checkpoint`` (``<run>/checkpoints/x.ckpt`` or ``<run>/x.ckpt``), if any."""
    checkpoint = Path(checkpoint).resolve()
    found = [f for folder in (checkpoint.parent.parent, checkpoint.parent) for f in run_config_files(folder)]
    return found[0] if found else None


def check_resume_architecture(cfg: DictConfig, checkpoint: str | Path | None) -> None:
    """Refuse to resume ``checkpoint`` with networks other than those its run recorded.

    Compares the resolved :data:`ARCHITECTURE_KEYS` of ``cfg`` (composed from ``conf/`` and the command line)
    with those of the recorded config beside ``checkpoint``, key by key; keys the recorded config lacks are
    not compared, nor is anything when no config is recorded (a run composed in code without the CSV logger).

    Raises:
        ArchitectureChangedError: a key differs (the message names up to five, with both values), or the recorded
            config cannot be read as data.
    """
    if checkpoint is None:
        return
    file = recorded_config_file(checkpoint)
    if file is None:
        return
    try:
        recorded = read_sections(file, ARCHITECTURE_KEYS)
    except ConfigFileError as err:
        raise ArchitectureChangedError(f"resume={checkpoint}: cannot compare with the run's recorded config: {err}") \
            from None
    before, now = {}, {}
    for key, value in recorded.items():
        before |= _flatten(value, key)
        current = OmegaConf.select(cfg, key, default=None)
        now |= _flatten(OmegaConf.to_container(current, resolve=True) if isinstance(current, DictConfig) else current,
                        key)
    changed = sorted(k for k in before.keys() | now.keys() if before.get(k, "<absent>") != now.get(k, "<absent>"))
    if changed:
        shown = ", ".join(f"{k} ({before.get(k, '<absent>')!r} -> {now.get(k, '<absent>')!r})" for k in changed[:5])
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        raise ArchitectureChangedError(
            f"resume={checkpoint}: the run recorded other networks in {file}: {shown}{more}; resume with the recorded "
            "settings, or train a new run (another run_name=...) from its weights with module.generator_init=..."
        )


def write_hydra_files(output_dir: str | Path, cfg: DictConfig) -> None:
    """``<output_dir>/.hydra/config.yaml`` (``cfg``, the task config, unresolved), ``hydra.yaml`` (Hydra's own
    config) and ``overrides.yaml`` (the command-line overrides), as Hydra's ``run_job`` writes them, each atomically.
    Call it once the run is accepted, from a job that ``@hydra.main`` started."""
    from hydra.core.hydra_config import HydraConfig

    hydra_cfg = OmegaConf.create(OmegaConf.to_container(HydraConfig.instance().cfg, resolve=False))
    hydra_cfg.hydra.output_subdir = HYDRA_SUBDIR  # where the files are, as Hydra itself would record it
    folder = Path(output_dir) / HYDRA_SUBDIR
    folder.mkdir(parents=True, exist_ok=True)
    task = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"]) if "hydra" in cfg else cfg
    write_text_atomic(folder / "config.yaml", OmegaConf.to_yaml(task))
    write_text_atomic(folder / "hydra.yaml", OmegaConf.to_yaml(hydra_cfg))
    write_text_atomic(folder / "overrides.yaml", OmegaConf.to_yaml(hydra_cfg.hydra.overrides.task))
