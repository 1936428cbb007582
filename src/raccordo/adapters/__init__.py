"""Adapters: storage, bus, channels, search — everything that talks to the outside world."""
