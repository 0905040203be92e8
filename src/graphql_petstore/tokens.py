"""The development token: what writes accept when PETSTORE_API_TOKENS is unset.

Made once and kept in the data folder (readable by its owner only), so that
a token saved in GraphiQL's Headers pane or exported in a shell keeps
working across restarts; `graphql-petstore token` prints it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

DEVELOPMENT_TOKEN_NAME = "admin"
TOKEN_FILE_NAME = "api-token"
TOKEN_BYTES = 24


def token_path(data_dir: Path) -> Path:
    return data_dir / TOKEN_FILE_NAME


def development_token(data_dir: Path) -> str:
    """The kept token, made (mode 0600) when there is none yet."""
    path = token_path(data_dir)
    existing = _read(path)
    if existing:
        return existing
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(TOKEN_BYTES)
    try:
        # O_EXCL: of two processes starting at once, one makes it and the
        # other reads it.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read(path) or token
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")
    return token


def kept_token(data_dir: Path) -> str | None:
    """The kept token, or None when none was made yet."""
    return _read(token_path(data_dir)) or None


def _read(path: Path) -> str:
    with contextlib.suppress(FileNotFoundError):
        return path.read_text().strip()
    return ""
