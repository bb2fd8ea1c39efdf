"""sandbox.toml_value: what the CLI and the "grant in modules.toml" hints print reads back as typed."""

from __future__ import annotations

import math
import tomllib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.toml_value import toml_value

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.text(),
)


@given(st.one_of(scalars, st.lists(scalars, max_size=5)))
def test_values_read_back_unchanged(value) -> None:
    parsed = tomllib.loads(f"key = {toml_value(value)}")["key"]
    assert parsed == value


@pytest.mark.parametrize(
    ("value", "spelled"),
    [
        (True, "true"),
        (443, "443"),
        (10.0, "10"),  # a whole float reads as the integer the permission keys accept
        (0.5, "0.5"),
        ((80, 443), "[80, 443]"),
        (["payments"], '["payments"]'),
        ('say "hi"', '"say \\"hi\\""'),  # quotes escaped: the old CLI copy printed broken TOML here
        ("Привет", '"Привет"'),
        ("a\x7fb", '"a\\u007fb"'),  # DEL is escaped: JSON leaves it raw, TOML forbids it (found by the property test)
        (math.inf, "inf"),
    ],
)
def test_spelling(value, spelled: str) -> None:
    assert toml_value(value) == spelled


def test_unsupported_value_names_its_type() -> None:
    with pytest.raises(TypeError, match="dict"):
        toml_value({"a": 1})  # type: ignore[arg-type]  # the wrong type is the point of the test
