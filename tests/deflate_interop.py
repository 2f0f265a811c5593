"""permessage-deflate against an independent implementation: the Python
`websockets` library (zlib underneath) as the client.

kosoku, which runs the Autobahn cases, cannot run the compression cases
(12.* and 13.*): every one of them fails inside kosoku before it connects
("Strings must be encoded before hashing"). This script covers the same
ground against the running server:

  - the offers of 13.*: every combination of the four parameters and the
    window sizes 9..15, each either accepted with a valid answer or
    declined (the upgrade then goes on uncompressed);
  - the echoes of 12.*: text and binary messages of 16 B .. 64 KiB (the
    server's message limit), compressible and not, whole and fragmented,
    compressed by the client, echoed back by /ws-echo;
  - past the limit: a message that inflates to more than 64 KiB closes 1009;
  - /sessions/ws: the session list arrives compressed (RSV1) and inflates
    to the same JSON a client without the extension gets.

Usage: deflate_interop.py HOST:PORT (a server started with --ws-echo).
Exits non-zero on the first failure.
"""

import itertools
import json
import os
import random
import socket
import struct
import sys
import zlib

from websockets.exceptions import ConnectionClosedError
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.sync.client import connect

MESSAGE_BYTES_MAX = 64 * 1024
SIZES = [16, 64, 256, 1024, 4096, 8192, 16384, 32768, MESSAGE_BYTES_MAX]


