"""The wheelhouse is filled for the image's Python and platform, whatever Python runs nox."""

from pathlib import Path

import pytest

from harness import HarnessError
from harness.image import Target, fill_wheelhouse

TRIXIE = Target("3.13", "cp313", "x86_64", (2, 41))


def test_platforms_cover_every_manylinux_tag_up_to_the_base_glibc() -> None:
    platforms = TRIXIE.platforms()
    assert platforms[0] == "manylinux_2_41_x86_64"
    assert "manylinux_2_5_x86_64" in platforms
    assert {"manylinux2014_x86_64", "manylinux2010_x86_64", "manylinux1_x86_64"} <= set(platforms)
    assert "manylinux_2_42_x86_64" not in platforms


def test_pip_is_told_the_target_not_the_host() -> None:
    options = TRIXIE.pip_options()
    assert "--only-binary=:all:" in options
    assert options[options.index("--python-version") + 1] == "3.13"
    assert [options[i + 1] for i, option in enumerate(options) if option == "--abi"] == ["cp313", "abi3", "none"]


def test_a_requirement_without_a_wheel_for_the_target_is_named_before_any_build(tmp_path: Path) -> None:
    # MarkupSafe 2.0.1 has no CPython 3.13 wheel, and its source builds a C extension for the host only.
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("MarkupSafe==2.0.1\n")
    with pytest.raises(HarnessError) as failure:
        fill_wheelhouse(
            "python3", TRIXIE, say=lambda line: None, requirements=requirements, wheelhouse=tmp_path / "wheels"
        )
    message = str(failure.value)
    assert "MarkupSafe==2.0.1" in message
    assert "CPython 3.13 (cp313) on glibc 2.41 x86_64" in message
    assert not list((tmp_path / "wheels").glob("markupsafe-*"))
