"""Shared pytest configuration."""

from __future__ import annotations

import pytest

# The storage contract kit asserts inside an installed module: have pytest
# rewrite its asserts so a failing contract test shows the values it compared.
pytest.register_assert_rewrite("tomorro_scim.testing")
