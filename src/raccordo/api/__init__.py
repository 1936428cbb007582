"""HTTP entrypoints: REST under /api/v1, provider webhooks, health. Thin: parse, authorize, call a service."""
