#!/usr/bin/env python3
"""Generate the protobuf/gRPC modules in common/rpc/ from proto/*.proto.

    python scripts/gen_protos.py          # regenerate in place
    python scripts/gen_protos.py --check  # exit 1 when common/rpc/ is stale

The generated modules import each other as ``strom.common.rpc.*`` thanks to
protoc's virtual include path.
"""

from __future__ import annotations

import argparse
import filecmp
import glob
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "common", "rpc")
SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")


def generate(dest: str) -> list[str]:
    from grpc_tools import protoc

    protos = sorted(glob.glob(os.path.join(ROOT, "proto", "*.proto")))
    with tempfile.TemporaryDirectory() as tmp:
        args = [
            "protoc",
            f"-I{os.path.join('strom', 'common', 'rpc')}={os.path.join(ROOT, 'proto')}",
            f"--python_out={tmp}",
            f"--grpc_python_out={tmp}",
            f"--pyi_out={tmp}",
            *[os.path.join("strom", "common", "rpc", os.path.basename(p)) for p in protos],
        ]
        # protoc resolves the virtual path against -I mappings.
        if protoc.main(args) != 0:
            raise SystemExit("protoc failed")
        produced = []
        gen_dir = os.path.join(tmp, "strom", "common", "rpc")
        for name in sorted(os.listdir(gen_dir)):
            if name.endswith(SUFFIXES):
                shutil.copy(os.path.join(gen_dir, name), os.path.join(dest, name))
                produced.append(name)
        return produced


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    if not args.check:
        names = generate(OUT)
        print(f"generated {len(names)} modules in {OUT}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        names = generate(tmp)
        existing = sorted(n for n in os.listdir(OUT) if n.endswith(SUFFIXES))
        stale = [n for n in names if not os.path.exists(os.path.join(OUT, n))
                 or not filecmp.cmp(os.path.join(tmp, n), os.path.join(OUT, n), shallow=False)]
        extra = sorted(set(existing) - set(names))
        if stale or extra:
            print(f"generated code in common/rpc is stale: {stale + extra}; run scripts/gen_protos.py")
            return 1
    print("generated code is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
