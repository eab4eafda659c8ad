"""Maps the top-level component folders into the single ``strom`` import namespace."""

from setuptools import find_packages, setup

PARTS = ["jobmanager", "taskmanager", "client", "common"]

package_dir = {"strom": "strom", **{f"strom.{p}": p for p in PARTS}}
packages = ["strom"] + [
    f"strom.{p}" for p in find_packages(include=[n for p in PARTS for n in (p, p + ".*")])
]

setup(package_dir=package_dir, packages=packages)
