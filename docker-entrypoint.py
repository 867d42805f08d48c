"""Start StarPunk in its container: check the data folder, then hand over to Gunicorn (or to the given command).

The image has no shell, so this is Python, run by the venv's interpreter. With
arguments it runs them instead (e.g. `docker run IMAGE flask --app starpunk backup ...`).
"""

import errno
import os
import sys

GUNICORN_ARGS = ["--config", "/app/gunicorn.conf.py", "starpunk:create_app()"]
# The exit code sysexits.h names EX_CANTCREAT, as the shell entry point used.
CANNOT_WRITE = 73


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


def main(arguments: list[str]) -> None:
    """Exit 73 with one line when the data folder takes no write; else run the arguments, or Gunicorn."""
    problem = data_folder_problem(os.environ.get("DATA_PATH") or "/data")
    if problem:
        print(problem, file=sys.stderr, flush=True)
        sys.exit(CANNOT_WRITE)
    if arguments:
        try:
            os.execvp(arguments[0], arguments)
        except OSError as failure:
            print(f"starpunk: cannot run {arguments[0]}: {failure.strerror}", file=sys.stderr, flush=True)
            sys.exit(127 if failure.errno == errno.ENOENT else 126)
    # Gunicorn runs in this process, so its master is PID 1 and receives SIGTERM,
    # and the container starts one Python, not two. It loads the app once in its
    # master (preload_app) before any worker forks; create_app applies pending
    # migrations there, so a failed migration stops the start with one line.
    from gunicorn.app.wsgiapp import run

    sys.argv = ["gunicorn", *GUNICORN_ARGS]
    run()


if __name__ == "__main__":
    main(sys.argv[1:])
