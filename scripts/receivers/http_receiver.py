#!/usr/bin/python3
"""A test receiver for adworker's alert channels: records every request and checks it against the receiving
service's rules (our generic webhook, Slack incoming webhooks, PagerDuty Events API v2).

Python 3 standard library only. Usage:

    http_receiver.py --port 0 [--out FILE] [--secret NAME=VALUE ...]

Prints `listening on <port>` (one line, flushed) once it accepts connections. Routes:

    POST /webhook/<name>          generic webhook (schema ad.alert.v1; HMAC-signed when a secret is set for <name>)
    POST /slack/<name>            Slack incoming webhook
    POST /pagerduty/v2/enqueue    PagerDuty Events API v2
    POST /_control/fail           {"status": 503, "count": N} or {"status": 503, "seconds": S}
                                  or {"hang_seconds": S, "count": N} (sleep before answering)
    POST /_control/reset          clears forced failures and hangs
    GET  /_records                every recorded request, as a JSON list
"""

import argparse
import hashlib
import hmac
import json
import os
import re
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SIGNATURE_WINDOW_SECONDS = 300
EVENTS = ("trigger", "renotify", "escalate", "acknowledge", "resolve")
SEVERITIES = ("low", "medium", "high", "critical")
PD_ACTIONS = ("trigger", "acknowledge", "resolve")
PD_SEVERITIES = ("critical", "error", "warning", "info")
SLACK_BLOCK_TYPES = ("header", "section", "context", "divider", "actions")
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?$")


class State:
    """Everything the handler threads share, under one lock."""

    def __init__(self, out, secrets):
        self.lock = threading.Lock()
        self.records = []
        self.out = out
        self.secrets = secrets
        self.fail_status = None
        self.fail_count = 0
        self.fail_until = 0.0
        self.hang_seconds = 0.0
        self.hang_count = 0

    def reset(self):
        with self.lock:
            self.fail_status, self.fail_count, self.fail_until = None, 0, 0.0
            self.hang_seconds, self.hang_count = 0.0, 0

    def take_outage(self):
        """(hang seconds, forced status or None) for the next non-control request, consuming counts."""
        with self.lock:
            hang = 0.0
            if self.hang_count > 0:
                self.hang_count -= 1
                hang = self.hang_seconds
            status = None
            if self.fail_status is not None:
                if self.fail_count > 0:
                    self.fail_count -= 1
                    status = self.fail_status
                elif time.time() < self.fail_until:
                    status = self.fail_status
            return hang, status

    def record(self, rec):
        with self.lock:
            self.records.append(rec)
            if self.out:
                with open(self.out, "a", encoding="utf-8") as f:
                    f.write(json.dumps(rec, sort_keys=True) + "\n")
                    f.flush()

    def all_records(self):
        with self.lock:
            return list(self.records)


