"""The scale-out settings and the consistency token's form."""

from __future__ import annotations

import uuid

import pytest

from graphql_petstore.database.consistency import MalformedTokenError, parse_token, token_of
from graphql_petstore.errors import ConfigurationError
from graphql_petstore.settings import Settings


def test_the_replica_urls_the_wait_and_the_pooler_are_read_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "PETSTORE_READ_REPLICA_URLS": " postgresql://a/db , postgres://b:5433/db,",
            "PETSTORE_CONSISTENCY_WAIT": "0",
            "PETSTORE_DATABASE_POOLER": "transaction",
            "PETSTORE_HORIZON_WARNING_AFTER": "5",
        }
    )
    assert settings.read_replica_urls == ("postgresql://a/db", "postgres://b:5433/db")
    assert settings.consistency_wait == 0
    assert settings.database_pooler == "transaction"
    # Through a transaction pooler subscriptions poll unless told otherwise.
    assert settings.subscriptions == "poll"
    assert settings.horizon_warning_after == 5
    defaults = Settings.from_env({})
    assert defaults.read_replica_urls == ()
    assert (defaults.consistency_wait, defaults.database_pooler) == (1.0, "none")
    assert defaults.subscriptions == "listen"


@pytest.mark.parametrize(
    ("environment", "named"),
    [
        ({"PETSTORE_READ_REPLICA_URLS": "mysql://x/y"}, "PETSTORE_READ_REPLICA_URLS"),
        (
            {"PETSTORE_READ_REPLICA_URLS": "postgresql://a/b,postgresql://a/b"},
            "PETSTORE_READ_REPLICA_URLS lists one URL twice",
        ),
        ({"PETSTORE_CONSISTENCY_WAIT": "-1"}, "PETSTORE_CONSISTENCY_WAIT"),
        ({"PETSTORE_DATABASE_POOLER": "statement"}, "PETSTORE_DATABASE_POOLER"),
        (
            {"PETSTORE_DATABASE_POOLER": "transaction", "PETSTORE_SUBSCRIPTIONS": "listen"},
            "PETSTORE_SUBSCRIPTIONS=listen cannot work through a transaction pooler",
        ),
    ],
)
def test_a_bad_scale_setting_is_refused_by_name(environment: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        Settings.from_env(environment)


def test_a_replica_url_with_a_password_is_not_echoed_when_refused() -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env({"PETSTORE_READ_REPLICA_URLS": "mysql://u:secret@x/y"})
    assert "secret" not in str(refused.value)


def test_a_token_names_its_event_and_anything_else_is_malformed() -> None:
    event_id = uuid.uuid4()
    assert parse_token(token_of(event_id)) == event_id
    for text in ("", "v1.", "v2." + event_id.hex, "v1." + event_id.hex.upper(), str(event_id)):
        with pytest.raises(MalformedTokenError):
            parse_token(text)
