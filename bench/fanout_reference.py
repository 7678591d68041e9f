"""The yardstick for SSE fan-out: a loop that writes the same bytes to the same sockets.

    python -m bench.fanout_reference --port P

`GET /events` answers an event-stream head (chunked, as uvicorn sends one) and a first
event, and keeps the socket; `POST /fire` with an event as its body writes it, as one
chunk, to every socket held, in one loop, then answers 200. Plain asyncio streams, no
framework: the least a process can do to deliver one change to all its subscribers.
"""

from __future__ import annotations

import argparse
import asyncio

HEAD = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
        b"cache-control: no-cache\r\nconnection: keep-alive\r\nx-accel-buffering: no\r\n"
        b"transfer-encoding: chunked\r\n\r\n")
FIRST = b'event: generation\r\nid: 1\r\ndata: {"status": "processing"}\r\n\r\n'
subscribers: list[asyncio.StreamWriter] = []


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        if head.startswith(b"POST /fire"):
            event = chunk(await reader.readexactly(_length(head)))
            held = subscribers[:]
            subscribers.clear()
            for subscriber in held:
                subscriber.write(event)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            await writer.drain()
        elif head.startswith(b"GET /events"):
            writer.write(HEAD + chunk(FIRST))
            subscribers.append(writer)
            await reader.read()  # until the client leaves
        else:  # the harness's probe
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        if writer in subscribers:
            subscribers.remove(writer)
        writer.close()


async def serve(host: str, port: int) -> None:
    server = await asyncio.start_server(handle, host, port, backlog=4096)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.fanout_reference")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        asyncio.run(serve(args.host, args.port))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
