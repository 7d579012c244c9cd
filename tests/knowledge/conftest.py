"""Fixtures for the knowledge-base tests.

The shared evaluation material lives beside the repository (``<repo>/../shared``); tests that need it
skip cleanly when it is absent.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
# Let the test modules import their helper module whatever pytest's import mode is.
sys.path.insert(0, str(HERE))
# This folder is called "knowledge" and has no __init__.py: when tests/ is on sys.path but the repository
# root is not (plain `pytest` rather than `python -m pytest`), `import knowledge` would find this folder as
# an empty namespace package instead of the real one. Put the repository first and forget such a stray.
sys.path.insert(0, str(HERE.parents[1]))
_stray = sys.modules.get("knowledge")
if _stray is not None and getattr(_stray, "__file__", None) is None:
    for _name in [n for n in sys.modules if n == "knowledge" or n.startswith("knowledge.")]:
        del sys.modules[_name]

from knowledge_test_helpers import DEV_KB, DEV_QUESTIONS, SEED_PAGE, SHARED  # noqa: E402


@pytest.fixture(scope="session")
def dev_set() -> tuple[Path, Path]:
    if not (DEV_KB.is_dir() and DEV_QUESTIONS.is_file()):
        pytest.skip(f"shared evaluation set not found at {SHARED}")
    return DEV_KB, DEV_QUESTIONS


@pytest.fixture(scope="session")
def seed_page() -> bytes:
    if not SEED_PAGE.is_file():
        pytest.skip(f"seed page not found at {SEED_PAGE}")
    return SEED_PAGE.read_bytes()


@pytest.fixture(scope="module")
def builtin_kb():
    from knowledge import KnowledgeBase

    return KnowledgeBase.builtin()
