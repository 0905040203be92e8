"""Which name an Authorization header stands for (graphql_petstore.auth),
with the headers of valid tokens remembered."""

from __future__ import annotations

from graphql_petstore import auth
from graphql_petstore.settings import Settings

SHOP = Settings(api_tokens={"shop-token-0123456789": "shop"})
OTHER = Settings(api_tokens={"shop-token-0123456789": "other"})


def test_a_header_names_its_token_under_the_settings_it_is_read_with() -> None:
    """A test's app has tokens of its own: a remembered header is no answer
    for another app's settings."""
    header = "Bearer shop-token-0123456789"
    assert auth.bearer_name(SHOP, header) == "shop"
    assert auth.bearer_name(SHOP, header) == "shop"  # remembered
    assert auth.bearer_name(OTHER, header) == "other"
    assert auth.bearer_name(Settings(), header) is None


def test_headers_without_a_valid_token_name_nothing_and_are_not_kept() -> None:
    for header in (
        None,
        "",
        "Bearer",
        "Bearer   ",
        "Basic shop-token-0123456789",
        "Bearer wrong-token",
        "Bearer shop-token-012345678",
    ):
        assert auth.bearer_name(SHOP, header) is None, header
        assert header not in auth._known, header
    assert auth.bearer_name(SHOP, "bearer  shop-token-0123456789 ") == "shop"


def test_the_remembered_headers_are_bounded() -> None:
    for spaces in range(auth.MAX_KNOWN_HEADERS * 2):
        header = "Bearer " + " " * spaces + "shop-token-0123456789"
        assert auth.bearer_name(SHOP, header) == "shop"
        assert len(auth._known) <= auth.MAX_KNOWN_HEADERS
