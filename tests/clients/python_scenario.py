#!/usr/bin/env python3
"""Scenarios of the installed `datakit` Python package against a real dkd, driven by
tests/client_packages.rs. Each prints progress lines the test waits for, and `ok: …` last.

    resume PACKAGE V1 V2   connect() by DK_HOME; watch() everything; promote V1 and read to
                           HEALTHY; print `waiting for a restart after #N`; the test restarts
                           dkd and promotes V2; read on (the same generator) to V2 HEALTHY:
                           sequences consecutive across the restart, none twice.
    out-of-range           watch(resume_after far ahead) yields a fresh snapshot first.
    errors ADDRESS CA TOKEN
                           typed errors: no dkd (5), unknown promotion (3), bad version (2),
                           a wrong token over https (4); the right token over https works.
    parts                  a fake dkd on DK_HOME's socket sends a snapshot of over 4 MB in
                           three parts (its first stream breaks after the first part):
                           watch() yields it once, whole, then the next event.

Exit status 0 on success, 1 on failure; every scenario is bounded (SIGALRM).
"""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import threading
from concurrent import futures

import grpc

import datakit
from datakit import v1
from datakit.v1 import service_pb2_grpc


class Failure(Exception):
    """The scenario did not go as the contract says."""


def say(line: str) -> None:
    print(line, flush=True)


def read_until_healthy(events, version: str, previous: int, seen: set[int]) -> int:
    """Reads events until VERSION's promotion is HEALTHY, checking that sequences follow
    PREVIOUS with no gap and none in SEEN; returns the last sequence."""
    for event in events:
        kind = event.WhichOneof("event")
        if kind == "snapshot":
            raise Failure(f"a snapshot arrived mid-stream after #{previous}")
        if event.sequence in seen or event.sequence != previous + 1:
            raise Failure(f"expected event #{previous + 1}, got #{event.sequence} ({kind})")
        previous = event.sequence
        seen.add(previous)
        if kind == "promotion" and event.promotion.version == version:
            state = event.promotion.state
            if state == v1.PROMOTION_STATE_HEALTHY:
                return previous
            if state in (v1.PROMOTION_STATE_FAILED, v1.PROMOTION_STATE_REJECTED):
                raise Failure(f"{version} ended {v1.PromotionState.Name(state)}")
    raise Failure("watch() ended")


def resume(package: str, first: str, second: str) -> str:
    client = datakit.connect()  # DK_HOME's socket, as dk finds it
    events = datakit.watch(client, reconnect_for=60)
    snapshot = next(events)
    if snapshot.WhichOneof("event") != "snapshot":
        raise Failure(f"the first event is not a snapshot: {snapshot}")
    seen: set[int] = set()
    client.call("Promote", v1.PromoteRequest(package=package, version=first, environment="dev"))
    before = read_until_healthy(events, first, snapshot.snapshot_sequence, seen)
    say(f"waiting for a restart after #{before}")
    last = read_until_healthy(events, second, before, seen)
    events.close()
    client.close()
    return f"ok: resumed after #{before} through a dkd restart to #{last}: no gap, no duplicate"


def out_of_range() -> str:
    with datakit.connect() as client:
        events = datakit.watch(client, resume_after=10**12)
        first = next(events)
        events.close()
    if first.WhichOneof("event") != "snapshot":
        raise Failure(f"a stale resume point did not give a fresh snapshot: {first}")
    return f"ok: OUT_OF_RANGE gave a fresh snapshot at #{first.snapshot_sequence}"


def expect(error_class: type[datakit.DataKitError], exit_code: int, action) -> str:
    try:
        action()
    except datakit.DataKitError as error:
        if type(error) is not error_class or error.exit_code != exit_code:
            raise Failure(f"expected {error_class.__name__}, got {type(error).__name__}: {error}") from None
        return f"{error_class.__name__} ({exit_code}): {error}"
    raise Failure(f"expected {error_class.__name__}, nothing was raised")


def errors(address: str, ca_file: str, token: str) -> str:
    with tempfile.TemporaryDirectory() as empty:
        say(expect(datakit.Unavailable, 5, lambda: datakit.connect(f"unix://{empty}/dkd.sock")))
    with datakit.connect() as client:
        say(expect(datakit.NotFound, 3, lambda: client.call("GetPromotion", v1.GetPromotionRequest(id="p-999999"))))
        request = v1.PromoteRequest(package="x", version="not a version", environment="dev")
        say(expect(datakit.InvalidInput, 2, lambda: client.call("Promote", request)))
    with datakit.connect(address, token="dkt_wrong", ca_file=ca_file) as client:
        say(expect(datakit.Refused, 4, lambda: client.call("WhoAmI", v1.WhoAmIRequest())))
    with datakit.connect(address, token=token, ca_file=ca_file) as client:
        whoami = client.call("WhoAmI", v1.WhoAmIRequest())
    return f"ok: typed errors; over https as {whoami.name} ({whoami.authenticated_by})"


