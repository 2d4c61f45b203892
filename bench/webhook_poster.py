"""The load generator's HTTP: keep-alive HTTP/1.1 POSTs on a fixed set of connections.

httpx's pool rescans every waiting request whenever a connection frees up; with
thousands of deliveries queued behind a slow server that scan took the whole event loop,
and the bench's own websocket clients missed the server's pings. Here a fixed number of
connections each take the next delivery from one queue, so a backlog costs nothing.
"""

import asyncio
import time


class Poster:
    def __init__(self, host, port, connections):
        self.host = host
        self.port = port
        self.connections = connections
        self.queue = asyncio.Queue()
        self.answers = []  # (status, ms from queued to answered)
        self.workers = []

    def start(self):
        self.workers = [asyncio.create_task(self._worker()) for _ in range(self.connections)]

    def put(self, path, body, headers, queued_at=None):
        self.queue.put_nowait((path, body, headers, queued_at or time.perf_counter()))

    async def finish(self):
        await self.queue.join()
        for worker in self.workers:
            worker.cancel()
        await asyncio.gather(*self.workers, return_exceptions=True)

    async def _worker(self):
        reader = writer = None
        while True:
            path, body, headers, queued_at = await self.queue.get()
            try:
                for attempt in range(2):
                    try:
                        if writer is None:
                            reader, writer = await asyncio.open_connection(self.host, self.port)
                        status = await self._post(reader, writer, path, body, headers)
                        break
                    except (ConnectionError, asyncio.IncompleteReadError, ValueError):
                        if writer is not None:
                            writer.close()
                        reader = writer = None
                        status = "connection error"
                        if attempt:
                            break
                self.answers.append((status, (time.perf_counter() - queued_at) * 1000))
            finally:
                self.queue.task_done()

    async def _post(self, reader, writer, path, body, headers):
        head = [
            f"POST {path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Content-Length: {len(body)}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
        answer = await reader.readuntil(b"\r\n\r\n")
        lines = answer.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        fields = {}
        for line in lines[1:]:
            name, _sep, value = line.partition(":")
            fields[name.strip().lower()] = value.strip().lower()
        if fields.get("transfer-encoding") == "chunked":
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await reader.readexactly(size + 2)
                if size == 0:
                    break
        elif int(fields.get("content-length") or 0):
            await reader.readexactly(int(fields["content-length"]))
        return status
