"""IMAP and SMTP connections that say precisely which step failed: DNS, connect, TLS, login, folder.

Built on aioimaplib and aiosmtplib. Written by hand here: the connection *steps*. Both
libraries connect, wrap TLS and greet in one call, so a refused port, a bad certificate
and a wrong hostname look alike; and aioimaplib has no STARTTLS. We resolve the name,
open the TCP connection, then start TLS on it (at once for ``tls``, after the STARTTLS
command for ``starttls``) ourselves, hand the connected protocol to the library, and
turn each failure into a ``MailboxError`` naming the step and the setting to fix.
"""

from __future__ import annotations

import asyncio
import email.message
import re
import socket
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aioimaplib
import aiosmtplib
from aioimaplib.aioimaplib import Command, IMAP4ClientProtocol

if TYPE_CHECKING:
    from raccordo.channels.base import InboxConfig

SECURITY_MODES = ("tls", "starttls", "none")
_FETCH_UID = re.compile(rb"\bUID (\d+)\b")
_FETCH_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)\b")


class MailboxError(Exception):
    """A step of talking to a mail server failed; ``key`` is the translation key of the message."""

    def __init__(self, step: str, key: str, setting: str | None, **params: Any) -> None:
        self.step, self.key, self.setting, self.params = step, key, setting, params
        super().__init__(f"{step}: {params.get('reason', '')}")


@dataclass(frozen=True)
class ServerAccount:
    """Where and how to log in; ``prefix`` is ``imap`` or ``smtp`` (it names the settings fields)."""

    prefix: str
    host: str
    port: int
    security: str
    username: str
    password: str
    verify_tls: bool = True
    timeout: float = 30.0

    def field(self, name: str) -> str:
        return f"settings.{self.prefix}_{name}"


def tls_context(verify: bool) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return re.sub(r"\s+", " ", text)[:300].rstrip(". ")


async def resolve(account: ServerAccount) -> None:
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.getaddrinfo(account.host, account.port, type=socket.SOCK_STREAM), account.timeout)
    except (socket.gaierror, UnicodeError, TimeoutError) as exc:
        raise MailboxError(
            f"{account.prefix}.dns", "email.check.dns", account.field("host"), host=account.host, reason=_reason(exc)
        ) from None


def _connect_error(account: ServerAccount, exc: BaseException) -> MailboxError:
    return MailboxError(
        f"{account.prefix}.connect",
        "email.check.connect",
        account.field("port"),
        host=account.host,
        port=account.port,
        reason=_reason(exc),
    )


def _tls_error(account: ServerAccount, exc: BaseException) -> MailboxError:
    return MailboxError(
        f"{account.prefix}.tls",
        "email.check.tls",
        account.field("security"),
        host=account.host,
        port=account.port,
        security=account.security,
        reason=_reason(exc),
    )


# --- IMAP -----------------------------------------------------------------------------------------


