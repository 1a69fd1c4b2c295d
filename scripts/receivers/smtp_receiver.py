#!/usr/bin/python3
"""A real SMTP server on loopback for the email-channel tests (aiosmtpd, Debian's python3-aiosmtpd).

    /usr/bin/python3 scripts/receivers/smtp_receiver.py --port 0 --tls starttls --cert C --key K \
        --auth-user U --auth-password P --reject-rcpt bad@example.com --out messages.jsonl

Prints "listening on <port>" as its first stdout line once it accepts connections. Every accepted message
appends one JSON line to --out: mail_from, rcpt_tos, data (the raw message text, dot-unstuffed), tls (whether
the session was encrypted), auth_user (the authenticated login, or null), and "parsed": what Python's email
package makes of it (decoded subject, From, To, Message-ID and each leaf part's type, charset and decoded
text), so a test can check the MIME output against an independent parser. Stops on SIGTERM or SIGINT.
"""
import argparse
import asyncio
import email
import email.policy
import json
import logging
import signal
import ssl
import sys

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:  # the Swift tests look for this text
    print("aiosmtpd is not installed: apt-get install python3-aiosmtpd (scripts/test installs it)", file=sys.stderr)
    sys.exit(3)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port")
    p.add_argument("--tls", choices=["starttls", "implicit", "none"], default="none")
    p.add_argument("--cert", help="server certificate chain (PEM)")
    p.add_argument("--key", help="server private key (PEM)")
    p.add_argument("--auth-user")
    p.add_argument("--auth-password")
    p.add_argument("--auth-mechanisms", default="PLAIN,LOGIN", help="offered AUTH mechanisms, comma-separated")
    p.add_argument("--reject-rcpt", action="append", default=[], help="answer 550 for this recipient (repeatable)")
    p.add_argument("--out", help="append one JSON line per accepted message")
    p.add_argument("--hostname", default="smtp-receiver.test", help="name in the greeting and EHLO reply")
    a = p.parse_args()
    if a.tls != "none" and not (a.cert and a.key):
        p.error("--tls %s needs --cert and --key" % a.tls)
    if bool(a.auth_user) != bool(a.auth_password):
        p.error("--auth-user and --auth-password go together")
    return a


def tls_active(server):
    transport = server.transport
    return server.session.ssl is not None or (transport is not None and transport.get_extra_info("ssl_object") is not None)


def describe(raw):
    """What the standard library's MIME parser sees; the tests compare it with what the client meant to send."""
    msg = email.message_from_string(raw, policy=email.policy.default)
    parts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        parts.append({
            "content_type": part.get_content_type(),
            "charset": part.get_content_charset(),
            "transfer_encoding": part.get("Content-Transfer-Encoding"),
            "content": part.get_content(),
        })
    return {
        "subject": str(msg.get("Subject", "")),
        "from": str(msg.get("From", "")),
        "to": str(msg.get("To", "")),
        "message_id": str(msg.get("Message-ID", "")),
        "content_type": msg.get_content_type(),
        "defects": [type(d).__name__ for d in msg.defects],
        "parts": parts,
    }


class Handler:
    def __init__(self, args):
        self.args = args
        self.rejected = {r.lower() for r in args.reject_rcpt}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.rejected:
            return "550 5.1.1 <%s>: Recipient address rejected: User unknown" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content.decode("utf-8", errors="replace")
        user = None
        if session.authenticated and isinstance(session.auth_data, (bytes, str)):
            user = session.auth_data.decode() if isinstance(session.auth_data, bytes) else session.auth_data
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "data": raw,
            "tls": tls_active(server),
            "auth_user": user,
        }
        try:
            record["parsed"] = describe(raw)
        except Exception as e:  # a message the parser chokes on is itself a test finding
            record["parsed"] = {"error": repr(e)}
        if self.args.out:
            with open(self.args.out, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
        return "250 2.0.0 Ok: queued as %d" % (abs(hash(raw)) % 100000)


def authenticator_for(args):
    def authenticate(server, session, envelope, mechanism, auth_data):
        if (isinstance(auth_data, LoginPassword)
                and auth_data.login == args.auth_user.encode()
                and auth_data.password == args.auth_password.encode()):
            return AuthResult(success=True, auth_data=args.auth_user)
        return AuthResult(success=False, handled=False)  # aiosmtpd answers 535 5.7.8 Authentication credentials invalid
    return authenticate


def main():
    # A parent may have started us from a thread that blocks signals (Swift's concurrency threads do), and the mask
    # is inherited: unblock the ones that stop us, or SIGTERM would wait forever.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    args = parse_args()
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's per-session chatter and deprecation notes
    context = None
    if args.tls != "none":
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.cert, args.key)

    offered = {m.strip().upper() for m in args.auth_mechanisms.split(",") if m.strip()}
    excluded = [m for m in ("PLAIN", "LOGIN") if m not in offered]
    handler = Handler(args)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def factory():
        kwargs = dict(
            hostname=args.hostname,
            ident="ad-test-receiver",
            loop=loop,
            auth_exclude_mechanism=excluded,
        )
        if args.tls == "starttls":
            kwargs.update(tls_context=context, require_starttls=True)
        if args.auth_user:
            kwargs.update(authenticator=authenticator_for(args), auth_required=True,
                          # STARTTLS: AUTH only after TLS; implicit TLS is encrypted from the start (aiosmtpd only
                          # counts STARTTLS as TLS); plain: the test asked for AUTH over plain text.
                          auth_require_tls=(args.tls == "starttls"))
        else:
            kwargs.update(auth_require_tls=(args.tls == "starttls"))
        return SMTP(handler, **kwargs)

    server = loop.run_until_complete(loop.create_server(
        factory, host=args.host, port=args.port, ssl=context if args.tls == "implicit" else None))
    port = server.sockets[0].getsockname()[1]
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)
    print("listening on %d" % port, flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()


if __name__ == "__main__":
    main()
