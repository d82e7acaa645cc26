"""Shared pytest fixtures: the ../shared/data folder (skipped when absent) and tiny-model helpers."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("GANSR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The staged benchmark data of ../shared/data (Set5, Set14, BSD100, T91, fixtures, NIQE parameters)."""
    if not (SHARED_DATA / "Set5" / "HR").is_dir():
        pytest.skip(f"needs ../shared/data (looked in {SHARED_DATA}); set GANSR_SHARED_DATA to its path")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