class _Imap(aioimaplib.IMAP4):
    """aioimaplib's client over a connection we open step by step (DNS, TCP, TLS or STARTTLS)."""

    def __init__(self, account: ServerAccount) -> None:
        self.account = account
        super().__init__(account.host, account.port, timeout=account.timeout)

    def create_client(
        self,
        host: str,
        port: int,
        loop: asyncio.AbstractEventLoop | None,
        conn_lost_cb: Any = None,
        ssl_context: Any = None,
    ) -> None:
        running = loop or asyncio.get_running_loop()
        self.protocol = IMAP4ClientProtocol(running, conn_lost_cb)
        self._client_task = running.create_task(self._open(running))

    async def _open(self, loop: asyncio.AbstractEventLoop) -> None:
        account = self.account
        await resolve(account)
        if account.security == "tls":
            # Connect once without TLS to tell a closed port from a TLS failure, then connect with TLS:
            # the greeting comes inside TLS, so the library must not see the plain connection.
            await _probe(account)
            try:
                await asyncio.wait_for(
                    loop.create_connection(
                        lambda: self.protocol,
                        account.host,
                        account.port,
                        ssl=tls_context(account.verify_tls),
                        server_hostname=account.host,
                    ),
                    account.timeout,
                )
            except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
                raise _tls_error(account, exc) from None
            return
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: self.protocol, account.host, account.port), account.timeout
            )
        except (OSError, TimeoutError) as exc:
            raise _connect_error(account, exc) from None

    async def _start_tls(self, loop: asyncio.AbstractEventLoop, transport: asyncio.WriteTransport) -> None:
        account = self.account
        try:
            wrapped = await asyncio.wait_for(
                loop.start_tls(transport, self.protocol, tls_context(account.verify_tls), server_hostname=account.host),
                account.timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError) as exc:
            transport.close()
            raise _tls_error(account, exc) from None
        if wrapped is None:
            raise _tls_error(account, ConnectionError("connection closed during the TLS handshake"))
        self.protocol.transport = wrapped

    async def starttls(self) -> None:
        if "STARTTLS" not in self.protocol.capabilities:
            raise _tls_error(self.account, ConnectionError("the server does not offer STARTTLS"))
        response = await asyncio.wait_for(
            self.protocol.execute(Command("STARTTLS", self.protocol.new_tag(), loop=self.protocol.loop)),
            self.account.timeout,
        )
        if response.result != "OK":
            raise _tls_error(self.account, ConnectionError(f"STARTTLS refused: {_lines(response)}"))
        await self._start_tls(self.protocol.loop, self.protocol.transport)
        await asyncio.wait_for(self.protocol.capability(), self.account.timeout)


def _lines(response: Any) -> str:
    return " ".join(
        line.decode(errors="replace") if isinstance(line, (bytes, bytearray)) else str(line) for line in response.lines
    )[:300]


def fetched_messages(lines: list[Any]) -> dict[int, bytes]:
    """UID → message from the lines of a ``UID FETCH (UID BODY.PEEK[])`` answer, whether the server
    sends ``UID n`` before the literal (``* 1 FETCH (UID 5 BODY[] {n}``) or after it (`` UID 5)``)."""
    found: dict[int, bytes] = {}
    previous = b""
    waiting: bytes | None = None  # a literal whose UID comes on the next line
    for line in lines:
        if isinstance(line, bytearray):
            match = _FETCH_UID.search(previous)
            if match:
                found[int(match.group(1))] = bytes(line)
                waiting = None
            else:
                waiting = bytes(line)
        elif isinstance(line, bytes):
            if waiting is not None:
                match = _FETCH_UID.search(line)
                if match:
                    found[int(match.group(1))] = waiting
                waiting = None
            previous = line
    return found


