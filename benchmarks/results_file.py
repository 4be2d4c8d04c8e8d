"""Writing a benchmark's results JSON when it ran for some tasks only: the other tasks' records stay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_merged(path: Path, record: dict[str, Any], per_task: tuple[str, ...]) -> None:
    """Write `record` to `path`; in each of its `per_task` sections (dicts keyed by task), the tasks this run
    did not measure keep the record they have in the existing file."""
    if path.exists():
        previous = json.loads(path.read_text())
        for section in per_task:
            record[section] = {**previous.get(section, {}), **record.get(section, {})}
        for section, value in previous.items():  # whole sections this run did not make
            record.setdefault(section, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
