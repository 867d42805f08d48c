"""The SBOM's tools are pinned once, and its summary names every component by kind."""

import re

from harness.image import _wheel_prefix, sbom_tool_pins
from harness.sbom import kind_of, summary

EXACT = re.compile(r"^[A-Za-z0-9._-]+(\[[a-z-]+\])?==[0-9][^ ;]*$")


def test_the_builders_tools_are_exact_pins() -> None:
    """Every pin of the `sbom` group is NAME==VERSION: the builder installs exactly them, with --no-deps."""
    pins = sbom_tool_pins()
    assert pins and all(EXACT.match(pin) for pin in pins), pins
    assert {"cyclonedx-bom", "cyclonedx-python-lib"} <= {pin.split("==")[0] for pin in pins}


def test_the_generator_and_the_validator_are_the_same_library() -> None:
    """cyclonedx-python-lib writes the SBOM in the builder and validates it on the host: one version for both."""
    import tomllib
    from pathlib import Path

    groups = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["dependency-groups"]
    versions: dict[str, set[str]] = {}
    for group in ("sbom", "sbom-check"):
        for pin in groups[group]:
            name, version = pin.split("==")
            versions.setdefault(re.sub(r"\[.*\]", "", name).lower(), set()).add(version)
    assert versions["cyclonedx-python-lib"] == {"11.12.0"}
    assert all(len(found) == 1 for found in versions.values()), versions


def test_wheel_names_are_matched_as_pep_427_escapes_them() -> None:
    assert _wheel_prefix("boolean.py==5.0") == "boolean_py-5.0-"
    assert _wheel_prefix("cyclonedx-python-lib==11.12.0") == "cyclonedx_python_lib-11.12.0-"
    assert _wheel_prefix("cyclonedx-python-lib[json-validation]==11.12.0") == "cyclonedx_python_lib-11.12.0-"


def test_summary_counts_and_lists_every_component_by_kind() -> None:
    bom = {
        "specVersion": "1.6",
        "metadata": {"component": {"name": "starpunk", "version": "1.2.3"}, "timestamp": "2026-12-05T00:00:00+00:00"},
        "components": [
            {"name": "zlib1g", "version": "1:1.3", "purl": "pkg:deb/debian/zlib1g@1%3A1.3?arch=amd64&distro=debian-13"},
            {"name": "Flask", "version": "3.1.3", "purl": "pkg:pypi/flask@3.1.3"},
            {"name": "starpunk", "version": "1.2.3", "purl": "pkg:generic/starpunk@1.2.3"},
        ],
    }
    assert [kind_of(component) for component in bom["components"]] == ["deb", "pypi", "generic"]
    text = summary(bom)
    assert "3 components: 1 Debian packages, 1 Python distributions, 1 other" in text
    assert "| deb | zlib1g | 1:1.3 | pkg:deb/debian/zlib1g@1:1.3?arch=amd64&distro=debian-13 |" in text
    assert text.index("| deb |") < text.index("| generic |") < text.index("| pypi |")
