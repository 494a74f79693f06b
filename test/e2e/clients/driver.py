"""A TCP client the tests steer one step at a time, written with nothing but
Python's standard `socket` module, so the examples are checked by a client
this project did not write.

Reads one JSON command per line on stdin, answers one JSON line on stdout:

  {"op": "ping"}                                 -> {"ok": true} once Python is up
  {"op": "connect", "id": "c1", "host": "127.0.0.1", "port": 8000, "rcvbuf": 65536?}
        -> {"ok": true, "local": ["127.0.0.1", 54321]}
  {"op": "send", "id": "c1", "data": "<hex>"}
  {"op": "recv", "id": "c1", "timeout": 5, "until": "<hex suffix>"? , "n": 123?}
        reads until the data ends with `until`, or `n` bytes came, or (neither
        given) the server closes; -> {"ok": true, "data": "<hex>", "eof": b, "timedOut": b}
  {"op": "shutdown_write", "id": "c1"}           half-close: the server reads EOF
  {"op": "close", "id": "c1", "reset": false}    reset: SO_LINGER 0, so close sends RST
  {"op": "fill", "id": "c1", "max": N, "stall": s}
        sends a known byte pattern without reading, until `max` bytes went or
        the kernel took nothing for `stall` seconds -> {"ok": true, "sent": n}
  {"op": "drain", "id": "c1", "n": N, "timeout": s}
        reads N bytes and checks them against that pattern
        -> {"ok": true, "received": n, "match": b}

An operation that fails answers {"ok": false, "error": "<Python class>", "message": "..."}.
"""
import json
import select
import socket
import struct
import sys
import time

PATTERN = bytes(range(251)) * 1024  # 251 is prime: no period lines up with buffer sizes


def pattern(offset, length):
    out = bytearray()
    while len(out) < length:
        start = (offset + len(out)) % 251
        out += PATTERN[start:start + min(length - len(out), len(PATTERN) - 251)]
    return bytes(out)


socks = {}


def op_ping(cmd):
    return {}


def op_connect(cmd):
    s = socket.socket(socket.AF_INET6 if ":" in cmd["host"] else socket.AF_INET, socket.SOCK_STREAM)
    if cmd.get("rcvbuf"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, cmd["rcvbuf"])
    s.settimeout(cmd.get("timeout", 5))
    s.connect((cmd["host"], cmd["port"]))
    socks[cmd["id"]] = s
    return {"local": list(s.getsockname()[:2])}


def op_send(cmd):
    s = socks[cmd["id"]]
    s.settimeout(cmd.get("timeout", 5))
    s.sendall(bytes.fromhex(cmd["data"]))
    return {}


def op_recv(cmd):
    s = socks[cmd["id"]]
    until = bytes.fromhex(cmd["until"]) if cmd.get("until") else None
    n = cmd.get("n")
    deadline = time.monotonic() + cmd.get("timeout", 5)
    data = b""
    eof = timed_out = False
    while True:
        if until is not None and data.endswith(until):
            break
        if n is not None and len(data) >= n:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        s.settimeout(left)
        try:
            chunk = s.recv(65536 if n is None else min(65536, n - len(data)))
        except socket.timeout:
            timed_out = True
            break
        if not chunk:
            eof = True
            break
        data += chunk
    return {"data": data.hex(), "eof": eof, "timedOut": timed_out}


def op_shutdown_write(cmd):
    socks[cmd["id"]].shutdown(socket.SHUT_WR)
    return {}


def op_close(cmd):
    s = socks.pop(cmd["id"])
    if cmd.get("reset"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    return {}


def op_fill(cmd):
    s = socks[cmd["id"]]
    s.setblocking(False)
    sent, total, stall = 0, cmd["max"], cmd.get("stall", 1.0)
    try:
        while sent < total:
            _, writable, _ = select.select([], [s], [], stall)
            if not writable:
                break  # the kernel took nothing for `stall` seconds: the peer stopped reading
            try:
                sent += s.send(pattern(sent, min(262144, total - sent)))
            except BlockingIOError:
                pass
    finally:
        s.setblocking(True)
    return {"sent": sent}


def op_drain(cmd):
    s = socks[cmd["id"]]
    n = cmd["n"]
    deadline = time.monotonic() + cmd.get("timeout", 10)
    received, match = 0, True
    while received < n:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            chunk = s.recv(min(262144, n - received))
        except socket.timeout:
            break
        if not chunk:
            break
        if chunk != pattern(received, len(chunk)):
            match = False
        received += len(chunk)
    return {"received": received, "match": match and received == n}


OPS = {name[3:]: fn for name, fn in globals().items() if name.startswith("op_")}

for line in sys.stdin:
    cmd = json.loads(line)
    try:
        answer = {"ok": True, **OPS[cmd["op"]](cmd)}
    except Exception as error:  # answered, not raised: the test decides what it means
        answer = {"ok": False, "error": type(error).__name__, "message": str(error)}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()

for s in socks.values():
    s.close()