# --- checks: each returns a list of reasons (empty when valid) ---------------------------------------------------


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_iso(v):
    if not isinstance(v, str) or not ISO_RE.match(v):
        return False
    try:
        datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def check_webhook(body, headers, secret):
    """(verdict, status, reasons) for our generic webhook."""
    reasons = []
    if secret is not None:
        ts = headers.get("x-ad-timestamp", "")
        sig = headers.get("x-ad-signature", "")
        bad = []
        if not re.fullmatch(r"\d+", ts or ""):
            bad.append("X-AD-Timestamp missing or not unix seconds")
        elif abs(time.time() - int(ts)) > SIGNATURE_WINDOW_SECONDS:
            bad.append("X-AD-Timestamp more than %d s from now" % SIGNATURE_WINDOW_SECONDS)
        if not sig.startswith("v1="):
            bad.append("X-AD-Signature missing or not v1=<hex>")
        else:
            expected = hmac.new(secret, ts.encode() + b"." + body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, sig[3:]):
                bad.append("X-AD-Signature does not match HMAC-SHA256(secret, timestamp.body)")
        if bad:
            return "bad-signature", 401, bad

    ctype = headers.get("content-type", "")
    if ctype.split(";")[0].strip().lower() != "application/json":
        reasons.append("Content-Type is %r, not application/json" % ctype)
    if not headers.get("idempotency-key", "").strip():
        reasons.append("Idempotency-Key missing or empty")
    alert_id_header = headers.get("x-ad-alert-id", "")
    if not UUID_RE.match(alert_id_header):
        reasons.append("X-AD-Alert-Id missing or not a UUID: %r" % alert_id_header)

    doc, err = parse_json(body)
    if err:
        return "invalid", 400, reasons + [err]
    if not isinstance(doc, dict):
        return "invalid", 400, reasons + ["body is not a JSON object"]

    def need(obj, key, where, check, what):
        if not isinstance(obj, dict) or key not in obj:
            reasons.append("%s.%s missing" % (where, key))
            return None
        v = obj[key]
        if not check(v):
            reasons.append("%s.%s must be %s, got %s" % (where, key, what, json.dumps(v)[:200]))
        return v

    is_str = lambda v: isinstance(v, str)
    nonempty = lambda v: isinstance(v, str) and v != ""
    num_or_null = lambda v: v is None or is_number(v)

    if doc.get("schema") != "ad.alert.v1":
        reasons.append("schema must be \"ad.alert.v1\", got %s" % json.dumps(doc.get("schema")))
    need(doc, "event", "$", lambda v: v in EVENTS, "one of " + "|".join(EVENTS))
    need(doc, "sent_at", "$", is_iso, "an ISO-8601 timestamp")

    alert = need(doc, "alert", "$", lambda v: isinstance(v, dict), "an object")
    if isinstance(alert, dict):
        aid = need(alert, "id", "alert", lambda v: isinstance(v, str) and UUID_RE.match(v), "a UUID")
        if isinstance(aid, str) and UUID_RE.match(alert_id_header) and aid.lower() != alert_id_header.lower():
            reasons.append("alert.id %s differs from X-AD-Alert-Id %s" % (aid, alert_id_header))
        need(alert, "status", "alert", nonempty, "a non-empty string")
        need(alert, "severity", "alert", lambda v: v in SEVERITIES, "one of " + "|".join(SEVERITIES))
        need(alert, "title", "alert", is_str, "a string")
        need(alert, "message", "alert", is_str, "a string")
        for sub in ("rule", "source"):
            o = need(alert, sub, "alert", lambda v: isinstance(v, dict), "an object")
            if isinstance(o, dict):
                need(o, "id", "alert." + sub, lambda v: v is not None, "present")
                need(o, "name", "alert." + sub, is_str, "a string")
        need(alert, "metric", "alert", is_str, "a string")
        need(alert, "occurrences", "alert", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
             "an integer >= 1")
        need(alert, "first_seen_at", "alert", is_iso, "an ISO-8601 timestamp")
        need(alert, "last_seen_at", "alert", is_iso, "an ISO-8601 timestamp")

    anomaly = need(doc, "anomaly", "$", lambda v: isinstance(v, dict), "an object")
    if isinstance(anomaly, dict):
        need(anomaly, "id", "anomaly", lambda v: v is not None, "present")
        need(anomaly, "point_timestamp", "anomaly", is_iso, "an ISO-8601 timestamp")
        need(anomaly, "score", "anomaly", lambda v: is_number(v) and 0 <= v <= 1, "a number in 0..1")
        need(anomaly, "severity", "anomaly", lambda v: v in SEVERITIES, "one of " + "|".join(SEVERITIES))
        need(anomaly, "detector", "anomaly", nonempty, "a non-empty string")
        for k in ("actual", "expected", "expected_low", "expected_high"):
            need(anomaly, k, "anomaly", num_or_null, "a number or null")

    if reasons:
        return "invalid", 400, reasons
    return "ok", 200, []