class ImapMailbox:
    """One logged-in IMAP session on one folder: unseen UIDs, fetch without marking, mark seen, IDLE."""

    def __init__(self, account: ServerAccount, folder: str) -> None:
        self.account = account
        self.folder = folder
        self.client: _Imap | None = None

    async def open(self) -> ImapMailbox:
        account = self.account
        self.client = client = _Imap(account)
        try:
            await client.wait_hello_from_server()
        except MailboxError:
            raise
        except (aioimaplib.AioImapException, OSError, TimeoutError, ssl.SSLError) as exc:
            if account.security == "tls":
                raise _tls_error(account, exc) from None
            raise _connect_error(account, ConnectionError(f"no IMAP greeting: {_reason(exc)}")) from None
        if account.security == "starttls":
            await client.starttls()
        try:
            response = await client.login(account.username, account.password)
        except (aioimaplib.AioImapException, TimeoutError, OSError) as exc:
            raise MailboxError(
                "imap.login",
                "email.check.login",
                "settings.imap_username",
                user=account.username,
                host=account.host,
                reason=_reason(exc),
            ) from None
        if response.result != "OK":
            raise MailboxError(
                "imap.login",
                "email.check.login",
                "settings.imap_username",
                user=account.username,
                host=account.host,
                reason=_lines(response),
            )
        if "IDLE" not in client.protocol.capabilities and any(
            b"IDLE" in line for line in response.lines if isinstance(line, bytes)
        ):
            client.protocol.capabilities.add("IDLE")
        response = await client.select(self.folder)
        if response.result != "OK":
            raise MailboxError(
                "imap.folder", "email.check.folder", "settings.imap_folder", folder=self.folder, reason=_lines(response)
            )
        return self

    @property
    def supports_idle(self) -> bool:
        return self.client is not None and self.client.has_capability("IDLE")

    async def unseen_uids(self) -> list[int]:
        assert self.client is not None
        response = await self.client.uid_search("UNSEEN", charset=None)
        if response.result != "OK":
            raise ConnectionError(f"UID SEARCH failed: {_lines(response)}")
        uids: list[int] = []
        for line in response.lines[:-1]:
            text = line.decode() if isinstance(line, (bytes, bytearray)) else str(line)
            uids.extend(int(token) for token in text.split() if token.isdigit())
        return sorted(uids)

    async def fetch(self, uid: int) -> bytes | None:
        """The whole message, without setting \\Seen (BODY.PEEK); None when it was expunged meanwhile."""
        assert self.client is not None
        response = await self.client.uid("fetch", str(uid), "(UID BODY.PEEK[])")
        if response.result != "OK":
            raise ConnectionError(f"UID FETCH {uid} failed: {_lines(response)}")
        for line in response.lines:
            if isinstance(line, bytearray):
                return bytes(line)
        return None

    async def fetch_many(self, uids: list[int]) -> list[tuple[int, bytes]]:
        """Several whole messages in one round trip, in UID order, without setting \\Seen."""
        assert self.client is not None
        if not uids:
            return []
        response = await self.client.uid("fetch", ",".join(str(u) for u in uids), "(UID BODY.PEEK[])")
        if response.result != "OK":
            raise ConnectionError(f"UID FETCH failed: {_lines(response)}")
        found = fetched_messages(response.lines)
        return [(uid, found[uid]) for uid in sorted(found)]

    async def sizes(self, uids: list[int]) -> dict[int, int]:
        """Each message's size in bytes (RFC822.SIZE), to fetch them in batches of bounded memory."""
        assert self.client is not None
        if not uids:
            return {}
        response = await self.client.uid("fetch", ",".join(str(u) for u in uids), "(UID RFC822.SIZE)")
        if response.result != "OK":
            raise ConnectionError(f"UID FETCH (RFC822.SIZE) failed: {_lines(response)}")
        result: dict[int, int] = {}
        for line in response.lines:
            if isinstance(line, (bytes, bytearray)):
                uid, size = _FETCH_UID.search(line), _FETCH_SIZE.search(line)
                if uid and size:
                    result[int(uid.group(1))] = int(size.group(1))
        return result

    async def mark_seen_many(self, uids: list[int]) -> None:
        assert self.client is not None
        response = await self.client.uid("store", ",".join(str(u) for u in uids), "+FLAGS.SILENT", "(\\Seen)")
        if response.result != "OK":
            raise ConnectionError(f"UID STORE failed: {_lines(response)}")

    async def mark_seen(self, uid: int) -> None:
        assert self.client is not None
        response = await self.client.uid("store", str(uid), "+FLAGS.SILENT", "(\\Seen)")
        if response.result != "OK":
            raise ConnectionError(f"UID STORE {uid} failed: {_lines(response)}")

    async def wait_for_news(self, seconds: float) -> None:
        """Return when the server announces a change (IDLE) or after ``seconds``; without IDLE, sleep."""
        assert self.client is not None
        if not self.supports_idle:
            await asyncio.sleep(seconds)
            return
        idle = await self.client.idle_start(timeout=seconds)
        try:
            while True:
                pushed = await self.client.wait_server_push(timeout=seconds + 5)
                if pushed == aioimaplib.STOP_WAIT_SERVER_PUSH or any(
                    b"EXISTS" in line or b"RECENT" in line for line in pushed if isinstance(line, bytes)
                ):
                    break
        finally:
            self.client.idle_done()
            await asyncio.wait_for(idle, self.account.timeout)

    async def close(self) -> None:
        if self.client is None:
            return
        client, self.client = self.client, None
        try:
            if client.get_state() in ("AUTH", "SELECTED"):
                await asyncio.wait_for(client.logout(), 5)
        except Exception:  # noqa: BLE001 - closing a broken connection
            pass
        finally:
            if client.protocol.transport is not None:
                client.protocol.transport.close()


