"""API tokens: which name a presented token stands for."""

from __future__ import annotations

import hmac
from collections.abc import Mapping

from graphql_petstore.settings import Settings

# Authorization headers that held a valid token, with the tokens they were
# found in (settings.api_tokens: a test's app has tokens of its own) and the
# token's name. A client sends the same header request after request, and
# taking it apart and comparing it with every token again cost a point read
# about 1 % of its instructions. Only a header that names a valid token is
# kept, never a wrong one a client tried, so a client cannot fill this; a
# lookup that misses costs the same whatever the header holds (the keyed
# hash of a str), and is followed by the constant-time comparison.
MAX_KNOWN_HEADERS = 64
_known: dict[str, tuple[Mapping[str, str], str]] = {}


def token_name(settings: Settings, presented: str) -> str | None:
    """The name of the API token `presented`, or None when no token matches."""
    # Compared in constant time, so response times do not reveal a token.
    found = None
    for token, name in settings.api_tokens.items():
        if hmac.compare_digest(token.encode(), presented.encode()):
            found = name
    return found


def bearer_name(settings: Settings, header: str | None) -> str | None:
    """The name of the valid API token in an Authorization header, or None
    (no header, not a bearer token, not a token of PETSTORE_API_TOKENS)."""
    if not header:
        return None
    known = _known.get(header)
    if known is not None and known[0] is settings.api_tokens:
        return known[1]
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    name = token_name(settings, token.strip())
    if name is not None:
        if len(_known) >= MAX_KNOWN_HEADERS:
            _known.clear()
        _known[header] = (settings.api_tokens, name)
    return name
