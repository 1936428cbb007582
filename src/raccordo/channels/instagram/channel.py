"""The Instagram Direct channel: an Instagram professional account's messages through the Messenger Platform.

Instagram messaging uses the Messenger Platform's webhooks (``object: instagram``, entries named
by the Instagram account id) and Send API (through the linked Facebook page), so this channel is
the shared Meta messaging channel (``channels/messenger/meta_channel.py``) with Instagram's id,
limits and story replies and mentions. Setup and limits: ``docs/channels/instagram.md``.
"""

from __future__ import annotations

from raccordo.channels.domain.composer import ComposerRules
from raccordo.channels.messenger import outbound
from raccordo.channels.messenger.meta_channel import WINDOW_SECONDS, MetaMessagingChannel
from raccordo.channels.messenger.settings import INSTAGRAM_FORM

KIND = "instagram"


class InstagramChannel(MetaMessagingChannel):
    kind = KIND
    reply_identity_kinds = (KIND,)
    max_text = outbound.MAX_TEXT[KIND]
    # Instagram accepts images, videos and audio (8 MB images, 25 MB video and audio), one per message.
    composer = ComposerRules(
        max_length=outbound.MAX_TEXT[KIND],
        attachments=True,
        max_attachments=1,
        max_attachment_bytes=25 * 1024 * 1024,
        attachment_types=("image/jpeg", "image/png", "image/gif", "video/*", "audio/*"),
        reply_window_seconds=WINDOW_SECONDS,
    )
    settings_form = INSTAGRAM_FORM


CHANNEL = InstagramChannel
