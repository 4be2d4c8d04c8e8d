"""The declared floors of every direct dependency, as pins for `make test-lowest`, and a check of what is installed.

    python tools/lowest_requirements.py            # one `name[extras]==floor` line per direct dependency
    python tools/lowest_requirements.py --extras   # the optional-dependency groups, comma-separated
    python tools/lowest_requirements.py --check    # the installed version of each is its floor, or exit 1

The floors are read from pyproject.toml (`[project] dependencies` and every group of
`[project.optional-dependencies]`), so that the versions `make test-lowest` installs cannot drift from the
versions the package declares. Each requirement needs a `>=` floor; a package named in several groups needs
the same floor in each. Standard library only: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

# name, optional [extras], a comma-separated specifier list, nothing else (markers and URLs are refused).
REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[(?P<extras>[^\]]*)\])?"
                         r"\s*(?P<specifiers>[^;@]*?)\s*$")
SPECIFIER = re.compile(r"^\s*(?P<op>~=|==|!=|<=|>=|<|>)\s*(?P<version>[A-Za-z0-9._+*!-]+)\s*$")


def canonical_name(name: str) -> str:
    """PEP 503 normalised name: `Stable_Baselines3` and `stable-baselines3` are one package."""
    return re.sub(r"[-_.]+", "-", name).lower()


def release(version: str) -> tuple:
    """A version without its local label and trailing zeros, so that "0.5", "0.5.0" and "0.5.0+cpu" agree."""
    parts = version.split("+")[0].split(".")
    while len(parts) > 1 and parts[-1] == "0":
        parts.pop()
    return tuple(int(part) if part.isdigit() else part for part in parts)


def floor(requirement: str) -> tuple[str, tuple[str, ...], str]:
    """(canonical name, extras, floor) of one requirement string such as "minari[hdf5]>=0.5.0,<0.6"."""
    match = REQUIREMENT.match(requirement)
    if match is None:
        raise ValueError(f"{requirement!r}: only `name[extras]>=floor,...` requirements are supported "
                         "(no environment markers or URLs)")
    extras = tuple(sorted(e.strip() for e in (match["extras"] or "").split(",") if e.strip()))
    floors = []
    for specifier in filter(None, (s.strip() for s in match["specifiers"].split(","))):
        parsed = SPECIFIER.match(specifier)
        if parsed is None:
            raise ValueError(f"{requirement!r}: cannot read the specifier {specifier!r}")
        if parsed["op"] == ">=":
            floors.append(parsed["version"])
    if len(floors) != 1:
        raise ValueError(f"{requirement!r}: every direct dependency needs exactly one `>=` floor, "
                         "the version that `make test-lowest` installs and tests")
    return canonical_name(match["name"]), extras, floors[0]


def read_pyproject(path: Path = PYPROJECT) -> dict:
    with open(path, "rb") as file:
        return tomllib.load(file)["project"]


def requirement_groups(project: dict) -> dict[str, list[str]]:
    """The requirement strings by group: "" for the core dependencies, then each extra."""
    return {"": list(project.get("dependencies", [])), **project.get("optional-dependencies", {})}


def lowest_pins(project: dict) -> dict[str, tuple[tuple[str, ...], str]]:
    """Canonical name -> (extras, floor) of every direct dependency, in the order first declared.

    Raises:
        ValueError: a requirement without one `>=` floor, or one package with different floors.
    """
    pins: dict[str, tuple[tuple[str, ...], str]] = {}
    for group, requirements in requirement_groups(project).items():
        for requirement in requirements:
            name, extras, version = floor(requirement)
            if name in pins:
                known_extras, known = pins[name]
                if release(known) != release(version):
                    raise ValueError(f"{name} has the floor {known} in one place and {version} in "
                                     f"{group or 'dependencies'}: one package, one floor")
                extras = tuple(sorted(set(known_extras) | set(extras)))
                version = known
            pins[name] = (extras, version)
    return pins


def pin_lines(pins: dict[str, tuple[tuple[str, ...], str]]) -> list[str]:
    return [f"{name}{'[' + ','.join(extras) + ']' if extras else ''}=={version}"
            for name, (extras, version) in pins.items()]


def check_installed(pins: dict[str, tuple[tuple[str, ...], str]]) -> list[str]:
    """Print floor and installed version of each direct dependency; return the ones that disagree."""
    print(f"Python {sys.version.split()[0]}; direct dependencies at their declared floors:")
    print(f"  {'package':<20} {'floor':<10} installed")
    wrong = []
    for name, (_, version) in pins.items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        ok = installed != "missing" and release(installed) == release(version)
        print(f"  {name:<20} {version:<10} {installed}{'' if ok else '   <- not the floor'}")
        if not ok:
            wrong.append(name)
    return wrong


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--extras", action="store_true", help="print the optional-dependency groups")
    mode.add_argument("--check", action="store_true", help="check that the installed versions are the floors")
    args = parser.parse_args(argv)
    project = read_pyproject()
    pins = lowest_pins(project)
    if args.extras:
        print(",".join(project.get("optional-dependencies", {})))
    elif args.check:
        wrong = check_installed(pins)
        if wrong:
            print(f"not at their floors: {', '.join(wrong)}", file=sys.stderr)
            return 1
    else:
        print("\n".join(pin_lines(pins)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
