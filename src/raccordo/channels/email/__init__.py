"""The email channel: IMAP polling and SMTP forwarding in, SMTP out (``channel.CHANNEL``)."""

KIND = "email"