def fail(message):
    print(f"deflate interop: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def open_socket(address, path, **factory):
    extensions = [ClientPerMessageDeflateFactory(**factory)]
    return connect(
        f"ws://{address}{path}",
        extensions=extensions,
        compression=None,
        max_size=None,
        open_timeout=5,
        close_timeout=5,
    )


def negotiated(ws):
    return ws.response.headers.get("Sec-WebSocket-Extensions")


def offers():
    """The parameter combinations of Autobahn's 13.* offers."""
    bits = [None, True, 9, 10, 11, 12, 13, 14, 15]
    for server_nct, client_nct, server_bits, client_bits in itertools.product(
        [False, True], [False, True], [None, 9, 11, 15], bits
    ):
        yield {
            "server_no_context_takeover": server_nct,
            "client_no_context_takeover": client_nct,
            "server_max_window_bits": server_bits,
            "client_max_window_bits": client_bits,
        }


def check_offers(address):
    count = 0
    for offer in offers():
        with open_socket(address, "/ws-echo", **offer) as ws:
            answer = negotiated(ws)
            if answer is None or not answer.startswith("permessage-deflate"):
                fail(f"offer {offer} declined: {answer!r}")
            if offer["server_max_window_bits"] and (
                f"server_max_window_bits={offer['server_max_window_bits']}" not in answer
            ):
                fail(f"offer {offer}: answer {answer!r} does not honour the window")
            payload = "ä" + "compress me " * 200
            ws.send(payload)
            if ws.recv(timeout=5) != payload:
                fail(f"offer {offer}: echo differs")
        count += 1
    print(f"deflate interop: {count} offers accepted, each answered validly and echoed")


def payloads(size, rng):
    text = "".join(rng.choice("abcdefghij ÄÖÜ") for _ in range(size // 2 + 1))
    text = text.encode()[:size].decode("utf-8", "ignore")
    yield "text", text
    yield "binary, repetitive", (b"0123456789abcdef" * (size // 16 + 1))[:size]
    yield "binary, random", rng.randbytes(size)


def check_echoes(address):
    rng = random.Random(12)
    count = 0
    with open_socket(address, "/ws-echo") as ws:
        if negotiated(ws) is None:
            fail("plain offer declined")
        for size in SIZES:
            for kind, payload in payloads(size, rng):
                ws.send(payload)
                if ws.recv(timeout=5) != payload:
                    fail(f"{kind} message of {size} bytes: echo differs")
                count += 1
                # Fragmented: the client compresses the whole message and
                # splits it into frames.
                if size >= 1024:
                    step = size // 4
                    parts = [payload[i : i + step] for i in range(0, len(payload), step)]
                    ws.send(parts)
                    if ws.recv(timeout=5) != payload:
                        fail(f"fragmented {kind} message of {size} bytes: echo differs")
                    count += 1
    print(f"deflate interop: {count} messages of 16 B .. 64 KiB echoed intact")


def check_limit(address):
    with open_socket(address, "/ws-echo") as ws:
        ws.send(b"\0" * MESSAGE_BYTES_MAX)
        if ws.recv(timeout=5) != b"\0" * MESSAGE_BYTES_MAX:
            fail("a 64 KiB message of zeros was not echoed")
        ws.send(b"\0" * (MESSAGE_BYTES_MAX + 1))
        try:
            ws.recv(timeout=5)
            fail("a compressed message over 64 KiB was echoed")
        except ConnectionClosedError as closed:
            if closed.rcvd is None or closed.rcvd.code != 1009:
                fail(f"over the limit: expected close 1009, got {closed.rcvd}")
    print("deflate interop: 64 KiB inflated is taken, 64 KiB + 1 closes 1009")


class RawClient:
    """A hand-made client, to see frames as they are on the wire."""

    def __init__(self, address, path, offer):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        request = (
            f"GET {path} HTTP/1.1\r\nHost: {address}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            f"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: {offer}\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.data = b""
        while b"\r\n\r\n" not in self.data:
            self.data += self.sock.recv(65536) or fail("closed during the handshake")
        head, self.data = self.data.split(b"\r\n\r\n", 1)
        if not head.startswith(b"HTTP/1.1 101"):
            fail(f"upgrade refused: {head!r}")

    def need(self, count):
        while len(self.data) < count:
            self.data += self.sock.recv(1 << 20) or fail("closed before a whole frame")

    def read_frame(self):
        """(FIN/RSV/opcode byte, payload) of the next frame."""
        self.need(2)
        length, start = self.data[1] & 0x7F, 2
        if length == 126:
            self.need(4)
            length, start = struct.unpack(">H", self.data[2:4])[0], 4
        elif length == 127:
            self.need(10)
            length, start = struct.unpack(">Q", self.data[2:10])[0], 10
        self.need(start + length)
        first, payload = self.data[0], self.data[start : start + length]
        self.data = self.data[start + length :]
        return first, payload

    def send_frame(self, first, payload):
        mask = os.urandom(4)
        header = bytes([first])
        if len(payload) < 126:
            header += bytes([0x80 | len(payload)])
        else:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def close(self):
        self.sock.close()


def deflate(payload):
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    return data[:-4] if data.endswith(b"\x00\x00\xff\xff") else data


def check_raw_echo(address):
    client = RawClient(address, "/ws-echo", "permessage-deflate")
    payload = ("a compressed message, by hand " * 40).encode()
    compressed = deflate(payload)
    # FIN, RSV1, text: one compressed message.
    client.send_frame(0xC1, compressed)
    first, echoed = client.read_frame()
    if (first, echoed) != (0x81, payload):
        fail(f"a hand-compressed message echoed as {first:#x} {echoed[:40]!r}")
    # Fragmented by hand, a ping between the fragments.
    half = len(compressed) // 2
    client.send_frame(0x42, compressed[:half])
    client.send_frame(0x89, b"ping")
    client.send_frame(0x80, compressed[half:])
    first, pong = client.read_frame()
    first_echo, echoed = client.read_frame()
    if (first, pong, first_echo, echoed) != (0x8A, b"ping", 0x82, payload):
        fail("a fragmented compressed message with a ping between was not handled in order")
    client.close()
    print(f"deflate interop: a hand-made compressed message ({len(compressed)} of "
          f"{len(payload)} bytes), whole and fragmented around a ping, echoed")


def raw_first_frame(address, offer):
    """The first session list as sent: (RSV1, payload)."""
    client = RawClient(address, "/sessions/ws", offer)
    first, payload = client.read_frame()
    client.close()
    return bool(first & 0x40), payload


def check_list(address):
    rsv1, compressed = raw_first_frame(address, "permessage-deflate; client_max_window_bits")
    if not rsv1:
        fail("the session list came uncompressed to a client that agreed")
    message = zlib.decompressobj(-15).decompress(compressed + b"\x00\x00\xff\xff").decode()
    listed = json.loads(message)
    rsv1, plain = raw_first_frame(address, "permessage-deflate; server_max_window_bits=10")
    if rsv1:
        fail("a client with a 1 KiB window got a list compressed with 32 KiB")
    plain = json.loads(plain)
    with open_socket(address, "/sessions/ws") as ws:
        library = json.loads(ws.recv(timeout=5))
    for other in (plain, library):
        if listed["type"] != "sessions" or other["server_session"] != listed["server_session"]:
            fail("compressed and plain lists differ")
    print(
        f"deflate interop: session list of {len(message)} bytes sent as {len(compressed)} "
        "compressed; plain to a client with a 1 KiB window"
    )


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    address = sys.argv[1]
    check_offers(address)
    check_echoes(address)
    check_limit(address)
    check_raw_echo(address)
    check_list(address)
    print("deflate interop: OK")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
