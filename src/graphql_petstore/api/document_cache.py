"""Parsed and validated documents, remembered per process within a bound
in bytes as well as in entries (strawberry's ParserCache and
ValidationCache bound entries only: 512 distinct 200 KB documents kept
hundreds of megabytes alive).

A document is charged BYTES_PER_DOCUMENT_CHARACTER per character of its
text: a parsed document, with its locations and tokens, takes several times
its text. One document may take at most a sixteenth of the budget; a larger
one is parsed and validated on every request, as without a cache.
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import DocumentNode, GraphQLError
from strawberry.extensions import SchemaExtension

from graphql_petstore.caches import BoundedCache

MAX_DOCUMENTS = 512
MAX_DOCUMENT_BYTES = 32 * 1024 * 1024
BYTES_PER_DOCUMENT_CHARACTER = 8


class Documents:
    """The caches one schema's requests share."""

    def __init__(
        self, max_entries: int = MAX_DOCUMENTS, max_bytes: int = MAX_DOCUMENT_BYTES
    ) -> None:
        self.parsed: BoundedCache[str, DocumentNode] = BoundedCache(max_entries, max_bytes)
        self.validated: BoundedCache[str, list[GraphQLError]] = BoundedCache(
            max_entries, max_bytes // 4
        )
        self.largest = max_bytes // 16

    def charge(self, text: str) -> int | None:
        """What `text` costs, or None when it is too large to keep."""
        size = len(text) * BYTES_PER_DOCUMENT_CHARACTER
        return size if size <= self.largest else None


class DocumentCache(SchemaExtension):
    """Takes the parsed document and the validation's errors from the cache;
    when they are not there, strawberry parses and validates (and reports a
    syntax error as its own pre-execution error, over HTTP and WebSockets
    alike), and they are kept for the next request."""

    def __init__(self, documents: Documents) -> None:
        super().__init__()
        self.documents = documents

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        found = None
        if context.graphql_document is None and query:
            found = self.documents.parsed.get(query)
            if found is not None:
                context.graphql_document = found
        yield
        if found is None and query and context.graphql_document is not None:
            size = self.documents.charge(query)
            if size is not None:
                self.documents.parsed.put(query, context.graphql_document, size)

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        query = context.query
        found = self.documents.validated.get(query) if query else None
        if found is not None and context.pre_execution_errors is None:
            context.pre_execution_errors = list(found)
        yield
        errors = context.pre_execution_errors
        if found is None and query and errors is not None and self.documents.charge(query):
            # Charged the text that the key keeps alive; the errors are small.
            self.documents.validated.put(query, list(errors), len(query))
