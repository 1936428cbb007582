"""What every process does before it builds a runtime (the app, the worker, the CLI, the benches,
the tests): every package's tables on the metadata, the channels in the registry, the domain-event
subscriptions. Idempotent."""

from __future__ import annotations

from raccordo.bootstrap import subscriptions
from raccordo.bootstrap.channels import install_channels
from raccordo.bootstrap.tables import import_all


def install() -> None:
    import_all()
    install_channels()
    subscriptions.register()
