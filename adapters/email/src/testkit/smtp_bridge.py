#!/usr/bin/python3
"""The test mail servers' SMTP front door: a real ESMTP server that plays the receiving MTA.

It owns, for the tests of openmog-email: SMTP AUTH (PLAIN/LOGIN) against a users file, optional
STARTTLS, recipient checks, the Authentication-Results verdict a receiving MX would stamp, and
the hand-off of every accepted message to Dovecot's LMTP. It is started by testkit/mod.rs.

Usage: smtp_bridge.py --port P --users FILE --authserv-id ID --lmtp-port L --statedir DIR
                      [--tls-cert PEM --tls-key PEM]

The users file holds one `user@domain:password` a line. A file `<statedir>/fail_next` holding an
integer N > 0 makes the next N messages get `451 4.7.1 try again later` at the end of DATA.
Prints READY on stdout once listening; exits cleanly on SIGTERM.
"""

import argparse
import asyncio
import email.utils
import logging
import os
import re
import signal
import smtplib
import ssl
import sys
from email.parser import BytesHeaderParser

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

AR_NAME = b"authentication-results"

# aiosmtpd 1.4 itself sets the deprecated Session.login_data on every AUTH and logs a warning
# about it each time: noise in the stderr the harness shows when something fails.
logging.getLogger("mail.log").addFilter(
    lambda record: "login_data is deprecated" not in record.getMessage()
)


def log(*parts):
    """Diagnostics go to stderr, which the harness keeps for its failure reports."""
    print("smtp_bridge:", *parts, file=sys.stderr, flush=True)


def load_users(path):
    """Reads `user@domain:password` lines into a dict keyed by the lowercased address."""
    users = {}
    with open(path, encoding="utf-8") as lines:
        for line in lines:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, _, password = line.partition(":")
            users[user.strip().lower()] = password
    return users


def domain_of(address):
    """The lowercased domain of an address, or None when it has none."""
    _, at, domain = address.rpartition("@")
    return domain.strip().rstrip(".").lower() if at and domain.strip() else None


def mailbox_of(address):
    """The lowercased address without its `+detail`, as Dovecot resolves it (recipient_delimiter)."""
    local, at, domain = address.lower().rpartition("@")
    if not at:
        return address.lower()
    return local.split("+", 1)[0] + "@" + domain


# ---- header surgery on the raw bytes (no re-serialisation: the bytes must stay as sent) ----


def split_header_fields(raw):
    """Splits a raw message into its header fields (each with its folded lines) and the rest.

    The rest starts at the empty line that ends the header, so joining gives back `raw`.
    """
    fields = []
    pos = 0
    while pos < len(raw):
        end = raw.find(b"\n", pos)
        line = raw[pos:] if end < 0 else raw[pos : end + 1]
        if line in (b"\r\n", b"\n"):
            break
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line
        else:
            fields.append(line)
        pos += len(line)
    return fields, raw[pos:]


def strip_comments(text):
    """Removes (possibly nested) RFC 5322 comments, innermost first."""
    previous = None
    while previous != text:
        previous = text
        text = re.sub(r"\([^()]*\)", " ", text)
    return text


def is_our_verdict(field, authserv_id):
    """True for an Authentication-Results field claiming to come from `authserv_id`.

    RFC 8601 §5: the MTA must delete such fields arriving from outside, or a sender could
    forge our verdict.
    """
    name, colon, value = field.partition(b":")
    if not colon or name.strip().lower() != AR_NAME:
        return False
    unfolded = strip_comments(value.decode("latin-1").replace("\r", " ").replace("\n", " "))
    tokens = unfolded.split(";", 1)[0].split()
    return bool(tokens) and tokens[0].lower() == authserv_id.lower()


def header_from_domain(raw):
    """The domain of the single From address, or None (no From, several, or unparsable)."""
    headers = BytesHeaderParser().parsebytes(raw)
    values = headers.get_all("From") or []
    if len(values) != 1:
        return None
    addresses = [addr for _, addr in email.utils.getaddresses([str(values[0])]) if addr]
    return domain_of(addresses[0]) if len(addresses) == 1 else None


def verdict(authserv_id, from_domain, authenticated_user):
    """The Authentication-Results field we stamp, CRLF-terminated.

    A message passes when the session authenticated as a user of the From domain: that is what
    DKIM signing plus aligned DMARC amount to for mail submitted through this MX.
    """
    if from_domain and authenticated_user and domain_of(authenticated_user) == from_domain:
        text = f"{authserv_id}; dmarc=pass header.from={from_domain}; dkim=pass header.d={from_domain}"
    elif from_domain:
        text = f"{authserv_id}; dmarc=fail header.from={from_domain}; dkim=none"
    else:
        text = f"{authserv_id}; dmarc=fail; dkim=none"
    return b"Authentication-Results: " + text.encode("utf-8") + b"\r\n"


