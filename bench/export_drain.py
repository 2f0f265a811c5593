#!/usr/bin/env python3
"""Waits until the OTLP exporter has caught up, for bench/run.sh.

    export_drain.py ADDR TIMEOUT_S

Sums the log cursors of every session in GET /sessions (each session's
cursor is the count of entries ever appended to it, the server's own
session included), then polls GET /health until export.sent + dropped
reaches that sum, or sent has not grown for 3 s, or TIMEOUT_S passed.
Prints KEY=VALUE lines: appended, sent, dropped, retried, rejected, state,
waited_s, caught_up (1 or 0). Standard library only; bounded in time.
"""

import http.client
import json
import sys
import time

STALL_S = 3.0
POLL_S = 0.1


def get(conn, path):
    conn.request("GET", path)
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        sys.exit("export_drain.py: GET %s -> %d" % (path, response.status))
    return json.loads(data)


def main(argv):
    host, port = argv[1].rsplit(":", 1)
    timeout_s = float(argv[2])
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    start = time.monotonic()
    appended = sum(s["log"]["cursor"] for s in get(conn, "/sessions")["sessions"])
    last_sent, last_change = -1, start
    while True:
        export = get(conn, "/health").get("export") or {}
        sent, dropped = export.get("sent", 0), export.get("dropped", 0)
        now = time.monotonic()
        if sent != last_sent:
            last_sent, last_change = sent, now
        caught_up = sent + dropped >= appended
        if caught_up or now - last_change >= STALL_S or now - start >= timeout_s:
            break
        time.sleep(POLL_S)
    for key, value in (("appended", appended), ("sent", sent), ("dropped", dropped),
                       ("retried", export.get("retried", 0)), ("rejected", export.get("rejected", 0)),
                       ("state", export.get("state", "none")),
                       ("waited_s", "%.1f" % (time.monotonic() - start)),
                       ("caught_up", 1 if caught_up else 0)):
        print("%s=%s" % (key, value))


if __name__ == "__main__":
    main(sys.argv)
