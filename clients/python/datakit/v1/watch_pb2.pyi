import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from datakit.v1 import environment_pb2 as _environment_pb2
from datakit.v1 import hold_pb2 as _hold_pb2
from datakit.v1 import promotion_pb2 as _promotion_pb2
from datakit.v1 import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WatchRequest(_message.Message):
    __slots__ = ("package", "environment", "resume_after")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    RESUME_AFTER_FIELD_NUMBER: _ClassVar[int]
    package: str
    environment: str
    resume_after: int
    def __init__(self, package: _Optional[str] = ..., environment: _Optional[str] = ..., resume_after: _Optional[int] = ...) -> None: ...

class Snapshot(_message.Message):
    __slots__ = ("packages", "promotions", "environments", "more")
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    PROMOTIONS_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENTS_FIELD_NUMBER: _ClassVar[int]
    MORE_FIELD_NUMBER: _ClassVar[int]
    packages: _containers.RepeatedCompositeFieldContainer[_status_pb2.PackageStatus]
    promotions: _containers.RepeatedCompositeFieldContainer[_promotion_pb2.Promotion]
    environments: _containers.RepeatedCompositeFieldContainer[_environment_pb2.Environment]
    more: bool
    def __init__(self, packages: _Optional[_Iterable[_Union[_status_pb2.PackageStatus, _Mapping]]] = ..., promotions: _Optional[_Iterable[_Union[_promotion_pb2.Promotion, _Mapping]]] = ..., environments: _Optional[_Iterable[_Union[_environment_pb2.Environment, _Mapping]]] = ..., more: _Optional[bool] = ...) -> None: ...

class ConfigChanged(_message.Message):
    __slots__ = ("revision", "problems")
    REVISION_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    revision: str
    problems: _containers.RepeatedCompositeFieldContainer[_environment_pb2.ConfigProblem]
    def __init__(self, revision: _Optional[str] = ..., problems: _Optional[_Iterable[_Union[_environment_pb2.ConfigProblem, _Mapping]]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchEvent(_message.Message):
    __slots__ = ("sequence", "time", "snapshot", "promotion", "status", "config", "heartbeat", "hold", "snapshot_sequence")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    PROMOTION_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    time: _timestamp_pb2.Timestamp
    snapshot: Snapshot
    promotion: _promotion_pb2.Promotion
    status: _status_pb2.PackageStatus
    config: ConfigChanged
    heartbeat: Heartbeat
    hold: _hold_pb2.Hold
    snapshot_sequence: int
    def __init__(self, sequence: _Optional[int] = ..., time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., snapshot: _Optional[_Union[Snapshot, _Mapping]] = ..., promotion: _Optional[_Union[_promotion_pb2.Promotion, _Mapping]] = ..., status: _Optional[_Union[_status_pb2.PackageStatus, _Mapping]] = ..., config: _Optional[_Union[ConfigChanged, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., hold: _Optional[_Union[_hold_pb2.Hold, _Mapping]] = ..., snapshot_sequence: _Optional[int] = ...) -> None: ...
