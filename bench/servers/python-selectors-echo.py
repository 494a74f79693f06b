"""Echo server on Python's own `selectors` module: the design the library copies.

    python3 bench/servers/python-selectors-echo.py HOST PORT    (PORT 0 picks one)

Non-blocking sockets; each chunk read is written straight back, and only what
the kernel would not take is kept. While a connection holds such bytes it
waits for EVENT_WRITE instead of EVENT_READ, so it stops reading (backpressure).
"""
import selectors
import signal
import socket
import sys

READ_SIZE = 65536


class Conn:
    __slots__ = ("sock", "pending")

    def __init__(self, sock):
        self.sock = sock
        self.pending = None  # memoryview of unsent bytes, or None


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8000

    # SIGTERM is how the runner stops us: unwind like Ctrl-C. SIGINT is set
    # too, because a shell starts background jobs with SIGINT ignored and
    # Python then leaves it ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)

    sel = selectors.DefaultSelector()
    listener = socket.create_server((host, port), backlog=4096)
    listener.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, None)
    print(f"listening on {host}:{listener.getsockname()[1]}", flush=True)

    EVENT_READ, EVENT_WRITE = selectors.EVENT_READ, selectors.EVENT_WRITE

    def close(conn):
        sel.unregister(conn.sock)
        conn.sock.close()

    def accept_all():
        while True:
            try:
                sock, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except ConnectionAbortedError:
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = Conn(sock)
            sel.register(sock, EVENT_READ, conn)

    def on_readable(conn):
        sock = conn.sock
        try:
            data = sock.recv(READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return close(conn)
        if not data:
            return close(conn)
        try:
            sent = sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            return close(conn)
        if sent < len(data):
            conn.pending = memoryview(data)[sent:]
            sel.modify(sock, EVENT_WRITE, conn)

    def on_writable(conn):
        try:
            sent = conn.sock.send(conn.pending)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            return close(conn)
        if sent < len(conn.pending):
            conn.pending = conn.pending[sent:]
        else:
            conn.pending = None
            sel.modify(conn.sock, EVENT_READ, conn)

    try:
        while True:
            for key, mask in sel.select():
                conn = key.data
                if conn is None:
                    accept_all()
                elif mask & EVENT_WRITE:
                    on_writable(conn)
                else:
                    on_readable(conn)
    except KeyboardInterrupt:
        pass
    finally:
        for key in list(sel.get_map().values()):
            key.fileobj.close()
        sel.close()


if __name__ == "__main__":
    main()
