import pytest


@pytest.fixture(autouse=True)
def isolated_datasets(tmp_path, monkeypatch):
    """Datasets and generation work folders go to a temporary directory, never to ~/.minari or ~/.cache;
    the working directory is a temporary one too, so that nothing can land in the checkout."""
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(tmp_path / "datasets"))
    monkeypatch.setenv("DMG_WORK_DIR", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    return tmp_path
