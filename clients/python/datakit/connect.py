"""`connect()`: finds and reaches dkd by the same rules as `dk`.

The address is the argument, else `DK_DAEMON`, else `DK_HOME`'s socket (default
`~/.datakit/dkd.sock`): `unix:///path/dkd.sock`, `https://host:port` (trusting `DK_CA_FILE`
when set, else the system's roots) or `http://` on loopback. `DK_TOKEN` (or `token=`) is
sent as a bearer token. Unlike `dk`, it never starts a dkd: it raises `Unavailable`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import grpc

from . import v1
from .errors import InvalidInput, Unavailable, error_for

# Reconnect quickly after dkd restarts (grpc-core's default backoff grows to 2 minutes).
_CHANNEL_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 2000),
]
# grpc-core sends the percent-encoded socket path as :authority on unix: targets, which
# dkd's HTTP/2 stack refused until it learnt to read it as localhost; any host name does.
_UNIX_OPTIONS = [("grpc.default_authority", "localhost")]
_LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def _env(name: str) -> str | None:
    return os.environ.get(name) or None


def default_address() -> str:
    """`DK_DAEMON`, else the socket in `DK_HOME` (default ~/.datakit)."""
    daemon = _env("DK_DAEMON")
    if daemon:
        return daemon
    home = _env("DK_HOME") or os.path.join(os.path.expanduser("~"), ".datakit")
    return "unix://" + os.path.join(home, "dkd.sock")


class _BearerToken(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds `authorization: Bearer TOKEN` to every call."""

    def __init__(self, token: str):
        self._header = ("authorization", f"Bearer {token}")

    def _with_token(self, details: Any) -> Any:
        metadata = list(details.metadata or []) + [self._header]
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._with_token(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._with_token(client_call_details), request)


class Client:
    """A connection to dkd.

    `client.stub` is the generated `DataKitServiceStub` (grpc errors as they come);
    `client.call("Status", v1.StatusRequest())` calls one unary method and raises the typed
    errors of `datakit.errors` instead. Close it (or use `with`) when done.
    """

    def __init__(self, channel: grpc.Channel, address: str):
        self.channel = channel
        self.address = address
        self.stub = v1.DataKitServiceStub(channel)

    def call(self, method: str, request: Any, timeout: float | None = 30.0) -> Any:
        """Calls the unary RPC `method` (e.g. "Promote") with `request`."""
        rpc: Callable[..., Any] | None = getattr(self.stub, method, None)
        if rpc is None or method in ("Watch", "Logs"):
            raise InvalidInput(f"{method} is not a unary method of DataKitService")
        try:
            return rpc(request, timeout=timeout)
        except grpc.RpcError as error:
            raise error_for(error) from None

    def close(self) -> None:
        self.channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _channel(address: str, token: str | None, ca_file: str | None) -> grpc.Channel:
    invalid = InvalidInput(
        f"invalid daemon address {address!r}: use unix:///path/to/dkd.sock or https://host:port"
    )
    if address.startswith("unix:"):
        path = address[len("unix://"):] if address.startswith("unix://") else address[len("unix:"):]
        if not path.startswith("/"):
            raise invalid
        if not os.path.exists(path):
            raise Unavailable(f"cannot reach dkd at {path}: no such socket; start it with `dkd`")
        return grpc.insecure_channel("unix:" + path, options=_CHANNEL_OPTIONS + _UNIX_OPTIONS)
    parts = urlsplit(address)
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.username:
        raise invalid
    target = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    if parts.scheme == "http":
        if token and parts.hostname not in _LOOPBACK:
            raise InvalidInput(f"refusing to send DK_TOKEN in plain text to {address}: use https://")
        return grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
    roots = None
    if ca_file:
        try:
            with open(ca_file, "rb") as pem:
                roots = pem.read()
        except OSError as error:
            raise InvalidInput(f"DK_CA_FILE: cannot read {ca_file}: {error.strerror}") from None
        if b"-----BEGIN CERTIFICATE-----" not in roots:
            raise InvalidInput(f"DK_CA_FILE: {ca_file} holds no PEM certificate")
    credentials = grpc.ssl_channel_credentials(root_certificates=roots)
    return grpc.secure_channel(target, credentials, options=_CHANNEL_OPTIONS)


def connect(
    address: str | None = None,
    token: str | None = None,
    ca_file: str | None = None,
    timeout: float = 5.0,
) -> Client:
    """Connects to dkd and waits up to `timeout` seconds for it to answer.

    Each argument defaults to the environment as `dk` reads it: `DK_DAEMON` / `DK_HOME`,
    `DK_TOKEN`, `DK_CA_FILE`. Raises `InvalidInput` for a bad address or CA file and
    `Unavailable` when dkd does not answer.
    """
    address = address or default_address()
    token = token or _env("DK_TOKEN")
    ca_file = ca_file or _env("DK_CA_FILE")
    channel = _channel(address, token, ca_file)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        channel.close()
        raise Unavailable(
            f"cannot reach dkd at {address} within {timeout:.0f} s; check that dkd is running "
            "(or DK_DAEMON)"
        ) from None
    if token:
        channel = grpc.intercept_channel(channel, _BearerToken(token))
    return Client(channel, address)


__all__ = ["Client", "connect", "default_address", "error_for"]
