"""DataKit's Python client: `connect()` to dkd like `dk`, a resuming `watch()`, typed errors.

    import datakit
    from datakit import v1

    with datakit.connect() as client:            # DK_DAEMON, else DK_HOME's socket
        print(client.call("ListEnvironments", v1.ListEnvironmentsRequest()))
        for event in datakit.watch(client, package="my-package"):
            print(event.sequence, event.WhichOneof("event"))

The generated stubs are in `datakit.v1` (messages, enums and `DataKitServiceStub`).
"""

from . import v1
from .connect import Client, connect, default_address
from .errors import DataKitError, InvalidInput, NotFound, Other, Refused, Unavailable, error_for
from .watch import watch

__all__ = [
    "Client",
    "DataKitError",
    "InvalidInput",
    "NotFound",
    "Other",
    "Refused",
    "Unavailable",
    "connect",
    "default_address",
    "error_for",
    "v1",
    "watch",
]
