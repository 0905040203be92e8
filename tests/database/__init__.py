from __future__ import annotations

import pytest

# Show the values in failed assertions of the shared helpers, as in tests.
pytest.register_assert_rewrite("tests.database.rules")