def check_slack(body):
    doc, err = parse_json(body)
    if err:
        return [err]
    if not isinstance(doc, dict):
        return ["payload is not a JSON object"]
    reasons = []
    text = doc.get("text")
    if not isinstance(text, str) or not text.strip():
        reasons.append("text (the notification fallback) missing or empty")
    if "blocks" in doc:
        blocks = doc["blocks"]
        if not isinstance(blocks, list):
            return reasons + ["blocks is not a list"]
        if len(blocks) > 50:
            reasons.append("%d blocks, more than 50" % len(blocks))
        for i, b in enumerate(blocks):
            where = "blocks[%d]" % i
            if not isinstance(b, dict):
                reasons.append(where + " is not an object")
                continue
            t = b.get("type")
            if t not in SLACK_BLOCK_TYPES:
                reasons.append("%s.type %s is not one of %s" % (where, json.dumps(t), "|".join(SLACK_BLOCK_TYPES)))
                continue
            if t == "header":
                tx = b.get("text")
                if not (isinstance(tx, dict) and tx.get("type") == "plain_text" and isinstance(tx.get("text"), str)
                        and 0 < len(tx["text"]) <= 150):
                    reasons.append(where + ".text must be {type: plain_text, text: 1..150 chars}")
            elif t == "section":
                if "text" not in b and "fields" not in b:
                    reasons.append(where + " has neither text nor fields")
                if "text" in b:
                    reasons += check_text_object(b["text"], where + ".text", 3000)
                if "fields" in b:
                    f = b["fields"]
                    if not isinstance(f, list) or not f:
                        reasons.append(where + ".fields must be a non-empty list")
                    else:
                        if len(f) > 10:
                            reasons.append("%s.fields has %d items, more than 10" % (where, len(f)))
                        for j, item in enumerate(f):
                            reasons += check_text_object(item, "%s.fields[%d]" % (where, j), 2000)
            elif t == "context":
                el = b.get("elements")
                if not isinstance(el, list) or not el:
                    reasons.append(where + ".elements must be a non-empty list")
                elif len(el) > 10:
                    reasons.append("%s.elements has %d items, more than 10" % (where, len(el)))
                else:
                    for j, item in enumerate(el):
                        if isinstance(item, dict) and item.get("type") == "image":
                            continue
                        reasons += check_text_object(item, "%s.elements[%d]" % (where, j), 2000)
            elif t == "actions":
                el = b.get("elements")
                if not isinstance(el, list) or not el:
                    reasons.append(where + ".elements must be a non-empty list")
                elif len(el) > 25:
                    reasons.append("%s.elements has %d items, more than 25" % (where, len(el)))
    return reasons


def check_text_object(o, where, limit):
    if not isinstance(o, dict):
        return [where + " is not a text object"]
    if o.get("type") not in ("mrkdwn", "plain_text"):
        return ["%s.type %s is not mrkdwn|plain_text" % (where, json.dumps(o.get("type")))]
    t = o.get("text")
    if not isinstance(t, str) or not t:
        return [where + ".text missing or empty"]
    if len(t) > limit:
        return ["%s.text is %d chars, more than %d" % (where, len(t), limit)]
    return []


def check_pagerduty(body):
    doc, err = parse_json(body)
    if err:
        return [err]
    if not isinstance(doc, dict):
        return ["event is not a JSON object"]
    reasons = []
    rk = doc.get("routing_key")
    if not isinstance(rk, str) or not rk:
        reasons.append("routing_key missing or empty")
    action = doc.get("event_action")
    if action not in PD_ACTIONS:
        reasons.append("event_action %s is not one of %s" % (json.dumps(action), "|".join(PD_ACTIONS)))
    dk = doc.get("dedup_key")
    if dk is not None:
        if not isinstance(dk, str) or not dk:
            reasons.append("dedup_key must be a non-empty string")
        elif len(dk) > 255:
            reasons.append("dedup_key is %d chars, more than 255" % len(dk))
    elif action in ("acknowledge", "resolve"):
        reasons.append("dedup_key is required for %s" % action)
    if action == "trigger":
        p = doc.get("payload")
        if not isinstance(p, dict):
            reasons.append("payload missing (required for trigger)")
        else:
            s = p.get("summary")
            if not isinstance(s, str) or not s:
                reasons.append("payload.summary missing or empty")
            elif len(s) > 1024:
                reasons.append("payload.summary is %d chars, more than 1024" % len(s))
            src = p.get("source")
            if not isinstance(src, str) or not src:
                reasons.append("payload.source missing or empty")
            if p.get("severity") not in PD_SEVERITIES:
                reasons.append("payload.severity %s is not one of %s"
                               % (json.dumps(p.get("severity")), "|".join(PD_SEVERITIES)))
            if "timestamp" in p and not is_iso(p["timestamp"]):
                reasons.append("payload.timestamp is not ISO-8601")
            for k in ("component", "group", "class"):
                if k in p and not isinstance(p[k], str):
                    reasons.append("payload.%s must be a string" % k)
            if "custom_details" in p and not isinstance(p["custom_details"], dict):
                reasons.append("payload.custom_details must be an object")
    return reasons


def parse_json(body):
    try:
        return json.loads(body.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError) as e:
        return None, "body is not valid JSON: %s" % e


