import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PromotionState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROMOTION_STATE_UNSPECIFIED: _ClassVar[PromotionState]
    PROMOTION_STATE_REQUESTED: _ClassVar[PromotionState]
    PROMOTION_STATE_VALIDATED: _ClassVar[PromotionState]
    PROMOTION_STATE_CHANGE_PROPOSED: _ClassVar[PromotionState]
    PROMOTION_STATE_APPROVED: _ClassVar[PromotionState]
    PROMOTION_STATE_MERGED: _ClassVar[PromotionState]
    PROMOTION_STATE_SYNCING: _ClassVar[PromotionState]
    PROMOTION_STATE_HEALTHY: _ClassVar[PromotionState]
    PROMOTION_STATE_FAILED: _ClassVar[PromotionState]
    PROMOTION_STATE_SUPERSEDED: _ClassVar[PromotionState]
    PROMOTION_STATE_REJECTED: _ClassVar[PromotionState]
    PROMOTION_STATE_CANCELLED: _ClassVar[PromotionState]
    PROMOTION_STATE_VERIFYING: _ClassVar[PromotionState]
    PROMOTION_STATE_VERIFIED: _ClassVar[PromotionState]

class PromotionKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PROMOTION_KIND_UNSPECIFIED: _ClassVar[PromotionKind]
    PROMOTION_KIND_PROMOTION: _ClassVar[PromotionKind]
    PROMOTION_KIND_ROLLBACK: _ClassVar[PromotionKind]
    PROMOTION_KIND_STORE: _ClassVar[PromotionKind]

class CheckState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECK_STATE_UNSPECIFIED: _ClassVar[CheckState]
    CHECK_STATE_PENDING: _ClassVar[CheckState]
    CHECK_STATE_SUCCESS: _ClassVar[CheckState]
    CHECK_STATE_FAILURE: _ClassVar[CheckState]
PROMOTION_STATE_UNSPECIFIED: PromotionState
PROMOTION_STATE_REQUESTED: PromotionState
PROMOTION_STATE_VALIDATED: PromotionState
PROMOTION_STATE_CHANGE_PROPOSED: PromotionState
PROMOTION_STATE_APPROVED: PromotionState
PROMOTION_STATE_MERGED: PromotionState
PROMOTION_STATE_SYNCING: PromotionState
PROMOTION_STATE_HEALTHY: PromotionState
PROMOTION_STATE_FAILED: PromotionState
PROMOTION_STATE_SUPERSEDED: PromotionState
PROMOTION_STATE_REJECTED: PromotionState
PROMOTION_STATE_CANCELLED: PromotionState
PROMOTION_STATE_VERIFYING: PromotionState
PROMOTION_STATE_VERIFIED: PromotionState
PROMOTION_KIND_UNSPECIFIED: PromotionKind
PROMOTION_KIND_PROMOTION: PromotionKind
PROMOTION_KIND_ROLLBACK: PromotionKind
PROMOTION_KIND_STORE: PromotionKind
CHECK_STATE_UNSPECIFIED: CheckState
CHECK_STATE_PENDING: CheckState
CHECK_STATE_SUCCESS: CheckState
CHECK_STATE_FAILURE: CheckState

