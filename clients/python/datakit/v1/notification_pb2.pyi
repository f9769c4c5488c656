import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetNotificationStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WebhookStatus(_message.Message):
    __slots__ = ("name", "destination", "format", "events", "delivered_sequence", "delivered_event", "last_success", "consecutive_failures", "last_error", "handled_sequence", "notice")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESTINATION_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    DELIVERED_EVENT_FIELD_NUMBER: _ClassVar[int]
    LAST_SUCCESS_FIELD_NUMBER: _ClassVar[int]
    CONSECUTIVE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    HANDLED_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    NOTICE_FIELD_NUMBER: _ClassVar[int]
    name: str
    destination: str
    format: str
    events: _containers.RepeatedScalarFieldContainer[str]
    delivered_sequence: int
    delivered_event: str
    last_success: _timestamp_pb2.Timestamp
    consecutive_failures: int
    last_error: str
    handled_sequence: int
    notice: str
    def __init__(self, name: _Optional[str] = ..., destination: _Optional[str] = ..., format: _Optional[str] = ..., events: _Optional[_Iterable[str]] = ..., delivered_sequence: _Optional[int] = ..., delivered_event: _Optional[str] = ..., last_success: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., consecutive_failures: _Optional[int] = ..., last_error: _Optional[str] = ..., handled_sequence: _Optional[int] = ..., notice: _Optional[str] = ...) -> None: ...

class GetNotificationStatusResponse(_message.Message):
    __slots__ = ("webhooks",)
    WEBHOOKS_FIELD_NUMBER: _ClassVar[int]
    webhooks: _containers.RepeatedCompositeFieldContainer[WebhookStatus]
    def __init__(self, webhooks: _Optional[_Iterable[_Union[WebhookStatus, _Mapping]]] = ...) -> None: ...
