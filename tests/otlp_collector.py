#!/usr/bin/env python3
"""A strict OTLP/HTTP logs collector for tests: it checks every request
against the schema (opentelemetry-proto from PyPI) and against the mapping
sessions-lite promises, records what it got, and answers as a test scripts
it (errors, partial successes, broken connections, slow answers).

Run:  .venv/bin/python tests/otlp_collector.py [--port N]
      (tests/deps.sh creates .venv with opentelemetry-proto.) Binds to
      127.0.0.1 only; --port 0 (the default) picks a free port; a fixed
      port can be reused at once (SO_REUSEADDR), so a test can restart the
      collector where it was. The first stdout line, flushed, is
      `listening on http://127.0.0.1:PORT`. Stop it by its PID.

POST /v1/logs
    Content-Type `application/x-protobuf` or `application/json`
    (parameters ignored), Content-Length required, `Content-Encoding: gzip`
    accepted. Parsed with ExportLogsServiceRequest().ParseFromString or
    json_format.Parse(..., ignore_unknown_fields=False). For JSON the raw
    text is also walked: snake_case field names, enums not as integers,
    and int64/fixed64 fields (timeUnixNano, observedTimeUnixNano, intValue)
    not as decimal strings are refused (json_format accepts all three).
    Then the sessions-lite mapping, field by field: exactly one
    ResourceLogs and one ScopeLogs; resource attributes service.name,
    service.instance.id and host.name present as strings; scope
    `sessions-lite` with a version; per record: severityNumber in
    {5, 9, 13, 17} and severityText its name (debug/info/warn/error); body
    a stringValue; timeUnixNano and observedTimeUnixNano non-zero; unique
    attribute keys; sessions_lite.session.id 24 lowercase hex digits;
    sessions_lite.session.appname and .mode strings (.jobid a string if
    present); eventName empty, `sessions_lite.session.start` or
    `sessions_lite.session.end`; an entry (no eventName) carries
    sessions_lite.log.cursor as an int; start and end carry
    sessions_lite.session.metadata as a kvlist, end also
    sessions_lite.session.end_reason as a string;
    sessions_lite.log.truncated, if present, is `true`;
    sessions_lite.log.dropped_before, if present, an int above 0.
    An invalid request is answered 400 with a google.rpc.Status (in the
    request's encoding) whose message is the reason, the reason is appended
    to `invalid`, it counts in `failed_requests`, and it consumes no
    scripted answer. Other methods on /v1/logs get 405 (also in `invalid`).
    A valid request takes the next scripted answer (below). Its records are
    delivered (appended to `records`) when the answer is 2xx, partial
    rejection or not (the rejected count is added to `rejected`); any other
    answer adds one to `failed_requests` and delivers nothing.

POST /_script   {"answers": [ANSWER, ...], "then": ANSWER}
    A queue of answers, one per valid /v1/logs request, then `then` for
    every later one (default {"status": 200}). Replaces the previous script.
    ANSWER is one of:
      {"status": N, "headers": {...}, "body": "..."}
          `body` (text, sent as UTF-8) is optional: without it a 2xx sends
          an empty ExportLogsServiceResponse and any other status a
          google.rpc.Status "scripted N", in the request's encoding.
          `headers` (such as Retry-After) go with any status answer.
      {"status": 200, "partial": {"rejected": 3, "message": "...", "as_string": true}}
          a partial success in the request's encoding; `as_string` writes
          rejectedLogRecords as "3" in JSON (else 3).
      {"status": 400, "rpc_message": "..."}
          a google.rpc.Status with that message, in the request's encoding.
      {"oversize": BYTES}      200 with a body of BYTES bytes ('x').
      {"close_mid_answer": true}
          a 200 head with a Content-Length larger than what follows, then
          close.
      {"hang_s": 30}           read the request, send nothing for that many
          seconds (or until /_reset), then close.
      {"trickle_ms": 200}      a valid empty 200 answer, one byte every 200
          ms.
      {"garbage": true}        bytes that are not HTTP, then close.
      {"fail_every": 10}       as `then` only: every 10th /v1/logs request
          (counting all of them) gets 503 with a Status, the others 200.
    The broken answers (close_mid_answer, hang_s, garbage) count as failed.

GET /_state  ->  JSON, everything in arrival order:
    {"requests": N,                 POSTs to /v1/logs, valid or not
     "invalid": [reason, ...],
     "encodings": {"protobuf": n, "json": n},
     "failed_requests": n, "rejected": n,
     "records": [{"request": k (1-based, of `requests`), "session": id,
                  "event": eventName or null, "cursor": int or null,
                  "body": str, "severity_number": n, "severity_text": s,
                  "time_unix_nano": int, "observed_time_unix_nano": int,
                  "attributes": {key: plain value}}, ...],
     "headers_seen": [{lowercase name: value}, ...] one per /v1/logs request,
     "resource": {key: value} of the last valid request}
    A plain value: str, int, float, bool, None (no value set), list (an
    arrayValue), dict (a kvlistValue), bytes as lowercase hex.
POST /_reset  clears the state and the script, and ends any hang.

Every socket has a timeout, handler threads are daemons, and a hang lasts
at most what the script says, so the collector never blocks a test.
"""

