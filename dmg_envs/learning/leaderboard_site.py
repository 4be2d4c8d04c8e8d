"""The leaderboard rendered: `LEADERBOARD.md`, `leaderboard.csv` and the robustness plot (`write_leaderboard`),
and a self-contained static web page (`write_site`: sortable ranked tables, the plot, the datasets, rollout
clips; nothing fetched at view time)."""

from __future__ import annotations

import csv
import html
import shutil
from pathlib import Path
from typing import Any

from dmg_envs.learning.evaluate import CONDITIONS, EPISODES_PER_CONDITION, TRAINING_SEEDS
from dmg_envs.learning.leaderboard import (
    PROTOCOL_CHECKPOINT,
    RANK_RULE,
    UNTRAINED,
    LeaderboardEntryError,
    follows_protocol,
    mean_interval,
    mean_success,
    rank_entries,
    same_command,
    training_data,
)

# Object speed of each condition [m/s], the robustness plot's x axis (dmg-paper moves one object at
# 5 cm/s in half the episodes, so it has no single speed and is left off the plot).
CONDITION_SPEEDS = {"static": 0.0, "slow": 0.02, "fast": 0.08}
PROTOCOL = (f"{len(TRAINING_SEEDS)} training seeds x {EPISODES_PER_CONDITION} evaluation episodes in each of "
            f"{', '.join(CONDITIONS)}, the {PROTOCOL_CHECKPOINT} checkpoint")


def _percent(x: float) -> str:
    return f"{100 * x:.1f}"


def _interval(low: float, high: float) -> str:
    return f"({100 * low:.0f}–{100 * high:.0f})"


def _cell(entry: dict[str, Any], condition: str) -> str:
    figures = entry["evaluation"]["conditions"].get(condition)
    if figures is None:
        return "-"
    return (f"{_percent(figures['success_mean'])} ± {_percent(figures['success_std'])} "
            f"{_interval(*figures['success_interval_95'])}")


def _best(rows: list[dict[str, Any]], condition: str) -> float:
    return max(e["evaluation"]["conditions"][condition]["success_mean"] for e in rows)


def _train_minutes(entry: dict[str, Any]) -> str:
    if entry["training"]["recipe"]["algorithm"] == UNTRAINED:
        return "none"
    return f"{entry['training']['wall_time_s'] / 60 / len(entry['training']['seeds']):.1f} min"


def why_unranked(entry: dict[str, Any], commands: list[str] | None) -> str:
    """Why an entry is not in the ranked table, in words."""
    reasons = []
    if len(entry["training"]["seeds"]) < len(TRAINING_SEEDS) and entry["training"]["recipe"]["algorithm"] != UNTRAINED:
        reasons.append(f"{len(entry['training']['seeds'])} training seed(s)")
    if entry["evaluation"]["episodes_per_condition"] != EPISODES_PER_CONDITION:
        reasons.append(f"{entry['evaluation']['episodes_per_condition']} episodes a condition")
    missing = [c for c in CONDITIONS if c not in entry["evaluation"]["conditions"]]
    if missing:
        reasons.append("no " + ", ".join(missing))
    if entry["evaluation"]["checkpoint"] != PROTOCOL_CHECKPOINT:
        reasons.append(f"the {entry['evaluation']['checkpoint']} checkpoint")
    if not reasons and not follows_protocol(entry):
        reasons.append("other evaluation seeds")
    if not reasons and commands is not None:
        reasons.append("its command is not one `make leaderboard` runs")
    return "; ".join(reasons)


def not_yet_run(entries: list[dict[str, Any]], commands: list[str] | None) -> list[str]:
    """The commands of `make leaderboard` that no entry records yet."""
    return [c for c in commands or () if not any(same_command(e["command"], c) for e in entries)]


