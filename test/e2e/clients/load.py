"""Many concurrent echo clients, with Python's standard `socket` and `threading`.

    python3 load.py '{"host": "127.0.0.1", "port": 8000, "clients": 16,
                      "size": 4194304, "aborters": 2, "timeout": 60,
                      "rcvbuf": 32768, "read_size": 4096}'

Each of `clients` connects, sends `size` random bytes while reading its echo
(a thread per direction: a client that only read after sending everything
would deadlock against a server that stops reading when it is owed too
much), half-closes, reads to EOF and compares. A small `rcvbuf` and
`read_size` make the clients slow readers, so the server meets full send
buffers (partial writes, EVENT_WRITE) all the time. Each of `aborters` sends
random bytes without reading, waits until it has some echo back (so the
server is mid-stream with it), then closes with RST (SO_LINGER 0), leaving
the server with unsent data and a dead peer.

Prints one JSON line: {"clients": [{"local": [h, p], "sent": n, "received": n,
"exact": b, "error": str|null}], "aborters": [{"local": [h, p], "error": ...}],
"seconds": s}.
"""
import json
import os
import socket
import struct
import sys
import threading
import time

opts = json.loads(sys.argv[1])
ADDRESS = (opts["host"], opts["port"])
TIMEOUT = opts.get("timeout", 60)
start_line = threading.Barrier(opts["clients"] + opts.get("aborters", 0))


def connect():
    s = socket.socket(socket.AF_INET6 if ":" in ADDRESS[0] else socket.AF_INET, socket.SOCK_STREAM)
    if opts.get("rcvbuf"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, opts["rcvbuf"])
    s.settimeout(TIMEOUT)
    s.connect(ADDRESS)
    return s


def echo_client(result):
    payload = os.urandom(opts["size"])
    s = connect()
    result["local"] = list(s.getsockname()[:2])
    try:
        start_line.wait(TIMEOUT)

        def send_all():
            try:
                view = memoryview(payload)
                for i in range(0, len(view), 65536):
                    s.sendall(view[i:i + 65536])
                s.shutdown(socket.SHUT_WR)
            except OSError as error:
                result["error"] = f"send: {error!r}"

        sender = threading.Thread(target=send_all)
        sender.start()
        got = bytearray()
        while True:
            chunk = s.recv(opts.get("read_size", 262144))
            if not chunk:
                break
            got += chunk
        sender.join(TIMEOUT)
        result.update(sent=len(payload), received=len(got), exact=bytes(got) == payload)
    finally:
        s.close()


def aborter(result):
    s = connect()
    result["local"] = list(s.getsockname()[:2])
    try:
        start_line.wait(TIMEOUT)
        s.sendall(os.urandom(1 << 20))
        s.recv(1)  # the server is echoing to us now: it is mid-stream
    finally:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()


def run(target, result):
    try:
        target(result)
    except Exception as error:
        result["error"] = repr(error)


clients = [{"error": None} for _ in range(opts["clients"])]
aborters = [{"error": None} for _ in range(opts.get("aborters", 0))]
threads = [threading.Thread(target=run, args=(echo_client, r)) for r in clients]
threads += [threading.Thread(target=run, args=(aborter, r)) for r in aborters]
began = time.monotonic()
for t in threads:
    t.start()
for t in threads:
    t.join(TIMEOUT)
print(json.dumps({"clients": clients, "aborters": aborters, "seconds": time.monotonic() - began}))