class Promotion(_message.Message):
    __slots__ = ("id", "package", "version", "environment", "artifact", "digest", "previous_version", "kind", "state", "message", "promoter", "forced", "change", "approvals", "approvals_needed", "checks", "merge_commit", "superseded_by", "created_at", "updated_at", "policy")
    ID_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    PROMOTER_FIELD_NUMBER: _ClassVar[int]
    FORCED_FIELD_NUMBER: _ClassVar[int]
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_FIELD_NUMBER: _ClassVar[int]
    APPROVALS_NEEDED_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    MERGE_COMMIT_FIELD_NUMBER: _ClassVar[int]
    SUPERSEDED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    id: str
    package: str
    version: str
    environment: str
    artifact: str
    digest: str
    previous_version: str
    kind: PromotionKind
    state: PromotionState
    message: str
    promoter: str
    forced: bool
    change: ChangeRequest
    approvals: _containers.RepeatedCompositeFieldContainer[Approval]
    approvals_needed: str
    checks: _containers.RepeatedCompositeFieldContainer[Check]
    merge_commit: str
    superseded_by: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    policy: str
    def __init__(self, id: _Optional[str] = ..., package: _Optional[str] = ..., version: _Optional[str] = ..., environment: _Optional[str] = ..., artifact: _Optional[str] = ..., digest: _Optional[str] = ..., previous_version: _Optional[str] = ..., kind: _Optional[_Union[PromotionKind, str]] = ..., state: _Optional[_Union[PromotionState, str]] = ..., message: _Optional[str] = ..., promoter: _Optional[str] = ..., forced: _Optional[bool] = ..., change: _Optional[_Union[ChangeRequest, _Mapping]] = ..., approvals: _Optional[_Iterable[_Union[Approval, _Mapping]]] = ..., approvals_needed: _Optional[str] = ..., checks: _Optional[_Iterable[_Union[Check, _Mapping]]] = ..., merge_commit: _Optional[str] = ..., superseded_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., policy: _Optional[str] = ...) -> None: ...

class ChangeRequest(_message.Message):
    __slots__ = ("id", "url", "branch", "title")
    ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    BRANCH_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    id: str
    url: str
    branch: str
    title: str
    def __init__(self, id: _Optional[str] = ..., url: _Optional[str] = ..., branch: _Optional[str] = ..., title: _Optional[str] = ...) -> None: ...

class Approval(_message.Message):
    __slots__ = ("user", "groups", "at", "asserted_by")
    USER_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    ASSERTED_BY_FIELD_NUMBER: _ClassVar[int]
    user: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    at: _timestamp_pb2.Timestamp
    asserted_by: str
    def __init__(self, user: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., asserted_by: _Optional[str] = ...) -> None: ...

class Check(_message.Message):
    __slots__ = ("name", "state", "description")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: CheckState
    description: str
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[CheckState, str]] = ..., description: _Optional[str] = ...) -> None: ...

class PromoteRequest(_message.Message):
    __slots__ = ("package", "version", "environment", "dry_run", "force", "rollback")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    FORCE_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_FIELD_NUMBER: _ClassVar[int]
    package: str
    version: str
    environment: str
    dry_run: bool
    force: bool
    rollback: bool
    def __init__(self, package: _Optional[str] = ..., version: _Optional[str] = ..., environment: _Optional[str] = ..., dry_run: _Optional[bool] = ..., force: _Optional[bool] = ..., rollback: _Optional[bool] = ...) -> None: ...

class PromoteResponse(_message.Message):
    __slots__ = ("promotion", "no_op", "diff", "policy", "summary")
    PROMOTION_FIELD_NUMBER: _ClassVar[int]
    NO_OP_FIELD_NUMBER: _ClassVar[int]
    DIFF_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    promotion: Promotion
    no_op: bool
    diff: str
    policy: str
    summary: str
    def __init__(self, promotion: _Optional[_Union[Promotion, _Mapping]] = ..., no_op: _Optional[bool] = ..., diff: _Optional[str] = ..., policy: _Optional[str] = ..., summary: _Optional[str] = ...) -> None: ...

class RollbackRequest(_message.Message):
    __slots__ = ("package", "environment", "to_version", "dry_run")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    TO_VERSION_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    package: str
    environment: str
    to_version: str
    dry_run: bool
    def __init__(self, package: _Optional[str] = ..., environment: _Optional[str] = ..., to_version: _Optional[str] = ..., dry_run: _Optional[bool] = ...) -> None: ...

