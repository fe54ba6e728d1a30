"""The quantity canonicaliser: what the server stores for each way of writing a quantity.

The same inputs are checked against a real API server in tests/integration/test_provenance.py."""

import pytest

from gitapply.engine.quantity import canonical

# input → what the server stores in a resource list (decimal, binary and exponent forms; verbatim text;
# rounding up to milli units), as measured on v1.20.2
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
    ("0.0001", "1m"),
    ("0.1n", "1m"),
    ("1500u", "2m"),
    ("1e-4", "1e-3"),
    ("0.3333333333", "334m"),
    ("1.5Ki", "1536"),
    ("9223372036854775807000", "9223372036854775807k"),
    ("01", "01"),
    ("010m", "010m"),
    ("00.5", "500m"),
    ("0", "0"),
    ("0m", "0"),
    ("1Ki", "1Ki"),
    ("8Ki", "8Ki"),
    ("0.5Ki", "512"),
    ("1536Mi", "1536Mi"),
    ("2048Ki", "2Mi"),
    ("12345678901234567890", "12345678901234567890"),
    (" 250m", "250m"),
]


# outside resource lists (an emptyDir's sizeLimit) the server rounds only to nano units
STORED_PLAIN = [("100u", "100u"), ("0.1n", "1n"), ("0.0015", "1500u"), ("0.5", "500m"), ("1024Mi", "1Gi")]


@pytest.mark.parametrize(("written", "stored"), STORED, ids=[repr(w) for w, _ in STORED])
def test_a_quantity_in_a_resource_list_is_written_as_the_server_stores_it(written, stored):
    assert canonical(written, in_resource_list=True) == stored


@pytest.mark.parametrize(("written", "stored"), STORED_PLAIN, ids=[repr(w) for w, _ in STORED_PLAIN])
def test_a_quantity_elsewhere_is_rounded_to_nano_units_only(written, stored):
    assert canonical(written) == stored


@pytest.mark.parametrize("value", ["abc", "", "1Xi", "--1", True, None, {"a": 1}, [1]])
def test_what_is_not_a_quantity_is_left_as_it_is(value):
    assert canonical(value) == value


def test_canonical_text_is_a_fixed_point():
    for written, stored in STORED:
        assert canonical(stored, in_resource_list=True) == stored, written
    assert canonical("01") != canonical("1"), "text the server keeps is not rewritten"
