#!/usr/bin/env python3
"""Proves that Playwright drives Debian's chromium here, with nothing downloaded: headless launch through
executable_path, a click read back from the DOM, an HttpOnly cookie set and sent back by a real local HTTP server,
and a server-sent event received by EventSource. Exits non-zero on any failure; prints what it measured.
   "$(scripts/lib/api-venv.sh)" scripts/lib/browser-smoke.py [--chromium PATH]
The HTTP server is a thread in this process on 127.0.0.1 with a port the kernel chooses; nothing leaves the machine.
"""
import argparse
import http.server
import sys
import threading
import time
import urllib.parse

from playwright.sync_api import sync_playwright

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>smoke</title></head>
<body>
<button id="go">Go</button> <p id="out">not clicked</p>
<ul id="events"></ul>
<script>
document.getElementById('go').addEventListener('click', () => {
  document.getElementById('out').textContent = 'clicked';
});
const es = new EventSource('/events');
es.addEventListener('tick', (e) => {
  const li = document.createElement('li');
  li.textContent = e.data;
  document.getElementById('events').appendChild(li);
  if (e.data === 'tick 3') es.close();  // otherwise EventSource reconnects when the server ends the stream
});
</script>
</body></html>
"""


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _send(self, status, ctype, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path == "/":
            self._send(200, "text/html; charset=utf-8", PAGE)
        elif path == "/login":
            self._send(200, "text/plain", b"logged in",
                       [("Set-Cookie", "sid=s3cret; Path=/; HttpOnly; SameSite=Strict")])
        elif path == "/whoami":
            self._send(200, "text/plain", (self.headers.get("Cookie") or "").encode())
        elif path == "/events":
            # Server-sent events: a comment (heartbeat), then three named events, then the stream ends.
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            self.wfile.write(b": heartbeat\n\n")
            self.wfile.flush()
            for i in (1, 2, 3):
                self.wfile.write(f"event: tick\nid: {i}\ndata: tick {i}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.05)
        else:
            self._send(404, "text/plain", b"not found")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--chromium", default="/usr/bin/chromium")
    args = ap.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"

    with sync_playwright() as p:
        t0 = time.monotonic()
        # Playwright adds --no-sandbox itself (chromium_sandbox defaults to False), which root needs; said here too
        # so that the flag is visible. headless=True: Chromium's own (new) headless mode.
        browser = p.chromium.launch(executable_path=args.chromium, headless=True, args=["--no-sandbox"])
        launch = time.monotonic() - t0
        print(f"browser-smoke: chromium {browser.version} launched in {launch:.2f} s")
        ctx = browser.new_context()
        page = ctx.new_page()
        page.set_default_timeout(60_000)  # an upper bound for a loaded machine, not a measurement

        # 1. a data: URL, a click, the DOM read back
        page.goto("data:text/html,<button id=b onclick=\"document.getElementById('o').textContent='yes'\">b</button>"
                  "<p id=o>no</p>")
        page.click("#b")
        assert page.text_content("#o") == "yes", page.text_content("#o")
        print("browser-smoke: data: URL click ok")

        # 2. a page from the real server: click, and the HttpOnly cookie
        page.goto(base + "/login")
        cookies = {c["name"]: c for c in ctx.cookies(base)}
        sid = cookies.get("sid")
        assert sid and sid["value"] == "s3cret" and sid["httpOnly"] and sid["sameSite"] == "Strict", cookies
        page.goto(base + "/")
        assert page.evaluate("document.cookie") == "", "an HttpOnly cookie must be invisible to scripts"
        page.click("#go")
        assert page.text_content("#out") == "clicked"
        echoed = page.evaluate("fetch('/whoami').then(r => r.text())")
        assert echoed == "sid=s3cret", echoed
        print("browser-smoke: HttpOnly SameSite=Strict cookie set, hidden from document.cookie, sent back ok")

        # 3. server-sent events through EventSource
        page.wait_for_function("document.querySelectorAll('#events li').length >= 3")
        got = page.eval_on_selector_all("#events li", "els => els.map(e => e.textContent)")
        assert got[:3] == ["tick 1", "tick 2", "tick 3"], got
        print("browser-smoke: EventSource received", got[:3])

        browser.close()
    server.shutdown()
    print("browser-smoke: ok")


if __name__ == "__main__":
    sys.exit(main())
