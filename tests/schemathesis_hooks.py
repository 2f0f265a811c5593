"""Schemathesis hooks for tests/schemathesis.sh (loaded via SCHEMATHESIS_HOOKS).

Two things the document cannot tell Schemathesis by itself:

- How to write an `application/x-ndjson` body: the document describes it
  as the array of its lines' values (OpenAPI 3.1 has no sequential media
  types), so each item goes on a line of its own.
- That `wait` holds a request open. A log read with `wait=S` at the log's
  end answers after S seconds (up to 60) when no entry comes: a valid,
  documented answer that would only spend the run's time budget. Any wait
  in 2..60 is sent as 1, which still parks the read (one second) and
  still ends it with the documented empty page. Values outside 0..60 go
  as generated: they are 400s.
"""

import json

import schemathesis


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    if isinstance(value, list):
        return "".join(json.dumps(item) + "\n" for item in value).encode()
    # A negative case that is not a list: one line of whatever it is.
    return (json.dumps(value) + "\n").encode()


def _short_wait(value):
    text = str(value)
    if text.isdigit() and 1 < int(text) <= 60:
        return 1
    return value


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.query and "wait" in case.query:
        case.query["wait"] = _short_wait(case.query["wait"])
