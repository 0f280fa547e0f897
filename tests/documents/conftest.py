import pytest


@pytest.fixture(autouse=True)
def _vat_rates(vat_rates):
    """Every document test runs with the seeded VAT rates, also after a flush."""