import argparse
import gzip
import json
import re
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SEVERITIES = {5: "debug", 9: "info", 13: "warn", 17: "error"}
EVENT_START = "sessions_lite.session.start"
EVENT_END = "sessions_lite.session.end"
SESSION_ID = re.compile(r"[0-9a-f]{24}")
REQUIRED_RESOURCE = ("service.name", "service.instance.id", "host.name")
# OTLP/JSON fields that are int64/fixed64 (decimal strings) and enums (ints).
INT64_FIELDS = {"timeUnixNano", "observedTimeUnixNano", "intValue"}
ENUM_FIELDS = {"severityNumber"}
# Seconds a connection may sit idle or a read may stall.
SOCKET_TIMEOUT_S = 30
REQUEST_BODY_BYTES_MAX = 64 * 1024 * 1024
# google.rpc.Code of the Status sent with an HTTP status.
RPC_CODES = {400: 3, 429: 8, 502: 14, 503: 14, 504: 14}


class Invalid(Exception):
    """A request that breaks the schema or the mapping; the reason."""


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset_event = threading.Event()
        self.clear()

    def clear(self):
        self.requests = 0
        self.invalid = []
        self.encodings = {"protobuf": 0, "json": 0}
        self.failed_requests = 0
        self.rejected = 0
        self.records = []
        self.headers_seen = []
        self.resource = {}
        self.answers = []
        self.then = {"status": 200}

    def as_json(self):
        return {
            "requests": self.requests,
            "invalid": self.invalid,
            "encodings": self.encodings,
            "failed_requests": self.failed_requests,
            "rejected": self.rejected,
            "records": self.records,
            "headers_seen": self.headers_seen,
            "resource": self.resource,
        }


STATE = State()


def plain(any_value):
    """An AnyValue as a plain Python value."""
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [plain(value) for value in any_value.array_value.values]
    if kind == "kvlist_value":
        return {pair.key: plain(pair.value) for pair in any_value.kvlist_value.values}
    if kind == "bytes_value":
        return any_value.bytes_value.hex()
    return getattr(any_value, kind)


def check_raw_json(node, path="$"):
    """What json_format.Parse lets through but OTLP/JSON forbids."""
    if isinstance(node, list):
        for index, item in enumerate(node):
            check_raw_json(item, f"{path}[{index}]")
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        where = f"{path}.{key}"
        if "_" in key:
            raise Invalid(f"snake_case field name {where}")
        if key in ENUM_FIELDS and (not isinstance(value, int) or isinstance(value, bool)):
            raise Invalid(f"enum {where} is not an integer: {value!r}")
        if key in INT64_FIELDS and not (
            isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value)
        ):
            raise Invalid(f"64-bit integer {where} is not a decimal string: {value!r}")
        check_raw_json(value, where)


