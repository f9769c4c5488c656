"""The generated stubs of proto/datakit/v1 (by generate.py; do not edit).

Every message and enum of the proto package `datakit.v1` is gathered here, as the proto
package is one: `from datakit import v1; v1.WatchRequest(...)`.
"""

# ruff: noqa: F401,F403
from .access_pb2 import *
from .audit_pb2 import *
from .dashboard_pb2 import *
from .environment_pb2 import *
from .hold_pb2 import *
from .notification_pb2 import *
from .promotion_pb2 import *
from .replica_pb2 import *
from .service_pb2 import *
from .status_pb2 import *
from .token_pb2 import *
from .version_pb2 import *
from .watch_pb2 import *
from .service_pb2_grpc import DataKitServiceStub
