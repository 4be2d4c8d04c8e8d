"""The examples that run the DMP expert run as shipped (they read its `info` as users would)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("script", ["dynamic_stack.py", "mug_drawer_cabinet.py"])
def test_an_expert_example_runs_and_succeeds(script, tmp_path):
    result = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, capture_output=True, text=True,
                            env={**os.environ, "MUJOCO_GL": "osmesa"}, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    assert "success: True" in result.stdout
    assert list(tmp_path.glob("*.gif"))  # the video it says it wrote
