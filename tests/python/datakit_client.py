#!/usr/bin/env python3
"""A DataKit client in Python, built from proto/ alone, run against a real dkd.

Stubs are generated at run time with grpcio-tools into a temporary directory; nothing
of the Rust workspace is used but the .proto files. The scenario:

1. ListEnvironments names dev, int and prod.
2. Watch (no filters): the first message is a snapshot carrying `snapshot_sequence`.
3. Promote PACKAGE V1 to dev; read Watch events until that promotion is HEALTHY. Every
   event's sequence (0 on snapshots and heartbeats, which are skipped) must be the
   previous one + 1, starting at snapshot_sequence + 1: the stream is unfiltered.
4. Cancel the stream (disconnect).
5. Promote PACKAGE V2 to dev; poll GetPromotion until it is HEALTHY.
6. Watch again with resume_after = the last sequence seen; the replay must start at
   last + 1, have no gap, repeat nothing seen before, and reach V2's HEALTHY event.
7. Status of PACKAGE in the environment: V2 is deployed.

The channel has no options: grpc-core's default :authority (the socket path) is served.

Exit status: 0 on success, 1 when the scenario fails, 2 when grpcio/grpcio-tools are
missing. Every wait is bounded by --timeout seconds, so the script cannot hang.

    python3 tests/python/datakit_client.py --socket ~/.datakit/dkd.sock \\
        --package my-package --versions v1.0.0 v1.1.0
"""

from __future__ import annotations

import argparse
import glob
import importlib
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from types import ModuleType

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
INSTALL_HINT = (
    "install them with `python3 -m pip install grpcio grpcio-tools` "
    "(or run `bash tests/run`, which does)"
)

try:
    import grpc
except ImportError:  # pragma: no cover - depends on the machine
    print(f"datakit_client: the Python module grpc is missing: {INSTALL_HINT}", file=sys.stderr)
    sys.exit(2)


class Failure(Exception):
    """The scenario did not go as the contract says."""


def generate_stubs(proto_root: str, out_dir: str) -> tuple[ModuleType, ModuleType]:
    """Runs grpc_tools.protoc on proto/datakit/v1/*.proto; returns (messages, service)."""
    protos = sorted(glob.glob(os.path.join(proto_root, "datakit", "v1", "*.proto")))
    if not protos:
        raise Failure(f"no .proto files under {proto_root}/datakit/v1")
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *protos,
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired as error:
        raise Failure("grpc_tools.protoc did not finish within 60 s") from error
    if result.returncode != 0:
        if "No module named grpc_tools" in result.stderr:
            print(f"datakit_client: the Python module grpc_tools is missing: {INSTALL_HINT}", file=sys.stderr)
            sys.exit(2)
        raise Failure(f"grpc_tools.protoc failed ({result.returncode}): {result.stderr.strip()}")
    sys.path.insert(0, out_dir)
    importlib.invalidate_caches()
    # The generated modules import each other as datakit.v1.<file>_pb2; every message and
    # enum of package datakit.v1 is gathered in one namespace, as the proto package is one.
    messages = ModuleType("datakit.v1 messages")
    for proto in protos:
        stem = os.path.splitext(os.path.basename(proto))[0]
        module = importlib.import_module(f"datakit.v1.{stem}_pb2")
        for name in dir(module):
            if not name.startswith("_"):
                setattr(messages, name, getattr(module, name))
    service = importlib.import_module("datakit.v1.service_pb2_grpc")
    return messages, service


