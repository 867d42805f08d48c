"""Assemble the runtime image's root file system in a folder, for a final stage FROM scratch.

Run in the builder stage by the Python that will run StarPunk:

    python3 runtime_root.py /rootfs

It asks that interpreter where it lives (sys.executable, sysconfig) rather than
assuming /usr or /usr/local, so the same recipe serves Debian's python3 and the
official python image. Into the folder go: the interpreter and exactly the
shared libraries it, the standard library's extension modules and the venv's
extensions load (found with ldd); the standard library without its test suite,
IDLE, tkinter, ensurepip and other development tools, as bytecode only; the
venv; the CA bundle; /etc/passwd and /etc/group naming UID 1000;
/tmp and /data. No shell, no package manager, no other program. The app
itself is copied on top by the Containerfile, as a layer of its own.

So that scanners can read it, the root also gets the base's os-release and a
record of every Debian package it takes a file from, in the layout distroless
images use (/var/lib/dpkg/status.d/PACKAGE: Package, Version, Architecture,
Source), found in the base's dpkg database; a file that belongs to no package
and is not one the build writes itself stops the build. Every file's time is
set to SOURCE_DATE_EPOCH and bytecode is checked-hash, so the same inputs give
the same layer.
"""

import compileall
import os
import py_compile
import re
import shutil
import ssl
import subprocess
import sys
import sysconfig
from pathlib import Path

VENV = Path("/opt/venv")
APP_UID = 1000
# Parts of the standard library that only serve development, tests, GUIs or
# installing packages; StarPunk and its packages import none of them.
STDLIB_UNUSED = {
    "__phello__",
    "_pydecimal.py",
    "_pyrepl",
    "config-*",
    "curses",
    "doctest.py",
    "ensurepip",
    "idlelib",
    "lib2to3",
    "pydoc_data",
    "site-packages",
    "dist-packages",
    "test",
    "tkinter",
    "turtle.py",
    "turtledemo",
    "unittest",
    "venv",
    "EXTERNALLY-MANAGED",
}
# Extension modules of the same kinds: CPython's own test modules, terminal and
# GUI bindings, the subinterpreter and profiler modules, the old dbm bindings.
DYNLOAD_UNUSED = re.compile(
    r"^(_test|_ctypes_test|_xxtestfuzz|xx|_tkinter|_curses|readline|_dbm|_gdbm|_lsprof|_interp)"
)
LDD_PATH = re.compile(r"(/\S+)")
NSSWITCH = "passwd: files\ngroup: files\nhosts: files dns\n"
DPKG = Path("/var/lib/dpkg")
RECORDS = Path("var/lib/dpkg/status.d")
RECORD_FIELDS = ("Package", "Version", "Architecture", "Source")
# The Debian release the files come from (base-files' own; /etc/os-release is a symlink to the other).
OS_RELEASE = ["/etc/os-release", "/usr/lib/os-release"]
# Files the build writes itself, which belong to no package: the accounts,
# and the loader's cache (ldconfig's list of the base's libraries).
OWN_FILES = {"/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/ld.so.cache"}
# Files a package's maintainer script generates from that package's files.
GENERATED = {"/etc/ssl/certs/ca-certificates.crt": "ca-certificates"}


def copy_path(source: str, root: Path) -> None:
    """Copy a file into root at the same path, recreating every symlink met on the way (as /lib -> usr/lib)."""
    path = Path(source)
    current = Path("/")
    for index, part in enumerate(path.parts[1:], start=2):
        current = current / part
        if current.is_symlink():
            link = root / current.relative_to("/")
            if not link.is_symlink():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(os.readlink(current))
            # What the link points at (and the rest of the path) must exist in root as well.
            copy_path(os.path.normpath(os.path.join(current.parent, os.readlink(current), *path.parts[index:])), root)
            return
    target = root / path.relative_to("/")
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)


def shared_libraries(binaries: list[Path]) -> set[str]:
    """Return every shared library (and the loader) the given binaries load, by ldd; stop if one is missing."""
    found = set()
    for binary in binaries:
        output = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=False).stdout
        for line in output.splitlines():
            if "not found" in line:
                raise SystemExit(f"runtime_root: {binary} needs a library the builder lacks: {line.strip()}")
            match = LDD_PATH.search(line.split("=>")[-1])
            if match and not match.group(1).startswith(str(VENV)):
                found.add(match.group(1))
    return found


def copy_stdlib(stdlib: Path, dynload: Path, root: Path) -> list[Path]:
    """Copy the standard library without the unused parts, as bytecode only; return the extension modules kept."""
    target = root / stdlib.relative_to("/")

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = {"__pycache__"} | {name for name in names if name.endswith(".pyc")}
        if Path(folder) == stdlib:
            skipped |= {name for name in names if any(Path(name).match(pattern) for pattern in STDLIB_UNUSED)}
        if Path(folder) == dynload:
            skipped |= {name for name in names if DYNLOAD_UNUSED.match(name)}
        return skipped | {name for name in names if name in {"test", "tests", "idle_test"}}

    shutil.copytree(stdlib, target, symlinks=True, ignore=ignore)
    if dynload.parent != stdlib:
        shutil.copytree(dynload, root / dynload.relative_to("/"), symlinks=True, ignore=ignore)
    # Bytecode beside each module, then no source: tracebacks through the
    # standard library keep file and line, and the image loses ~60% of its size.
    # Checked-hash bytecode holds a hash of its source, not the source's time.
    checked = py_compile.PycInvalidationMode.CHECKED_HASH
    if not compileall.compile_dir(target, ddir=str(stdlib), legacy=True, quiet=1, workers=0, invalidation_mode=checked):
        raise SystemExit("runtime_root: the standard library did not compile")
    for source in target.rglob("*.py"):
        source.unlink()
    return sorted((root / dynload.relative_to("/")).glob("*.so"))


