"""A minimal websocket client (RFC 6455) on asyncio streams, for the bench's agent sockets.

The `websockets` package is not in the project's environment, and a bench needs only
this much: the opening handshake with cookies and an Origin, masked text frames out,
text frames in (fragmented or not), answering pings, sending a ping and a close.
"""

import asyncio
import base64
import contextlib
import os
import struct

TEXT, BINARY, CLOSE, PING, PONG, CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class HandshakeFailed(Exception):
    pass


class Closed(Exception):
    pass


class WebSocket:
    def __init__(self, reader, writer):
        self.reader = reader
        self.writer = writer
        self.closed = False
        self.pongs = asyncio.Queue()

    @classmethod
    async def connect(cls, host, port, path, headers=(), timeout=30):
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, limit=2**22), timeout
        )
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in headers),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        try:
            answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            writer.close()
            raise HandshakeFailed(f"connection closed during handshake: {error}") from error
        status = answer.split(b"\r\n", 1)[0]
        if b" 101 " not in status:
            writer.close()
            raise HandshakeFailed(status.decode(errors="replace"))
        return cls(reader, writer)

    async def _frame(self):
        head = await self.reader.readexactly(2)
        fin, opcode = head[0] & 0x80, head[0] & 0x0F
        length = head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", await self.reader.readexactly(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", await self.reader.readexactly(8))[0]
        mask = await self.reader.readexactly(4) if head[1] & 0x80 else None
        payload = await self.reader.readexactly(length) if length else b""
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return bool(fin), opcode, payload

    async def recv(self):
        """The next text message, or raise Closed."""
        parts = []
        while True:
            try:
                fin, opcode, payload = await self._frame()
            except (asyncio.IncompleteReadError, ConnectionError) as error:
                self.closed = True
                raise Closed(str(error)) from error
            if opcode == PING:
                await self._send(PONG, payload)
                continue
            if opcode == PONG:
                self.pongs.put_nowait(payload)
                continue
            if opcode == CLOSE:
                self.closed = True
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                with contextlib.suppress(ConnectionError):
                    await self._send(CLOSE, payload[:2])
                self.writer.close()
                raise Closed(f"closed by the server ({code})")
            parts.append(payload)
            if fin:
                return b"".join(parts).decode("utf-8", errors="replace")

    async def _send(self, opcode, payload):
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
        elif length < 2**16:
            head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.writer.write(head + mask + masked)
        await self.writer.drain()

    async def send(self, text):
        await self._send(TEXT, text.encode())

    async def ping(self, data=b"bench"):
        """Send a ping; the reader (a task calling recv) puts the pong in `pongs`."""
        await self._send(PING, data)

    async def close(self):
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(ConnectionError):
            await self._send(CLOSE, struct.pack("!H", 1000))
        self.writer.close()
        with contextlib.suppress(TimeoutError, ConnectionError):
            await asyncio.wait_for(self.writer.wait_closed(), 2)
