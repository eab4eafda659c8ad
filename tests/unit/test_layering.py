"""client -> jobmanager | taskmanager -> common: the JobManager and TaskManager never import each other,
common imports neither, and only common/ha/zookeeper imports kazoo."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
IMPORT = re.compile(r"^\s*(?:from|import)\s+(strom\.\w+|kazoo)", re.M)

FORBIDDEN = {
    "jobmanager": {"strom.taskmanager", "strom.client"},
    "taskmanager": {"strom.jobmanager", "strom.client"},
    "common": {"strom.jobmanager", "strom.taskmanager", "strom.client"},
}


def test_layering():
    violations = []
    for part, banned in FORBIDDEN.items():
        for path in (ROOT / part).rglob("*.py"):
            for mod in IMPORT.findall(path.read_text()):
                if mod in banned:
                    violations.append(f"{path.relative_to(ROOT)} imports {mod}")
    assert violations == []


def test_only_the_zookeeper_package_imports_kazoo():
    offenders = []
    for part in ("jobmanager", "taskmanager", "client", "common"):
        for path in (ROOT / part).rglob("*.py"):
            if "kazoo" in IMPORT.findall(path.read_text()) and "ha/zookeeper" not in path.as_posix():
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
