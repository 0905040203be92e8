"""Every type, field, argument, input field and enum value of the schema has
a description (GraphiQL's docs pane shows them), and graphql-schema-linter
passes on schema.graphql with .graphql-schema-linterrc: its description
rules, naming, Relay's connection spec. Its *-sorted-alphabetically rules
are left out on purpose: fields are in the order that reads best (id first,
the rules' order of events), and clients do not depend on it."""

from __future__ import annotations

import subprocess

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
)

from graphql_petstore.api.schema import create_schema
from graphql_petstore.settings import Settings
from tests.tools import ROOT, require_node_packages


def _undescribed() -> list[str]:
    schema = create_schema(Settings())._schema
    missing = []
    for name, named in schema.type_map.items():
        if name.startswith("__") or name in ("String", "Int", "Boolean", "ID", "Float"):
            continue
        if not named.description:
            missing.append(name)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                if not field.description:
                    missing.append(f"{name}.{field_name}")
                missing.extend(
                    f"{name}.{field_name}({arg})"
                    for arg, definition in field.args.items()
                    if not definition.description
                )
        elif isinstance(named, GraphQLInputObjectType):
            missing.extend(
                f"{name}.{field_name}"
                for field_name, field in named.fields.items()
                if not field.description
            )
        elif isinstance(named, GraphQLEnumType):
            missing.extend(
                f"{name}.{value}" for value, v in named.values.items() if not v.description
            )
    return missing


def test_every_part_of_the_schema_is_described() -> None:
    assert _undescribed() == []


def test_graphql_schema_linter_passes() -> None:
    node = require_node_packages()
    linter = ROOT / "node_modules" / "graphql-schema-linter" / "lib" / "cli.js"
    result = subprocess.run(
        [node, str(linter), "schema.graphql"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 errors detected" in result.stdout, result.stdout
