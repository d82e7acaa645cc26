"""README.md's commands work as written (issue 16: "every README command works as written on a fresh clone").

Every ```bash block in README.md is preceded by a marker line:

* ``<!-- runnable -->``: the block is run as one bash script (``set -euo pipefail``) in a fresh folder that has
  ``../shared/data`` beside it, as a fresh clone next to ``../shared`` has, with the console scripts of
  ``pyproject.toml`` on PATH (wrappers around this interpreter and this checkout). These blocks use tiny settings;
* ``<!-- not runnable: <reason> -->``: installs, needs a GPU / W&B account / the network / paper-scale data or time.
  Their ``gansr-train`` and ``gansr-eval`` lines are still composed with Hydra (override names and values must exist),
  and the options of the argparse commands are parsed, so a renamed option or config key fails here too.

Files cited in README (links and ``docs/...`` paths) must exist in the project.
"""
from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
RUNNABLE = "<!-- runnable -->"
NOT_RUNNABLE = re.compile(r"<!-- not runnable: .+ -->")
#: docs other helpers write on their branches (linked from README once merged)
DOCS_OF_OTHER_BRANCHES = {"docs/reliability.md", "docs/resume.md", "docs/data.md", "docs/speed.md",
                          "docs/slurm.md", "docs/logging.md"}


def bash_blocks() -> list[tuple[str, str, int]]:
    """``(marker line, code, line number)`` of every ```bash block of README.md."""
    lines = README.read_text().splitlines()
    blocks, index = [], 0
    while index < len(lines):
        if lines[index].strip() == "```bash":
            start = index
            end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
            marker = next((lines[i].strip() for i in range(start - 1, -1, -1) if lines[i].strip()), "")
            blocks.append((marker, "\n".join(lines[start + 1 : end]), start + 1))
            index = end
        index += 1
    return blocks


def commands(code: str) -> list[list[str]]:
    """Each command of a block as argv (comments and ``cd x &&`` prefixes dropped, ``\\`` continuations joined)."""
    argvs = []
    for line in code.replace("\\\n", " ").splitlines():
        for part in re.split(r"&&|;", line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""):
            argv = shlex.split(part)
            while argv and "=" in argv[0] and not argv[0].startswith("-"):  # VAR=value prefixes
                argv = argv[1:]
            if argv:
                argvs.append(argv)
    return argvs


def test_every_bash_block_is_marked():
    blocks = bash_blocks()
    assert blocks, "README.md has no bash blocks"
    unmarked = [line for marker, _, line in blocks if marker != RUNNABLE and not NOT_RUNNABLE.fullmatch(marker)]
    assert not unmarked, f"README.md bash blocks at lines {unmarked} need {RUNNABLE} or <!-- not runnable: why -->"


def test_cited_files_exist():
    text = README.read_text()
    cited = set(re.findall(r"\]\(((?!https?:|#)[^)\s]+)\)", text)) | set(re.findall(r"`(docs/[\w.-]+\.md)`", text))
    missing = sorted(p for p in cited if not (REPO / p.split("#")[0]).exists() and p not in DOCS_OF_OTHER_BRANCHES)
    assert not missing, f"README.md cites files that are not in the project: {missing}"
    assert "METHODS" + ".md" not in text and "DESIGN.md" not in text  # developer-only files, not shipped


def _overrides(argv: list[str]) -> list[str]:
    args = [a for a in argv[1:] if a != "-m"]
    if "-m" in argv:  # a sweep composes like its first job
        args = [a.split("=", 1)[0] + "=" + a.split("=", 1)[1].split(",")[0] if "=" in a and "[" not in a else a
                for a in args]
    return args


def test_not_runnable_commands_compose(tmp_path):
    """gansr-train / gansr-eval overrides compose; argparse commands accept their options (nothing is run)."""
    from gansr.cli import compose_config

    parsers = {
        "gansr-score": "gansr.cli.score",
        "gansr-fetch-weights": "gansr.cli.fetch_weights",
        "gansr-downscale": "gansr.cli.downscale",
    }
    checked = 0
    for marker, code, line in bash_blocks():
        if marker == RUNNABLE:
            continue
        for argv in commands(code):
            if argv[0] in ("gansr-train", "gansr-eval"):
                config = "train" if argv[0] == "gansr-train" else "eval"
                try:
                    compose_config(_overrides(argv), tmp_path / "run", config_name=config)
                except Exception as err:  # noqa: BLE001 - report the README line with Hydra's message
                    pytest.fail(f"README.md line {line}: `{shlex.join(argv)}` does not compose: {err}")
                checked += 1
            elif argv[0] in parsers:
                import importlib

                parser = importlib.import_module(parsers[argv[0]]).build_parser()
                try:
                    parser.parse_args(argv[1:])
                except SystemExit:
                    pytest.fail(f"README.md line {line}: `{shlex.join(argv)}`: options not accepted")
                checked += 1
    assert checked >= 5


def console_scripts_bin(folder: Path) -> Path:
    """Wrappers for every ``[project.scripts]`` entry that run this interpreter on this checkout's sources."""
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    folder.mkdir()
    for name, target in scripts.items():
        module, function = target.split(":")
        path = folder / name
        path.write_text(f"#!{sys.executable}\nimport sys\nfrom {module} import {function}\nsys.exit({function}())\n")
        path.chmod(0o755)
    return folder


@pytest.mark.slow
def test_runnable_blocks_run_as_written(shared_data, tmp_path):
    """The runnable blocks, in order, in a fresh folder with ../shared/data beside it (a fresh clone's layout)."""
    runnable = [(code, line) for marker, code, line in bash_blocks() if marker == RUNNABLE]
    assert runnable, "README.md has no runnable block"
    clone = tmp_path / "clone"
    clone.mkdir()
    (tmp_path / "shared").symlink_to(shared_data.parent)
    env = {
        **os.environ,
        "PATH": f"{console_scripts_bin(tmp_path / 'bin')}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(REPO / "src"),
        "OMP_NUM_THREADS": "1",
        "WANDB_MODE": "offline",
        "GANSR_CACHE": str(tmp_path / "weights_cache"),  # no metric parameter files: the defaults must cope
    }
    for name in ("GANSR_ROOT", "GANSR_DATA", "GANSR_SHARED_DATA"):
        env.pop(name, None)
    for code, line in runnable:
        result = subprocess.run(["bash", "-c", f"set -euo pipefail\n{code}"], cwd=clone, env=env,
                                capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, (f"README.md block at line {line} failed ({result.returncode}):\n"
                                        f"{result.stdout[-3000:]}\n{result.stderr[-6000:]}")
