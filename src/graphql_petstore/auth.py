"""API tokens: which name a presented token stands for."""

from __future__ import annotations

import hmac

from graphql_petstore.settings import Settings


def token_name(settings: Settings, presented: str) -> str | None:
    """The name of the API token `presented`, or None when no token matches."""
    # Compared in constant time, so response times do not reveal a token.
    found = None
    for token, name in settings.api_tokens.items():
        if hmac.compare_digest(token.encode(), presented.encode()):
            found = name
    return found