def write_leaderboard(entries: list[dict[str, Any]], out_dir: str | Path,
                      commands: list[str] | None = None) -> dict[str, Path]:
    """Write `LEADERBOARD.md` (per env the ranked table, then the unranked entries), `leaderboard.csv` (every
    entry) and `robustness.png` (the ranked rows) in `out_dir`. `commands`: those `make leaderboard` runs (None:
    every entry that follows the protocol is ranked)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ranked, others = rank_entries(entries, commands)
    _write_csv(ranked, others, commands, out_dir / "leaderboard.csv")
    lines = ["# Leaderboard", "",
             f"Success rate (%) within the episode limit: mean ± std over training seeds, and the 95 % Wilson "
             f"interval over every episode in parentheses. The protocol: {PROTOCOL}; the evaluation seeds are "
             f"used for nothing else. Rows are {RANK_RULE}; in bold, the best of each column. Every ranked row "
             f"is rebuilt by `make leaderboard` from the command it records. Written by `dmg leaderboard` from "
             f"`leaderboard/entries/`; do not edit by hand.", ""]
    for env_id, rows in ranked.items():
        lines += [f"## {env_id}", "", "| rank | policy | training data | mean | " + " | ".join(CONDITIONS)
                  + " | static, at the end | train time a run | eval time |",
                  "|---|---|---|---|" + "---|" * len(CONDITIONS) + "---|---|---|"]
        best_mean = max(mean_success(e) for e in rows)
        for rank, entry in enumerate(rows, 1):
            mean = f"{_percent(mean_success(entry))} {_interval(*mean_interval(entry))}"
            cells = [mean if mean_success(entry) < best_mean else f"**{mean}**"]
            for condition in CONDITIONS:
                value = _cell(entry, condition)
                top = entry["evaluation"]["conditions"][condition]["success_mean"] == _best(rows, condition)
                cells.append(f"**{value}**" if top else value)
            at_end = entry["evaluation"]["conditions"]["static"]["success_at_end_mean"]
            lines.append(f"| {rank} | {entry['policy']} | {training_data(entry)} | " + " | ".join(cells)
                         + f" | {_percent(at_end)} | {_train_minutes(entry)} | "
                         f"{entry['evaluation']['wall_time_s'] / 60:.1f} min |")
        lines += ["", "Recipes and the commands that rebuild each row:", ""]
        for rank, entry in enumerate(rows, 1):
            lines.append(f"{rank}. {entry['training']['budget']}: `{entry['command']}`")
        machines = sorted({entry["machine"] for entry in rows})
        lines += ["", f"Times measured on: {'; '.join(machines)}.", ""]
    if others:
        lines += ["## Unranked entries", "",
                  "Valid entries outside the ranked tables, with the reason; not comparable with the ranked rows.", "",
                  "| env | policy | training data | budget | mean | why unranked |", "|---|---|---|---|---|---|"]
        lines += [f"| {e['env_id']} | {e['policy']} | {training_data(e)} | {e['training']['budget']} | "
                  f"{_percent(mean_success(e))} | {why_unranked(e, commands)} |" for e in others]
        lines.append("")
    pending = not_yet_run(entries, commands)
    if pending:
        lines += ["## Not yet run", "", "Commands of `make leaderboard` with no entry yet:", ""]
        lines += [f"- `{command}`" for command in pending] + [""]
    lines += ["![success against object speed](robustness.png)", ""]
    (out_dir / "LEADERBOARD.md").write_text("\n".join(lines))
    _plot_robustness(ranked, out_dir / "robustness.png")
    return {"markdown": out_dir / "LEADERBOARD.md", "csv": out_dir / "leaderboard.csv",
            "plot": out_dir / "robustness.png"}


def _write_csv(ranked: dict[str, list[dict[str, Any]]], others: list[dict[str, Any]], commands: list[str] | None,
               path: Path) -> None:
    columns = ["env_id", "rank", "policy", "data", "dataset_id", "budget", "checkpoint", "seeds", "episodes", "mean"]
    stats = ("success_mean", "success_std", "success_at_end_mean")
    columns += [f"{condition}_{stat}" for condition in CONDITIONS for stat in stats]
    columns += ["train_wall_time_s", "eval_wall_time_s", "machine", "command", "why_unranked"]
    numbered = [(rank, e) for rows in ranked.values() for rank, e in enumerate(rows, 1)] + [("", e) for e in others]
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        for rank, entry in numbered:
            row = {"env_id": entry["env_id"], "rank": rank, "policy": entry["policy"], "data": training_data(entry),
                   "dataset_id": entry["dataset"]["id"], "budget": entry["training"]["budget"],
                   "checkpoint": entry["evaluation"]["checkpoint"], "seeds": len(entry["training"]["seeds"]),
                   "episodes": entry["evaluation"]["episodes_per_condition"], "mean": round(mean_success(entry), 4),
                   "train_wall_time_s": round(entry["training"]["wall_time_s"], 1),
                   "eval_wall_time_s": round(entry["evaluation"]["wall_time_s"], 1), "machine": entry["machine"],
                   "command": entry["command"], "why_unranked": "" if rank else why_unranked(entry, commands)}
            for condition in CONDITIONS:
                figures = entry["evaluation"]["conditions"].get(condition, {})
                for stat in stats:
                    row[f"{condition}_{stat}"] = figures.get(stat, "")
            writer.writerow(row)


def _plot_robustness(ranked: dict[str, list[dict[str, Any]]], path: Path) -> None:
    from matplotlib import colormaps
    from matplotlib.figure import Figure  # no pyplot: the caller's backend stays as it is

    env_ids = list(ranked) or ["(no ranked entries)"]
    figure = Figure(figsize=(12, 3.4 * len(env_ids)))
    axes = figure.subplots(len(env_ids), 1, squeeze=False)
    figure.subplots_adjust(left=0.06, right=0.5, hspace=0.45)
    for axis, env_id in zip(axes[:, 0], env_ids):
        axis.set_prop_cycle(color=colormaps["tab10"].colors)
        for rank, entry in enumerate(ranked.get(env_id, []), 1):
            conditions = entry["evaluation"]["conditions"]
            points = [(speed, conditions[c]) for c, speed in CONDITION_SPEEDS.items() if c in conditions]
            axis.errorbar([100 * s for s, _ in points], [100 * f["success_mean"] for _, f in points],
                          yerr=[100 * f["success_std"] for _, f in points], marker="o", capsize=3,
                          label=f"{rank}. {entry['policy']}: {training_data(entry)}")
        axis.set_title(env_id)
        axis.set_xlabel("object speed [cm/s] (static, slow, fast)")
        axis.set_ylabel("success [%]")
        axis.set_ylim(-3, 103)
        if ranked.get(env_id):
            axis.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    figure.savefig(path, dpi=100, bbox_inches="tight")


_STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:80em;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:90%}th,td{border:1px solid #ccc;padding:.3em .5em;
text-align:left;vertical-align:top}th{background:#f2f2f2;cursor:pointer;user-select:none}
th[aria-sort=ascending]::after{content:" ▲"}th[aria-sort=descending]::after{content:" ▼"}
td.best{font-weight:bold}code{background:#f6f6f6;padding:0 .2em}
img.clip{width:144px;height:144px;image-rendering:pixelated}
figure{display:inline-block;margin:0 .3em}figcaption{font-size:80%}td.clips{white-space:nowrap}
small{color:#555}"""
# Sorting: a click on a header sorts its table's rows by that column (numbers where every cell has a
# data-value), a second click reverses; aria-sort marks the column.
_SCRIPT = """document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (header, column) {
    header.addEventListener("click", function () {
      var descending = header.getAttribute("aria-sort") === "ascending";
      table.querySelectorAll("th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      header.setAttribute("aria-sort", descending ? "descending" : "ascending");
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var key = function (row) {
        var cell = row.cells[column];
        var value = cell.getAttribute("data-value");
        return value === null ? cell.textContent.trim() : parseFloat(value);
      };
      rows.sort(function (a, b) {
        var x = key(a), y = key(b);
        var order = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
        return descending ? -order : order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});"""


