"""The quantity canonicaliser: what the server stores for each way of writing a quantity.

The same inputs are checked against a real API server in tests/integration/test_provenance.py."""

import pytest

from gitapply.engine.quantity import canonical

# input → what the server stores (decimal, binary and exponent forms; verbatim text; rounding; the cap)
STORED = [
    ("0.5", "500m"),
    (0.5, "500m"),
    (1, "1"),
    ("1.0", "1"),
    ("2000m", "2"),
    ("1024Mi", "1Gi"),
    ("1e3", "1e3"),
    ("1E3", "1E3"),
    ("10e3", "10e3"),
    ("100M", "100M"),
    ("0.1Gi", "107374182400m"),
    ("+1", "+1"),
    ("1000", "1k"),
    ("1000k", "1M"),
    ("1500m", "1500m"),
    ("1.5", "1500m"),
    (1.5, "1500m"),
    (2.0, "2"),
    ("0.0001", "100u"),
    ("0.1n", "1n"),
    ("01", "1"),
    ("0", "0"),
    ("0m", "0"),
    ("1Ki", "1Ki"),
    ("8Ki", "8Ki"),
    ("0.5Ki", "512"),
    ("1536Mi", "1536Mi"),
    ("2048Ki", "2Mi"),
    ("12345678901234567890", "9223372036854775807"),
    (" 250m", "250m"),
]


@pytest.mark.parametrize(("written", "stored"), STORED, ids=[repr(w) for w, _ in STORED])
def test_a_quantity_is_written_as_the_server_stores_it(written, stored):
    assert canonical(written) == stored


@pytest.mark.parametrize("value", ["abc", "", "1Xi", "--1", True, None, {"a": 1}, [1]])
def test_what_is_not_a_quantity_is_left_as_it_is(value):
    assert canonical(value) == value


def test_canonical_text_is_a_fixed_point():
    for written, stored in STORED:
        assert canonical(stored) == stored, written
