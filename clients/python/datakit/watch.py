"""`watch()`: the Watch stream as a generator that survives disconnects.

It yields a snapshot first (or, when given `resume_after`, the events after it), then every
change. When the connection drops or dkd restarts, it reconnects with a growing delay and
resumes after the last sequence it yielded: nothing is skipped, nothing is yielded twice.
When dkd no longer holds that point (OUT_OF_RANGE), it takes a fresh snapshot and yields it:
a snapshot always means "replace what you know". A large snapshot, which dkd sends in parts
(`Snapshot.more`), is gathered and yielded once, whole; a stream lost before its last part
is watched again as if that snapshot had never begun. Heartbeats are not yielded.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc

from . import v1
from .connect import Client
from .errors import Unavailable, error_for

# Failures after which the stream is opened again: the connection, not the request, failed.
_RECONNECT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}


def watch(
    client: Client,
    package: str = "",
    environment: str = "",
    resume_after: int | None = None,
    reconnect_for: float | None = 60.0,
    max_delay: float = 2.0,
) -> Iterator[v1.WatchEvent]:
    """Follows dkd's changes, filtered by package and environment (empty: everything).

    `reconnect_for`: how many seconds to keep trying after the connection is lost before
    raising `Unavailable` (None: forever, as an IDE extension may want). Other failures
    raise their typed error (`datakit.errors`). Close the generator to stop watching.
    """
    last = resume_after
    delay = 0.1
    lost_since: float | None = None
    while True:
        request = v1.WatchRequest(package=package, environment=environment)
        if last is not None:
            request.resume_after = last
        call = client.stub.Watch(request)
        snapshot: v1.WatchEvent | None = None  # the parts of a snapshot received so far
        try:
            for event in call:
                lost_since, delay = None, 0.1
                kind = event.WhichOneof("event")
                if kind == "heartbeat":
                    continue
                if kind == "snapshot":
                    if snapshot is None:
                        snapshot = event  # the first part
                    else:
                        snapshot.snapshot.MergeFrom(event.snapshot)  # appends the items
                    if event.snapshot.more:
                        continue
                    event, snapshot = snapshot, None
                    event.snapshot.more = False
                    last = event.snapshot_sequence
                elif last is not None and event.sequence <= last:
                    continue  # already yielded before a reconnect
                else:
                    last = event.sequence
                yield event
            reason = "dkd ended the stream"
        except grpc.RpcError as error:
            if error.code() == grpc.StatusCode.OUT_OF_RANGE:
                last = None  # the log no longer holds the resume point: a fresh snapshot
                continue
            if error.code() not in _RECONNECT:
                raise error_for(error) from None
            reason = error_for(error).message
        finally:
            call.cancel()
        now = time.monotonic()
        lost_since = lost_since or now
        if reconnect_for is not None and now - lost_since > reconnect_for:
            raise Unavailable(
                f"the Watch stream to dkd was lost ({reason}) and did not come back within "
                f"{reconnect_for:.0f} s; check that dkd is running"
            )
        time.sleep(delay)
        delay = min(delay * 2, max_delay)
