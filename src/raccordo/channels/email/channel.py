"""The email channel: IMAP (or SMTP forwarding) in, SMTP out, threaded by Message-ID.

Inbound payloads are raw RFC 5322 messages, stored by the poller (``services/email_poller``)
or the forwarding receiver (``services/email_receiver``) before they reach ``parse_inbound``.
A message becomes an ``InboundEvent`` (sender identity, text and sanitized-later HTML,
attachments with inline ``cid`` parts, the Message-IDs it answers, a verified conversation
token from the reply address); a bounce becomes a ``DeliveryReport``; an auto-reply is an
event marked ``automated``. Replies are multipart text/HTML with a Message-ID fixed by the
outbox key, In-Reply-To/References to the thread, and a Reply-To carrying the token.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
import secrets
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raccordo.channels.base import (
    Capabilities,
    Channel,
    ChannelRejected,
    CheckResult,
    DeliveryError,
    DeliveryReport,
    Feature,
    InboundAttachment,
    InboundEvent,
    InboundIdentity,
    InboundRequest,
    InboxConfig,
    OutboundMessage,
    Poller,
)
from raccordo.channels.domain.composer import ComposerRules
from raccordo.channels.domain.settings_form import Choice, FieldKind, Label, SettingsField, SettingsForm
from raccordo.channels.email import KIND, quotes, tokens
from raccordo.channels.email import mime as mail
from raccordo.channels.email.mailbox import (
    DEFAULT_PORTS,
    MAX_ATTACHMENT_HEADER,
    SECURITY_MODES,
    ImapMailbox,
    MailboxError,
    SendRefused,
    imap_account,
    server_account,
    smtp_connect,
    smtp_send,
)
from raccordo.channels.email.poller import MailService
from raccordo.platform.errors import InvalidInput
from raccordo.platform.i18n import translate
from raccordo.record.domain.content import sanitize_html
from raccordo.record.domain.html_view import count_remote_images

if TYPE_CHECKING:
    from raccordo.platform.runtime import Runtime

_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
# Senders nobody answers (web forms, notifications): the customer is whoever Reply-To names.
_NO_REPLY = re.compile(
    r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|wordpress|web[-_.]?forms?|forms?|www-data|apache|nobody)"
    r"(?:[-_.+].*)?@",
    re.I,
)
_STRINGS = {
    "address",
    "from_name",
    "imap_host",
    "imap_security",
    "imap_username",
    "imap_folder",
    "smtp_host",
    "smtp_security",
    "smtp_username",
    "outbound_domain",
}
_PORTS = {"imap_port", "smtp_port"}
_BOOLS = {"imap_verify_tls", "smtp_verify_tls", "reply_token", "accept_forwarding"}


_SECURITY_CHOICES = (
    Choice("tls", Label("TLS (encrypted from the start)", "TLS (cifrato dall'inizio)")),
    Choice("starttls", Label("STARTTLS (encrypted after connecting)", "STARTTLS (cifrato dopo la connessione)")),
    Choice("none", Label("None (not encrypted)", "Nessuna (non cifrato)")),
)


def _server_fields(prefix: str, server: str) -> tuple[SettingsField, ...]:
    return (
        SettingsField(f"{prefix}_host", Label(f"{server} server", f"Server {server}")),
        SettingsField(f"{prefix}_port", Label(f"{server} port", f"Porta {server}"), FieldKind.PORT),
        SettingsField(
            f"{prefix}_security",
            Label(f"{server} security", f"Sicurezza {server}"),
            FieldKind.CHOICE,
            default="tls",
            choices=_SECURITY_CHOICES,
        ),
        SettingsField(f"{prefix}_username", Label(f"{server} user", f"Utente {server}")),
        SettingsField(f"{prefix}_password", Label(f"{server} password", f"Password {server}"), FieldKind.SECRET),
    )


SETTINGS_FORM = SettingsForm(
    fields=(
        SettingsField("address", Label("Email address", "Indirizzo email"), FieldKind.EMAIL, required=True),
        SettingsField("from_name", Label("Sender name", "Nome del mittente")),
        *_server_fields("imap", "IMAP"),
        SettingsField("imap_folder", Label("IMAP folder", "Cartella IMAP")),
        *_server_fields("smtp", "SMTP"),
    ),
)


class EmailChannel(Channel):
    kind = KIND
    capabilities = Capabilities(text=True, html=True)
    # Per file: 20 MiB, under what most mail servers accept for a whole message (20-25 MB before
    # base64's third). There is no total per message yet: a server that refuses a large one fails
    # that delivery with its own error, shown on the message.
    composer = ComposerRules(
        max_length=500_000, attachments=True, max_attachments=20, max_attachment_bytes=20 * 1024 * 1024
    )
    reply_identity_kinds = ("email", "email_reply_to")
    # Mail arrives by IMAP (the poller the worker runs) or the SMTP forwarding receiver (run by the
    # same poller), never by the webhook URL, which email could not authenticate: no WEBHOOK.
    features = frozenset({Feature.POLLING, Feature.DELIVERY_STATUS, Feature.CONNECTION_CHECK})
    settings_form = SETTINGS_FORM

    # --- settings ---------------------------------------------------------------------------------

    def validate_settings(
        self, settings: dict[str, Any], secrets_: dict[str, str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        unknown = set(settings) - _STRINGS - _PORTS - _BOOLS
        if unknown:
            raise InvalidInput("inbox.setting_unknown", field="settings", names=", ".join(sorted(unknown)))
        for name in _STRINGS & set(settings):
            if settings[name] is not None and not isinstance(settings[name], str):
                raise InvalidInput("email.setting_text", field=f"settings.{name}")
        for name in _BOOLS & set(settings):
            if not isinstance(settings[name], bool):
                raise InvalidInput("email.setting_bool", field=f"settings.{name}")
        for name in _PORTS & set(settings):
            if settings[name] is not None and (
                not isinstance(settings[name], int)
                or isinstance(settings[name], bool)
                or not 1 <= settings[name] <= 65535
            ):
                raise InvalidInput("email.port_invalid", field=f"settings.{name}", value=str(settings[name]))
        address = str(settings.get("address") or "").strip()
        if not _EMAIL.match(address):
            raise InvalidInput("email.address_invalid", field="settings.address", value=address)
        settings = {**settings, "address": address.lower()}
        for prefix in ("imap", "smtp"):
            security = settings.get(f"{prefix}_security", "tls")
            if security not in SECURITY_MODES:
                raise InvalidInput("email.security_invalid", field=f"settings.{prefix}_security", value=str(security))
            if settings.get(f"{prefix}_host"):
                settings[f"{prefix}_security"] = security
                settings.setdefault(f"{prefix}_port", DEFAULT_PORTS[(prefix, security)])
        folder = settings.get("imap_folder")
        if folder is not None and (not folder.strip() or any(ch in folder for ch in '\r\n"')):
            raise InvalidInput("email.folder_invalid", field="settings.imap_folder", value=folder)
        secrets_ = dict(secrets_)
        unknown_secrets = set(secrets_) - {"imap_password", "smtp_password", "thread_secret"}
        if unknown_secrets:
            raise InvalidInput("inbox.setting_unknown", field="secrets", names=", ".join(sorted(unknown_secrets)))
        if settings.get("imap_host") and not secrets_.get("imap_password"):
            raise InvalidInput("email.password_required", field="secrets.imap_password", server="IMAP")
        secrets_.setdefault("thread_secret", secrets.token_urlsafe(24))
        return settings, secrets_

    def check(self, inbox: InboxConfig) -> list[CheckResult]:
        return asyncio.run(_check(inbox))

    def poller(self, rt: Runtime) -> Poller | None:
        """IMAP polling and the SMTP forwarding receiver, each when the installation turns it on."""
        if not (rt.settings.email_polling or rt.settings.smtp_receiver_port):
            return None
        return MailService(rt)

    # --- inbound ----------------------------------------------------------------------------------

    def parse_inbound(self, inbox: InboxConfig, request: InboundRequest) -> list[InboundEvent | DeliveryReport]:
        headers, body = request.headers, request.body
        if not body.strip():
            raise ChannelRejected("email.empty", status=422)
        try:
            parsed = mail.parse_email(body)
        except mail.ParseTimeout as exc:
            # Failed with its raw kept, never retried: reading it again would take as long.
            raise ChannelRejected("email.too_slow", status=422, reason=str(exc)) from None
        if parsed.bounce is not None:
            # A bounce naming none of our messages is ignored (kept raw with the reason), as documented.
            reason = " ".join(p for p in (parsed.bounce.status, parsed.bounce.reason) if p)
            return [DeliveryReport(tuple(parsed.bounce.original_message_ids), "failed", reason, parsed.message_id)]
        if parsed.sender is None:
            raise ChannelRejected("email.no_sender", status=422)
        own = {inbox.settings.get("address", "").lower()}
        if parsed.sender.email.lower() in own:
            # Our own reply coming back (a copy in the polled folder, a loop): never a customer message.
            raise ChannelRejected("email.from_self", status=422, address=parsed.sender.email)
        recipients = (
            [a.email for a in parsed.to + parsed.cc]
            + parsed.delivered_to
            + [v for k, v in headers.items() if k == "x-raccordo-rcpt"]
        )
        hint = tokens.conversation_from_tokens(inbox.secrets.get("thread_secret", ""), recipients, parsed.thread_ids)
        limit = _attachment_limit(headers)
        attachments = []
        for attachment in parsed.attachments:
            if len(attachment.data) > limit:
                # Keep the message and say what was dropped: the agent still reads the text.
                params = {"filename": attachment.filename, "size": str(len(attachment.data)), "limit": str(limit)}
                parsed.notes.append(("email.note.attachment_too_large", params))
                continue
            attachments.append(attachment)
        text = parsed.text
        if parsed.notes:
            # First, so the agent sees them above what the customer wrote (and above any quoted history).
            text = "\n\n".join([*(f"[{translate(key, **params)}]" for key, params in parsed.notes), text]).strip()
        split = quotes.split_reply(text)
        html_main = None
        if parsed.html:
            halves = quotes.split_html_reply(parsed.html)
            if halves is not None:
                html_main = sanitize_html(halves[0])
        metadata: dict[str, Any] = {
            # Folding in the conversation view (any channel may set these): what was written now, the
            # signature and the quoted history, all kept; html_main is the HTML without the quoted part.
            "text_main": split.main,
            "text_quoted": split.quoted,
            "signature": split.signature,
            "html_main": html_main,
            "remote_images": count_remote_images(sanitize_html(parsed.html)) if parsed.html else 0,
            "email": {
                "message_id": parsed.message_id,
                "subject": parsed.subject,
                "from": {"name": parsed.sender.name, "email": parsed.sender.email},
                "to": [{"name": a.name, "email": a.email} for a in parsed.to[:50]],
                "cc": [{"name": a.name, "email": a.email} for a in parsed.cc[:50]],
                "reply_to": [a.email for a in parsed.reply_to[:10]],
                "in_reply_to": parsed.in_reply_to[:5],
                "references": parsed.references[-20:],
                "defects": parsed.defects[:20],
                "charset_fallback": parsed.charset_fallback,
                "source": headers.get("x-raccordo-source", "imap"),
                "notes": [{"key": key, "params": params} for key, params in parsed.notes[:20]],
                "security": parsed.security,
            },
        }
        # The customer is who the message is From. Reply-To says where to answer, not who wrote: it is
        # never linked or merged (a forged or list Reply-To would join strangers' mail to one contact).
        identities = [InboundIdentity("email", parsed.sender.email)]
        contact_name = parsed.sender.name or None
        sender = parsed.sender.email.lower()
        reply_to = next((a for a in parsed.reply_to if a.email.lower() not in own and a.email.lower() != sender), None)
        if reply_to is not None and _NO_REPLY.match(parsed.sender.email):
            # A web form's no-reply sender: the person is the unverified Reply-To, an identity of its own kind.
            identities = [InboundIdentity("email_reply_to", reply_to.email)]
            contact_name = reply_to.name or None
        return [
            InboundEvent(
                provider_message_id=parsed.message_id,
                identities=identities,
                text=text,
                html=parsed.html,
                contact_name=contact_name,
                subject=parsed.subject or None,
                sent_at=parsed.date,
                attachments=[
                    InboundAttachment(a.filename, a.content_type, a.data, a.content_id if a.inline else None)
                    for a in attachments
                ],
                in_reply_to=tuple(parsed.thread_ids),
                conversation_hint=hint,
                automated=parsed.automated,
                metadata=metadata,
            )
        ]

    # --- outbound ---------------------------------------------------------------------------------

    def build_message(self, inbox: InboxConfig, message: OutboundMessage) -> tuple[EmailMessage, str]:
        settings = inbox.settings
        address = settings["address"]
        domain = settings.get("outbound_domain") or address.rsplit("@", 1)[1]
        secret = inbox.secrets.get("thread_secret", "")
        message_id = tokens.outbound_message_id(message.idempotency_key, secret, message.conversation_id, domain)
        email = EmailMessage()
        display = message.sender_name or settings.get("from_name") or ""
        if message.sender_name and settings.get("from_name"):
            display = f"{message.sender_name} ({settings['from_name']})"
        email["From"] = formataddr((display, address)) if display else address
        email["To"] = message.recipient.value  # type: ignore[union-attr]
        if settings.get("reply_token", True):
            email["Reply-To"] = formataddr(
                (settings.get("from_name") or "", tokens.reply_address(address, secret, message.conversation_id))
            )
        subject = (message.subject or settings.get("from_name") or "").strip()
        email["Subject"] = (
            subject if re.match(r"(?i)^(re|r|aw|sv|antw)\s*:", subject) or not message.in_reply_to else f"Re: {subject}"
        )
        email["Message-ID"] = message_id
        email["Date"] = format_datetime(datetime.now(UTC))
        if message.in_reply_to:
            email["In-Reply-To"] = message.in_reply_to
        references = [r for r in message.thread if r.startswith("<")][-20:]
        if references:
            email["References"] = " ".join(references)
        email["X-Raccordo-Message"] = str(message.message_id)
        email.set_content(message.text or "")
        if message.html:
            email.add_alternative(message.html, subtype="html")
        for attachment in message.attachments:
            data = Path(attachment.path).read_bytes()
            content_type = (
                attachment.content_type or mimetypes.guess_type(attachment.filename)[0] or "application/octet-stream"
            )
            maintype, _, subtype = content_type.partition("/")
            email.add_attachment(
                data,
                maintype=maintype or "application",
                subtype=subtype or "octet-stream",
                filename=attachment.filename,
            )
        return email, message_id

    def can_deliver(self, settings: dict[str, Any], secret_names: frozenset[str] = frozenset()) -> bool:
        return bool(settings.get("smtp_host"))

    def send(self, inbox: InboxConfig, message: OutboundMessage) -> str:
        if message.recipient is None or message.recipient.kind != "email":
            raise DeliveryError("no email address to send the reply to", permanent=True)
        account = server_account(inbox, "smtp")
        if account is None:
            raise DeliveryError("the email inbox has no SMTP server configured (settings.smtp_host)", permanent=True)
        email, message_id = self.build_message(inbox, message)
        try:
            asyncio.run(smtp_send(account, email, inbox.settings["address"], [message.recipient.value]))
        except MailboxError as exc:
            raise DeliveryError(f"{exc.step}: {exc.params.get('reason', '')}") from None
        except SendRefused as exc:
            raise DeliveryError(f"SMTP refused the message: {exc}", permanent=exc.permanent) from None
        except (OSError, TimeoutError) as exc:
            raise DeliveryError(f"SMTP connection failed: {type(exc).__name__}: {exc}") from None
        return message_id


def _attachment_limit(headers: dict[str, str]) -> int:
    """The installation's attachment limit, as the poller or receiver stored it with the raw message."""
    try:
        return int(headers[MAX_ATTACHMENT_HEADER])
    except (KeyError, ValueError):
        from raccordo.platform.config import get_settings

        return get_settings().max_attachment_bytes


async def _check(inbox: InboxConfig) -> list[CheckResult]:
    results: list[CheckResult] = []
    imap = imap_account(inbox)
    if imap is not None:
        account, folder = imap
        box = ImapMailbox(account, folder)
        try:
            await box.open()
            results.append(CheckResult("imap", True))
        except MailboxError as exc:
            results.append(CheckResult(exc.step, False, exc.setting, exc.key, exc.params))
        finally:
            await box.close()
    smtp = server_account(inbox, "smtp")
    if smtp is not None:
        try:
            client = await smtp_connect(smtp)
            try:
                await asyncio.wait_for(client.quit(), 5)
            except Exception:  # noqa: BLE001
                client.close()
            results.append(CheckResult("smtp", True))
        except MailboxError as exc:
            results.append(CheckResult(exc.step, False, exc.setting, exc.key, exc.params))
    if imap is None and smtp is None:
        results.append(CheckResult("settings", False, "settings.smtp_host", "email.check.nothing", {}))
    return results


CHANNEL = EmailChannel

__all__ = ["CHANNEL", "MAX_ATTACHMENT_HEADER", "EmailChannel", "imap_account"]
