"""The errors of graphql-petstore.

    PetstoreError
    ├── ConfigurationError        a setting is missing or malformed
    ├── MigrationError            sql/ and the database disagree
    └── DomainError               the database rejected an event: a rule of §3
        └── (code)                ErrorCode: PET_NOT_FOUND, PET_NOT_AVAILABLE, …

Database errors are translated into DomainError once, at the database boundary
(graphql_petstore.database.rejections); the GraphQL layer turns a DomainError
into a userError and masks everything else.
"""

from __future__ import annotations


class PetstoreError(Exception):
    pass


class ConfigurationError(PetstoreError):
    pass


class MigrationError(PetstoreError):
    pass


class DomainError(PetstoreError):
    """A rule of the event store refused an event; nothing was stored."""

    def __init__(
        self,
        code: str,
        message: str,
        field: str | None = None,
        actual_version: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.actual_version = actual_version  # with VERSION_CONFLICT

    def __repr__(self) -> str:
        return f"DomainError(code={self.code!r}, message={self.message!r}, field={self.field!r})"
