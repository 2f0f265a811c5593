#!/usr/bin/env python3
"""Set-up steps for bench/run.sh, over one keep-alive HTTP connection.

    populate.py sessions ADDR PREFIX COUNT     create COUNT sessions with metadata
    populate.py fill ADDR ID COUNT BYTES        append COUNT plain-text lines of BYTES bytes
    populate.py fill-many ADDR PREFIX SESSIONS COUNT BYTES

Session ids are PREFIX (16 hex digits) + the index as 8 hex digits, the
same rule the wrk Lua scripts use. Every answer must be 200/201, or the
script exits 1 naming the request. Standard library only.
"""

import http.client
import json
import sys

LINES_PER_REQUEST = 1000
TIMEOUT_S = 30


def session_id(prefix, index):
    return "%s%08x" % (prefix, index)


class Client:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=TIMEOUT_S)

    def request(self, method, path, body, content_type):
        self.conn.request(method, path, body=body, headers={"Content-Type": content_type})
        response = self.conn.getresponse()
        data = response.read()
        if response.status not in (200, 201):
            sys.exit("populate.py: %s %s -> %d %s" % (method, path, response.status, data[:200]))
        return data


def create_sessions(client, prefix, count):
    for index in range(count):
        body = {
            "appname": "UnrealEditor" if index % 2 else "BuildAgent",
            "mode": "interactive" if index % 3 else "batch",
            "jobid": "build-%d" % (40000 + index),
            "metadata": {
                "host": "agent-%02d" % (index % 50),
                "changelist": 41235 + index,
                "platform": "Win64",
                "config": "Development",
            },
        }
        client.request("POST", "/sessions/" + session_id(prefix, index), json.dumps(body),
                       "application/json")


def line(cursor, size):
    text = "[%07d] Compiling Module.Engine.%d.cpp (Development, Win64) " % (cursor, cursor % 97)
    return (text + "." * size)[:size]


def fill(client, sid, count, size):
    cursor = 0
    while cursor < count:
        batch = min(LINES_PER_REQUEST, count - cursor)
        body = "".join(line(cursor + i, size) + "\n" for i in range(batch)).encode()
        client.request("POST", "/sessions/%s/log" % sid, body, "text/plain")
        cursor += batch


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    command, addr, args = argv[1], argv[2], argv[3:]
    client = Client(addr)
    if command == "sessions":
        create_sessions(client, args[0], int(args[1]))
    elif command == "fill":
        fill(client, args[0], int(args[1]), int(args[2]))
    elif command == "fill-many":
        prefix, sessions, count, size = args[0], int(args[1]), int(args[2]), int(args[3])
        for index in range(sessions):
            fill(client, session_id(prefix, index), count, size)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