class WatchStream:
    """One Watch call read by a background thread, so every read has a deadline."""

    def __init__(self, stub, request, name: str):
        self.name = name
        self._call = stub.Watch(request)
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._pump, name=name, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        try:
            for event in self._call:
                self._queue.put(("event", event))
            self._queue.put(("end", None))
        except grpc.RpcError as error:
            self._queue.put(("error", error))

    def next(self, deadline: float, waiting_for: str):
        """The next message, or Failure when none comes before `deadline`."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise Failure(f"{self.name}: timed out waiting for {waiting_for}")
        try:
            kind, value = self._queue.get(timeout=remaining)
        except queue.Empty as error:
            raise Failure(f"{self.name}: timed out waiting for {waiting_for}") from error
        if kind == "end":
            raise Failure(f"{self.name}: the server ended the stream while waiting for {waiting_for}")
        if kind == "error":
            raise Failure(
                f"{self.name}: the stream failed with {value.code().name}: {value.details()} "
                f"(waiting for {waiting_for})"
            )
        return value

    def cancel(self) -> None:
        """Cancels the call (the client disconnects) and waits for the reader to stop."""
        self._call.cancel()
        self._thread.join(timeout=10)
        if self._thread.is_alive():
            raise Failure(f"{self.name}: the reader did not stop within 10 s of cancelling")


def describe(event, pb) -> str:
    """One line about a Watch event, for summaries and failures."""
    kind = event.WhichOneof("event")
    if kind == "promotion":
        p = event.promotion
        state = pb.PromotionState.Name(p.state)
        return f"#{event.sequence} promotion {p.id} {p.package} {p.version} → {p.environment} {state}"
    if kind == "status":
        s = event.status
        return f"#{event.sequence} status {s.package}@{s.environment} {s.version or '-'}"
    if kind == "config":
        return f"#{event.sequence} config {event.config.revision[:12]}"
    return f"#{event.sequence} {kind}"


def read_until_healthy(stream: WatchStream, promotion_id: str, after: int, seen: set[int], pb, timeout: float) -> list:
    """Reads events until `promotion_id` is HEALTHY.

    Checks that sequences go after+1, after+2, … with no gap and nothing in `seen`;
    returns the sequenced events read (heartbeats and snapshots are skipped).
    """
    deadline = time.monotonic() + timeout
    events = []
    previous = after
    while True:
        event = stream.next(deadline, f"promotion {promotion_id} to become HEALTHY")
        kind = event.WhichOneof("event")
        if event.sequence == 0:
            if kind == "snapshot":
                raise Failure(f"{stream.name}: a second snapshot arrived mid-stream")
            continue  # heartbeat
        if event.sequence in seen:
            raise Failure(f"{stream.name}: event #{event.sequence} was already delivered: {describe(event, pb)}")
        if event.sequence != previous + 1:
            raise Failure(
                f"{stream.name}: expected event #{previous + 1}, got #{event.sequence} "
                f"({describe(event, pb)}): the unfiltered stream skipped or reordered events"
            )
        previous = event.sequence
        events.append(event)
        if kind == "promotion" and event.promotion.id == promotion_id:
            state = event.promotion.state
            if state == pb.PROMOTION_STATE_HEALTHY:
                return events
            if state in (pb.PROMOTION_STATE_FAILED, pb.PROMOTION_STATE_REJECTED, pb.PROMOTION_STATE_SUPERSEDED):
                raise Failure(
                    f"promotion {promotion_id} ended {pb.PromotionState.Name(state)}: {event.promotion.message}"
                )


def promote(stub, pb, package: str, version: str, environment: str, timeout: float):
    response = stub.Promote(
        pb.PromoteRequest(package=package, version=version, environment=environment), timeout=timeout
    )
    if not response.HasField("promotion"):
        raise Failure(
            f"Promote {package} {version} → {environment} opened no promotion "
            f"(no_op={response.no_op}): {response.summary}"
        )
    return response.promotion


def wait_healthy_by_polling(stub, pb, promotion_id: str, timeout: float):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        remaining = max(deadline - time.monotonic(), 0.1)
        last = stub.GetPromotion(pb.GetPromotionRequest(id=promotion_id), timeout=remaining).promotion
        if last.state == pb.PROMOTION_STATE_HEALTHY:
            return last
        if last.state in (pb.PROMOTION_STATE_FAILED, pb.PROMOTION_STATE_REJECTED, pb.PROMOTION_STATE_SUPERSEDED):
            raise Failure(f"promotion {promotion_id} ended {pb.PromotionState.Name(last.state)}: {last.message}")
        time.sleep(0.1)
    state = pb.PromotionState.Name(last.state) if last is not None else "unknown"
    raise Failure(f"promotion {promotion_id} was not HEALTHY within {timeout:.0f} s (last state {state})")


def scenario(args, pb, service) -> list[str]:
    summary: list[str] = []
    timeout = args.timeout
    # The channel as anyone writes it first: no options. grpc-core sends the percent-encoded
    # socket path as :authority, which dkd serves as localhost on its socket.
    channel = grpc.insecure_channel("unix:" + args.socket)
    try:
        try:
            grpc.channel_ready_future(channel).result(timeout=timeout)
        except grpc.FutureTimeoutError as error:
            raise Failure(f"could not connect to dkd at unix:{args.socket} within {timeout:.0f} s") from error
        stub = service.DataKitServiceStub(channel)

        # 1. Environments.
        listed = stub.ListEnvironments(pb.ListEnvironmentsRequest(), timeout=timeout)
        names = [e.name for e in listed.environments]
        remaining = iter(names)  # dev, int and prod, in this order (others may be between)
        if not all(name in remaining for name in ("dev", "int", "prod")):
            raise Failure(f"ListEnvironments: expected dev, int, prod in that order, got {names}")
        summary.append(f"environments: {', '.join(names)} (revision {listed.revision[:12]})")

        # 2. Watch: the snapshot first.
        first = WatchStream(stub, pb.WatchRequest(), "watch #1")
        try:
            snapshot = first.next(time.monotonic() + timeout, "the snapshot")
            if snapshot.WhichOneof("event") != "snapshot" or snapshot.sequence != 0:
                raise Failure(f"watch #1: the first message is not a snapshot: {describe(snapshot, pb)}")
            base = snapshot.snapshot_sequence
            summary.append(
                f"watch #1: snapshot at sequence {base} "
                f"({len(snapshot.snapshot.environments)} environments, "
                f"{len(snapshot.snapshot.promotions)} open promotions)"
            )

            # 3. Promote V1 and follow it on the stream.
            v1, v2 = args.versions
            promotion1 = promote(stub, pb, args.package, v1, args.environment, timeout)
            live = read_until_healthy(first, promotion1.id, base, set(), pb, timeout)
        finally:
            # 4. Disconnect.
            first.cancel()
        seen = {event.sequence for event in live}
        last = live[-1].sequence
        summary.append(
            f"watch #1: {len(live)} events #{live[0].sequence}..#{last}, no gap, "
            f"{promotion1.id} ({v1}) HEALTHY; disconnected"
        )

        # 5. Promote V2 while nobody watches.
        promotion2 = promote(stub, pb, args.package, v2, args.environment, timeout)
        wait_healthy_by_polling(stub, pb, promotion2.id, timeout)
        summary.append(f"GetPromotion: {promotion2.id} ({v2}) HEALTHY while disconnected")

        # 6. Resume after the last sequence seen.
        second = WatchStream(stub, pb.WatchRequest(resume_after=last), "watch #2")
        try:
            replay = read_until_healthy(second, promotion2.id, last, seen, pb, timeout)
        finally:
            second.cancel()
        summary.append(
            f"watch #2 (resume_after={last}): {len(replay)} events #{replay[0].sequence}..#{replay[-1].sequence}, "
            f"no gap, no duplicate, {promotion2.id} ({v2}) HEALTHY"
        )

        # 7. Status of the package in the environment: V2 deployed.
        status = stub.Status(pb.StatusRequest(package=args.package, environment=args.environment), timeout=timeout)
        deployed = [p.version for p in status.packages if p.deployed]
        if deployed != [v2]:
            raise Failure(f"Status {args.package} in {args.environment}: expected {v2} deployed, got {deployed}")
        summary.append(f"Status: {args.package} {v2} deployed in {args.environment}")
        return summary
    finally:
        channel.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--socket", required=True, help="dkd's Unix socket, e.g. ~/.datakit/dkd.sock")
    parser.add_argument("--package", required=True, help="a published package")
    parser.add_argument("--versions", nargs=2, required=True, metavar=("V1", "V2"), help="two published versions")
    parser.add_argument("--environment", default="dev", help="an auto-merge environment (default dev)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds any one step may take (default 30)")
    parser.add_argument("--proto", default=os.path.join(REPO, "proto"), help="the proto root (default <repo>/proto)")
    args = parser.parse_args()
    args.socket = os.path.expanduser(args.socket)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="datakit-stubs-") as out_dir:
        try:
            pb, service = generate_stubs(args.proto, out_dir)
            summary = scenario(args, pb, service)
        except Failure as failure:
            print(f"datakit_client: FAILED: {failure}", file=sys.stderr)
            return 1
        except grpc.RpcError as error:
            print(f"datakit_client: FAILED: RPC error {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    for line in summary:
        print(line)
    print(f"ok: the Python client passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
