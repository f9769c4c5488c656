from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ActionGrant(_message.Message):
    __slots__ = ("action", "packages")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    action: str
    packages: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, action: _Optional[str] = ..., packages: _Optional[_Iterable[str]] = ...) -> None: ...

class EnvironmentAccess(_message.Message):
    __slots__ = ("environment", "grants")
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    environment: str
    grants: _containers.RepeatedCompositeFieldContainer[ActionGrant]
    def __init__(self, environment: _Optional[str] = ..., grants: _Optional[_Iterable[_Union[ActionGrant, _Mapping]]] = ...) -> None: ...

class WhoAmIResponse(_message.Message):
    __slots__ = ("name", "groups", "authenticated_by", "admin", "environments", "revision", "has_policy")
    NAME_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    AUTHENTICATED_BY_FIELD_NUMBER: _ClassVar[int]
    ADMIN_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENTS_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    HAS_POLICY_FIELD_NUMBER: _ClassVar[int]
    name: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    authenticated_by: str
    admin: bool
    environments: _containers.RepeatedCompositeFieldContainer[EnvironmentAccess]
    revision: str
    has_policy: bool
    def __init__(self, name: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ..., authenticated_by: _Optional[str] = ..., admin: _Optional[bool] = ..., environments: _Optional[_Iterable[_Union[EnvironmentAccess, _Mapping]]] = ..., revision: _Optional[str] = ..., has_policy: _Optional[bool] = ...) -> None: ...
