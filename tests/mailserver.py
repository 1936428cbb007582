"""Real mail servers for the email tests and the email bench: a private Dovecot (IMAP) and an aiosmtpd MTA.

``Dovecot`` runs Debian's ``dovecot`` binary with its own configuration in a temporary
directory, on a free port on 127.0.0.1, as the current user (as root, mail files belong
to the ``dovecot`` system user that the package creates): plain-text login allowed on
loopback, a passwd-file of test users, Maildir under the temporary directory. Nothing
system-wide is started or changed.

``TestMTA`` is an aiosmtpd server on a free port standing in for the Internet: it
delivers what Raccordo sends into the recipients' Dovecot mailboxes (IMAP APPEND), like
a mail provider would; for configured addresses it answers with a vacation auto-reply or
returns a DSN bounce to the sender's mailbox, as real servers do.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path

from aiosmtpd.controller import Controller

INSTALL_HINT = "install it with: apt-get install dovecot-imapd (or run scripts/ensure-mail as root)"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dovecot_binary() -> str:
    found = shutil.which("dovecot") or ("/usr/sbin/dovecot" if os.path.exists("/usr/sbin/dovecot") else None)
    if not found:
        raise RuntimeError(f"Dovecot is not installed: {INSTALL_HINT}")
    return found


class Dovecot:
    """A private Dovecot IMAP server; ``add_user`` before or after ``start``."""

    def __init__(self, *, tls: bool = False) -> None:
        self.binary = dovecot_binary()
        self.tls = tls
        self.dir = Path(tempfile.mkdtemp(prefix="raccordo-dovecot-"))
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.tls_port = free_port() if tls else 0
        self.users: dict[str, str] = {}
        self.process: subprocess.Popen[bytes] | None = None
        if os.geteuid() == 0:
            record = pwd.getpwnam("dovecot")
            self.mail_uid, self.mail_gid = record.pw_uid, record.pw_gid
            self.login_user, self.internal_user = "dovenull", "dovecot"
        else:
            self.mail_uid, self.mail_gid = os.getuid(), os.getgid()
            name = pwd.getpwuid(os.getuid()).pw_name
            self.login_user = self.internal_user = name
        (self.dir / "mail").mkdir()
        os.chown(self.dir / "mail", self.mail_uid, self.mail_gid)

    def add_user(self, user: str, password: str) -> None:
        self.users[user] = password
        lines = [f"{name}:{{PLAIN}}{secret}::::::" for name, secret in self.users.items()]
        (self.dir / "passwd").write_text("\n".join(lines) + "\n")

    def _config(self) -> str:
        d = self.dir
        return f"""
protocols = imap
listen = 127.0.0.1
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
{self._ssl()}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {self.internal_user}
default_internal_group = {self.internal_user}
default_login_user = {self.login_user}
first_valid_uid = 0
mail_location = maildir:~/Maildir
mail_fsync = never
protocol imap {{
  mail_max_userip_connections = 200
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={self.mail_uid} gid={self.mail_gid} home={d}/mail/%u
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {self.tls_port}
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""

    def _ssl(self) -> str:
        if not self.tls:
            return "ssl = no"
        cert, key = self.dir / "cert.pem", self.dir / "key.pem"
        _self_signed(cert, key)
        return f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}"

