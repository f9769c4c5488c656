from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetVersionRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class Backend(_message.Message):
    __slots__ = ("kind", "description")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    kind: str
    description: str
    def __init__(self, kind: _Optional[str] = ..., description: _Optional[str] = ...) -> None: ...

class VersionResponse(_message.Message):
    __slots__ = ("version", "commit", "api_version", "forge", "cluster", "registry")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    COMMIT_FIELD_NUMBER: _ClassVar[int]
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    FORGE_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_FIELD_NUMBER: _ClassVar[int]
    version: str
    commit: str
    api_version: str
    forge: Backend
    cluster: Backend
    registry: Backend
    def __init__(self, version: _Optional[str] = ..., commit: _Optional[str] = ..., api_version: _Optional[str] = ..., forge: _Optional[_Union[Backend, _Mapping]] = ..., cluster: _Optional[_Union[Backend, _Mapping]] = ..., registry: _Optional[_Union[Backend, _Mapping]] = ...) -> None: ...
