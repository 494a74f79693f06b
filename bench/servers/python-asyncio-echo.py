"""Echo server on Python's asyncio (the stock event loop, not uvloop).

    python3 bench/servers/python-asyncio-echo.py HOST PORT [streams|sock|protocol]

`streams` (the default) is asyncio.start_server with reader.read/writer.drain,
the idiom asyncio's documentation teaches and the fastest of the coroutine
styles measured here; `sock` is loop.sock_recv/sock_sendall, the same shape as
the library's coroutine loop; `protocol` is the callback API (no coroutines
per chunk), for reference.
"""
import asyncio
import signal
import socket
import sys

READ_SIZE = 65536


async def serve_streams(host, port, ready):
    async def handle(reader, writer):
        try:
            while data := await reader.read(READ_SIZE):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, port, backlog=4096)
    ready(server.sockets[0])
    await asyncio.Event().wait()


async def serve_sock(host, port, ready):
    loop = asyncio.get_running_loop()
    listener = socket.create_server((host, port), backlog=4096)
    listener.setblocking(False)
    ready(listener)

    async def handle(sock):
        try:
            while data := await loop.sock_recv(sock, READ_SIZE):
                await loop.sock_sendall(sock, data)
        except ConnectionError:
            pass
        finally:
            sock.close()

    tasks = set()  # strong references, or the loop may collect running tasks
    while True:
        sock, _ = await loop.sock_accept(listener)
        sock.setblocking(False)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        task = asyncio.create_task(handle(sock))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def serve_protocol(host, port, ready):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoProtocol, host, port, backlog=4096)
    ready(server.sockets[0])
    await asyncio.Event().wait()


VARIANTS = {"streams": serve_streams, "sock": serve_sock, "protocol": serve_protocol}


def main():
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 8000
    variant = sys.argv[3] if len(sys.argv) > 3 else "streams"
    if variant not in VARIANTS:
        sys.exit(f"usage: python-asyncio-echo.py HOST PORT [{'|'.join(VARIANTS)}]")

    def ready(sock):
        print(f"listening on {host}:{sock.getsockname()[1]}", flush=True)

    # SIGTERM is how the runner stops us: unwind like Ctrl-C. SIGINT is set
    # too, because a shell starts background jobs with SIGINT ignored and
    # Python then leaves it ignored.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.default_int_handler)
    try:
        asyncio.run(VARIANTS[variant](host, port, ready))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
