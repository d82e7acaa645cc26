"""A generator file or a run config is data: it may only select gansr's own classes, never run code.

The malicious file is the one from the reliability issue: it loads with ``torch.load(weights_only=True)`` (its
config is plain strings, bytes and booleans) but names ``torch.load`` of a pickle that calls ``os.system``.
"""
from __future__ import annotations

import os
import pickle
import shutil
import sys
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from gansr.analysis import load_gan_run
from gansr.archs.rrdbnet import RRDBNet
from gansr.cli.convert import main as convert_main
from gansr.cli.upscale import main as upscale_main
from gansr.inference import load_generator_file
from gansr.utils.safe_config import UnsafeConfigError, build_architecture

TINY = {"_target_": "gansr.archs.rrdbnet.RRDBNet", "num_feat": 4, "num_block": 1, "num_grow_ch": 4, "scale": 4}


class _Payload:
    """Unpickling this runs ``os.system(command)``."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def malicious_generator_file(folder: Path) -> tuple[Path, Path]:
    """(the generator file, the marker file its payload would create)."""
    marker = folder / "payload_ran"
    payload = pickle.dumps(_Payload(f"touch {marker}"))
    params = RRDBNet(**{k: v for k, v in TINY.items() if k != "_target_"}).state_dict()
    config = {
        "generator": {
            "_target_": "torch.load",
            "f": {"_target_": "io.BytesIO", "initial_bytes": payload},
            "weights_only": False,
        },
        "extractor": None,
        "scale": 4,
    }
    path = folder / "G.pth"
    torch.save({"params": params, "config": config}, path)
    assert isinstance(torch.load(path, weights_only=True), dict)  # the file itself passes weights_only
    return path, marker


def test_malicious_generator_file_is_refused_and_runs_nothing(tmp_path):
    path, marker = malicious_generator_file(tmp_path)
    with pytest.raises(UnsafeConfigError, match="refusing to build 'torch.load'"):
        load_generator_file(path)
    assert not marker.exists()


def test_upscale_cli_refuses_the_malicious_file_in_one_line(tmp_path, capsys):
    path, marker = malicious_generator_file(tmp_path)
    image = tmp_path / "lr.png"
    from gansr.data.image_io import write_image

    write_image(image, torch.rand(3, 8, 8))
    with pytest.raises(SystemExit) as exit_info:
        upscale_main(["--input", str(image), "--output", str(tmp_path / "out"), "--checkpoint", str(path)])
    assert "refusing to build 'torch.load'" in str(exit_info.value.code)
    assert not marker.exists()


def test_eval_cli_refuses_the_malicious_file(tmp_path):
    import subprocess

    path, marker = malicious_generator_file(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "gansr.cli.evaluate", f"checkpoint={path}", "sets=[Set5]", f"out_dir={tmp_path}/eval"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )
    assert result.returncode != 0
    assert "refusing to build 'torch.load'" in result.stderr + result.stdout
    assert not marker.exists()


@pytest.mark.parametrize(
    "node, message",
    [
        ({**TINY, "_target_": "os.system"}, "refusing to build 'os.system'"),
        ({**TINY, "_target_": "gansr.archs.unet_discriminator.UNetDiscriminator"}, "refusing to build"),
        ({**TINY, "num_feat": {"_target_": "builtins.int"}}, "argument 'num_feat' of RRDBNet must be"),
        ({**TINY, "not_an_argument": 1}, "RRDBNet has no argument 'not_an_argument'"),
    ],
)
def test_build_architecture_allow_list(node, message):
    with pytest.raises(UnsafeConfigError, match=message):
        build_architecture(node, "G.pth")


def test_build_architecture_builds_the_named_class():
    network = build_architecture(TINY, "G.pth")
    assert isinstance(network, RRDBNet) and network.conv_first.out_channels == 4


def test_convert_refuses_a_yaml_that_names_code(tmp_path):
    bad = tmp_path / "arch.yaml"
    OmegaConf.save(OmegaConf.create({"_target_": "subprocess.call", "args": ["true"]}), bad)
    weights = tmp_path / "w.pth"
    torch.save(RRDBNet(num_feat=4, num_block=1, num_grow_ch=4).state_dict(), weights)
    with pytest.raises(UnsafeConfigError, match="refusing to build 'subprocess.call'"):
        convert_main(["--checkpoint", str(weights), "--arch", str(bad), "--out", str(tmp_path / "G.pth")])


# ------------------------------------------------------------------ a crafted GAN run folder (issue 19 item 1)
TINY_GAN = ["experiment=fasrgan", "generator.num_feat=8", "generator.num_block=1", "generator.num_grow_ch=4",
            "discriminator.num_feat=4", "data.patch_size=32", "loss.perceptual=null"]


def tiny_gan_run(folder: Path, recorded: str = "hparams.yaml", overrides: tuple[str, ...] = ()) -> Path:
    """A GAN run folder as gansr-train leaves it, without training: ``checkpoints/last.ckpt`` (the module's state
    dict, iteration 3) and its config, resolved in ``hparams.yaml`` (the CSV logger's copy) or unresolved in
    ``.hydra/config.yaml`` (Hydra's copy)."""
    import yaml
    from hydra.utils import (
        instantiate,  # the project's own conf/ composed here, not a file read back
    )

    from gansr.cli import compose_config

    cfg = compose_config([*TINY_GAN, *overrides], folder)
    torch.manual_seed(0)
    module = instantiate(cfg.module)
    (folder / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": module.state_dict(), "iteration": 3}, folder / "checkpoints" / "last.ckpt")
    task = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    if recorded == "hparams.yaml":
        (folder / "hparams.yaml").write_text(yaml.safe_dump(OmegaConf.to_container(task, resolve=True)))
    else:
        (folder / ".hydra").mkdir()
        (folder / ".hydra" / "config.yaml").write_text(OmegaConf.to_yaml(task))
    return folder


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory) -> Path:
    return tiny_gan_run(tmp_path_factory.mktemp("gan") / "run")


@pytest.mark.parametrize("recorded", ["hparams.yaml", ".hydra/config.yaml"])
def test_load_gan_run_rebuilds_a_run_from_either_config(tmp_path, recorded):
    from gansr.training.variants import FASRGAN

    run = tiny_gan_run(tmp_path / "run", recorded, ("mask=mse",))  # a mask-aided run: the old allow-list refused it
    module = load_gan_run(run)
    assert isinstance(module, FASRGAN) and module.iteration == 3 and module.mask is not None
    saved = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert all(torch.equal(v, saved[k]) for k, v in module.state_dict().items())


def _pickle_base64(marker: Path) -> str:
    import base64

    return base64.b64encode(pickle.dumps(_Payload(f"touch {marker}"))).decode()


def _torch_load_node(marker: Path) -> str:
    """The issue's flow-style node: ``torch.load`` of a pickle whose ``__reduce__`` runs ``touch marker``."""
    return (f"{{_target_: torch.load, f: {{_target_: io.BytesIO, _args_: [!!binary {_pickle_base64(marker)}]}}, "
            "weights_only: false}")


def _with_value(run: Path, key: str, value: object, tmp_path: Path, extra: str = "") -> Path:
    """A copy of ``run`` whose hparams.yaml has ``module.<key>: value`` (``value`` written as it is when a str that
    starts with ``RAW:``, else YAML-dumped), after ``extra`` YAML text at the top level (an anchor, a node)."""
    import yaml

    copy = shutil.copytree(run, tmp_path / "crafted")
    text = (copy / "hparams.yaml").read_text()
    document = yaml.safe_load(text)
    placeholder = "__GANSR_TEST_VALUE__"
    document["module"][key] = placeholder
    dumped = yaml.safe_dump(document, width=10**6)
    raw = value[4:] if isinstance(value, str) and value.startswith("RAW:") else yaml.safe_dump(value, width=10**6).strip()
    raw = raw.removesuffix("\n...")
    (copy / "hparams.yaml").write_text(extra + dumped.replace(placeholder, raw))
    return copy


def _payloads(marker: Path) -> dict[str, tuple[str, str, str]]:
    """name -> (module key, YAML text of its value, extra top-level YAML)."""
    node = _torch_load_node(marker)
    quoted = node.replace('"', '\\"')
    return {
        # the exact payload of issue 19 item 1: an escaped interpolation, resolved a second time by instantiate
        "escaped oc.create": ("tv_loss", f"RAW:'\\${{oc.create:\"{quoted}\"}}'", ""),
        "double escape": ("tv_loss", f"RAW:'\\\\${{oc.create:\"{quoted}\"}}'", ""),
        "oc.create": ("tv_loss", f"RAW:'${{oc.create:\"{quoted}\"}}'", ""),
        "oc.decode": ("tv_loss", f"RAW:'${{oc.decode:\"{quoted}\"}}'", ""),
        "oc.select": ("tv_loss", "RAW:'${oc.select:payload,null}'", f"payload: {node}\n"),
        "oc.env": ("tv_loss", "RAW:'${oc.env:GANSR_TEST_PAYLOAD}'", ""),
        "custom resolver": ("tv_loss", "RAW:'${gansr_test_mark:}'", ""),
        "nested _target_": ("tv_loss", f"RAW:{{_target_: gansr.losses.tv.TVLoss, weight: {node}}}", ""),
        "top-level _target_": ("tv_loss", f"RAW:{node}", ""),
        "_args_": ("tv_loss", f"RAW:{{_target_: gansr.losses.tv.TVLoss, _args_: [{node}]}}", ""),
        "_partial_": ("optimizer_g", f"RAW:{{_target_: builtins.open, _partial_: true, file: {marker}, mode: w}}", ""),
        "yaml alias": ("tv_loss", "RAW:*payload", f"payload: &payload {node}\n"),
        "builtins.open": ("tv_loss", f"RAW:'\\${{oc.create:\"{{_target_: builtins.open, file: {marker}, mode: w}}\"}}'", ""),
    }


PAYLOAD_NAMES = list(_payloads(Path("m")))


@pytest.mark.parametrize("name", PAYLOAD_NAMES)
def test_load_gan_run_runs_no_code_from_a_crafted_run_folder(gan_run, tmp_path, monkeypatch, name):
    """Issue 19 item 1: every payload is refused in one line and the marker file is never created (on the old
    code, which resolved the file's interpolations and handed it to instantiate, it was)."""
    marker = tmp_path / "payload_ran"
    key, value, extra = _payloads(marker)[name]
    monkeypatch.setenv("GANSR_TEST_PAYLOAD", f"${{oc.create:\"{_torch_load_node(marker)}\"}}")
    OmegaConf.register_new_resolver("gansr_test_mark", lambda: marker.touch() or 1.0, replace=True)
    try:
        crafted = _with_value(gan_run, key, value, tmp_path, extra)
        with pytest.raises(Exception) as info:
            load_gan_run(crafted)
    finally:
        OmegaConf.clear_resolver("gansr_test_mark")
    assert not marker.exists(), f"{name}: the payload ran"
    assert isinstance(info.value, (ValueError, TypeError)), repr(info.value)
    assert "\n" not in str(info.value) and "hparams.yaml" in str(info.value)


@pytest.mark.parametrize("value", ["os.system", "${gansr_test_mark:}"])
def test_load_gan_run_reads_hydra_config_as_data(tmp_path, value):
    """The same through ``.hydra/config.yaml`` (unresolved, as Hydra writes it): only plain ``${a.b}`` references
    are followed; a target outside the allow-list or a resolver is refused and runs nothing."""
    import yaml

    marker = tmp_path / "payload_ran"
    run = tiny_gan_run(tmp_path / "run", ".hydra/config.yaml")
    config = run / ".hydra" / "config.yaml"
    document = yaml.safe_load(config.read_text())
    if value == "os.system":
        document["module"]["discriminator"] = {"_target_": "os.system", "command": f"touch {marker}"}
    else:
        document["module"]["discriminator"] = value
    config.write_text(yaml.safe_dump(document))
    OmegaConf.register_new_resolver("gansr_test_mark", lambda: marker.touch() or 1.0, replace=True)
    try:
        with pytest.raises(Exception) as info:
            load_gan_run(run)
    finally:
        OmegaConf.clear_resolver("gansr_test_mark")
    assert not marker.exists()
    assert isinstance(info.value, (ValueError, TypeError)) and "config.yaml" in str(info.value), repr(info.value)


@pytest.mark.parametrize("experiment", sorted(p.stem for p in (Path(__file__).parents[1] / "conf" / "experiment").glob("*.yaml")))
def test_every_presets_module_rebuilds_from_its_recorded_config(experiment, tmp_path):
    """The allow-list covers every class the presets name (conf/experiment/*), and the meta-device check accepts
    their modules: the recorded, resolved ``module`` config rebuilds the module with the same state-dict layout."""
    from hydra.utils import (
        instantiate,  # the project's own conf/ composed here, not a file read back
    )
    from test_experiments import tiny_overrides

    from gansr.cli import compose_config
    from gansr.training.rebuild import build_run_module

    cfg = compose_config([*tiny_overrides(experiment, tmp_path / "hr", tmp_path), "module.generator_init=null",
                          "module.ema_decay=0.5"], tmp_path / "run")
    if cfg.module.get("perceptual_loss") is not None:
        cfg.module.perceptual_loss = None
    recorded = OmegaConf.to_container(cfg.module, resolve=True)
    reference = instantiate(cfg.module)
    rebuilt = build_run_module(recorded, reference.state_dict(), "hparams.yaml")
    assert type(rebuilt) is type(reference)
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in reference.state_dict().items()}


def test_no_resolver_runs_from_a_run_config_beside_a_checkpoint_or_an_arch_file(tmp_path):
    """gansr-upscale/gansr-eval/gansr-convert read a ``.ckpt``'s run config, and gansr-convert an ``--arch`` YAML,
    as data: a resolver named there is refused, never called (the old code resolved both with OmegaConf)."""
    marker = tmp_path / "resolver_ran"
    run = tmp_path / "run"
    (run / ".hydra").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    params = RRDBNet(**{k: v for k, v in TINY.items() if k != "_target_"}).state_dict()
    torch.save({"state_dict": {f"generator.{k}": v for k, v in params.items()}}, run / "checkpoints" / "last.ckpt")
    (run / ".hydra" / "config.yaml").write_text(
        "scale: 4\ngenerator:\n  _target_: gansr.archs.rrdbnet.RRDBNet\n  num_feat: ${gansr_test_mark:}\n"
        "  num_block: 1\n  num_grow_ch: 4\n  scale: ${scale}\nsharing: null\n")
    arch = tmp_path / "arch.yaml"
    arch.write_text("_target_: gansr.archs.rrdbnet.RRDBNet\nnum_feat: ${gansr_test_mark:}\nnum_block: 1\n")
    weights = tmp_path / "w.pth"
    torch.save(params, weights)
    OmegaConf.register_new_resolver("gansr_test_mark", lambda: marker.touch() or 4, replace=True)
    try:
        with pytest.raises(ValueError, match=r"config.yaml: generator.num_feat = '\$\{gansr_test_mark:\}'"):
            load_generator_file(run / "checkpoints" / "last.ckpt")
        with pytest.raises(ValueError, match=r"arch.yaml: network.num_feat"):
            convert_main(["--checkpoint", str(weights), "--arch", str(arch), "--out", str(tmp_path / "G.pth")])
    finally:
        OmegaConf.clear_resolver("gansr_test_mark")
    assert not marker.exists()