def unique_attributes(key_values, where):
    out = {}
    for pair in key_values:
        if pair.key in out:
            raise Invalid(f"{where}: attribute {pair.key!r} repeats")
        out[pair.key] = pair.value
    return out


def want_kind(attributes, key, kind, where, required=True):
    value = attributes.get(key)
    if value is None:
        if required:
            raise Invalid(f"{where}: no {key}")
        return None
    if value.WhichOneof("value") != kind:
        raise Invalid(f"{where}: {key} is {value.WhichOneof('value')}, not {kind}")
    return getattr(value, kind)


def check_record(record, where):
    """The mapping of one LogRecord; returns its summary for /_state."""
    if record.severity_number not in SEVERITIES:
        raise Invalid(f"{where}: severityNumber {record.severity_number}")
    if record.severity_text != SEVERITIES[record.severity_number]:
        raise Invalid(
            f"{where}: severityText {record.severity_text!r} for {record.severity_number}"
        )
    if record.body.WhichOneof("value") != "string_value":
        raise Invalid(f"{where}: body is not a stringValue")
    if record.time_unix_nano == 0 or record.observed_time_unix_nano == 0:
        raise Invalid(f"{where}: timeUnixNano or observedTimeUnixNano is 0")
    attributes = unique_attributes(record.attributes, where)
    session = want_kind(attributes, "sessions_lite.session.id", "string_value", where)
    if not SESSION_ID.fullmatch(session):
        raise Invalid(f"{where}: session id {session!r} is not 24 lowercase hex digits")
    want_kind(attributes, "sessions_lite.session.appname", "string_value", where)
    want_kind(attributes, "sessions_lite.session.mode", "string_value", where)
    want_kind(attributes, "sessions_lite.session.jobid", "string_value", where, False)
    event = record.event_name
    cursor = None
    if event == "":
        cursor = want_kind(attributes, "sessions_lite.log.cursor", "int_value", where)
    elif event in (EVENT_START, EVENT_END):
        want_kind(attributes, "sessions_lite.session.metadata", "kvlist_value", where)
        if event == EVENT_END:
            want_kind(attributes, "sessions_lite.session.end_reason", "string_value", where)
    else:
        raise Invalid(f"{where}: eventName {event!r}")
    truncated = want_kind(attributes, "sessions_lite.log.truncated", "bool_value", where, False)
    if truncated is False:
        raise Invalid(f"{where}: sessions_lite.log.truncated is false (omit it)")
    dropped = want_kind(
        attributes, "sessions_lite.log.dropped_before", "int_value", where, False
    )
    if dropped is not None and dropped <= 0:
        raise Invalid(f"{where}: sessions_lite.log.dropped_before {dropped}")
    return {
        "session": session,
        "event": event or None,
        "cursor": cursor,
        "body": record.body.string_value,
        "severity_number": record.severity_number,
        "severity_text": record.severity_text,
        "time_unix_nano": record.time_unix_nano,
        "observed_time_unix_nano": record.observed_time_unix_nano,
        "attributes": {key: plain(value) for key, value in attributes.items()},
    }


def check_request(request):
    """The mapping of a parsed request: (resource attributes, records)."""
    if len(request.resource_logs) != 1:
        raise Invalid(f"{len(request.resource_logs)} resourceLogs, not 1")
    resource_logs = request.resource_logs[0]
    resource = unique_attributes(resource_logs.resource.attributes, "resource")
    for key in REQUIRED_RESOURCE:
        want_kind(resource, key, "string_value", "resource")
    if len(resource_logs.scope_logs) != 1:
        raise Invalid(f"{len(resource_logs.scope_logs)} scopeLogs, not 1")
    scope_logs = resource_logs.scope_logs[0]
    if scope_logs.scope.name != "sessions-lite" or not scope_logs.scope.version:
        raise Invalid(f"scope {scope_logs.scope.name!r} {scope_logs.scope.version!r}")
    records = [
        check_record(record, f"record {index}")
        for index, record in enumerate(scope_logs.log_records)
    ]
    return {key: plain(value) for key, value in resource.items()}, records


