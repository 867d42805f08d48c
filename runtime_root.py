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
"""

import compileall
import os
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
    if not compileall.compile_dir(target, ddir=str(stdlib), legacy=True, quiet=1, workers=0):
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
    write_accounts(root)
    (root / "tmp").mkdir(mode=0o1777, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    data = root / "data"
    data.mkdir(exist_ok=True)
    os.chown(data, APP_UID, APP_UID)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
