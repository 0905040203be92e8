"""SQL expressions that turn column values into the response's JSON text.

Every expression here yields the JSON text of one value, exactly as the
strawberry path serialises it (compact, UTF-8, strawberry's scalars), or SQL
NULL when it cannot: a null where the schema says non-null, an enum value the
schema does not know, a date Python cannot represent. NULL swallows every
concatenation it meets, so one such value makes the whole response NULL, and
the request is then answered by strawberry's executor, which reports it as it
always has. A JSON null is the text 'null', never SQL NULL.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# Python's datetime and date cover years 1 to 9999; asyncpg cannot hand
# strawberry anything outside, so neither may the compiled path render it.
_YEAR_RANGE = "'0001-01-01 00:00:00+00' and '9999-12-31 23:59:59.999999+00'"


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def json_string_literal(text: str) -> str:
    """A SQL literal holding the JSON text of a string known when compiling
    (response names, type names: GraphQL names need no JSON escaping)."""
    return literal('"' + text + '"')


def concat(parts: Iterable[str]) -> str:
    """Concatenation that merges adjacent literals, for readable SQL."""
    merged: list[str] = []
    for part in parts:
        if merged and _is_literal(part) and _is_literal(merged[-1]):
            merged[-1] = literal(_unquote(merged[-1]) + _unquote(part))
        else:
            merged.append(part)
    if not merged:
        return "''"
    return merged[0] if len(merged) == 1 else "(" + " || ".join(merged) + ")"


def _is_literal(part: str) -> bool:
    return part.startswith("'") and part.endswith("'") and "'" not in part[1:-1].replace("''", "")


def _unquote(part: str) -> str:
    return part[1:-1].replace("''", "'")


def json_object(members: list[tuple[str, str]]) -> str:
    """{"name":value,…} from (response name, JSON text expression) pairs."""
    parts: list[str] = []
    for index, (name, value) in enumerate(members):
        parts.append(literal(("{" if index == 0 else ",") + '"' + name + '":'))
        parts.append(value)
    parts.append(literal("}" if members else "{}"))
    return concat(parts)


def nullable(value: str, sql_value: str) -> str:
    """'null' when the column value is null, else its JSON (which may still
    be SQL NULL, for an unusual value)."""
    return f"(case when {sql_value} is null then 'null' else {value} end)"


# One renderer per scalar: SQL expression of the value -> JSON text (NULL when
# the value is null or unusual).


def render_string(sql: str) -> str:
    return f"to_json({sql}::text)::text"


def render_quoted(sql: str) -> str:
    """UUID and Decimal: strawberry serialises them with str(), which for a
    uuid and a numeric(10, 2) is exactly PostgreSQL's text form."""
    return f"('\"' || {sql}::text || '\"')"


def render_int(sql: str) -> str:
    return f"({sql})::text"


def render_boolean(sql: str) -> str:
    return f"(case when {sql} then 'true' when not {sql} then 'false' end)"


def render_datetime(sql: str) -> str:
    # datetime.isoformat() of a UTC datetime: microseconds only when non-zero.
    utc = f"({sql} at time zone 'UTC')"
    return (
        f"(case when {sql} between {_YEAR_RANGE} then '\"' || "
        f"to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS') || "
        f"case when extract(microseconds from {utc})::bigint % 1000000 = 0 then '' "
        f"else to_char({utc}, '.US') end || '+00:00\"' end)"
    )


def render_date(sql: str) -> str:
    return (
        f"(case when {sql} between '0001-01-01' and '9999-12-31' "
        f"then '\"' || to_char({sql}, 'YYYY-MM-DD') || '\"' end)"
    )


def render_json(sql: str) -> str:
    # jsonb's own text: the strawberry path embeds the same text (api/json_output.py).
    return f"({sql})::text"


def render_enum(values: Iterable[str]) -> Callable[[str], str]:
    cases = " ".join(f"when {literal(v)} then {json_string_literal(v)}" for v in values)

    def render(sql: str) -> str:
        return f"(case {sql} {cases} end)"

    return render


def render_cursor(kind: str) -> Callable[[str], str]:
    """cursors._encode: unpadded URL-safe base64 of "kind:value". PostgreSQL's
    base64 breaks lines every 76 characters; cursors are shorter, but the
    line breaks are dropped all the same."""

    def render(sql: str) -> str:
        encoded = f"encode(convert_to({literal(kind + ':')} || {sql}, 'UTF8'), 'base64')"
        return f"('\"' || rtrim(translate({encoded}, E'+/\\n', '-_'), '=') || '\"')"

    return render


def json_list(items_sql: str, order_by: str, *, filter_sql: str | None = None) -> str:
    """An aggregate over a subquery's rows: [item,…] in order, or NULL when
    any item is NULL (a list with an unusual item is unusual as a whole)."""
    where = f" filter (where {filter_sql})" if filter_sql else ""
    return (
        f"(case when count(*){where} = count({items_sql}){where} then "
        f"'[' || coalesce(string_agg({items_sql}, ',' order by {order_by}){where}, '') || ']' end)"
    )


class Params:
    """The statement's parameters: $1, $2, … each with how to compute its
    value from a request's coerced variables."""

    def __init__(self) -> None:
        self.getters: list[Callable[[Any], Any]] = []

    def add(self, getter: Callable[[Any], Any], sql_type: str) -> str:
        self.getters.append(getter)
        return f"${len(self.getters)}::{sql_type}"

    def constant(self, value: Any, sql_type: str) -> str:
        return self.add(lambda _: value, sql_type)
