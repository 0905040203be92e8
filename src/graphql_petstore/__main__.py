from __future__ import annotations

from graphql_petstore.cli import main

raise SystemExit(main())
