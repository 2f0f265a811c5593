#!/usr/bin/env python3
"""Hold many idle connections to a server, for bench/run.sh.

    idle_conns.py ADDR COUNT HOLD_SECS

Opens COUNT connections and prints `connected N`; then sends one small GET
on each, reads every answer and prints `answered N` (the connections are
now idle keep-alive connections that served a request); then holds them
for at most HOLD_SECS seconds (run.sh kills it sooner, by PID). Answers
that are not 200 or connections the server closed are counted in
`failed N`. Standard library only.
"""

import selectors
import socket
import sys
import time

CONNECT_TIMEOUT_S = 120
ANSWER_TIMEOUT_S = 30
# Linux: take the source port at connect(), by 4-tuple, not at bind().
IP_BIND_ADDRESS_NO_PORT = 24
SOURCE_ADDRESSES = 250
# A pause after each burst of connects, so that a server that is not
# scheduled for a few milliseconds does not overflow its listen backlog
# (the kernel then drops SYNs and the client retries only after 1 s).
BURST_CONNECTS = 256
BURST_PAUSE_S = 0.02


def main(argv):
    host, port = argv[1].rsplit(":", 1)
    count, hold_s = int(argv[2]), float(argv[3])
    started = time.monotonic()
    deadline = started + CONNECT_TIMEOUT_S
    socks = []
    # Source addresses spread over 127.0.0.2-251 so that 10,000 connections
    # do not compete for one address's ephemeral ports with whatever else
    # runs on the machine.
    for index in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        sock.bind(("127.0.0.%d" % (2 + index % SOURCE_ADDRESSES), 0))
        sock.settimeout(max(1.0, deadline - time.monotonic()))
        sock.connect((host, int(port)))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(sock)
        if len(socks) % BURST_CONNECTS == 0:
            time.sleep(BURST_PAUSE_S)
    print("connected %d in %.1f s" % (len(socks), time.monotonic() - started), flush=True)
    deadline = time.monotonic() + ANSWER_TIMEOUT_S

    request = ("GET /health HTTP/1.1\r\nHost: %s\r\n\r\n" % argv[1]).encode()
    selector = selectors.DefaultSelector()
    pending = {}
    for sock in socks:
        sock.sendall(request)
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        pending[sock] = b""
    answered = failed = 0
    while pending and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=1.0):
            sock = key.fileobj
            try:
                data = sock.recv(65536)
            except BlockingIOError:
                continue
            head = pending[sock] + data
            done = not data
            if b"\r\n\r\n" in head:
                done = True
                # The body is small and sent with the head; anything left
                # over is read (and ignored) by the kernel buffer.
                if head.startswith(b"HTTP/1.1 200"):
                    answered += 1
                else:
                    failed += 1
            elif not data:
                failed += 1
            if done:
                selector.unregister(sock)
                del pending[sock]
            else:
                pending[sock] = head
    failed += len(pending)
    print("answered %d" % answered, flush=True)
    print("failed %d" % failed, flush=True)
    time.sleep(hold_s)


if __name__ == "__main__":
    main(sys.argv)
