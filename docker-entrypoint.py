"""Start StarPunk in its container: check the data folder, then hand over to Gunicorn (or to the given command).

The image has no shell, so this is Python, run by the venv's interpreter. With
arguments it runs them instead (e.g. `docker run IMAGE flask --app starpunk backup ...`).
"""

import errno
import os
import socket
import sys
import time

GUNICORN_ARGS = ["--config", "/app/gunicorn.conf.py", "starpunk:create_app(commands=False)"]
# The exit code sysexits.h names EX_CANTCREAT, as the shell entry point used.
CANNOT_WRITE = 73
# How long a site with replication configured and no database yet waits for Litestream's restore.
RESTORE_WAIT_SECONDS = 120
NO_RESTORE = 75  # EX_TEMPFAIL: the orchestrator starts it again


def data_folder_problem(data_path: str) -> str | None:
    """Try a real write in the data folder; return the one line that says why it failed, or None."""
    probe = os.path.join(data_path, f".starpunk-write-check.{os.getpid()}")
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    except OSError as failure:
        if failure.errno == errno.EROFS:
            return (
                f"starpunk: {data_path} is mounted read-only; mount it read-write "
                "(drop :ro or read_only from the volume): the database lives there"
            )
        uid, gid = os.getuid(), os.getgid()
        return (
            f"starpunk: {data_path} is not writable by UID {uid}; give it to that user on the host "
            f"(chown -R {uid}:{gid} <host folder>) or run the container with --user set to the folder's owner"
        )
    os.unlink(probe)
    return None


def socket_answers(path: str) -> bool:
    """Return whether something accepts connections on the Unix socket at path."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def wait_for_restore(data_path: str, socket_path: str, timeout: float = RESTORE_WAIT_SECONDS) -> bool:
    """With replication configured and no database yet, wait until Litestream's control socket answers.

    The sidecar (`litestream replicate -restore-if-db-not-exists`) restores the
    newest replica before it opens that socket, so once it answers, the
    database is back, or there was none to restore: starting before then
    would create an empty database in its place. Return False on timeout.
    """
    if not socket_path or os.path.exists(os.path.join(data_path, "starpunk.db")):
        return True
    print(f"starpunk: no database in {data_path} yet; waiting for Litestream's restore ({socket_path})", flush=True)
    deadline = time.monotonic() + timeout
    while not socket_answers(socket_path):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.2)
    return True


def main(arguments: list[str]) -> None:
    """Exit 73 with one line when the data folder takes no write; else run the arguments, or Gunicorn.

    With replication configured (REPLICATION_SOCKET) and no database yet, Gunicorn waits for the restore first.
    """
    data_path = os.environ.get("DATA_PATH") or "/data"
    problem = data_folder_problem(data_path)
    if problem:
        print(problem, file=sys.stderr, flush=True)
        sys.exit(CANNOT_WRITE)
    if arguments:
        try:
            os.execvp(arguments[0], arguments)
        except OSError as failure:
            print(f"starpunk: cannot run {arguments[0]}: {failure.strerror}", file=sys.stderr, flush=True)
            sys.exit(127 if failure.errno == errno.ENOENT else 126)
    if not wait_for_restore(data_path, os.environ.get("REPLICATION_SOCKET", "")):
        print(
            f"starpunk: REPLICATION_SOCKET is set and {data_path} has no database, but Litestream did not answer "
            f"within {RESTORE_WAIT_SECONDS} s; start its sidecar (it restores the newest replica first)",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(NO_RESTORE)
    # Gunicorn runs in this process, so its master is PID 1 and receives SIGTERM,
    # and the container starts one Python, not two. It loads the app once in its
    # master (preload_app) before any worker forks; create_app applies pending
    # migrations there, so a failed migration stops the start with one line.
    from gunicorn.app.wsgiapp import run

    sys.argv = ["gunicorn", *GUNICORN_ARGS]
    run()


if __name__ == "__main__":
    main(sys.argv[1:])
