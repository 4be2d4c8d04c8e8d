"""tools/lowest_requirements.py: the pins `make test-lowest` installs are exactly the floors in pyproject.toml."""

import importlib.util
import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("lowest_requirements", ROOT / "tools" / "lowest_requirements.py")
lowest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(lowest)

PROJECT = lowest.read_pyproject()
REQUIREMENTS = [Requirement(text) for group in lowest.requirement_groups(PROJECT).values() for text in group]


def declared_floor(requirement: Requirement) -> Version:
    (floor,) = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    return floor


def test_every_direct_dependency_is_pinned_at_its_declared_floor():
    """Read again with `packaging`, independently of the tool's own parser."""
    pins = lowest.lowest_pins(PROJECT)
    assert set(pins) == {canonicalize_name(r.name) for r in REQUIREMENTS}
    for requirement in REQUIREMENTS:
        extras, version = pins[canonicalize_name(requirement.name)]
        assert Version(version) == declared_floor(requirement), requirement
        assert set(requirement.extras) <= set(extras)
        assert requirement.specifier.contains(version), f"{requirement}: its floor is outside its own range"


def test_pin_lines_are_requirements_of_exactly_one_version():
    lines = lowest.pin_lines(lowest.lowest_pins(PROJECT))
    assert len(lines) == len(lowest.lowest_pins(PROJECT))
    for line in lines:
        requirement = Requirement(line)
        (spec,) = requirement.specifier
        assert spec.operator == "=="
    assert "minari[hdf5]==0.5.0" in lines


def test_every_extra_is_installed_by_make_install_and_make_test_lowest():
    makefile = (ROOT / "Makefile").read_text()
    (extras,) = re.findall(r"^EXTRAS := (.*)$", makefile, flags=re.MULTILINE)
    assert set(extras.split(",")) == set(PROJECT["optional-dependencies"])
    assert "tools/lowest_requirements.py --extras" in makefile and "tools/lowest_requirements.py --check" in makefile
    assert "make test-lowest" in (ROOT / ".ci" / "run").read_text()


def test_readme_states_the_tested_floors():
    """The floor column of the README's table of supported versions is pyproject.toml's."""
    readme = (ROOT / "README.md").read_text()
    section = re.split(r"\n## ", readme[readme.index("## Supported versions"):])[0]
    rows = dict(re.findall(r"^\| `([a-z0-9-]+)`[^|]*\| ([0-9.]+) \|", section, flags=re.MULTILINE))
    pins = lowest.lowest_pins(PROJECT)
    assert {name: Version(rows.get(name, "0")) for name in pins} == {name: Version(v) for name, (_, v) in pins.items()}


@pytest.mark.parametrize(("dependencies", "message"), [
    (["numpy"], "needs exactly one `>=` floor"),
    (["numpy<3"], "needs exactly one `>=` floor"),
    (["numpy==1.26.4"], "needs exactly one `>=` floor"),
    (["numpy>=1.24; python_version < '3.12'"], "no environment markers"),
    (["numpy>=1.24", "numpy>=1.26"], "one package, one floor"),
])
def test_a_requirement_without_one_testable_floor_is_refused(dependencies, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        lowest.lowest_pins({"dependencies": dependencies})


def test_one_package_in_several_groups_is_one_pin_with_all_its_extras():
    project = {"dependencies": ["Minari[hdf5]>=0.5,<0.6"],
               "optional-dependencies": {"extra": ["minari[arrow] >= 0.5.0"], "more": ["stable_baselines3>=2.4"]}}
    assert lowest.pin_lines(lowest.lowest_pins(project)) == ["minari[arrow,hdf5]==0.5", "stable-baselines3==2.4"]


def test_versions_agree_without_trailing_zeros_or_local_labels():
    assert lowest.release("0.5") == lowest.release("0.5.0") == lowest.release("0.5.0+cpu")
    assert lowest.release("2.13.0+cpu") == lowest.release("2.13")
    assert lowest.release("2.13.1") != lowest.release("2.13")
    assert lowest.release("1.0.0rc1") != lowest.release("1.0.0")


def test_check_names_every_package_off_its_floor(capsys):
    installed = lowest.metadata.version("pytest")
    pins = {"pytest": ((), installed), "numpy": ((), "0.1"), "no-such-package-here": ((), "1.0")}
    assert lowest.check_installed(pins) == ["numpy", "no-such-package-here"]
    out = capsys.readouterr().out
    assert f"pytest               {installed}" in out and "missing" in out
