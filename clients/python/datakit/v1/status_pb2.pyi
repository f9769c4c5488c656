import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from datakit.v1 import hold_pb2 as _hold_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SyncStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SYNC_STATUS_UNSPECIFIED: _ClassVar[SyncStatus]
    SYNC_STATUS_SYNCED: _ClassVar[SyncStatus]
    SYNC_STATUS_OUT_OF_SYNC: _ClassVar[SyncStatus]
    SYNC_STATUS_SYNCING: _ClassVar[SyncStatus]
    SYNC_STATUS_UNKNOWN: _ClassVar[SyncStatus]

class Health(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEALTH_UNSPECIFIED: _ClassVar[Health]
    HEALTH_HEALTHY: _ClassVar[Health]
    HEALTH_PROGRESSING: _ClassVar[Health]
    HEALTH_DEGRADED: _ClassVar[Health]
    HEALTH_SUSPENDED: _ClassVar[Health]
    HEALTH_MISSING: _ClassVar[Health]
    HEALTH_UNKNOWN: _ClassVar[Health]

class RunResult(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_RESULT_UNSPECIFIED: _ClassVar[RunResult]
    RUN_RESULT_RUNNING: _ClassVar[RunResult]
    RUN_RESULT_SUCCESS: _ClassVar[RunResult]
    RUN_RESULT_FAILURE: _ClassVar[RunResult]

class LogSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LOG_SOURCE_UNSPECIFIED: _ClassVar[LogSource]
    LOG_SOURCE_SYNC: _ClassVar[LogSource]
    LOG_SOURCE_RUN: _ClassVar[LogSource]
    LOG_SOURCE_NOTICE: _ClassVar[LogSource]
SYNC_STATUS_UNSPECIFIED: SyncStatus
SYNC_STATUS_SYNCED: SyncStatus
SYNC_STATUS_OUT_OF_SYNC: SyncStatus
SYNC_STATUS_SYNCING: SyncStatus
SYNC_STATUS_UNKNOWN: SyncStatus
HEALTH_UNSPECIFIED: Health
HEALTH_HEALTHY: Health
HEALTH_PROGRESSING: Health
HEALTH_DEGRADED: Health
HEALTH_SUSPENDED: Health
HEALTH_MISSING: Health
HEALTH_UNKNOWN: Health
RUN_RESULT_UNSPECIFIED: RunResult
RUN_RESULT_RUNNING: RunResult
RUN_RESULT_SUCCESS: RunResult
RUN_RESULT_FAILURE: RunResult
LOG_SOURCE_UNSPECIFIED: LogSource
LOG_SOURCE_SYNC: LogSource
LOG_SOURCE_RUN: LogSource
LOG_SOURCE_NOTICE: LogSource

class LastRun(_message.Message):
    __slots__ = ("started_at", "finished_at", "result", "name")
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    started_at: _timestamp_pb2.Timestamp
    finished_at: _timestamp_pb2.Timestamp
    result: RunResult
    name: str
    def __init__(self, started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., result: _Optional[_Union[RunResult, str]] = ..., name: _Optional[str] = ...) -> None: ...

class PackageStatus(_message.Message):
    __slots__ = ("package", "environment", "deployed", "version", "digest", "sync_status", "health", "synced_revision", "last_sync", "last_run", "pending_promotion_id", "message", "hold", "promotable")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    DEPLOYED_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SYNC_STATUS_FIELD_NUMBER: _ClassVar[int]
    HEALTH_FIELD_NUMBER: _ClassVar[int]
    SYNCED_REVISION_FIELD_NUMBER: _ClassVar[int]
    LAST_SYNC_FIELD_NUMBER: _ClassVar[int]
    LAST_RUN_FIELD_NUMBER: _ClassVar[int]
    PENDING_PROMOTION_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    HOLD_FIELD_NUMBER: _ClassVar[int]
    PROMOTABLE_FIELD_NUMBER: _ClassVar[int]
    package: str
    environment: str
    deployed: bool
    version: str
    digest: str
    sync_status: SyncStatus
    health: Health
    synced_revision: str
    last_sync: _timestamp_pb2.Timestamp
    last_run: LastRun
    pending_promotion_id: str
    message: str
    hold: _hold_pb2.Hold
    promotable: Promotable
    def __init__(self, package: _Optional[str] = ..., environment: _Optional[str] = ..., deployed: _Optional[bool] = ..., version: _Optional[str] = ..., digest: _Optional[str] = ..., sync_status: _Optional[_Union[SyncStatus, str]] = ..., health: _Optional[_Union[Health, str]] = ..., synced_revision: _Optional[str] = ..., last_sync: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_run: _Optional[_Union[LastRun, _Mapping]] = ..., pending_promotion_id: _Optional[str] = ..., message: _Optional[str] = ..., hold: _Optional[_Union[_hold_pb2.Hold, _Mapping]] = ..., promotable: _Optional[_Union[Promotable, _Mapping]] = ...) -> None: ...

class Promotable(_message.Message):
    __slots__ = ("version", "from_environment", "at", "now", "blocked")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FROM_ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    NOW_FIELD_NUMBER: _ClassVar[int]
    BLOCKED_FIELD_NUMBER: _ClassVar[int]
    version: str
    from_environment: str
    at: _timestamp_pb2.Timestamp
    now: bool
    blocked: str
    def __init__(self, version: _Optional[str] = ..., from_environment: _Optional[str] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., now: _Optional[bool] = ..., blocked: _Optional[str] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ("package", "environment")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    package: str
    environment: str
    def __init__(self, package: _Optional[str] = ..., environment: _Optional[str] = ...) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("packages", "revision")
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    packages: _containers.RepeatedCompositeFieldContainer[PackageStatus]
    revision: str
    def __init__(self, packages: _Optional[_Iterable[_Union[PackageStatus, _Mapping]]] = ..., revision: _Optional[str] = ...) -> None: ...

class LogsRequest(_message.Message):
    __slots__ = ("package", "environment", "follow", "sync", "tail", "since", "verify")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    FOLLOW_FIELD_NUMBER: _ClassVar[int]
    SYNC_FIELD_NUMBER: _ClassVar[int]
    TAIL_FIELD_NUMBER: _ClassVar[int]
    SINCE_FIELD_NUMBER: _ClassVar[int]
    VERIFY_FIELD_NUMBER: _ClassVar[int]
    package: str
    environment: str
    follow: bool
    sync: bool
    tail: int
    since: _timestamp_pb2.Timestamp
    verify: bool
    def __init__(self, package: _Optional[str] = ..., environment: _Optional[str] = ..., follow: _Optional[bool] = ..., sync: _Optional[bool] = ..., tail: _Optional[int] = ..., since: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., verify: _Optional[bool] = ...) -> None: ...

class LogsResponse(_message.Message):
    __slots__ = ("time", "source", "origin", "text")
    TIME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    source: LogSource
    origin: str
    text: str
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[_Union[LogSource, str]] = ..., origin: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...
