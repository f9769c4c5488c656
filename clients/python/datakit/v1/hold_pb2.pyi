import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Hold(_message.Message):
    __slots__ = ("package", "environment", "kind", "set_by", "set_at", "reason", "blocks_version", "blocks_newer_than", "released", "released_by", "released_at", "release_reason", "file")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SET_BY_FIELD_NUMBER: _ClassVar[int]
    SET_AT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_VERSION_FIELD_NUMBER: _ClassVar[int]
    BLOCKS_NEWER_THAN_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    RELEASED_BY_FIELD_NUMBER: _ClassVar[int]
    RELEASED_AT_FIELD_NUMBER: _ClassVar[int]
    RELEASE_REASON_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    package: str
    environment: str
    kind: str
    set_by: str
    set_at: _timestamp_pb2.Timestamp
    reason: str
    blocks_version: str
    blocks_newer_than: str
    released: bool
    released_by: str
    released_at: _timestamp_pb2.Timestamp
    release_reason: str
    file: str
    def __init__(self, package: _Optional[str] = ..., environment: _Optional[str] = ..., kind: _Optional[str] = ..., set_by: _Optional[str] = ..., set_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ..., blocks_version: _Optional[str] = ..., blocks_newer_than: _Optional[str] = ..., released: _Optional[bool] = ..., released_by: _Optional[str] = ..., released_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., release_reason: _Optional[str] = ..., file: _Optional[str] = ...) -> None: ...

class SetHoldRequest(_message.Message):
    __slots__ = ("package", "environment", "reason")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    package: str
    environment: str
    reason: str
    def __init__(self, package: _Optional[str] = ..., environment: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReleaseHoldRequest(_message.Message):
    __slots__ = ("package", "environment", "reason")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    package: str
    environment: str
    reason: str
    def __init__(self, package: _Optional[str] = ..., environment: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class HoldResponse(_message.Message):
    __slots__ = ("hold", "commit", "message")
    HOLD_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    hold: Hold
    commit: str
    message: str
    def __init__(self, hold: _Optional[_Union[Hold, _Mapping]] = ..., commit: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class ListHoldsRequest(_message.Message):
    __slots__ = ("package", "environment", "include_released")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_RELEASED_FIELD_NUMBER: _ClassVar[int]
    package: str
    environment: str
    include_released: bool
    def __init__(self, package: _Optional[str] = ..., environment: _Optional[str] = ..., include_released: _Optional[bool] = ...) -> None: ...

class ListHoldsResponse(_message.Message):
    __slots__ = ("holds",)
    HOLDS_FIELD_NUMBER: _ClassVar[int]
    holds: _containers.RepeatedCompositeFieldContainer[Hold]
    def __init__(self, holds: _Optional[_Iterable[_Union[Hold, _Mapping]]] = ...) -> None: ...