def restamp(raw, authserv_id, authenticated_user):
    """Drops forged verdicts of ours and prepends a fresh one; every other byte is kept."""
    fields, rest = split_header_fields(raw)
    kept = [field for field in fields if not is_our_verdict(field, authserv_id)]
    stamp = verdict(authserv_id, header_from_domain(raw), authenticated_user)
    return stamp + b"".join(kept) + rest


# ---- the fail-next knob ----


def take_injected_failure(statedir):
    """Consumes one injected failure from `<statedir>/fail_next`; True when one was pending."""
    path = os.path.join(statedir, "fail_next")
    try:
        with open(path, encoding="ascii") as file:
            pending = int(file.read().strip() or "0")
    except (FileNotFoundError, ValueError):
        return False
    if pending <= 0:
        return False
    # Write-then-rename so a concurrent reader never sees a half-written count.
    scratch = path + ".tmp"
    with open(scratch, "w", encoding="ascii") as file:
        file.write(str(pending - 1))
    os.replace(scratch, path)
    return True


# ---- the SMTP side ----


class Bridge:
    """aiosmtpd handler: checks recipients, stamps the verdict, delivers through LMTP."""

    def __init__(self, args, users):
        self.args = args
        self.users = users

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        """aiosmtpd authenticator for PLAIN and LOGIN."""
        if isinstance(auth_data, LoginPassword):
            user = auth_data.login.decode("utf-8", "replace").lower()
            password = auth_data.password.decode("utf-8", "replace")
            if user in self.users and self.users[user] == password:
                return AuthResult(success=True, auth_data=user)
        log(f"AUTH {mechanism} failed")
        # handled=False makes aiosmtpd answer 535 itself; handled=True would leave the client
        # waiting for a reply that never comes.
        return AuthResult(success=False, handled=False)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        """Accepts only local mailboxes, as a real MX would at RCPT time."""
        if mailbox_of(address) not in self.users:
            return f"550 5.1.1 <{address}>: user unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        """Answers 250 only once LMTP accepted the message for every recipient."""
        if take_injected_failure(self.args.statedir):
            log("injected temporary failure")
            return "451 4.7.1 try again later"
        user = session.auth_data if session.authenticated else None
        data = restamp(envelope.original_content, self.args.authserv_id, user)
        # Only BODY=8BITMIME carries over: Dovecot's LMTP (and so this server) lacks SMTPUTF8.
        options = [o for o in envelope.mail_options if o.upper() == "BODY=8BITMIME"]
        loop = asyncio.get_running_loop()
        try:
            # One LMTP session per recipient: smtplib reads one DATA reply, LMTP sends one per RCPT.
            for rcpt in envelope.rcpt_tos:
                await loop.run_in_executor(
                    None, self.lmtp_deliver, envelope.mail_from or "", rcpt, data, options
                )
        except (OSError, smtplib.SMTPException) as err:
            log(f"LMTP delivery failed: {err!r}")
            return f"451 4.3.0 local delivery failed: {err}".replace("\r", " ").replace("\n", " ")
        return "250 2.0.0 OK delivered"

    def lmtp_deliver(self, mail_from, rcpt, data, options):
        """Blocking LMTP hand-off of one message to one recipient."""
        with smtplib.LMTP("127.0.0.1", self.args.lmtp_port, timeout=10) as lmtp:
            lmtp.sendmail(mail_from, [rcpt], data, mail_options=options)
        log(f"delivered to {rcpt}")


def tls_context(args):
    """The STARTTLS context, or None when no certificate was given."""
    if not args.tls_cert:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.tls_cert, args.tls_key)
    return context


def parse_args():
    parser = argparse.ArgumentParser(description="ESMTP to LMTP bridge for openmog-email tests")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", required=True)
    parser.add_argument("--authserv-id", required=True)
    parser.add_argument("--lmtp-port", type=int, required=True)
    parser.add_argument("--statedir", required=True)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    return parser.parse_args()


async def serve(args):
    bridge = Bridge(args, load_users(args.users))
    context = tls_context(args)

    def protocol():
        return SMTP(
            bridge,
            hostname=args.authserv_id,
            decode_data=False,
            tls_context=context,
            auth_require_tls=False,
            authenticator=bridge.authenticate,
        )

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    server = await loop.create_server(protocol, "127.0.0.1", args.port)
    print("READY", flush=True)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main():
    asyncio.run(serve(parse_args()))


if __name__ == "__main__":
    main()
