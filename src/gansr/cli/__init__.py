"""Console entry points (see pyproject.toml ``[project.scripts]``) and the config composer they share."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # omegaconf loads with the commands that compose configs, not with every --help
    from omegaconf import DictConfig

CONF_DIR = Path(__file__).resolve().parents[3] / "conf"


def compose_config(overrides: list[str], output_dir: str | Path, config_name: str = "train") -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` outside ``@hydra.main`` (demo, tests, notebooks).

    ``paths.root_dir`` becomes the current directory and ``paths.output_dir`` the given folder, which
    ``@hydra.main`` would otherwise derive from the run.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

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
