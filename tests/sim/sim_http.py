"""HTTP plumbing the simulators share: the threaded server (with a listen
backlog large enough for benchmarks), the request handler's body reading,
answer writing and hang fault, and the command-line main loop (port file,
LISTENING line, stop on SIGTERM or SIGINT). Each simulator subclasses
SimHandler with its own dispatch() and passes its own start function."""
import os
import select
import signal
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class SimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    sim_name = "sim"
    # Headers and body go out in separate writes: without TCP_NODELAY each
    # answer waited ~40 ms for the client's delayed ACK (seen in the client
    # benchmark), which no real server adds.
    disable_nagle_algorithm = True

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("%s: %s\n" % (self.sim_name, fmt % args))

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def dispatch(self):
        raise NotImplementedError

    def read_body(self, limit):
        """The request body (Content-Length or chunked), or None when it is
        larger than limit (the connection is then closed after the answer)."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            return self._read_chunked(limit)
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            self.close_connection = True
            return None
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self, limit):
        parts, total = [], 0
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(parts)
            total += size
            if total > limit:
                self.close_connection = True
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def send(self, response, extra=None, cut=False, truncate=False):
        """Writes response. cut: announce the whole length, send half and
        close; truncate: announce and send half (a consistent short body)."""
        payload = response.payload()
        if truncate:
            payload = payload[:len(payload) // 2]
        self.send_response(response.status)
        if response.status != 204:
            self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(payload)))
        for name, value in dict(extra or {}, **response.headers).items():
            self.send_header(name, value)
        self.end_headers()
        if cut:
            payload = payload[:len(payload) // 2]
            self.close_connection = True
        try:
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def hang(self):
        """Accept and never answer, until the client goes away or the server stops."""
        stop = self.server.state.stop
        self.close_connection = True
        while not stop.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.2)
            if not readable:
                continue
            try:
                if not self.connection.recv(1, socket.MSG_PEEK):
                    return
            except OSError:
                return
            stop.wait(0.2)


class SimServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    # socketserver's default listen backlog of 5 dropped handshakes when a
    # client opened 10-50 connections at once (bench/bench_gate.py): each
    # dropped one cost a 1 s SYN retransmit, or a 30 s client timeout.
    request_queue_size = 128

    def __init__(self, state, port, handler, verbose=False):
        super().__init__(("127.0.0.1", port), handler)
        self.state = state
        self.verbose = verbose
        self.port = self.server_address[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self._thread = None

    def start_background(self):
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stops accepting, releases hanging handlers, closes the socket and the record file."""
        self.state.close()
        self.shutdown()
        self.server_close()
        if self._thread:
            self._thread.join(timeout=5)


def write_port_file(path, port):
    temp = path + ".tmp"
    with open(temp, "w", encoding="ascii") as handle:
        handle.write("%d\n" % port)
    os.replace(temp, path)


def run_until_signalled(name, start, port_file, errors):
    """The simulators' main loop: start() the server (an exception of the
    classes in errors is a usage error, exit 2), announce the port, serve
    until SIGTERM or SIGINT, stop. Returns the exit status."""
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    try:
        server = start()
    except errors as err:
        sys.stderr.write("%s: %s\n" % (name, err))
        return 2
    if port_file:
        write_port_file(port_file, server.port)
    sys.stdout.write("LISTENING %d\n" % server.port)
    sys.stdout.flush()
    while not stopping.wait(0.5):
        pass
    server.stop()
    return 0
