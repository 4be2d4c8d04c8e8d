import pytest


@pytest.fixture(autouse=True)
def isolated_datasets(tmp_path, monkeypatch):
    """Datasets and generation work folders go to a temporary directory, never to ~/.minari."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    monkeypatch.chdir(tmp_path)
    return tmp_path
