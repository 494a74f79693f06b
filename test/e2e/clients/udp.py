"""UDP echo clients, with Python's standard `socket`.

    python3 udp.py '{"host": "127.0.0.1", "port": 8000, "clients": 4,
                     "sizes": [0, 1, 100, 1400, 65507], "timeout": 5}'

Each of `clients` (its own socket, so its own port) sends one datagram of
each size (random bytes) and waits for the echo; loopback loses nothing, so
a missing reply is a failure. Then all clients send at once and read their
replies, which must not cross between clients.

Prints one JSON line: {"clients": [{"local": [h, p], "exact": n, "wrong": n}],
"interleaved_exact": b}.
"""
import json
import os
import socket
import sys

opts = json.loads(sys.argv[1])
ADDRESS = (opts["host"], opts["port"])
family = socket.AF_INET6 if ":" in opts["host"] else socket.AF_INET

socks = []
for _ in range(opts["clients"]):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(opts["timeout"])
    s.bind((opts["host"], 0))
    socks.append(s)

report = []
for s in socks:
    exact = wrong = 0
    for size in opts["sizes"]:
        data = os.urandom(size)
        s.sendto(data, ADDRESS)
        reply, sender = s.recvfrom(65536)
        if reply == data and sender[1] == ADDRESS[1]:
            exact += 1
        else:
            wrong += 1
    report.append({"local": list(s.getsockname()[:2]), "exact": exact, "wrong": wrong})

payloads = [os.urandom(32) + bytes([i]) for i in range(len(socks))]
for s, data in zip(socks, payloads):
    s.sendto(data, ADDRESS)
interleaved = all(s.recvfrom(65536)[0] == data for s, data in zip(socks, payloads))

for s in socks:
    s.close()
print(json.dumps({"clients": report, "interleaved_exact": interleaved}))