def _td(text: str, value: float | None = None, best: bool = False, kind: str = "") -> str:
    classes = " ".join(filter(None, ["best" if best else "", kind]))
    attributes = ("" if value is None else f' data-value="{value:.6g}"') + (f' class="{classes}"' if classes else "")
    return f"<td{attributes}>{text}</td>"


def write_site(entries: list[dict[str, Any]], entries_dir: str | Path, out_dir: str | Path,
               commands: list[str] | None = None) -> Path:
    """Write the leaderboard as a static site in `out_dir`: `index.html` (no script or style from elsewhere),
    `robustness.png` and the ranked rows' clips (copied from `entries_dir`). Returns the page's path."""
    out_dir, entries_dir = Path(out_dir), Path(entries_dir)
    (out_dir / "clips").mkdir(parents=True, exist_ok=True)
    ranked, others = rank_entries(entries, commands)
    _plot_robustness(ranked, out_dir / "robustness.png")
    escape = html.escape
    body = [f"<h1>dmg-envs leaderboard</h1><p>Success rate (%) within the episode limit: mean ± std over training "
            f"seeds, the 95 % Wilson interval over every episode in parentheses. The protocol: {escape(PROTOCOL)}. "
            f"Rows are {escape(RANK_RULE)}; in bold, the best of each column. Click a column's header to sort by "
            f"it.</p>"]
    for env_id, rows in ranked.items():
        headers = ["rank", "policy", "training data", "mean", *CONDITIONS, "train time a run [min]",
                   "eval time [min]", "clips", "command"]
        body.append(f'<section><h2>{escape(env_id)}</h2><table class="sortable ranked" data-env="{escape(env_id)}">'
                    "<thead><tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr></thead><tbody>")
        best_mean = max(mean_success(e) for e in rows)
        for rank, entry in enumerate(rows, 1):
            cells = [_td(str(rank), rank), _td(escape(entry["policy"])), _td(escape(training_data(entry))),
                     _td(f"{_percent(mean_success(entry))}<br><small>{_interval(*mean_interval(entry))}</small>",
                         mean_success(entry), mean_success(entry) == best_mean)]
            for condition in CONDITIONS:
                figures = entry["evaluation"]["conditions"][condition]
                cells.append(_td(f"{_percent(figures['success_mean'])} ± {_percent(figures['success_std'])}<br>"
                                 f"<small>{_interval(*figures['success_interval_95'])}</small>",
                                 figures["success_mean"], figures["success_mean"] == _best(rows, condition)))
            minutes = entry["training"]["wall_time_s"] / 60 / len(entry["training"]["seeds"])
            cells += [_td(_train_minutes(entry).removesuffix(" min"), minutes),
                      _td(f"{entry['evaluation']['wall_time_s'] / 60:.1f}", entry["evaluation"]["wall_time_s"]),
                      _td(_clips(entry, entries_dir, out_dir), kind="clips"),
                      _td(f"<code>{escape(entry['command'])}</code><br>{escape(entry['training']['budget'])}")]
            body.append("<tr>" + "".join(cells) + "</tr>")
        body.append("</tbody></table>" + _datasets(rows) + "</section>")
    if others:
        body.append("<section><h2>Unranked entries</h2><table class=\"sortable unranked\"><thead><tr>"
                    + "".join(f"<th>{h}</th>" for h in ("env", "policy", "training data", "mean", "why unranked"))
                    + "</tr></thead><tbody>"
                    + "".join("<tr>" + _td(escape(e["env_id"])) + _td(escape(e["policy"]))
                              + _td(escape(training_data(e))) + _td(_percent(mean_success(e)), mean_success(e))
                              + _td(escape(why_unranked(e, commands))) + "</tr>" for e in others)
                    + "</tbody></table></section>")
    body.append('<section><h2>Success against object speed</h2><img src="robustness.png" '
                'alt="success against object speed, one line per ranked row" style="max-width:100%"></section>')
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>dmg-envs leaderboard</title>'
            f"<style>{_STYLE}</style></head><body>{''.join(body)}<script>{_SCRIPT}</script></body></html>\n")
    (out_dir / "index.html").write_text(page)
    return out_dir / "index.html"


