"""Closing a connection whose request body was not read, without destroying the answer.

The app refuses a body over MAX_REQUEST_BYTES (413) without reading it. Closing a socket that
still has unread data makes the kernel send a reset, and the reset makes the client's kernel drop
whatever it had received and not yet read: a client still writing its body never sees the 413,
only "connection reset". So, as nginx's lingering close does, the write side is shut (the client
gets the whole answer and its end), and whatever the client still sends is read and discarded
until it stops, then the socket is closed cleanly.

What bounds it, so that a client cannot make this cost much: one thread per worker process does
it for every such socket, with non-blocking reads (no request thread ever waits on a lingering
client, however slow); each socket lingers at most LINGER_SECONDS in all, LINGER_IDLE_SECONDS
without receiving anything, and until LINGER_BYTES are discarded; at most LINGER_SOCKETS linger
at once per process (past that a socket is closed at once, as before). So a slow client holds a
file descriptor, never a thread, for 30 s at most; a fast one costs a copy from the kernel per
block read, the same bytes it had to send. Past a bound the socket is closed and the client may
see the reset: 512 MB at loopback speed take about a second, so only a client that sends far
more, or very slowly, meets one.
"""

import contextlib
import os
import selectors
import socket
import threading
import time

LINGER_SECONDS = 30
LINGER_IDLE_SECONDS = 5
LINGER_BYTES = 512 * 1024 * 1024
LINGER_SOCKETS = 128
_BLOCK = 256 * 1024
_READS_PER_TURN = 8  # blocks read from one socket before the others get a turn


class Lingerer:
    def __init__(self):
        self._lock = threading.Lock()
        self._incoming = []
        self._owned = set()  # handed over and not closed yet (gunicorn may close a socket twice)
        self._pid = None  # the process whose thread runs: a forked worker starts its own
        self._waker = None

    def close(self, sock):
        """Shut the write side now; discard what the client still sends, then close (in the background)."""
        with self._lock:
            if sock in self._owned:
                return
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:  # already gone: nothing to linger for
            sock.close()
            return
        with self._lock:
            full = len(self._owned) >= LINGER_SOCKETS
            if not full:
                self._owned.add(sock)
                self._incoming.append(sock)
                self._start()
        if full:
            sock.close()
            return
        with contextlib.suppress(BlockingIOError):  # full: it is awake already
            self._waker.send(b"\0")

    def _start(self):
        if self._pid == os.getpid():
            return
        self._pid = os.getpid()
        wake, self._waker = socket.socketpair()
        wake.setblocking(False)
        self._waker.setblocking(False)
        threading.Thread(target=self._run, args=(wake,), name="lingering-close", daemon=True).start()

    def _run(self, wake):
        selector = selectors.DefaultSelector()
        selector.register(wake, selectors.EVENT_READ)
        buffer = bytearray(_BLOCK)
        lingering = {}  # socket -> [give up at, idle until, bytes discarded]

        def finish(sock):
            if lingering.pop(sock, None) is not None:
                selector.unregister(sock)
            sock.close()
            with self._lock:
                self._owned.discard(sock)

        while True:
            with self._lock:
                incoming, self._incoming = self._incoming, []
            now = time.monotonic()
            for sock in incoming:
                try:
                    selector.register(sock, selectors.EVENT_READ)
                except (OSError, ValueError):  # closed meanwhile
                    finish(sock)
                    continue
                lingering[sock] = [now + LINGER_SECONDS, now + LINGER_IDLE_SECONDS, 0]
            next_bound = min((min(state[:2]) for state in lingering.values()), default=now + 60)
            for key, _ in selector.select(max(0.0, next_bound - now)):
                if key.fileobj is wake:
                    while True:
                        try:
                            if not wake.recv(4096):
                                break
                        except BlockingIOError:
                            break
                    continue
                sock, state = key.fileobj, lingering[key.fileobj]
                for _ in range(_READS_PER_TURN):
                    try:
                        # Never blocks, even if the socket is (or is set back to) blocking.
                        received = sock.recv_into(buffer, 0, socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        break
                    except OSError:
                        received = 0
                    if not received or state[2] + received >= LINGER_BYTES:
                        finish(sock)  # the client is done (or over the bound)
                        break
                    state[1] = time.monotonic() + LINGER_IDLE_SECONDS
                    state[2] += received
            now = time.monotonic()
            for sock, (give_up_at, idle_until, _) in list(lingering.items()):
                if now >= give_up_at or now >= idle_until:
                    finish(sock)


lingerer = Lingerer()
