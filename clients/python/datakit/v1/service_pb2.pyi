from datakit.v1 import access_pb2 as _access_pb2
from datakit.v1 import audit_pb2 as _audit_pb2
from datakit.v1 import dashboard_pb2 as _dashboard_pb2
from datakit.v1 import environment_pb2 as _environment_pb2
from datakit.v1 import hold_pb2 as _hold_pb2
from datakit.v1 import notification_pb2 as _notification_pb2
from datakit.v1 import promotion_pb2 as _promotion_pb2
from datakit.v1 import status_pb2 as _status_pb2
from datakit.v1 import token_pb2 as _token_pb2
from datakit.v1 import version_pb2 as _version_pb2
from datakit.v1 import watch_pb2 as _watch_pb2
from google.protobuf import descriptor as _descriptor
from typing import ClassVar as _ClassVar

DESCRIPTOR: _descriptor.FileDescriptor
