"""`dmg publish`: datasets go to a Minari `hf://` remote with their card and the `dmg` namespace's metadata,
and `minari download` brings back the same episodes. Offline: the Hub is `hub_standin.HubStandIn`, a
loopback server that `huggingface_hub` reaches through `HF_ENDPOINT`."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import minari
import numpy as np
import pytest
from hub_standin import HubStandIn
from typer.testing import CliRunner

from dmg_envs.cli import app
from dmg_envs.errors import InvalidConfigError, PublishError
from dmg_envs.publish import minari_remote, namespace_metadata, parse_remote, preset_descriptions, publish
from dmg_envs.wrappers.presets import PRESETS

runner = CliRunner()
TOKEN = "hf_standin_write_token"
ORG = "dmg-lab"
REMOTE = f"hf://{ORG}"


def needs_minari_hf_remote():
    pytest.importorskip("huggingface_hub", reason='the hub extra: pip install "dmg-envs[hub]"')
    if importlib.util.find_spec("minari.storage.remotes.huggingface") is None:
        pytest.skip(f"minari {minari.__version__} has no hf:// remote (0.5.2 and newer have)")


@pytest.fixture
def hub(isolated_datasets, monkeypatch):
    """The stand-in Hub, with huggingface_hub in this process pointed at it and a token with write access in
    HF_TOKEN."""
    pytest.importorskip("huggingface_hub")
    with HubStandIn(token=TOKEN) as standin:
        standin.point_huggingface_hub_here(monkeypatch, isolated_datasets / "hf_home")
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        yield standin
    assert not standin.unknown, f"requests the stand-in does not serve: {standin.unknown}"


def generate(dynamics: str = "slow") -> str:
    result = runner.invoke(app, ["generate", "stack", "--num-demos", "2", "--workers", "1", "--dynamics", dynamics])
    assert result.exit_code == 0, result.output
    return f"dmg/stack/dmp-{dynamics}-v0"


def minari_download(dataset_id: str, hub: HubStandIn, datasets: Path) -> subprocess.CompletedProcess:
    """`minari download` as a user runs it: its own process, a fresh dataset folder and cache."""
    env = {**os.environ, "MINARI_DATASETS_PATH": str(datasets), "MINARI_REMOTE": REMOTE, "HF_ENDPOINT": hub.url,
           "HF_HOME": str(datasets.parent / "hf_home_download")}
    env.pop("HF_TOKEN")  # downloads need none
    script = Path(sys.executable).parent / "minari"
    command = [str(script)] if script.exists() else [sys.executable, "-c", "from minari.cli import app; app()"]
    return subprocess.run([*command, "download", dataset_id], env=env, capture_output=True, text=True, timeout=300)


def test_published_dataset_downloads_with_minari_as_it_was(hub, isolated_datasets, monkeypatch):
    needs_minari_hf_remote()
    dataset_id = generate("slow")
    monkeypatch.setenv("MINARI_REMOTE", "hf://somewhere-else")
    result = runner.invoke(app, ["publish", dataset_id, "--remote", REMOTE])
    assert result.exit_code == 0, result.output
    assert f"{dataset_id}: published with its card stack/dmp-slow-v0/README.md" in result.output
    assert f"MINARI_REMOTE={REMOTE} minari download {dataset_id}" in result.output
    assert os.environ["MINARI_REMOTE"] == "hf://somewhere-else"  # set for the upload only

    downloaded = minari_download(dataset_id, hub, isolated_datasets / "downloaded")
    assert downloaded.returncode == 0, downloaded.stdout + downloaded.stderr
    original = minari.load_dataset(dataset_id)
    monkeypatch.setenv("MINARI_DATASETS_PATH", str(isolated_datasets / "downloaded"))
    copy = minari.load_dataset(dataset_id)
    assert copy.total_episodes == original.total_episodes == 2
    for ours, theirs in zip(original.iterate_episodes(), copy.iterate_episodes()):
        assert ours.observations.keys() == theirs.observations.keys()
        for key in ours.observations:
            np.testing.assert_array_equal(ours.observations[key], theirs.observations[key])
        np.testing.assert_array_equal(ours.actions, theirs.actions)
        assert ours.actions.shape == (len(ours.rewards), 7)
    generation = copy.storage.metadata["dmg_generation"]
    assert generation == original.storage.metadata["dmg_generation"]
    assert generation["dynamics"] == "slow" and generation["env_id"] == "dmg/Stack-v0"

    env = copy.recover_environment(eval_env=True)
    assert type(env).__name__ == "ObjectPerturbation" and env.spec.additional_wrappers[0].kwargs["params"] == {
        "speed": 0.02}
    obs, _ = env.reset(seed=int(generation["episode_seeds"][0]))
    np.testing.assert_array_equal(obs["cubeA_pos"], copy[0].observations["cubeA_pos"][0])
    env.close()

    # The card came down with the dataset, and the namespace metadata with it.
    card = (isolated_datasets / "downloaded" / "dmg" / "stack" / "dmp-slow-v0" / "README.md").read_text()
    assert card == hub.file(f"{ORG}/dmg", "stack/dmp-slow-v0/README.md").decode()
    local_namespace = json.loads((isolated_datasets / "downloaded" / "dmg" / "namespace_metadata.json").read_text())
    assert local_namespace["description"] == namespace_metadata()["description"]


def test_the_remote_holds_the_card_and_the_namespace_metadata(hub, isolated_datasets):
    needs_minari_hf_remote()
    dataset_id = generate("slow")
    (result,) = publish([dataset_id], REMOTE + "/")
    assert result["published"] and result["url"].endswith(f"/datasets/{ORG}/dmg/tree/main/stack/dmp-slow-v0")
    generation = minari.load_dataset(dataset_id).storage.metadata["dmg_generation"]

    card = hub.file(f"{ORG}/dmg", "stack/dmp-slow-v0/README.md").decode()
    assert card.startswith("---\nlicense: apache-2.0\n") and f"# {dataset_id}" in card
    for fact in ("`dmg/Stack-v0`", "`dmp`: DynaMimicGen DMP expert", "`stack_1`, demo 0",
                 f"`slow`: {preset_descriptions()['slow']}", "| Episodes | 2 successful episodes",
                 f"| Success rate | {100 * generation['success_rate']:.1f} % ({generation['successes']} successes in "
                 f"{generation['attempts']} attempts", f"MINARI_REMOTE={REMOTE} minari download {dataset_id}",
                 f'minari.load_dataset("{dataset_id}")', "recover_environment(eval_env=True)",
                 "Minari 0.5.3 refuses datasets written by 0.5.4"):
        assert fact in card, fact

    root = json.loads(hub.file(f"{ORG}/dmg", "namespace_metadata.json"))
    assert root["datasets"] == [dataset_id] and root["namespaces"] == ["dmg/stack"]  # Minari's registry
    assert {row["preset"] for row in root["dynamics_presets"]} == set(PRESETS)
    assert {row["generator"] for row in root["generators"]} == {"dmp", "mimicgen"}
    assert root["description"].startswith("Demonstrations generated by dmg-envs")
    task = json.loads(hub.file(f"{ORG}/dmg", "stack/namespace_metadata.json"))
    assert task["env_id"] == "dmg/Stack-v0"
    repo_card = hub.file(f"{ORG}/dmg", "README.md").decode()
    assert f"- [`{dataset_id}`](stack/dmp-slow-v0/README.md)" in repo_card and "| `cabinet` |" in repo_card

    # Minari lists it from the remote (the listing reads the namespace's registry).
    with minari_remote(REMOTE):
        assert list(minari.list_remote_datasets()) == [dataset_id]


def test_publishing_again_adds_datasets_and_replaces_none(hub, isolated_datasets):
    needs_minari_hf_remote()
    slow, static = generate("slow"), generate("static")
    publish([slow], REMOTE)
    head = hub.repos[f"{ORG}/dmg"].head
    result = runner.invoke(app, ["publish", slow, static, "--remote", REMOTE])
    assert result.exit_code == 0, result.output
    assert f"{slow}: already on {REMOTE}, not replaced" in result.output
    assert f"{static}: published with its card" in result.output
    assert hub.repos[f"{ORG}/dmg"].head != head
    root = json.loads(hub.file(f"{ORG}/dmg", "namespace_metadata.json"))
    assert sorted(root["datasets"]) == [slow, static] and root["namespaces"] == ["dmg/stack"]
    assert root["description"] == namespace_metadata()["description"]
    repo_card = hub.file(f"{ORG}/dmg", "README.md").decode()
    assert f"[`{slow}`]" in repo_card and f"[`{static}`]" in repo_card


def test_a_refused_token_is_named_and_the_remote_variable_restored(hub, isolated_datasets, monkeypatch):
    needs_minari_hf_remote()
    dataset_id = generate("static")
    monkeypatch.setenv("HF_TOKEN", "hf_not_the_right_one")
    monkeypatch.delenv("MINARI_REMOTE", raising=False)
    result = runner.invoke(app, ["publish", dataset_id, "--remote", REMOTE])
    assert result.exit_code == 1
    assert f"the Hub refused to write {dataset_id} to {REMOTE} (401)" in result.output
    assert "HF_TOKEN" in result.output and "MINARI_REMOTE" not in os.environ
    assert ("POST", "/api/repos/create", 401) in hub.requests and not hub.repos


@pytest.mark.parametrize(("remote", "problem"), [
    ("dmg-lab", "it has no scheme"),
    ("gcp://dmg-bucket", "only Hugging Face remotes are supported, not gcp://"),
    ("hf://dmg-lab/dmg", "it names a repository"),
    ("hf://", "the organisation or user name must be"),
    ("hf://-lab", "the organisation or user name must be"),
])
def test_a_remote_not_of_the_form_hf_org_is_refused_saying_why(remote, problem, isolated_datasets):
    with pytest.raises(InvalidConfigError, match="is not of the form hf://<org>") as error:
        parse_remote(remote)
    assert problem in str(error.value)
    result = runner.invoke(app, ["publish", "dmg/stack/dmp-slow-v0", "--remote", remote])
    assert result.exit_code == 1 and problem in result.output


def test_an_unknown_or_foreign_dataset_is_refused_by_name(isolated_datasets):
    dataset_id = generate("static")
    result = runner.invoke(app, ["publish", "dmg/stack/dmp-slow-v0", "--remote", REMOTE])
    assert result.exit_code == 1
    assert "unknown local dataset 'dmg/stack/dmp-slow-v0'; valid: 'dmg/stack/dmp-static-v0'" in result.output
    result = runner.invoke(app, ["publish", "D4RL/door/human-v2", "--remote", REMOTE])
    assert result.exit_code == 1 and "'D4RL/door/human-v2' is not in the 'dmg' namespace" in result.output
    result = runner.invoke(app, ["publish", "--remote", REMOTE])
    assert result.exit_code == 1 and "no dataset ids given" in result.output  # at least one id
    assert minari.list_local_datasets().keys() == {dataset_id}


def test_without_huggingface_hub_the_error_names_the_extra(isolated_datasets, monkeypatch):
    dataset_id = generate("static")
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # as if not installed
    with pytest.raises(PublishError, match=r'the hub extra: pip install "dmg-envs\[hub\]"'):
        publish([dataset_id], REMOTE)


def test_a_minari_without_the_hf_remote_is_named(isolated_datasets, monkeypatch):
    pytest.importorskip("huggingface_hub")
    dataset_id = generate("static")
    find_spec = importlib.util.find_spec  # as in minari 0.5.0 and 0.5.1
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None
                        if name == "minari.storage.remotes.huggingface" else find_spec(name, *args))
    with pytest.raises(PublishError, match=r"Minari's hf:// remote, which Minari has from 0.5.2 on"):
        publish([dataset_id], REMOTE)


def test_every_preset_has_its_description():
    descriptions = preset_descriptions()
    assert descriptions.keys() == PRESETS.keys() and all(descriptions.values())
    assert descriptions["fast"] == "the same at 8 cm/s"
    assert descriptions["cabinet"].endswith("while no arm touches it (tasks with fixtures only)")


def test_the_standin_serves_huggingface_hubs_upload_listing_and_download(tmp_path, monkeypatch):
    """The stand-in against huggingface_hub alone (no Minari remote needed), so that the oldest
    huggingface_hub the hub extra allows is tested with it by `make test-lowest` too."""
    pytest.importorskip("huggingface_hub")
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

    with HubStandIn(token=TOKEN) as standin:
        standin.point_huggingface_hub_here(monkeypatch, tmp_path / "hf_home")
        api = HfApi(endpoint=standin.url, token=TOKEN)
        api.create_repo(f"{ORG}/dmg", repo_type="dataset")
        api.create_repo(f"{ORG}/dmg", repo_type="dataset", exist_ok=True)
        folder = tmp_path / "folder"
        (folder / "a" / "data").mkdir(parents=True)
        (folder / "a" / "data" / "x.bin").write_bytes(bytes(range(256)) * 3)
        api.upload_folder(repo_id=f"{ORG}/dmg", folder_path=folder, path_in_repo="stack", repo_type="dataset")
        api.create_commit(repo_id=f"{ORG}/dmg", repo_type="dataset", commit_message="card",
                          operations=[CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=b"# card\n")])
        assert [info.id for info in api.list_datasets(author=ORG)] == [f"{ORG}/dmg"]
        assert list(api.list_datasets(author="someone-else")) == []
        readme = api.hf_hub_download(f"{ORG}/dmg", "README.md", repo_type="dataset", cache_dir=tmp_path / "cache")
        assert Path(readme).read_text() == "# card\n"
        with pytest.raises(EntryNotFoundError):
            api.hf_hub_download(f"{ORG}/dmg", "missing.json", repo_type="dataset", cache_dir=tmp_path / "cache")
        snapshot = api.snapshot_download(f"{ORG}/dmg", repo_type="dataset", allow_patterns="stack/a/*",
                                         local_dir=tmp_path / "snapshot")
        assert (Path(snapshot) / "stack" / "a" / "data" / "x.bin").read_bytes() == bytes(range(256)) * 3
        assert not (Path(snapshot) / "README.md").exists()
        with pytest.raises(HfHubHTTPError) as refused:
            HfApi(endpoint=standin.url, token="hf_wrong").create_repo(f"{ORG}/other", repo_type="dataset")
        assert refused.value.response.status_code == 401
    assert not standin.unknown
