#!/bin/sh
# Start StarPunk in its container: check the data folder, migrate, hand over to Gunicorn.
set -eu

data_path="${DATA_PATH:-/data}"
probe="$data_path/.starpunk-write-check.$$"

# Try a real write: a root-owned or read-only mount fails here with one line,
# not later with a traceback from SQLite. The shell's own message says which.
if ! failure=$( (: >"$probe") 2>&1 ); then
    case "$failure" in
    *"Read-only file system"*)
        echo "starpunk: $data_path is mounted read-only; mount it read-write (drop :ro or read_only from the volume): the database lives there" >&2
        ;;
    *)
        echo "starpunk: $data_path is not writable by UID $(id -u); give it to that user on the host (chown -R $(id -u):$(id -g) <host folder>) or run the container with --user set to the folder's owner" >&2
        ;;
    esac
    exit 73
fi
rm -f "$probe"

# With arguments, run them instead (e.g. `docker run IMAGE flask --app starpunk backup ...`).
if [ "$#" -gt 0 ]; then
    exec "$@"
fi

# Gunicorn loads the app once in its master (preload_app) before any worker
# forks, and create_app applies pending migrations there: a failed migration
# stops the start with one line, and a separate `flask init-db` process would
# only add a second Python start-up to every container start.
exec gunicorn --config /app/gunicorn.conf.py 'starpunk:create_app()'
