#!/usr/bin/env python3
"""Streams the status of one package and prints each change: where an IDE extension starts.

    python3 examples/follow_status.py PACKAGE

Connects like `dk` (DK_DAEMON, else DK_HOME's socket; DK_TOKEN and DK_CA_FILE for a shared
dkd) and keeps following across dkd restarts. Ctrl-C to stop.
"""

import sys

import datakit
from datakit import v1


def describe(status: v1.PackageStatus) -> str:
    """One line: environment, version, health."""
    health = v1.Health.Name(status.health).removeprefix("HEALTH_")
    return f"{status.environment}: {status.version or '-'} {health}"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    package = sys.argv[1]
    try:
        with datakit.connect() as client:
            for event in datakit.watch(client, package=package, reconnect_for=None):
                kind = event.WhichOneof("event")
                if kind == "snapshot":
                    for status in event.snapshot.packages:
                        print(describe(status), flush=True)
                elif kind == "status":
                    print(describe(event.status), flush=True)
                elif kind == "promotion":
                    promotion = event.promotion
                    state = v1.PromotionState.Name(promotion.state).removeprefix("PROMOTION_STATE_")
                    print(f"{promotion.environment}: {promotion.version} {state}", flush=True)
    except datakit.DataKitError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