def parse_request(content_type, body):
    """The parsed request and its encoding name, or Invalid."""
    if content_type == PROTOBUF:
        request = ExportLogsServiceRequest()
        try:
            request.ParseFromString(body)
        except DecodeError as error:
            raise Invalid(f"protobuf does not parse: {error}")
        return request, "protobuf"
    try:
        raw = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise Invalid(f"JSON does not parse: {error}")
    check_raw_json(raw)
    try:
        request = json_format.Parse(
            body.decode("utf-8"), ExportLogsServiceRequest(), ignore_unknown_fields=False
        )
    except json_format.ParseError as error:
        raise Invalid(f"JSON is not an ExportLogsServiceRequest: {error}")
    return request, "json"


def rpc_status(code, message, content_type):
    """A google.rpc.Status (code = 1, message = 2) in the given encoding."""
    if content_type == JSON:
        return json.dumps({"code": code, "message": message}).encode()
    encoded = message.encode()
    out = bytearray([0x08]) + varint(code) + bytearray([0x12]) + varint(len(encoded))
    return bytes(out + encoded)


def varint(value):
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return out


def success_body(content_type, partial=None):
    if content_type == JSON:
        if partial is None:
            return b"{}"
        rejected = partial.get("rejected", 0)
        if partial.get("as_string"):
            rejected = str(rejected)
        message = {"rejectedLogRecords": rejected, "errorMessage": partial.get("message", "")}
        return json.dumps({"partialSuccess": message}).encode()
    response = ExportLogsServiceResponse()
    if partial is not None:
        response.partial_success.CopyFrom(
            ExportLogsPartialSuccess(
                rejected_log_records=partial.get("rejected", 0),
                error_message=partial.get("message", ""),
            )
        )
    return response.SerializeToString()


