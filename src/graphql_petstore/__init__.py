"""graphql-petstore: an event-sourced pet store, GraphQL on PostgreSQL."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
