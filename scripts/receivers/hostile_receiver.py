#!/usr/bin/env python3
"""A hostile HTTP receiver for the outbound-delivery tests: it stalls, redirects and answers with bodies that must
never be recorded. Listens on 127.0.0.1 (port 0: ephemeral), prints "listening on <port>", serves each request in
its own thread (a stalled request never blocks another).

    POST /stall/...        200 and its headers at once (Content-Length: 100000), one byte of body, then nothing
                           until /_control/release
    POST /hang/...         nothing at all (no headers) until /_control/release
    POST /redirect/...     307 to the URL in the query's "to" (a receiver that tries to turn the sender elsewhere)
    POST /leak/...         500 with a body and a reason phrase that carry a marker (must not reach the database)
    POST /ok/...           200 {}
    GET  on the four paths above: the same as POST
    GET  /_control/hits    every request so far: [{"path", "headers", "body"}]
    POST /_control/release releases every stalled and hanging request, now and later
"""
import argparse, json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, parse_qs

LEAK = "LEAKED-BODY-MARKER"
hits, lock, released = [], threading.Lock(), threading.Event()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def send(self, status, body=b"{}", reason=None, ctype="application/json"):
        self.send_response(status, reason)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if urlsplit(self.path).path == "/_control/hits":
            with lock:
                body = json.dumps(hits).encode()
            self.send(200, body)
        elif urlsplit(self.path).path.startswith(("/stall/", "/hang/", "/redirect/", "/leak/")):
            self.do_POST()  # the same misbehaviour for a GET (the MLflow client's first request is one)
        else:
            self.send(404)

    def do_POST(self):
        url = urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace") if n else ""
        if url.path == "/_control/release":
            released.set()
            self.send(200)
            return
        with lock:
            hits.append({"path": url.path, "headers": dict(self.headers.items()), "body": body})
        try:
            if url.path.startswith("/stall/"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "100000")
                self.end_headers()
                self.wfile.write(b"{")
                self.wfile.flush()
                released.wait()
                self.wfile.write(b" " * 99999)
            elif url.path.startswith("/hang/"):
                released.wait()
                self.send(200)
            elif url.path.startswith("/redirect/"):
                to = parse_qs(url.query).get("to", ["http://169.254.169.254/latest/meta-data/"])[0]
                self.send_response(307)
                self.send_header("Location", to)
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif url.path.startswith("/leak/"):
                self.send(500, (LEAK + " " + "x" * 5000).encode(), reason=LEAK, ctype="text/plain")
            else:
                self.send(200)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up (its deadline)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
