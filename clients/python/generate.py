#!/usr/bin/env python3
"""Regenerates datakit/v1/ (the protobuf and gRPC stubs) from the repository's proto/.

The stubs are committed, so `pip install ./clients/python` needs neither grpcio-tools nor
the proto/ folder (which an sdist or a copied folder would not carry). Run this after
changing a .proto. `--check` exits 1 when the committed stubs are not current: when the
files differ from what the protos generate, or the descriptors they carry differ from the
protos' (tests/client_packages.rs runs it). The descriptors are compared as well as the
files so that a newer grpcio-tools, which only words the same stubs differently, is told
apart from a proto change.

    python3 clients/python/generate.py [--check]
"""

from __future__ import annotations

import ast
import filecmp
import glob
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO_ROOT = os.path.join(HERE, "..", "..", "proto")
TARGET = os.path.join(HERE, "datakit", "v1")
INIT = '''"""The generated stubs of proto/datakit/v1 (by generate.py; do not edit).

Every message and enum of the proto package `datakit.v1` is gathered here, as the proto
package is one: `from datakit import v1; v1.WatchRequest(...)`.
"""
'''


def generate(out: str) -> None:
    """Runs grpc_tools.protoc on proto/datakit/v1/*.proto into OUT/datakit/v1."""
    protos = sorted(glob.glob(os.path.join(PROTO_ROOT, "datakit", "v1", "*.proto")))
    if not protos:
        sys.exit(f"generate.py: no .proto files under {PROTO_ROOT}/datakit/v1")
    command = [
        sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_ROOT}",
        f"--python_out={out}", f"--pyi_out={out}", f"--grpc_python_out={out}", *protos,
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        if "No module named grpc_tools" in result.stderr:
            sys.exit("generate.py: grpcio-tools is missing: python3 -m pip install grpcio-tools")
        sys.exit(f"generate.py: protoc failed: {result.stderr.strip()}")
    stems = [os.path.splitext(os.path.basename(p))[0] for p in protos]
    lines = [INIT, "# ruff: noqa: F401,F403"]
    lines += [f"from .{stem}_pb2 import *" for stem in stems]
    lines += ["from .service_pb2_grpc import DataKitServiceStub", ""]
    with open(os.path.join(out, "datakit", "v1", "__init__.py"), "w") as init:
        init.write("\n".join(lines))


def serialized_descriptor(module_path: str) -> bytes | None:
    """The FileDescriptorProto a generated _pb2.py registers (its AddSerializedFile bytes)."""
    with open(module_path, encoding="utf-8") as source:
        tree = ast.parse(source.read())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "AddSerializedFile"
            and node.args
        ):
            return ast.literal_eval(node.args[0])
    return None


def stale_stubs(fresh: str, names: list[str]) -> list[str]:
    """The committed stubs that say something else than FRESH (generated from the protos)."""
    committed = sorted(n for n in os.listdir(TARGET) if n != "__pycache__")
    if set(committed) != set(names):
        return sorted(set(committed) ^ set(names))
    _, differ, errors = filecmp.cmpfiles(fresh, TARGET, names, shallow=False)
    stale = []
    for name in sorted(differ + errors):
        if name.endswith("_pb2.py"):
            # Only the descriptor matters: a newer protoc words the rest differently.
            old = serialized_descriptor(os.path.join(TARGET, name))
            if old is not None and old == serialized_descriptor(os.path.join(fresh, name)):
                continue
        elif name.endswith((".pyi", "_pb2_grpc.py")):
            # Follows from the descriptors, which are compared on the _pb2.py files.
            continue
        stale.append(name)
    return stale


def main() -> int:
    check = "--check" in sys.argv[1:]
    with tempfile.TemporaryDirectory(prefix="datakit-stubs-") as out:
        generate(out)
        fresh = os.path.join(out, "datakit", "v1")
        names = sorted(os.listdir(fresh))
        if check:
            stale = stale_stubs(fresh, names)
            if stale:
                print(
                    "generate.py: the stubs in clients/python/datakit/v1 are not current "
                    f"({', '.join(stale)}): run python3 clients/python/generate.py and commit",
                    file=sys.stderr,
                )
                return 1
            print("generate.py: the stubs are current")
            return 0
        shutil.rmtree(TARGET, ignore_errors=True)
        shutil.copytree(fresh, TARGET)
    print(f"generate.py: wrote {len(names)} files to {os.path.relpath(TARGET)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
