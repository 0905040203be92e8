"""External programs that some tests drive (PgBouncer, HAProxy, Chromium, Node).

.ci/run installs every one of them, so under CI (CI=true) a missing program is
a failure: a skip there would hide a missing install step. On a developer's
machine the test is skipped with a reason that says what to install.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def require_executable(name: str, install_hint: str) -> str:
    """The path of `name` on PATH; skips the test (fails it under CI) when absent."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed ({install_hint})"
        if in_ci():
            pytest.fail(f"{message}; .ci/run must install it")
        pytest.skip(message)
    return found


def require_node_packages() -> str:
    """The path of node, with the repository's Node packages installed
    (`npm ci` at its root, from the committed package-lock.json)."""
    node = require_executable("node", "apt-get install nodejs npm")
    if not (ROOT / "node_modules" / ".package-lock.json").is_file():
        message = "the Node packages are not installed (run `npm ci` in the repository)"
        if in_ci():
            pytest.fail(f"{message}; .ci/run must install them")
        pytest.skip(message)
    return node
