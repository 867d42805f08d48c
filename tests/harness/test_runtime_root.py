"""runtime_root.py's package records: which package a file of the image comes from."""

from runtime_root import GENERATED, owner_of, write_package_records

OWNERS = {
    "/usr/lib/python3.13/os.py": "libpython3.13-minimal",
    "/usr/lib/x86_64-linux-gnu/libc.so.6": "libc6",
}


def test_a_listed_file_is_its_packages() -> None:
    assert owner_of("/usr/lib/x86_64-linux-gnu/libc.so.6", OWNERS) == "libc6"


def test_standard_library_bytecode_is_the_package_of_its_source() -> None:
    assert owner_of("/usr/lib/python3.13/os.pyc", OWNERS) == "libpython3.13-minimal"


def test_a_generated_file_is_the_package_that_generates_it_and_anything_else_none() -> None:
    assert owner_of("/etc/ssl/certs/ca-certificates.crt", OWNERS) == GENERATED["/etc/ssl/certs/ca-certificates.crt"]
    assert owner_of("/usr/bin/unknown", OWNERS) is None


def test_a_file_of_no_package_stops_the_build(tmp_path, monkeypatch) -> None:
    import pytest

    import runtime_root

    monkeypatch.setattr(runtime_root, "package_owners", lambda: dict(OWNERS))
    monkeypatch.setattr(runtime_root, "installed_packages", lambda: {})
    (tmp_path / "usr" / "bin").mkdir(parents=True)
    (tmp_path / "usr" / "bin" / "stray").write_text("")
    with pytest.raises(SystemExit, match="files of no Debian package: /usr/bin/stray"):
        write_package_records(tmp_path)


def test_each_package_with_a_file_gets_a_record_of_four_fields(tmp_path, monkeypatch) -> None:
    import runtime_root

    fields = {"Package": "libc6", "Version": "2.41-12", "Architecture": "amd64", "Source": "glibc"}
    monkeypatch.setattr(runtime_root, "package_owners", lambda: dict(OWNERS))
    monkeypatch.setattr(runtime_root, "installed_packages", lambda: {"libc6": fields, "unused": fields})
    (tmp_path / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (tmp_path / "usr/lib/x86_64-linux-gnu/libc.so.6").write_text("")
    assert write_package_records(tmp_path) == ["libc6"]
    record = (tmp_path / "var/lib/dpkg/status.d/libc6").read_text()
    assert record == "Package: libc6\nVersion: 2.41-12\nArchitecture: amd64\nSource: glibc\n"
    assert [path.name for path in (tmp_path / "var/lib/dpkg/status.d").iterdir()] == ["libc6"]
