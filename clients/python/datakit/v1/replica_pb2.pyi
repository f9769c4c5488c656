from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class MirrorEventsRequest(_message.Message):
    __slots__ = ("after", "after_term", "acknowledged")
    AFTER_FIELD_NUMBER: _ClassVar[int]
    AFTER_TERM_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_FIELD_NUMBER: _ClassVar[int]
    after: int
    after_term: int
    acknowledged: int
    def __init__(self, after: _Optional[int] = ..., after_term: _Optional[int] = ..., acknowledged: _Optional[int] = ...) -> None: ...

class MirroredEvent(_message.Message):
    __slots__ = ("start_afresh", "sequence", "record", "leader_shows")
    START_AFRESH_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    LEADER_SHOWS_FIELD_NUMBER: _ClassVar[int]
    start_afresh: bool
    sequence: int
    record: bytes
    leader_shows: int
    def __init__(self, start_afresh: _Optional[bool] = ..., sequence: _Optional[int] = ..., record: _Optional[bytes] = ..., leader_shows: _Optional[int] = ...) -> None: ...