def write_accounts(root: Path) -> None:
    """Write /etc/passwd and /etc/group: root, and the app's user and group 1000 (no login shell exists)."""
    etc = root / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text(
        f"root:x:0:0:root:/root:/sbin/nologin\nstarpunk:x:{APP_UID}:{APP_UID}:StarPunk:/app:/sbin/nologin\n"
    )
    (etc / "group").write_text(f"root:x:0:\nstarpunk:x:{APP_UID}:\n")
    (etc / "nsswitch.conf").write_text(NSSWITCH)


def folders_resolved(path: str) -> str:
    """Return path with the symlinks among its folders resolved (/lib/x -> /usr/lib/x), not a link at its end."""
    head, tail = os.path.split(path)
    return os.path.join(os.path.realpath(head), tail)


def package_owners() -> dict[str, str]:
    """Return the base's dpkg file lists as {path: package}, each path with its folders resolved."""
    owners: dict[str, str] = {}
    for listing in sorted((DPKG / "info").glob("*.list")):
        package = listing.stem.split(":")[0]  # libc6:amd64.list -> libc6
        for line in listing.read_text(encoding="utf-8").splitlines():
            owners.setdefault(folders_resolved(line), package)
    return owners


def installed_packages() -> dict[str, dict[str, str]]:
    """Return the record fields of every package the base's dpkg status lists as installed."""
    packages = {}
    for stanza in (DPKG / "status").read_text(encoding="utf-8").split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines() if ": " in line and not line.startswith(" "))
        if fields.get("Status", "").endswith(" installed"):
            fields.setdefault("Source", fields["Package"])
            packages[fields["Package"]] = {name: fields[name] for name in RECORD_FIELDS}
    return packages


def owner_of(path: str, owners: dict[str, str]) -> str | None:
    """Return the package a file of the image comes from, or None."""
    resolved = folders_resolved(path)
    if resolved in owners:
        return owners[resolved]
    if resolved.endswith(".pyc"):
        # The standard library is kept as bytecode only, compiled from its package's sources.
        return owners.get(resolved[:-1])
    return GENERATED.get(path)


def write_package_records(root: Path) -> list[str]:
    """Record every Debian package root has a file of in root/var/lib/dpkg/status.d; return their names.

    Stop when a file outside the venv belongs to no package and is not one of the
    build's own; CPython's files are allowed outside Debian's packages only when
    the base built it itself (the official image's /usr/local).
    """
    owners, installed = package_owners(), installed_packages()
    used, strays = set(), []
    for path in sorted(root.rglob("*")):
        inside = "/" + path.relative_to(root).as_posix()
        if path.is_symlink() or not path.is_file() or inside.startswith(f"{VENV}/") or inside in OWN_FILES:
            continue
        owner = owner_of(inside, owners)
        if owner is not None:
            used.add(owner)
        elif sys.base_prefix == "/usr" or not inside.startswith(f"{sys.base_prefix}/"):
            strays.append(inside)
    if strays:
        raise SystemExit(f"runtime_root: files of no Debian package: {', '.join(strays[:20])}")
    records = root / RECORDS
    records.mkdir(parents=True, exist_ok=True)
    for package in sorted(used):
        fields = installed[package]
        (records / package).write_text("".join(f"{name}: {fields[name]}\n" for name in RECORD_FIELDS))
    return sorted(used)


def set_times(root: Path, epoch: int) -> None:
    """Give every file, folder and link in root (and root itself) the same time, so the layer is reproducible."""
    for path in [*root.rglob("*"), root]:
        os.utime(path, (epoch, epoch), follow_symlinks=False)


def main(root: Path) -> None:
    """Fill root with what StarPunk needs at run time and nothing else."""
    root.mkdir(parents=True, exist_ok=True)
    paths = sysconfig.get_paths()
    stdlib = Path(paths["stdlib"])
    dynload = Path(sysconfig.get_config_var("DESTSHARED") or Path(stdlib, "lib-dynload"))
    kept_extensions = copy_stdlib(stdlib, dynload, root)
    if Path(paths["platstdlib"]) != stdlib:
        raise SystemExit(f"runtime_root: a separate platstdlib ({paths['platstdlib']}) is not handled")
    shutil.copytree(VENV, root / VENV.relative_to("/"), symlinks=True)
    # The venv's python3 is a symlink to this interpreter: copying it copies the whole chain.
    copy_path(str(VENV / "bin" / "python3"), root)
    copy_path(sys.executable, root)
    venv_extensions = sorted(VENV.rglob("*.so")) + sorted(VENV.rglob("*.so.*"))
    binaries = [Path(os.path.realpath(sys.executable)), *kept_extensions, *venv_extensions]
    for library in sorted(shared_libraries(binaries)):
        copy_path(library, root)
    # Without ldconfig's cache the loader searches only its default folders: the
    # official image's libpython lives in /usr/local/lib, which is not one.
    if Path("/etc/ld.so.cache").exists():
        copy_path("/etc/ld.so.cache", root)
    verify = ssl.get_default_verify_paths()
    if verify.cafile:
        copy_path(verify.cafile, root)
    for path in OS_RELEASE:
        copy_path(path, root)
    write_accounts(root)
    (root / "tmp").mkdir(mode=0o1777, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    data = root / "data"
    data.mkdir(exist_ok=True)
    os.chown(data, APP_UID, APP_UID)
    packages = write_package_records(root)
    print(f"runtime_root: {len(packages)} Debian packages recorded: {' '.join(packages)}")
    set_times(root, int(os.environ.get("SOURCE_DATE_EPOCH") or 0))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
