"""The depth and alias limits, as validation rules linear in the document.

strawberry's QueryDepthLimiter and MaxAliasesLimiter walk every fragment
spread anew: twenty fragments that each spread the previous one twice make
them walk a million paths (18 s for a 1.5 KB body). These rules measure each
fragment once and remember it. They count as strawberry's do (a field with a
selection is one level; introspection fields are not counted for depth; each
spread of a fragment counts its aliases again), and report in its words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)

from graphql_petstore import error_codes


class _Measure:
    """One number per selection set: its fields' own contribution, and the
    combination of its fields' nested measures and its fragments'; each
    fragment measured once per document."""

    def __init__(
        self,
        document: DocumentNode,
        own: Callable[[FieldNode], int],
        nested: Callable[[FieldNode, int], int],
        combine: Callable[[list[int]], int],
    ) -> None:
        self._fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._own = own
        self._nested = nested
        self._combine = combine
        self._memo: dict[str, int] = {}

    def of(self, selection_set: SelectionSetNode) -> int:
        parts: list[int] = []
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                inner = self.of(node.selection_set) if node.selection_set is not None else 0
                parts.append(self._own(node) + self._nested(node, inner))
            elif isinstance(node, InlineFragmentNode):
                parts.append(self.of(node.selection_set))
            elif isinstance(node, FragmentSpreadNode):
                parts.append(self._fragment(node.name.value))
        return self._combine(parts)

    def _fragment(self, name: str) -> int:
        found = self._memo.get(name)
        if found is not None:
            return found
        definition = self._fragments.get(name)
        self._memo[name] = 0  # a cycle (NoFragmentCyclesRule reports it) counts nothing
        measured = 0 if definition is None else self.of(definition.selection_set)
        self._memo[name] = measured
        return measured


def _operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def depth_rule(max_depth: int) -> type[ValidationRule]:
    """Refuses an operation whose fields nest deeper than `max_depth`."""

    def nested(node: FieldNode, inner: int) -> int:
        if node.selection_set is None or node.name.value.startswith("__"):
            return 0
        return 1 + inner

    class DepthLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            measure = _Measure(context.document, lambda _: 0, nested, lambda p: max(p, default=0))
            for operation in _operations(context.document):
                if measure.of(operation.selection_set) > max_depth:
                    name = operation.name.value if operation.name else "anonymous"
                    context.report_error(
                        GraphQLError(
                            f"'{name}' exceeds maximum operation depth of {max_depth}",
                            operation,
                            extensions={"code": error_codes.QUERY_TOO_DEEP},
                        )
                    )

    return DepthLimit


def alias_rule(max_aliases: int) -> type[ValidationRule]:
    """Refuses a document whose operations use more than `max_aliases`
    aliases in all (each spread of a fragment counting its aliases)."""

    def own(node: FieldNode) -> int:
        return 1 if node.alias is not None else 0

    def nested(_: Any, inner: int) -> int:
        return inner

    class AliasLimit(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            measure = _Measure(context.document, own, nested, sum)
            total = sum(measure.of(o.selection_set) for o in _operations(context.document))
            if total > max_aliases:
                context.report_error(
                    GraphQLError(
                        f"{total} aliases found. Allowed: {max_aliases}",
                        extensions={"code": error_codes.TOO_MANY_ALIASES},
                    )
                )

    return AliasLimit
