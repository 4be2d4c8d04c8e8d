"""Writing a benchmark's results JSON when it ran for some tasks only: the other tasks' records stay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_merged(path: Path, record: dict[str, Any], per_task: tuple[str, ...], same: tuple[str, ...] = (),
                 carry: tuple[str, ...] = ()) -> None:
    """Write `record` to `path`; in each of its `per_task` sections (dicts keyed by task), the tasks this run
    did not measure keep the record they have in the existing file, and the `carry` sections this run did not
    make are kept whole. The settings named in `same` must be those of the existing file, or the older
    records would be mislabelled: then run every task."""
    if path.exists():
        previous = json.loads(path.read_text())
        for key in same:
            if key in previous and previous[key] != record.get(key):
                raise SystemExit(f"{path} was made with {key}={previous[key]!r}, this run has {record.get(key)!r}: "
                                 f"run every task to replace it")
        for section in per_task:
            record[section] = {**previous.get(section, {}), **record.get(section, {})}
        for section in carry:
            if section in previous:
                record.setdefault(section, previous[section])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2) + "\n")
