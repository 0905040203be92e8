"""External programs that some tests drive (PgBouncer, HAProxy, Chromium, Node).

.ci/run installs every one of them, so under CI (CI=true) a missing program is
a failure: a skip there would hide a missing install step. On a developer's
machine the test is skipped with a reason that says what to install.
"""

from __future__ import annotations

import os
import shutil

import pytest


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