class GetPromotionRequest(_message.Message):
    __slots__ = ("id", "package", "version", "environment")
    ID_FIELD_NUMBER: _ClassVar[int]
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    id: str
    package: str
    version: str
    environment: str
    def __init__(self, id: _Optional[str] = ..., package: _Optional[str] = ..., version: _Optional[str] = ..., environment: _Optional[str] = ...) -> None: ...

class GetPromotionResponse(_message.Message):
    __slots__ = ("promotion",)
    PROMOTION_FIELD_NUMBER: _ClassVar[int]
    promotion: Promotion
    def __init__(self, promotion: _Optional[_Union[Promotion, _Mapping]] = ...) -> None: ...

class ListPromotionsRequest(_message.Message):
    __slots__ = ("package", "environment", "page_size", "page_token", "states", "mine", "to_approve")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    MINE_FIELD_NUMBER: _ClassVar[int]
    TO_APPROVE_FIELD_NUMBER: _ClassVar[int]
    package: str
    environment: str
    page_size: int
    page_token: str
    states: _containers.RepeatedScalarFieldContainer[PromotionState]
    mine: bool
    to_approve: bool
    def __init__(self, package: _Optional[str] = ..., environment: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., states: _Optional[_Iterable[_Union[PromotionState, str]]] = ..., mine: _Optional[bool] = ..., to_approve: _Optional[bool] = ...) -> None: ...

class ListPromotionsResponse(_message.Message):
    __slots__ = ("promotions", "next_page_token", "notices")
    PROMOTIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    NOTICES_FIELD_NUMBER: _ClassVar[int]
    promotions: _containers.RepeatedCompositeFieldContainer[Promotion]
    next_page_token: str
    notices: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, promotions: _Optional[_Iterable[_Union[Promotion, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., notices: _Optional[_Iterable[str]] = ...) -> None: ...

class ApproveRequest(_message.Message):
    __slots__ = ("promotion_id", "as_user")
    PROMOTION_ID_FIELD_NUMBER: _ClassVar[int]
    AS_USER_FIELD_NUMBER: _ClassVar[int]
    promotion_id: str
    as_user: str
    def __init__(self, promotion_id: _Optional[str] = ..., as_user: _Optional[str] = ...) -> None: ...

class ApproveResponse(_message.Message):
    __slots__ = ("promotion",)
    PROMOTION_FIELD_NUMBER: _ClassVar[int]
    promotion: Promotion
    def __init__(self, promotion: _Optional[_Union[Promotion, _Mapping]] = ...) -> None: ...

class RejectRequest(_message.Message):
    __slots__ = ("promotion_id", "reason")
    PROMOTION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    promotion_id: str
    reason: str
    def __init__(self, promotion_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class RejectResponse(_message.Message):
    __slots__ = ("promotion",)
    PROMOTION_FIELD_NUMBER: _ClassVar[int]
    promotion: Promotion
    def __init__(self, promotion: _Optional[_Union[Promotion, _Mapping]] = ...) -> None: ...

class CancelRequest(_message.Message):
    __slots__ = ("promotion_id", "reason")
    PROMOTION_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    promotion_id: str
    reason: str
    def __init__(self, promotion_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelResponse(_message.Message):
    __slots__ = ("promotion",)
    PROMOTION_FIELD_NUMBER: _ClassVar[int]
    promotion: Promotion
    def __init__(self, promotion: _Optional[_Union[Promotion, _Mapping]] = ...) -> None: ...

class VerifyRequest(_message.Message):
    __slots__ = ("package", "environment")
    PACKAGE_FIELD_NUMBER: _ClassVar[int]
    ENVIRONMENT_FIELD_NUMBER: _ClassVar[int]
    package: str
    environment: str
    def __init__(self, package: _Optional[str] = ..., environment: _Optional[str] = ...) -> None: ...

class VerifyResponse(_message.Message):
    __slots__ = ("promotion",)
    PROMOTION_FIELD_NUMBER: _ClassVar[int]
    promotion: Promotion
    def __init__(self, promotion: _Optional[_Union[Promotion, _Mapping]] = ...) -> None: ...
