"""Admin pages of the channels: the inboxes and their channel's declared settings form."""
