import pytest


@pytest.fixture(autouse=True)
def _isolated(isolated_datasets):
    """Every generation test writes its datasets and runs in a temporary directory."""
    return isolated_datasets
