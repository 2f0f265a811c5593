#!/usr/bin/env python3
"""The SSE leg of bench/run.sh: FOLLOWERS event streams of SESSIONS busy logs.

    sse_followers.py ADDR SESSIONS FOLLOWERS SECS LINES ROUND_MS SERVER_PID CLK_TCK

Creates SESSIONS sessions, opens FOLLOWERS streams (`GET .../log` with
`Accept: text/event-stream`, spread evenly over the sessions), then for
SECS seconds appends LINES 80-byte lines to every session each ROUND_MS
and reads every stream. Entries are counted by their `{"cursor":` key in
the decoded bytes (a page's own `"cursor"` follows a comma), without
parsing JSON, so the reader keeps up on one core. Prints key=value lines:
entries appended and delivered, the server's CPU seconds and RSS.
Bounded: every socket has a timeout and the loop ends at SECS. Standard
library only.
"""

import http.client
import json
import selectors
import socket
import sys
import time

CONNECT_TIMEOUT_S = 10
ENTRY_KEY = b'{"cursor":'


def cpu_seconds(pid, clk_tck):
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / clk_tck


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    addr, sessions, followers, secs, lines, round_ms, pid, clk_tck = sys.argv[1:9]
    sessions, followers, secs = int(sessions), int(followers), float(secs)
    lines, round_ms, pid, clk_tck = int(lines), int(round_ms), int(pid), int(clk_tck)
    host, port = addr.rsplit(":", 1)
    writer = http.client.HTTPConnection(host, int(port), timeout=CONNECT_TIMEOUT_S)

    def call(method, path, body, content_type):
        writer.request(method, path, body=body, headers={"Content-Type": content_type})
        response = writer.getresponse()
        data = response.read()
        if response.status not in (200, 201):
            sys.exit("sse_followers.py: %s %s -> %d" % (method, path, response.status))
        return data

    ids = [json.loads(call("POST", "/sessions/", b'{"appname":"sse-bench","mode":"bench"}',
                           "application/json"))["id"] for _ in range(sessions)]
    rss_before = rss_kib(pid)
    selector = selectors.DefaultSelector()
    tails = {}
    for index in range(followers):
        sock = socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S)
        request = ("GET /sessions/%s/log HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Accept: text/event-stream\r\n\r\n" % ids[index % sessions])
        sock.sendall(request.encode())
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ)
        tails[sock] = b""
    body = ("".join("%-79s\n" % ("bench line %d" % k) for k in range(lines))).encode()
    delivered = appended = 0
    cpu_before = cpu_seconds(pid, clk_tck)
    started = time.monotonic()
    next_round = started
    while time.monotonic() - started < secs:
        now = time.monotonic()
        if now >= next_round:
            for session in ids:
                call("POST", "/sessions/%s/log" % session, body, "text/plain")
                appended += lines
            next_round += round_ms / 1000
        timeout = max(0.0, min(next_round - time.monotonic(), 0.05))
        for key, _ in selector.select(timeout):
            try:
                data = key.fileobj.recv(1 << 20)
            except BlockingIOError:
                continue
            if not data:
                selector.unregister(key.fileobj)
                continue
            # A key split between two reads is counted once: keep a tail.
            joined = tails[key.fileobj] + data
            delivered += joined.count(ENTRY_KEY)
            tails[key.fileobj] = joined[-(len(ENTRY_KEY) - 1):]
    elapsed = time.monotonic() - started
    cpu = cpu_seconds(pid, clk_tck) - cpu_before
    print("sse_secs=%.2f" % elapsed)
    print("sse_appended=%d" % appended)
    print("sse_delivered=%d" % delivered)
    print("sse_expected=%d" % (appended * followers // sessions))
    print("sse_server_cpu_s=%.2f" % cpu)
    print("sse_delivered_per_cpu_s=%.0f" % (delivered / cpu if cpu > 0 else 0))
    print("sse_rss_before_kib=%d" % rss_before)
    print("sse_rss_kib=%d" % rss_kib(pid))


if __name__ == "__main__":
    main()