# The fake snapshot: 3 parts of 8,000 rows of some 230 bytes, over 4 MB together.
PART_ROWS = 8_000
SNAPSHOT_SEQUENCE = 41


def snapshot_part(index: int, more: bool) -> v1.WatchEvent:
    rows = [
        v1.PackageStatus(package=f"pkg-{index}-{i:05}", environment="dev", version="v1.0.0",
                         message="m" * 200)
        for i in range(PART_ROWS)
    ]
    snapshot = v1.Snapshot(packages=rows, more=more)
    if index == 0:
        snapshot.environments.append(v1.Environment(name="dev"))
        snapshot.promotions.append(v1.Promotion(id="p-1", package="pkg-0-00000"))
    return v1.WatchEvent(snapshot=snapshot, snapshot_sequence=SNAPSHOT_SEQUENCE)


class PartsDkd(service_pb2_grpc.DataKitServiceServicer):
    """Watch only: the snapshot in three parts, the first stream broken after part one."""

    def __init__(self) -> None:
        self.requests: list[v1.WatchRequest] = []
        self.parts = [snapshot_part(i, more=i < 2) for i in range(3)]

    def Watch(self, request, context):
        self.requests.append(request)
        yield self.parts[0]
        if len(self.requests) == 1:
            context.abort(grpc.StatusCode.UNAVAILABLE, "the connection broke mid-snapshot")
        yield from self.parts[1:]
        yield v1.WatchEvent(
            sequence=SNAPSHOT_SEQUENCE + 1,
            status=v1.PackageStatus(package="pkg-0-00000", environment="dev", version="v2.0.0"),
        )
        stopped = threading.Event()
        context.add_callback(stopped.set)
        stopped.wait(30)


def parts() -> str:
    fake = PartsDkd()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    service_pb2_grpc.add_DataKitServiceServicer_to_server(fake, server)
    server.add_insecure_port("unix:" + os.path.join(os.environ["DK_HOME"], "dkd.sock"))
    server.start()
    try:
        with datakit.connect() as client:  # grpcio's defaults: 4 MB per message received
            events = datakit.watch(client, reconnect_for=30)
            first, second = next(events), next(events)
            events.close()
    finally:
        server.stop(None)
    if first.WhichOneof("event") != "snapshot" or first.snapshot.more:
        raise Failure(f"the first event is not a whole snapshot: {first.WhichOneof('event')}")
    whole = first.snapshot
    expected = [row.package for part in fake.parts for row in part.snapshot.packages]
    if [row.package for row in whole.packages] != expected:
        raise Failure(f"{len(whole.packages)} rows, not the {len(expected)} of the parts in order")
    if [e.name for e in whole.environments] != ["dev"] or [p.id for p in whole.promotions] != ["p-1"]:
        raise Failure(f"environments or promotions lost: {whole.environments}, {whole.promotions}")
    if first.snapshot_sequence != SNAPSHOT_SEQUENCE or whole.ByteSize() <= 4 * 1024 * 1024:
        raise Failure(f"snapshot #{first.snapshot_sequence} of {whole.ByteSize()} bytes")
    if second.WhichOneof("event") != "status" or second.sequence != SNAPSHOT_SEQUENCE + 1:
        raise Failure(f"the event after the snapshot: {second}")
    resumed = [r.resume_after for r in fake.requests if r.HasField("resume_after")]
    if len(fake.requests) != 2 or resumed:
        raise Failure(f"{len(fake.requests)} Watch calls, resuming after {resumed}")
    return (
        f"ok: a snapshot of {whole.ByteSize()} bytes in 3 parts yielded once, whole, after a "
        "stream broken mid-snapshot, then the next event"
    )


def main() -> int:
    signal.alarm(150)
    mode, args = sys.argv[1], sys.argv[2:]
    try:
        scenario = {
            "resume": resume, "out-of-range": out_of_range, "errors": errors, "parts": parts,
        }[mode]
        say(scenario(*args))
    except (Failure, datakit.DataKitError) as failure:
        print(f"FAILED: {type(failure).__name__}: {failure}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
