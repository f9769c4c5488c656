import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from datakit.v1 import promotion_pb2 as _promotion_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Environment(_message.Message):
    __slots__ = ("name", "upstream", "cluster", "namespace", "approval", "stores_path", "stores", "path", "freezes", "signature_keys", "auto_promote", "soak_seconds")
    NAME_FIELD_NUMBER: _ClassVar[int]
    UPSTREAM_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_FIELD_NUMBER: _ClassVar[int]
    STORES_PATH_FIELD_NUMBER: _ClassVar[int]
    STORES_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    FREEZES_FIELD_NUMBER: _ClassVar[int]
    SIGNATURE_KEYS_FIELD_NUMBER: _ClassVar[int]
    AUTO_PROMOTE_FIELD_NUMBER: _ClassVar[int]
    SOAK_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    upstream: str
    cluster: str
    namespace: str
    approval: ApprovalPolicy
    stores_path: str
    stores: _containers.RepeatedCompositeFieldContainer[Store]
    path: _containers.RepeatedScalarFieldContainer[str]
    freezes: _containers.RepeatedCompositeFieldContainer[FreezeWindow]
    signature_keys: _containers.RepeatedScalarFieldContainer[str]
    auto_promote: bool
    soak_seconds: int
    def __init__(self, name: _Optional[str] = ..., upstream: _Optional[str] = ..., cluster: _Optional[str] = ..., namespace: _Optional[str] = ..., approval: _Optional[_Union[ApprovalPolicy, _Mapping]] = ..., stores_path: _Optional[str] = ..., stores: _Optional[_Iterable[_Union[Store, _Mapping]]] = ..., path: _Optional[_Iterable[str]] = ..., freezes: _Optional[_Iterable[_Union[FreezeWindow, _Mapping]]] = ..., signature_keys: _Optional[_Iterable[str]] = ..., auto_promote: _Optional[bool] = ..., soak_seconds: _Optional[int] = ...) -> None: ...

class ApprovalPolicy(_message.Message):
    __slots__ = ("required", "auto_merge", "approvers", "count", "rollback", "description")
    REQUIRED_FIELD_NUMBER: _ClassVar[int]
    AUTO_MERGE_FIELD_NUMBER: _ClassVar[int]
    APPROVERS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    required: bool
    auto_merge: bool
    approvers: _containers.RepeatedScalarFieldContainer[str]
    count: int
    rollback: RollbackApproval
    description: str
    def __init__(self, required: _Optional[bool] = ..., auto_merge: _Optional[bool] = ..., approvers: _Optional[_Iterable[str]] = ..., count: _Optional[int] = ..., rollback: _Optional[_Union[RollbackApproval, _Mapping]] = ..., description: _Optional[str] = ...) -> None: ...

class RollbackApproval(_message.Message):
    __slots__ = ("approvers", "count", "description")
    APPROVERS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    approvers: _containers.RepeatedScalarFieldContainer[str]
    count: int
    description: str
    def __init__(self, approvers: _Optional[_Iterable[str]] = ..., count: _Optional[int] = ..., description: _Optional[str] = ...) -> None: ...

class FreezeWindow(_message.Message):
    __slots__ = ("start", "end", "reason")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    reason: str
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class Store(_message.Message):
    __slots__ = ("name", "type", "connection", "secret_ref", "file")
    class ConnectionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CONNECTION_FIELD_NUMBER: _ClassVar[int]
    SECRET_REF_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    name: str
    type: str
    connection: _containers.ScalarMap[str, str]
    secret_ref: str
    file: str
    def __init__(self, name: _Optional[str] = ..., type: _Optional[str] = ..., connection: _Optional[_Mapping[str, str]] = ..., secret_ref: _Optional[str] = ..., file: _Optional[str] = ...) -> None: ...

class ConfigProblem(_message.Message):
    __slots__ = ("file", "line", "message", "revision")
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    file: str
    line: int
    message: str
    revision: str
    def __init__(self, file: _Optional[str] = ..., line: _Optional[int] = ..., message: _Optional[str] = ..., revision: _Optional[str] = ...) -> None: ...

class ListEnvironmentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListEnvironmentsResponse(_message.Message):
    __slots__ = ("environments", "revision", "loaded_at", "problems", "notices")
    ENVIRONMENTS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    LOADED_AT_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    NOTICES_FIELD_NUMBER: _ClassVar[int]
    environments: _containers.RepeatedCompositeFieldContainer[Environment]
    revision: str
    loaded_at: _timestamp_pb2.Timestamp
    problems: _containers.RepeatedCompositeFieldContainer[ConfigProblem]
    notices: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, environments: _Optional[_Iterable[_Union[Environment, _Mapping]]] = ..., revision: _Optional[str] = ..., loaded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., problems: _Optional[_Iterable[_Union[ConfigProblem, _Mapping]]] = ..., notices: _Optional[_Iterable[str]] = ...) -> None: ...

class AddStoreRequest(_message.Message):
    __slots__ = ("environment", "name", "manifest", "replace")
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    REPLACE_FIELD_NUMBER: _ClassVar[int]
    environment: str
    name: str
    manifest: str
    replace: bool
    def __init__(self, environment: _Optional[str] = ..., name: _Optional[str] = ..., manifest: _Optional[str] = ..., replace: _Optional[bool] = ...) -> None: ...

class AddStoreResponse(_message.Message):
    __slots__ = ("merged", "change_id", "change_url", "file", "policy", "message", "promotion")
    MERGED_FIELD_NUMBER: _ClassVar[int]
    CHANGE_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGE_URL_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PROMOTION_FIELD_NUMBER: _ClassVar[int]
    merged: bool
    change_id: str
    change_url: str
    file: str
    policy: str
    message: str
    promotion: _promotion_pb2.Promotion
    def __init__(self, merged: _Optional[bool] = ..., change_id: _Optional[str] = ..., change_url: _Optional[str] = ..., file: _Optional[str] = ..., policy: _Optional[str] = ..., message: _Optional[str] = ..., promotion: _Optional[_Union[_promotion_pb2.Promotion, _Mapping]] = ...) -> None: ...
