# Schemathesis hooks for api/openapi.yaml (loaded through SCHEMATHESIS_HOOKS=scripts/lib/schemathesis-hooks.py by
# Tests/ADHTTPTests/SchemathesisTests.swift). Schemathesis sends only the media types it can serialize; these two
# teach it the points framings it does not know, so the fuzzing reaches the NDJSON and CSV readers too.
import json

import schemathesis


def _json_line(value):
    return json.dumps(value, ensure_ascii=False)


@schemathesis.serializer("application/x-ndjson")
def ndjson(ctx, value):
    # The document shows an NDJSON body as the array of its lines' points; anything else (negative cases) is sent
    # as one line, which the server must refuse with a 4xx like any other bad line.
    if isinstance(value, bytes):
        return value
    if isinstance(value, list):
        return "\n".join(_json_line(v) for v in value).encode("utf-8")
    return _json_line(value).encode("utf-8")


@schemathesis.serializer("text/csv")
def csv(ctx, value):
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return _json_line(value).encode("utf-8")
