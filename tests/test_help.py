"""``gansr-train --help`` / ``gansr-eval --help`` are gansr's own (presets, groups, examples, docs), and
``help(gansr)`` is the short user docstring, fast and without importing Lightning (issue 21 item 7)."""
from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PRESETS = sorted(p.stem for p in (REPO / "conf" / "experiment").glob("*.yaml"))


def cli_help(module: str) -> str:
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def train_help() -> str:
    return cli_help("gansr.cli.train")


def example_lines(text: str, command: str) -> list[list[str]]:
    """The argv of each ``<command> ...`` line of the help's Examples (comments dropped)."""
    examples = text.split("Examples:", 1)[1]
    return [shlex.split(line.split(" #", 1)[0]) for line in examples.splitlines() if line.strip().startswith(command)]


def test_train_help_lists_every_preset_with_a_line(train_help):
    assert "is powered by Hydra" not in train_help
    assert train_help.startswith("gansr-train: ")
    described = dict(re.findall(r"^  (\w+) {2,}(\S.*)$", train_help.split("Config groups", 1)[0], re.M))
    assert sorted(described) == PRESETS  # every preset, and nothing that is not one
    assert "experiment: " in train_help and "discriminator: " in train_help  # the groups and their options
    assert "docs/methods.md" in train_help and "docs/resume.md" in train_help


@pytest.mark.parametrize("module, config", [("gansr.cli.train", "train"), ("gansr.cli.evaluate", "eval")])
def test_help_examples_compose(module, config, train_help, tmp_path):
    from gansr.cli import compose_config

    text = train_help if config == "train" else cli_help(module)
    command = "gansr-train" if config == "train" else "gansr-eval"
    examples = example_lines(text, command)
    assert len(examples) >= 3
    for argv in examples:
        overrides = [a for a in argv[1:] if a != "-m"]
        overrides = [a.split(",")[0] if "=" in a and "[" not in a and "{" not in a else a for a in overrides]
        compose_config(overrides, tmp_path / "run", config_name=config)  # raises on an unknown key or option


def test_help_gansr_is_the_short_user_docstring():
    """pydoc renders the docstring without importing the lazy exports (before: 24,061 lines, 14.6 s, Lightning's
    inherited docstrings and a maintainer note)."""
    probe = ("import pydoc, sys, gansr\n"
             "text = pydoc.render_doc(gansr, renderer=pydoc.plaintext)\n"
             "print(len(text.splitlines()), 'pytorch_lightning' in sys.modules, 'torch' in sys.modules)\n"
             "print(text)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(REPO / "src"), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-2000:]
    first, text = done.stdout.split("\n", 1)
    lines, lightning, torch = first.split()
    assert int(lines) < 120 and lightning == "False" and torch == "False"
    assert "_LAZY_EXPORTS" not in text and "load_generator" in text and "FASRGAN" in text
