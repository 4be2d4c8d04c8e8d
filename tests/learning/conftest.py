import pickle

import pytest


@pytest.fixture(autouse=True)
def _isolated(isolated_datasets):
    """Every learning test writes its datasets and runs in a temporary directory."""
    return isolated_datasets


@pytest.fixture
def forbid_pickle(monkeypatch):
    """From here on, unpickling anything (pickle or torch.load) fails the test."""
    import torch

    def no_pickle(*args, **kwargs):
        raise AssertionError("loading a checkpoint must not unpickle anything")

    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, no_pickle)
    monkeypatch.setattr(torch, "load", no_pickle)
