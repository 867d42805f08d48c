"""Slow clients against a site on 127.0.0.1, with asyncio sockets: trickled headers, trickled uploads and timed readers.

`SlowClientRun` opens `header_clients` connections that send a request line
and then one short header line per HEADER_INTERVAL_S, never finishing (a
client the server closes opens again, as slowloris does), and `uploads`
multipart POSTs whose headers go at once and whose body trickles at
`upload_rate` bytes/s for `window_s` seconds; the rest of each body is then
sent at once so the upload can finish (unless `finish_uploads` is False: then
the upload stalls and waits for the server's answer). Meanwhile `readers` fetch `paths` in
turn, one request per fresh connection, and every reply's status and latency
is kept. Everything is bounded: the window, a timeout per reply, and the
number of connections; all traffic goes to 127.0.0.1.
"""

import asyncio
import ssl
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .seed import noisy_png

HEADER_INTERVAL_S = 1.0
READER_PAUSE_S = 0.05
REPLY_TIMEOUT_S = 60.0
TRICKLE_TICK_S = 0.25
# A slow client that keeps being closed reopens at most this often.
REOPEN_PAUSE_S = 0.5
# How long a finished exchange may take to close cleanly (TLS close_notify) before it is cut.
CLOSE_TIMEOUT_S = 2.0


@dataclass
class Target:
    """Where the clients connect (127.0.0.1:port), the Host they name, and TLS when the front speaks it."""

    port: int
    host: str
    tls: ssl.SSLContext | None = None

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a connection to 127.0.0.1:port (TLS with SNI host when set)."""
        return await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.tls, server_hostname=self.host if self.tls else None, limit=2**20
        )


@dataclass
class Reply:
    """One reader's request: what it asked, the status (None when it failed) and how long it took."""

    path: str
    status: int | None
    seconds: float
    error: str = ""


@dataclass
class Upload:
    """One trickled upload: the status and Location the server answered, and the bytes sent."""

    status: int | None
    location: str
    sent: bytes
    seconds: float
    error: str = ""