def next_answer(request_number):
    """The scripted answer for the request_number-th /v1/logs request."""
    with STATE.lock:
        if STATE.answers:
            return STATE.answers.pop(0)
        then = STATE.then
    every = then.get("fail_every")
    if every:
        return {"status": 503} if request_number % every == 0 else {"status": 200}
    return then


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT_S
    server_version = "otlp-test-collector"

    def log_message(self, format, *args):
        pass

    def send_answer(self, status, body, content_type=JSON, headers=None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, str(value))
        self.end_headers()
        self.wfile.write(body)

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            raise Invalid("chunked request body (send Content-Length)")
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise Invalid(f"Content-Length {length!r}")
        if int(length) > REQUEST_BODY_BYTES_MAX:
            raise Invalid(f"body of {length} bytes")
        body = self.rfile.read(int(length))
        if len(body) != int(length):
            raise Invalid("body shorter than its Content-Length")
        encoding = self.headers.get("Content-Encoding", "identity").lower()
        if encoding == "gzip":
            try:
                body = gzip.decompress(body)
            except (OSError, EOFError) as error:
                raise Invalid(f"gzip body does not inflate: {error}")
        elif encoding != "identity":
            raise Invalid(f"Content-Encoding {encoding!r}")
        return body

    def do_GET(self):
        if self.path == "/_state":
            with STATE.lock:
                body = json.dumps(STATE.as_json()).encode()
            self.send_answer(200, body)
        elif self.path == "/v1/logs":
            self.refuse_logs_method()
        else:
            self.send_answer(404, b'{"message":"no such path"}')

    def do_PUT(self):
        self.refuse_logs_method()

    def refuse_logs_method(self):
        with STATE.lock:
            STATE.invalid.append(f"method {self.command} {self.path}")
        self.close_connection = True
        self.send_answer(405, rpc_status(2, "method not allowed", JSON), JSON, {"Allow": "POST"})

    def do_POST(self):
        if self.path == "/_script":
            self.on_script()
        elif self.path == "/_reset":
            self.read_body()
            with STATE.lock:
                STATE.clear()
                STATE.reset_event.set()
                STATE.reset_event = threading.Event()
            self.send_answer(200, b"{}")
        elif self.path == "/v1/logs":
            self.on_logs()
        else:
            self.send_answer(404, b'{"message":"no such path"}')

    def on_script(self):
        try:
            script = json.loads(self.read_body() or b"{}")
            answers = list(script.get("answers", []))
            then = script.get("then", {"status": 200})
        except (Invalid, ValueError, AttributeError) as error:
            self.send_answer(400, json.dumps({"message": f"bad script: {error}"}).encode())
            return
        with STATE.lock:
            STATE.answers = answers
            STATE.then = then
        self.send_answer(200, b"{}")

    def on_logs(self):
        headers = {name.lower(): value for name, value in self.headers.items()}
        with STATE.lock:
            STATE.requests += 1
            number = STATE.requests
            STATE.headers_seen.append(headers)
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        answer_type = media_type if media_type in (PROTOBUF, JSON) else JSON
        try:
            if media_type not in (PROTOBUF, JSON):
                self.read_body()
                raise Invalid(f"Content-Type {headers.get('content-type')!r}")
            request, encoding = parse_request(media_type, self.read_body())
            resource, records = check_request(request)
        except Invalid as error:
            reason = str(error)
            with STATE.lock:
                STATE.invalid.append(reason)
                STATE.failed_requests += 1
            self.send_answer(400, rpc_status(3, reason, answer_type), answer_type)
            return
        with STATE.lock:
            STATE.encodings[encoding] += 1
            STATE.resource = resource
        self.answer(next_answer(number), number, media_type, records)

    def deliver(self, number, records, rejected=0):
        with STATE.lock:
            for record in records:
                STATE.records.append({"request": number, **record})
            STATE.rejected += rejected

    def fail(self):
        with STATE.lock:
            STATE.failed_requests += 1

    def answer(self, answer, number, content_type, records):
        if "oversize" in answer:
            self.deliver(number, records)
            self.send_answer(200, b"x" * int(answer["oversize"]), content_type)
        elif answer.get("close_mid_answer"):
            self.fail()
            self.close_connection = True
            self.wfile.write(
                f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
                "Content-Length: 1000\r\n\r\n".encode() + b"\x0a\x00" * 5
            )
            self.wfile.flush()
        elif "hang_s" in answer:
            self.fail()
            self.close_connection = True
            with STATE.lock:
                reset_event = STATE.reset_event
            reset_event.wait(timeout=float(answer["hang_s"]))
        elif "trickle_ms" in answer:
            self.deliver(number, records)
            body = success_body(content_type)
            head = (
                f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            for byte in head + body:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(float(answer["trickle_ms"]) / 1000)
        elif answer.get("garbage"):
            self.fail()
            self.close_connection = True
            self.wfile.write(b"\x00\xffNOT HTTP AT ALL\r\n\r\n\x16\x03\x01")
            self.wfile.flush()
        else:
            self.answer_status(answer, number, content_type, records)

    def answer_status(self, answer, number, content_type, records):
        status = int(answer.get("status", 200))
        partial = answer.get("partial")
        if 200 <= status < 300:
            self.deliver(number, records, partial.get("rejected", 0) if partial else 0)
        else:
            self.fail()
        if "body" in answer:
            body = answer["body"].encode()
        elif "rpc_message" in answer:
            body = rpc_status(RPC_CODES.get(status, 2), answer["rpc_message"], content_type)
        elif 200 <= status < 300:
            body = success_body(content_type, partial)
        else:
            body = rpc_status(RPC_CODES.get(status, 2), f"scripted {status}", content_type)
        self.send_answer(status, body, content_type, answer.get("headers"))


class Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def server_bind(self):
        self.socket.settimeout(None)
        super().server_bind()

    def get_request(self):
        connection, address = super().get_request()
        connection.settimeout(SOCKET_TIMEOUT_S)
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


def main():
    parser = argparse.ArgumentParser(description="OTLP/HTTP logs test collector")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = Server(("127.0.0.1", args.port), Handler)
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