# --- HTTP --------------------------------------------------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ad-test-receiver/1"
    state = None  # set in main

    def log_message(self, fmt, *args):  # quiet: the records are the log
        pass

    def read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def answer(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else body.encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (e.g. its timeout during a hang)

    def do_GET(self):
        self.read_body()
        if self.path.split("?")[0] == "/_records":
            self.answer(200, json.dumps(self.state.all_records()))
        else:
            self.answer(404, json.dumps({"error": "not found"}))

    def do_POST(self):
        arrived = datetime.now(timezone.utc).isoformat()
        body = self.read_body()
        path = self.path.split("?")[0]
        if path.startswith("/_control/"):
            return self.control(path, body)
        hang, forced = self.state.take_outage()
        if hang > 0:
            time.sleep(hang)
        headers = {k.lower(): v for k, v in self.headers.items()}
        if forced is not None:
            status, verdict, reasons = forced, "forced-failure", ["forced failure %d" % forced]
            payload, ctype = json.dumps({"error": "forced failure", "status": forced}), "application/json"
        else:
            status, verdict, reasons, payload, ctype = self.route(path, body, headers)
        doc, _ = parse_json(body)
        self.state.record({
            "time": arrived,
            "method": "POST",
            "path": path,
            "headers": headers,
            "body": body.decode("utf-8", errors="replace"),
            "json": doc,
            "status": status,
            "verdict": verdict,
            "reasons": reasons,
        })
        self.answer(status, payload, ctype)

    def route(self, path, body, headers):
        m = re.fullmatch(r"/webhook/([^/]+)", path)
        if m:
            verdict, status, reasons = check_webhook(body, headers, self.state.secrets.get(m.group(1)))
            if verdict == "ok":
                return 200, "ok", [], json.dumps({"ok": True}), "application/json"
            return status, verdict, reasons, json.dumps({"ok": False, "verdict": verdict, "reasons": reasons}), \
                "application/json"
        if re.fullmatch(r"/slack/[^/]+", path):
            reasons = check_slack(body)
            if not reasons:
                return 200, "ok", [], "ok", "text/plain"
            return 400, "invalid", reasons, "invalid_payload", "text/plain"
        if path == "/pagerduty/v2/enqueue":
            reasons = check_pagerduty(body)
            if not reasons:
                doc, _ = parse_json(body)
                dk = doc.get("dedup_key") or hashlib.sha1(body).hexdigest()
                return 202, "ok", [], json.dumps({"status": "success", "message": "Event processed",
                                                  "dedup_key": dk}), "application/json"
            return 400, "invalid", reasons, json.dumps({"status": "invalid event",
                                                        "message": "Event object is invalid",
                                                        "errors": reasons}), "application/json"
        return 404, "invalid", ["no such route: " + path], json.dumps({"error": "not found"}), "application/json"

    def control(self, path, body):
        if path == "/_control/reset":
            self.state.reset()
            return self.answer(200, json.dumps({"ok": True}))
        if path == "/_control/fail":
            doc, err = parse_json(body or b"{}")
            if err or not isinstance(doc, dict):
                return self.answer(400, json.dumps({"error": err or "not an object"}))
            with self.state.lock:
                if "hang_seconds" in doc:
                    self.state.hang_seconds = float(doc["hang_seconds"])
                    self.state.hang_count = int(doc.get("count", 1))
                if "status" in doc:
                    self.state.fail_status = int(doc["status"])
                    self.state.fail_count = int(doc.get("count", 0))
                    self.state.fail_until = time.time() + float(doc["seconds"]) if "seconds" in doc else 0.0
                    if "count" not in doc and "seconds" not in doc:
                        self.state.fail_count = 1
            return self.answer(200, json.dumps({"ok": True}))
        return self.answer(404, json.dumps({"error": "not found"}))


def main():
    # A parent's worker thread (Swift concurrency, libdispatch) may have launched us with most signals blocked or
    # ignored: make SIGTERM and SIGINT end the receiver as usual.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--out", default=None, help="append one JSON line per request")
    ap.add_argument("--secret", action="append", default=[], metavar="NAME=VALUE",
                    help="HMAC secret for /webhook/NAME (repeatable)")
    args = ap.parse_args()
    secrets = {}
    for s in args.secret:
        name, sep, value = s.partition("=")
        if not sep or not name:
            ap.error("--secret wants NAME=VALUE, got %r" % s)
        secrets[name] = os.fsencode(value)  # the argument's own bytes, whatever the locale
    if args.out:
        open(args.out, "a").close()
    Handler.state = State(args.out, secrets)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print("listening on %d" % server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
