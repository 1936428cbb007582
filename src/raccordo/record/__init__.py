"""The central record: contacts, identities, conversations, messages, timeline, ingest, merge."""
