"""Gunicorn settings for the StarPunk container, read from the environment."""

import os

bind = "0.0.0.0:8000"
# 2 for one CPU, chosen by measurement (python -m loadtests.bench --workers-sweep; the table is in the
# deployment guide's "Tuning workers"): the most requests per MB while keeping the throughput, p95 and
# slow-client goals; 1 lets a single stalled upload stall every reader, 4 went past 80 MB under load.
workers = int(os.environ.get("WORKERS", "2"))
timeout = int(os.environ.get("WORKER_TIMEOUT", "30"))
# A recycled worker is a fresh fork of the master, which rendered the site as it
# was at startup: it renders again every note written since. At 1000 a busy
# site forked a worker several times a second and lost a third of its
# throughput to that (nox -s load, 0.7.0); at 10000 it is a few per minute.
max_requests = int(os.environ.get("MAX_REQUESTS", "10000"))
# Jitter keeps the workers from all restarting on the same request.
max_requests_jitter = max_requests // 10
# SIGTERM lets requests in flight finish for this long before workers are killed;
# the workers also answer the connections already queued before they exit.
graceful_timeout = 20
worker_class = "starpunk.worker.SlowClientWorker"
# The app is built once in the master and shared by the forked workers
# (copy-on-write); database connections are opened only after the fork: each
# worker holds one open for its life (post_worker_init) and its requests share it.
preload_app = True
# Heartbeat files on tmpfs: an overlay or a busy volume can stall them.
worker_tmp_dir = "/dev/shm"
# Gunicorn takes SCRIPT_NAME and PATH_INFO from request headers of the peers in
# forwarded_allow_ips (127.0.0.1: a sidecar, a host-network proxy that passes
# headers with underscores) by default; the site is served at the root of
# SITE_URL, so no peer may move it (starpunk/fastpath.py clears SCRIPT_NAME too).
forwarder_headers = ""
accesslog = "-"
# The access log redacts login-link tokens and IndieLogin codes from URLs.
logger_class = "starpunk.accesslog.RedactingLogger"
errorlog = "-"
# No control socket: its default home folder is not writable in the image.
control_socket_disable = True


def when_ready(server):
    """Warm the app in the master, then freeze its objects, before any worker forks.

    Workers (and the ones MAX_REQUESTS recycles) inherit compiled templates
    and rendered notes, and gc.freeze keeps the collector from touching, and
    so copying, the pages they share with the master. The hooks ask the app
    itself (StarPunk's warm_up, hold_database_open), so another app served
    with this file, the load test's framework floor, loads none of StarPunk.
    """
    import gc

    warm_up = getattr(server.app.wsgi(), "warm_up", None)
    if warm_up is not None:
        warm_up()
    gc.freeze()


def post_worker_init(worker):
    """Hold the database open in every worker for its requests; start the worker's queue consumer thread.

    Both are the app's (StarPunk.start_queue_consumer, hold_database_open), so the
    load test's framework floor, served with this file, loads none of StarPunk.
    Holding the database: a full disk stops writes but not reads. The
    consumer (starpunk/consumer.py) waits for the container's queue lock, so
    exactly one worker at a time does the queued jobs (Webmention checks);
    when that worker goes, another takes over.
    """
    import sqlite3

    start_queue_consumer = getattr(worker.wsgi, "start_queue_consumer", None)
    if start_queue_consumer is not None:
        start_queue_consumer()
    hold_database_open = getattr(worker.wsgi, "hold_database_open", None)
    if hold_database_open is None:
        return
    try:
        hold_database_open()
    except sqlite3.Error as exc:
        # A worker that cannot hold the database still serves (and /health
        # says why); refusing to boot would stop Gunicorn and loop the container.
        worker.log.error("starpunk: cannot hold the database open: %s", exc)


def worker_abort(worker):
    """Say in one line what a worker was doing when WORKER_TIMEOUT ran out, before Gunicorn kills it.

    Gunicorn's own line for the kill guesses "Perhaps out of memory?"; slow
    clients no longer get here (starpunk.worker bounds headers and bodies), so
    this is a request the app itself took too long to answer.
    """
    activity = getattr(worker, "activity", "unknown")
    worker.log.critical(
        "starpunk: worker %s gave no sign of life for WORKER_TIMEOUT (%s s) while %s; "
        "Gunicorn stops it now (a following 'Perhaps out of memory?' line is Gunicorn's guess, not a diagnosis)",
        worker.pid,
        worker.cfg.timeout,
        activity,
    )