# --- SMTP -----------------------------------------------------------------------------------------


async def _probe(account: ServerAccount) -> None:
    """A plain TCP connection, closed at once: the "connect" step on its own."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(account.host, account.port), account.timeout)
        writer.close()
    except (OSError, TimeoutError) as exc:
        raise _connect_error(account, exc) from None


async def smtp_connect(account: ServerAccount) -> aiosmtplib.SMTP:
    """A connected, logged-in SMTP client (the caller quits it)."""
    await resolve(account)
    await _probe(account)
    client = aiosmtplib.SMTP(
        hostname=account.host,
        port=account.port,
        timeout=account.timeout,
        use_tls=account.security == "tls",
        start_tls=False,
        tls_context=tls_context(account.verify_tls) if account.security != "none" else None,
        validate_certs=account.verify_tls,
    )
    try:
        await client.connect()
    except (ssl.SSLError, aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        if account.security == "tls":
            raise _tls_error(account, exc) from None
        raise _connect_error(account, exc) from None
    try:
        if account.security == "starttls":
            try:
                await client.starttls(tls_context=tls_context(account.verify_tls))
            except (ssl.SSLError, aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                raise _tls_error(account, exc) from None
        if account.username:
            try:
                await client.login(account.username, account.password)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                raise MailboxError(
                    "smtp.login",
                    "email.check.login",
                    "settings.smtp_username",
                    user=account.username,
                    host=account.host,
                    reason=_reason(exc),
                ) from None
    except BaseException:
        client.close()
        raise
    return client


class SendRefused(Exception):
    """The server refused the message; ``permanent`` for 5xx answers."""

    def __init__(self, message: str, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


async def smtp_send(
    account: ServerAccount, message: email.message.EmailMessage, sender: str, recipients: list[str]
) -> str:
    client = await smtp_connect(account)
    try:
        try:
            errors, response = await client.send_message(message, sender=sender, recipients=recipients)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise SendRefused(
                "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)[:1000],
                all(500 <= c < 600 for c in codes),
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise SendRefused(f"{exc.code} {exc.message}"[:1000], 500 <= exc.code < 600) from None
        if errors:
            raise SendRefused(
                "; ".join(f"{k}: {v.code} {v.message}" for k, v in errors.items())[:1000],
                all(500 <= v.code < 600 for v in errors.values()),
            )
        return response
    finally:
        try:
            await asyncio.wait_for(client.quit(), 5)
        except Exception:  # noqa: BLE001
            client.close()


# --- an inbox's server accounts -------------------------------------------------------------------

# The installation's attachment limit, stored by the poller or receiver with each raw message.
MAX_ATTACHMENT_HEADER = "x-raccordo-max-attachment"
DEFAULT_PORTS = {
    ("imap", "tls"): 993,
    ("imap", "starttls"): 143,
    ("imap", "none"): 143,
    ("smtp", "tls"): 465,
    ("smtp", "starttls"): 587,
    ("smtp", "none"): 25,
}
TIMEOUT_SECONDS = 30.0


def server_account(config: InboxConfig, prefix: str, timeout: float = TIMEOUT_SECONDS) -> ServerAccount | None:
    settings = config.settings
    host = settings.get(f"{prefix}_host")
    if not host:
        return None
    security = settings.get(f"{prefix}_security", "tls")
    return ServerAccount(
        prefix=prefix,
        host=str(host),
        port=int(settings.get(f"{prefix}_port") or DEFAULT_PORTS[(prefix, security)]),
        security=security,
        username=str(settings.get(f"{prefix}_username") or (settings.get("address") if prefix == "imap" else "") or ""),
        password=config.secrets.get(f"{prefix}_password", ""),
        verify_tls=bool(settings.get(f"{prefix}_verify_tls", True)),
        timeout=timeout,
    )


def imap_account(config: InboxConfig, timeout: float = TIMEOUT_SECONDS) -> tuple[ServerAccount, str] | None:
    """The IMAP account and folder to poll, or None for an inbox that only receives by forwarding."""
    account = server_account(config, "imap", timeout)
    return (account, str(config.settings.get("imap_folder") or "INBOX")) if account else None
