"""GraphiQL, served with every asset from this package (no CDN).

The bundles (React, GraphiQL, its explorer plugin, graphql-ws) are put into
static/ when the wheel is built (hatch_build.py: from the npm registry,
checked against bundles.json); page.html is this server's own page. The
assets are served under ASSETS_PATH with names that carry their versions,
so a browser may keep them for good.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

ASSETS_PATH = "/graphiql"
_MEDIA_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_IMMUTABLE = "public, max-age=31536000, immutable"


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str


def page(example_query: str) -> str:
    """GraphiQL's page, opening with `example_query`."""
    template = (resources.files(__package__) / "page.html").read_text(encoding="utf-8")
    # JSON is a JavaScript literal; "</" must not end the <script> early.
    literal = json.dumps(example_query).replace("</", "<\\/")
    return template.replace("{assets}", ASSETS_PATH).replace("{example_query}", literal)


def asset_names() -> list[str]:
    """The files page.html loads and the licences beside them."""
    manifest = json.loads((resources.files(__package__) / "bundles.json").read_text())
    return [name for package in manifest["packages"] for name in package["files"].values()]


@cache
def _asset(name: str) -> Asset | None:
    if name not in asset_names():
        return None
    path = resources.files(__package__) / "static" / name
    if not path.is_file():
        return None
    body = path.read_bytes()
    suffix = name[name.rfind(".") :]
    media_type = _MEDIA_TYPES.get(suffix, "text/plain; charset=utf-8")
    return Asset(body, gzip.compress(body, 6), media_type)


def installed() -> bool:
    return all(_asset(name) is not None for name in asset_names())


async def serve_asset(request: Request) -> Response:
    found = _asset(request.path_params["name"])
    if found is None:
        return PlainTextResponse("not found", status_code=404)
    headers = {"cache-control": _IMMUTABLE, "vary": "accept-encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"
        return Response(found.gzipped, media_type=found.media_type, headers=headers)
    return Response(found.body, media_type=found.media_type, headers=headers)