    def start(self) -> Dovecot:
        if not (self.dir / "passwd").exists():
            self.add_user("postmaster", uuid.uuid4().hex)
        config = self.dir / "dovecot.conf"
        config.write_text(self._config())
        self.process = subprocess.Popen(
            [self.binary, "-F", "-c", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode(errors="replace") if self.process.stdout else ""
                raise RuntimeError(f"Dovecot did not start ({output.strip()}); {INSTALL_HINT}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Dovecot did not listen on 127.0.0.1:{self.port} within 15 s; see {self.dir}/dovecot.log")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- test-side mailbox access (stdlib imaplib, a different client from the one under test) ---

    def imap(self, user: str) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        client.login(user, self.users[user])
        return client

    def append(self, user: str, raw: bytes, folder: str = "INBOX", flags: str = "") -> None:
        client = self.imap(user)
        try:
            if folder != "INBOX":
                client.create(folder)
            status, detail = client.append(folder, f"({flags})" if flags else None, None, raw)
            assert status == "OK", detail
        finally:
            client.logout()

    def messages(self, user: str, folder: str = "INBOX") -> list[tuple[bytes, set[str]]]:
        """Every message in the folder with its flags, without changing them."""
        client = self.imap(user)
        try:
            client.select(folder, readonly=True)
            _, data = client.uid("SEARCH", "ALL")
            result = []
            for uid in data[0].split():
                _, fetched = client.uid("FETCH", uid, "(FLAGS BODY.PEEK[])")
                head = fetched[0][0].decode()
                flags = set(head.split("FLAGS (", 1)[1].split(")", 1)[0].split()) if "FLAGS (" in head else set()
                result.append((fetched[0][1], flags))
            return result
        finally:
            client.logout()

    def maildir(self, user: str) -> Path:
        return self.dir / "mail" / user / "Maildir"


class TestMTA:
    """An aiosmtpd server that delivers into Dovecot mailboxes: ``address -> mailbox user``.

    ``vacation`` addresses also get an auto-reply back to the sender's mailbox; ``bounce``
    addresses are accepted, then a DSN is delivered to the sender's mailbox (a late bounce,
    as when the final server refuses the message after the relay took it).
    """

    __test__ = False

    def __init__(
        self,
        dovecot: Dovecot,
        routes: dict[str, str],
        *,
        vacation: set[str] | None = None,
        bounce: set[str] | None = None,
    ) -> None:
        self.dovecot = dovecot
        self.routes = {k.lower(): v for k, v in routes.items()}
        self.vacation = {a.lower() for a in vacation or set()}
        self.bounce = {a.lower() for a in bounce or set()}
        self.received: list[tuple[str, list[str], bytes]] = []
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.lock = threading.Lock()

    def start(self) -> TestMTA:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    async def handle_DATA(self, server, session, envelope) -> str:  # type: ignore[no-untyped-def]
        raw = envelope.original_content or envelope.content
        with self.lock:
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), raw))
        sender_mailbox = self.routes.get(envelope.mail_from.lower())
        for rcpt in envelope.rcpt_tos:
            rcpt = rcpt.lower()
            if rcpt in self.bounce:
                if sender_mailbox:
                    self.dovecot.append(sender_mailbox, dsn(envelope.mail_from, rcpt, raw))
                continue
            user = self.routes.get(rcpt) or self.routes.get(re.sub(r"\+[^@]*@", "@", rcpt))
            if user:
                self.dovecot.append(user, b"Return-Path: <" + envelope.mail_from.encode() + b">\r\n" + raw)
            if rcpt in self.vacation and sender_mailbox:
                self.dovecot.append(sender_mailbox, vacation_reply(rcpt, envelope.mail_from, raw))
        return "250 2.0.0 OK queued"


def _original_headers(raw: bytes) -> tuple[str, str]:
    from email import message_from_bytes

    original = message_from_bytes(raw)
    return str(original.get("Message-ID", "")), str(original.get("Subject", ""))


def vacation_reply(from_addr: str, to_addr: str, raw: bytes) -> bytes:
    message_id, subject = _original_headers(raw)
    reply = EmailMessage()
    reply["From"] = from_addr
    reply["To"] = to_addr
    reply["Subject"] = f"Risposta automatica: {subject}"
    reply["Date"] = format_datetime(datetime.now(UTC))
    reply["Message-ID"] = make_msgid(domain="customer.example")
    reply["In-Reply-To"] = message_id
    reply["References"] = message_id
    reply["Auto-Submitted"] = "auto-replied"
    reply["X-Autoreply"] = "yes"
    reply.set_content("Sono in ferie fino al 10 gennaio. Risponderò al mio rientro.\n")
    return bytes(reply)


def dsn(original_sender: str, failed_rcpt: str, raw: bytes) -> bytes:
    """An RFC 3464 delivery status notification for ``raw``, as Postfix writes them."""
    boundary = "dsn-" + uuid.uuid4().hex
    headers = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    _, sender = parseaddr(original_sender)
    return (
        f"Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example (Mail Delivery System)\r\nTo: {sender}\r\n"
        f"Subject: Undelivered Mail Returned to Sender\r\nAuto-Submitted: auto-replied\r\n"
        f"Message-ID: <{uuid.uuid4().hex}@mx.example>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
        f"--{boundary}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
        "This is the mail system at host mx.example.\r\n\r\n"
        "I'm sorry to have to inform you that your message could not\r\n"
        "be delivered to one or more recipients.\r\n\r\n"
        f"<{failed_rcpt}>: host mx.customer.example said: 550 5.1.1 <{failed_rcpt}>: "
        f"Recipient address rejected: User unknown in virtual mailbox table\r\n\r\n"
        f"--{boundary}\r\nContent-Type: message/delivery-status\r\n\r\n"
        f"Reporting-MTA: dns; mx.example\r\nArrival-Date: Tue, 25 Nov 2025 10:00:00 +0100 (CET)\r\n\r\n"
        f"Final-Recipient: rfc822; {failed_rcpt}\r\nOriginal-Recipient: rfc822;{failed_rcpt}\r\n"
        "Action: failed\r\nStatus: 5.1.1\r\n"
        "Remote-MTA: dns; mx.customer.example\r\n"
        f"Diagnostic-Code: smtp; 550 5.1.1 <{failed_rcpt}>: "
        "Recipient address rejected: User unknown in virtual mailbox table\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n{headers}\r\n\r\n--{boundary}--\r\n"
    ).encode()


def _self_signed(cert_path: Path, key_path: Path) -> None:
    """A self-signed certificate for localhost (a client that verifies certificates must refuse it)."""
    from datetime import timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    os.chmod(key_path, 0o600)
