"""A small HTTP fault proxy for S3 traffic: workers → proxy → SeaweedFS.

It forwards HTTP/1.1 requests (keep-alive, Content-Length and chunked bodies, Expect:
100-continue) and, per request, draws from a seeded RNG whether to

    error_500 / error_503   answer itself with an S3-style XML error (InternalError / SlowDown),
                            which botocore's 'standard' retry mode treats as retryable;
    reset                   drop the connection with a TCP RST after reading the request head
                            (botocore: ConnectionClosedError, also retryable);
    delay                   sleep a little, then forward.

It also observes what passes through, so a scenario can prove "exactly once": every object PUT
that reached the server is recorded with its path and the SHA-256 of its content
(`puts`), and every injected fault is counted (`stats`).

    with FaultProxy(("127.0.0.1", s3_port), FaultPlan(error_500=0.03, reset=0.02, seed=7)) as proxy:
        endpoint = f"http://127.0.0.1:{proxy.port}"
        ...
        proxy.stats()   # {"requests": 812, "forwarded": 760, "error_500": 25, ...}

Also a command line tool: python -m chaos.fault_proxy --upstream 127.0.0.1:8333 --error-500 0.05
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import re
import socket
import struct
import threading
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from urllib.parse import unquote, urlsplit

FAULT_KINDS = ("error_500", "error_503", "reset", "delay")

# S3 answers errors with an XML body; botocore parses <Code> to decide how to retry.
_ERROR_BODIES = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("SlowDown", "Please reduce your request rate."),
}
_REASONS = {500: "Internal Server Error", 503: "Service Unavailable"}
_MAX_HEAD = 64 * 1024


@dataclass
class FaultPlan:
    """Per-request probabilities of each fault (drawn once per request, in this order)."""

    error_500: float = 0.0
    error_503: float = 0.0
    reset: float = 0.0
    delay: float = 0.0
    delay_seconds: tuple[float, float] = (0.05, 0.5)
    seed: int = 0
    # Only requests whose method is listed are eligible for faults (all by default).
    methods: tuple[str, ...] = ("GET", "HEAD", "PUT", "POST", "DELETE")
    # Requests whose path contains one of these always get a 503: an object that stays
    # unreadable, to show that retries are bounded and end in a reported failure.
    unavailable: tuple[str, ...] = ()
    # Requests whose decoded target (path?query) matches one of these regular expressions always
    # get a 503: e.g. one listing, or its second page (r"prefix=catalogue/.*continuation-token=").
    unavailable_requests: tuple[str, ...] = ()

    def __post_init__(self):
        total = self.error_500 + self.error_503 + self.reset + self.delay
        if not 0.0 <= total <= 1.0:
            raise ValueError(f"fault probabilities must add up to at most 1 (got {total})")

    @property
    def failure_rate(self) -> float:
        """Share of eligible requests that do not get a normal answer."""
        return self.error_500 + self.error_503 + self.reset


@dataclass
class _Request:
    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    head: bytes

    def header(self, name: str, default: str | None = None) -> str | None:
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.target).path)

    @property
    def query(self) -> str:
        return urlsplit(self.target).query


@dataclass
class PutRecord:
    """One object PUT that the server accepted (2xx)."""

    path: str        # /bucket/key (path-style addressing)
    sha256: str      # of the object's content (x-amz-content-sha256 when it is a hash)
    status: int
    at: float = field(default_factory=time.time)


class FaultProxy:
    """Asyncio proxy running in a background thread; bound to 127.0.0.1 on a free port."""

    def __init__(self, upstream: tuple[str, int], plan: FaultPlan | None = None,
                 host: str = "127.0.0.1", port: int = 0):
        self.upstream = upstream
        self.plan = plan or FaultPlan()
        self.host, self.port = host, port
        self._rng = random.Random(self.plan.seed)
        self._counts: Counter = Counter()
        self._puts: list[PutRecord] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.AbstractServer | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._enabled = True

    # --- lifecycle ------------------------------------------------------------------------
    def start(self) -> "FaultProxy":
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._startup_error:
            raise self._startup_error
        if not self._ready.is_set():
            raise RuntimeError("fault proxy did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread:
            self._thread.join(10)

    def __enter__(self) -> "FaultProxy":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def set_faults(self, enabled: bool) -> None:
        """Switch fault injection on/off (observation continues), e.g. for setup uploads."""
        self._enabled = enabled

    def stats(self) -> dict:
        with self._lock:
            out = {k: self._counts.get(k, 0) for k in ("requests", "forwarded", *FAULT_KINDS)}
            out.update({k: v for k, v in self._counts.items() if k not in out})
            out["injected_failures"] = out["error_500"] + out["error_503"] + out["reset"]
            return out

    def puts(self) -> list[PutRecord]:
        with self._lock:
            return list(self._puts)

    def puts_by_path(self, prefix: str = "") -> dict[str, list[str]]:
        """path → SHA-256 of every accepted PUT to it, in order."""
        out: dict[str, list[str]] = defaultdict(list)
        for rec in self.puts():
            if rec.path.startswith(prefix):
                out[rec.path].append(rec.sha256)
        return dict(out)

    def reset_observations(self) -> None:
        with self._lock:
            self._counts.clear()
            self._puts.clear()

    # --- the event loop thread --------------------------------------------------------------
    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            self._server = loop.run_until_complete(
                asyncio.start_server(self._serve_client, self.host, self.port, reuse_address=True))
            self.port = self._server.sockets[0].getsockname()[1]
        except BaseException as exc:  # noqa: BLE001 — reported to start()
            self._startup_error = exc
            self._ready.set()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            self._server.close()
            for task in asyncio.all_tasks(loop):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._counts[key] += n

    def _draw(self, method: str, path: str = "", target: str = "") -> str | None:
        if not self._enabled:
            return None
        if any(part in path for part in self.plan.unavailable):
            return "error_503"
        if any(re.search(pattern, unquote(target)) for pattern in self.plan.unavailable_requests):
            return "error_503"
        if method not in self.plan.methods:
            return None
        r = self._rng.random()
        for kind in FAULT_KINDS:
            p = getattr(self.plan, kind)
            if r < p:
                return kind
            r -= p
        return None

    async def _serve_client(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            while True:
                request = await _read_request_head(client_r)
                if request is None:
                    return
                self._count("requests")
                self._count(f"method_{request.method}")
                fault = self._draw(request.method, request.path, request.target)
                expects_continue = (request.header("expect", "") or "").lower() == "100-continue"

                if fault == "reset":
                    self._count("reset")
                    _reset(client_w)
                    return
                if fault in ("error_500", "error_503"):
                    self._count(fault)
                    status = 500 if fault == "error_500" else 503
                    if expects_continue:
                        # The client will not send the body after a final answer: close after it.
                        await _send_error(client_w, request, status, close=True)
                        return
                    await _read_body(client_r, request)  # keep the connection in step
                    await _send_error(client_w, request, status, close=False)
                    continue
                if fault == "delay":
                    self._count("delay")
                    await asyncio.sleep(self._rng.uniform(*self.plan.delay_seconds))

                if expects_continue:
                    client_w.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    await client_w.drain()
                body = await _read_body(client_r, request)
                if upstream is None:
                    upstream = await asyncio.open_connection(*self.upstream)
                up_r, up_w = upstream
                up_w.write(_rebuild_head(request, drop=("expect",)) + body)
                await up_w.drain()
                status, resp_head, resp_headers = await _read_response_head(up_r)
                # Count before the client can see the answer: once it has it, the caller may read
                # stats() or stop the proxy while this coroutine still waits in drain().
                self._count("forwarded")
                self._record_put(request, body, status)
                client_w.write(resp_head)
                close_after = await _relay_response_body(up_r, client_w, request.method, status, resp_headers)
                await client_w.drain()
                if close_after or (request.header("connection", "") or "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            return
        finally:
            if upstream is not None:
                upstream[1].close()
            if not client_w.is_closing():
                client_w.close()

    def _record_put(self, request: _Request, body: bytes, status: int) -> None:
        if request.method != "PUT" or not 200 <= status < 300:
            return
        query = request.query
        if request.header("x-amz-copy-source") or "uploadId=" in query or "tagging" in query or "acl" in query:
            self._count("put_other")
            return
        if request.path.count("/") < 2:  # CreateBucket: /bucket
            return
        declared = request.header("x-amz-content-sha256", "") or ""
        sha = declared if len(declared) == 64 and all(c in "0123456789abcdef" for c in declared) \
            else hashlib.sha256(body).hexdigest()
        with self._lock:
            self._puts.append(PutRecord(path=request.path, sha256=sha, status=status))


# --- HTTP/1.1 framing -----------------------------------------------------------------------
class TcpCutProxy:
    """A plain TCP relay (workers → Redis) whose link can be cut: `cut(seconds)` resets every
    open connection and refuses new ones (accept, then reset) until the time is up — a network
    partition between the workers and the broker, as opposed to a broker restart."""

    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1"):
        self.upstream = upstream
        self.host = host
        self._listener = socket.create_server((host, 0))
        self.port = self._listener.getsockname()[1]
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._cut_until = 0.0
        self._stopped = threading.Event()
        self.cuts = 0
        self.refused = 0

    def start(self) -> "TcpCutProxy":
        threading.Thread(target=self._accept, name="tcp-cut-proxy", daemon=True).start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._listener.close()
        self._reset_all()

    def cut(self, seconds: float) -> None:
        self._cut_until = time.monotonic() + seconds
        self.cuts += 1
        self._reset_all()

    @property
    def is_cut(self) -> bool:
        return time.monotonic() < self._cut_until

    def _reset_all(self) -> None:
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for c in conns:
            _abort(c)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.is_cut:
                self.refused += 1
                _abort(client)
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _abort(client)
                continue
            with self._lock:
                self._conns.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            with self._lock:
                self._conns.discard(s)
            _abort(s)


def _abort(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0): the peer sees the connection reset, as on a cut link."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


async def _read_head(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise
        return None
    if len(head) > _MAX_HEAD:
        raise ValueError("header too large")
    return head


def _parse_headers(lines: list[bytes]) -> list[tuple[str, str]]:
    headers = []
    for line in lines:
        if not line:
            continue
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    return headers


async def _read_request_head(reader: asyncio.StreamReader) -> _Request | None:
    head = await _read_head(reader)
    if head is None:
        return None
    lines = head[:-4].split(b"\r\n")
    method, target, version = lines[0].decode("latin-1").split(" ", 2)
    return _Request(method=method.upper(), target=target, version=version,
                    headers=_parse_headers(lines[1:]), head=head)


async def _read_response_head(reader: asyncio.StreamReader) -> tuple[int, bytes, list[tuple[str, str]]]:
    while True:
        head = await _read_head(reader)
        if head is None:
            raise ConnectionError("upstream closed the connection")
        lines = head[:-4].split(b"\r\n")
        status = int(lines[0].split(b" ", 2)[1])
        if status == 100:  # we stripped Expect, but be tolerant
            continue
        return status, head, _parse_headers(lines[1:])


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for k, v in headers:
        if k.lower() == name:
            return v
    return None


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    """Read a chunked body, returning its raw bytes (chunk framing and trailers kept)."""
    parts = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        parts.append(size_line)
        size = int(size_line.split(b";")[0].strip(), 16)
        if size == 0:
            while True:  # trailers, then the empty line
                line = await reader.readuntil(b"\r\n")
                parts.append(line)
                if line == b"\r\n":
                    return b"".join(parts)
        parts.append(await reader.readexactly(size + 2))


async def _read_body(reader: asyncio.StreamReader, request: _Request) -> bytes:
    if (request.header("transfer-encoding", "") or "").lower().endswith("chunked"):
        return await _read_chunked(reader)
    length = int(request.header("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""


async def _relay_response_body(reader, writer, method: str, status: int, headers) -> bool:
    """Copy the response body; return True when the connection must close afterwards."""
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return False
    if (_header(headers, "transfer-encoding") or "").lower().endswith("chunked"):
        writer.write(await _read_chunked(reader))
        return False
    length = _header(headers, "content-length")
    if length is not None:
        remaining = int(length)
        while remaining:
            chunk = await reader.read(min(remaining, 1 << 16))
            if not chunk:
                raise ConnectionError("upstream closed mid-body")
            writer.write(chunk)
            remaining -= len(chunk)
        return (_header(headers, "connection") or "").lower() == "close"
    while chunk := await reader.read(1 << 16):  # body delimited by close
        writer.write(chunk)
    return True


def _rebuild_head(request: _Request, drop: tuple[str, ...]) -> bytes:
    lines = [f"{request.method} {request.target} {request.version}"]
    lines += [f"{k}: {v}" for k, v in request.headers if k.lower() not in drop]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send_error(writer: asyncio.StreamWriter, request: _Request, status: int, close: bool) -> None:
    code, message = _ERROR_BODIES[status]
    body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
            f"<Message>{message}</Message><Resource>{_xml_escape(request.path)}</Resource>"
            f"<RequestId>fault-proxy</RequestId></Error>").encode()
    head = (f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: application/xml\r\n"
            f"Content-Length: {len(body)}\r\nx-amz-request-id: fault-proxy\r\n"
            f"Connection: {'close' if close else 'keep-alive'}\r\n\r\n").encode()
    writer.write(head if request.method == "HEAD" else head + body)
    await writer.drain()


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST rather than FIN: what a crashed load balancer or a dropped link looks like."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", required=True, help="host:port of the S3 server")
    parser.add_argument("--port", type=int, default=0)
    for kind in FAULT_KINDS:
        parser.add_argument(f"--{kind.replace('_', '-')}", type=float, default=0.0, dest=kind)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    host, port = args.upstream.rsplit(":", 1)
    plan = FaultPlan(**{k: getattr(args, k) for k in FAULT_KINDS}, seed=args.seed)
    with FaultProxy((host, int(port)), plan, port=args.port) as proxy:
        print(f"fault proxy on {proxy.endpoint} → {args.upstream}: {asdict(plan)}", flush=True)
        try:
            while True:
                time.sleep(10)
                print(proxy.stats(), flush=True)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