def _clips(entry: dict[str, Any], entries_dir: Path, out_dir: Path) -> str:
    figures = []
    for outcome, clip in entry["evaluation"].get("clips", {}).items():
        source = entries_dir / clip
        if not source.is_file():
            raise LeaderboardEntryError(f"the entry of {entry['policy']} on {training_data(entry)} names the clip "
                                        f"{clip}, which is not in {entries_dir}")
        shutil.copyfile(source, out_dir / "clips" / source.name)
        shown_in = next((c for c in CONDITIONS if source.stem.endswith(f"-{c}-{outcome}")), None)
        caption = html.escape(outcome + (f", {shown_in}" if shown_in else ""))
        figures.append(f'<figure><img class="clip" src="clips/{html.escape(source.name)}" alt="{caption}">'
                       f"<figcaption>{caption}</figcaption></figure>")
    return "".join(figures) or "-"


def _datasets(rows: list[dict[str, Any]]) -> str:
    items = []
    for entry in rows:
        for dataset_id, full_digest in entry["dataset"]["content_hashes"].items():
            digest = html.escape(full_digest)
            if dataset_id.startswith("source:"):
                items.append(f"<li><code>{html.escape(dataset_id)}</code>: shipped with the package (SHA-256 "
                             f"{digest[:12]}…)</li>")
            else:
                items.append(f"<li><code>{html.escape(dataset_id)}</code> (content SHA-256 {digest[:12]}…): "
                             f"<code>MINARI_REMOTE=hf://&lt;org&gt; minari download {html.escape(dataset_id)}"
                             f"</code> where published (<code>dmg publish</code>), or rebuilt by the row's "
                             f"command</li>")
    unique = list(dict.fromkeys(items))
    return "<h3>Datasets</h3><ul>" + "".join(unique) + "</ul>" if unique else ""
