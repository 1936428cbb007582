"""The Facebook Messenger channel: a page's conversations through the Messenger Platform.

Everything it does is shared with Instagram Direct (``meta_channel.py``): signed webhooks for
every page of an app, page-scoped ids, attachments, quick replies, postbacks, reactions,
delivery and read watermarks, the 24-hour window and the HUMAN_AGENT tag. Setup and limits:
``docs/channels/messenger.md``.
"""

from __future__ import annotations

from raccordo.channels.domain.composer import ComposerRules
from raccordo.channels.messenger import outbound
from raccordo.channels.messenger.meta_channel import WINDOW_SECONDS, MetaMessagingChannel
from raccordo.channels.messenger.settings import MESSENGER_FORM

KIND = "messenger"


class MessengerChannel(MetaMessagingChannel):
    kind = KIND
    reply_identity_kinds = (KIND,)
    max_text = outbound.MAX_TEXT[KIND]
    # One file per message (Meta's attachment upload limit is 25 MB).
    composer = ComposerRules(
        max_length=outbound.MAX_TEXT[KIND],
        attachments=True,
        max_attachments=1,
        max_attachment_bytes=25 * 1024 * 1024,
        attachment_types=("image/*", "video/*", "audio/*", "application/*", "text/plain"),
        reply_window_seconds=WINDOW_SECONDS,
    )
    settings_form = MESSENGER_FORM


CHANNEL = MessengerChannel