@dataclass
class Outcome:
    """What a run saw: every reader reply, every upload, and how the slow header clients fared."""

    replies: list[Reply] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    header_opens: int = 0
    header_closed_by_server: int = 0

    def failures(self) -> list[Reply]:
        """Return the reader replies that failed or were not a 200."""
        return [reply for reply in self.replies if reply.status != 200]

    def percentile_ms(self, fraction: float) -> float:
        """Return the given percentile of the readers' latency in ms (nearest rank)."""
        times = sorted(reply.seconds for reply in self.replies)
        if not times:
            return float("nan")
        return 1000 * times[min(len(times) - 1, max(0, round(fraction * len(times)) - 1))]

    def summary(self) -> str:
        """Return one line with the figures a report quotes."""
        done = [upload for upload in self.uploads if upload.status in (200, 201)]
        return (
            f"readers: {len(self.replies)} requests, {len(self.failures())} failed, "
            f"p50 {self.percentile_ms(0.5):.0f} ms, p95 {self.percentile_ms(0.95):.0f} ms, "
            f"max {self.percentile_ms(1.0):.0f} ms; uploads: {len(done)}/{len(self.uploads)} stored "
            f"(status after s: {', '.join(f'{upload.status} {upload.seconds:.1f}' for upload in self.uploads)}); "
            f"slow header connections: {self.header_opens} opened, {self.header_closed_by_server} closed by the server"
        )


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close a connection and wait until its socket is gone, cutting it if a clean close takes too long.

    A TLS connection's close waits for the peer's close_notify; one still
    pending when the run's event loop ends would leak its socket.
    """
    writer.close()
    try:
        await asyncio.wait_for(writer.wait_closed(), CLOSE_TIMEOUT_S)
    except (OSError, ssl.SSLError, TimeoutError):
        writer.transport.abort()


async def _read_reply(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    else:
        body = await reader.read()
    return status, headers, body


# An upload that stalls: 1 MB at 1 KB/s holds a worker past the body deadline, then it goes silent.
STALLED_UPLOAD: dict[str, Any] = {"upload_bytes": 1_000_000, "upload_rate": 1024, "finish_uploads": False}


class SlowClientRun:
    """One bounded run of slow header clients, slow uploads and readers against a target."""

    def __init__(
        self,
        target: Target,
        paths: Sequence[str],
        *,
        header_clients: int = 0,
        uploads: int = 0,
        upload_bytes: int = 5_000_000,
        upload_rate: int = 4096,
        upload_path: str = "/micropub/media",
        token: str = "",
        readers: int = 4,
        window_s: float = 25.0,
        finish_uploads: bool = True,
    ) -> None:
        self.target = target
        self.paths = list(paths)
        self.header_clients = header_clients
        self.uploads = uploads
        self.upload_bytes = upload_bytes
        self.upload_rate = upload_rate
        self.upload_path = upload_path
        self.token = token
        self.readers = readers
        self.window_s = window_s
        self.finish_uploads = finish_uploads
        self.outcome = Outcome()

    @classmethod
    def stalled_uploads(
        cls, target: Target, paths: Sequence[str], uploads: int, token: str, window_s: float, header_clients: int = 0
    ) -> "SlowClientRun":
        """Return a run of readers beside uploads of 1 MB that trickle at 1 KB/s and then stall, never finishing."""
        options: dict[str, Any] = {
            "header_clients": header_clients,
            "uploads": uploads,
            "token": token,
            "window_s": window_s,
        }
        return cls(target, paths, **options, **STALLED_UPLOAD)

    def run(self) -> Outcome:
        """Run everything for the window (uploads and readers until the uploads end) and return what was seen."""
        asyncio.run(self._main())
        return self.outcome

    async def _main(self) -> None:
        ends = time.monotonic() + self.window_s
        uploads_done = asyncio.Event()
        slow = [asyncio.create_task(self._slow_headers(ends)) for _ in range(self.header_clients)]
        # Let the slow clients connect before the readers measure.
        await asyncio.sleep(min(2.0, self.window_s / 4))
        upload_tasks = [asyncio.create_task(self._upload(ends, number)) for number in range(self.uploads)]
        readers = [asyncio.create_task(self._reader(ends, uploads_done, number)) for number in range(self.readers)]
        self.outcome.uploads = list(await asyncio.gather(*upload_tasks))
        uploads_done.set()
        await asyncio.gather(*readers)
        for task in slow:
            task.cancel()
        await asyncio.gather(*slow, return_exceptions=True)
        # An aborted transport closes its socket in a callback: let those run before the loop ends.
        await asyncio.sleep(0.1)

    async def _slow_headers(self, ends: float) -> None:
        while time.monotonic() < ends:
            try:
                reader, writer = await self.target.open()
            except OSError:
                await asyncio.sleep(REOPEN_PAUSE_S)
                continue
            self.outcome.header_opens += 1
            try:
                writer.write(f"GET / HTTP/1.1\r\nHost: {self.target.host}\r\n".encode())
                number = 0
                while time.monotonic() < ends:
                    await writer.drain()
                    try:
                        data = await asyncio.wait_for(reader.read(1), HEADER_INTERVAL_S)
                    except TimeoutError:
                        data = None
                    if data is not None:
                        # The server answered (408) or closed: this connection is over.
                        self.outcome.header_closed_by_server += 1
                        break
                    number += 1
                    writer.write(f"X-Slow-{number}: {'a' * 8}\r\n".encode())
            except (OSError, ssl.SSLError):
                self.outcome.header_closed_by_server += 1
            finally:
                # An abandoned client: cut at once, also when the run cancels it (no TLS goodbye to wait for).
                writer.transport.abort()
            await asyncio.sleep(REOPEN_PAUSE_S)

    async def _upload(self, ends: float, number: int) -> Upload:
        boundary = uuid.uuid4().hex
        photo = noisy_png(self.upload_bytes, seed=number)
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="slow-{number}.png"\r\n'
                "Content-Type: image/png\r\n\r\n"
            ).encode()
            + photo
            + f"\r\n--{boundary}--\r\n".encode()
        )
        head = (
            f"POST {self.upload_path} HTTP/1.1\r\nHost: {self.target.host}\r\nAuthorization: Bearer {self.token}\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        started = time.monotonic()
        writer = None
        reply: asyncio.Task[tuple[int, dict[str, str], bytes]] | None = None
        try:
            reader, writer = await self.target.open()
            # The server may answer before the body is all sent (a refusal): listen from the start.
            reply = asyncio.create_task(_read_reply(reader))
            writer.write(head)
            await writer.drain()
            sent = 0
            step = max(1, int(self.upload_rate * TRICKLE_TICK_S))
            while time.monotonic() < ends and sent < len(body) and not reply.done():
                writer.write(body[sent : sent + step])
                sent += step
                await writer.drain()
                await asyncio.sleep(TRICKLE_TICK_S)
            if not reply.done() and self.finish_uploads:
                try:
                    writer.write(body[sent:])
                    await writer.drain()
                except OSError:
                    pass  # the reply says why the server stopped reading
            status, headers, _ = await asyncio.wait_for(reply, REPLY_TIMEOUT_S)
            return Upload(status, headers.get("location", ""), photo, time.monotonic() - started)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError) as exc:
            return Upload(None, "", photo, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
        finally:
            if reply is not None and not reply.done():
                reply.cancel()
            if writer is not None:
                await _close(writer)

    async def _reader(self, ends: float, uploads_done: asyncio.Event, number: int) -> None:
        turn = number
        while True:
            path = self.paths[turn % len(self.paths)]
            turn += 1
            self.outcome.replies.append(await self._fetch(path))
            if time.monotonic() >= ends and uploads_done.is_set():
                return
            await asyncio.sleep(READER_PAUSE_S)

    async def _fetch(self, path: str) -> Reply:
        started = time.monotonic()
        writer = None
        try:
            reader, writer = await asyncio.wait_for(self.target.open(), REPLY_TIMEOUT_S)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {self.target.host}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            status, _, _ = await asyncio.wait_for(_read_reply(reader), REPLY_TIMEOUT_S)
            seconds = time.monotonic() - started
            return Reply(path, status, seconds)
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError, TimeoutError, ValueError, IndexError) as exc:
            return Reply(path, None, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
        finally:
            if writer is not None:
                await _close(writer)
