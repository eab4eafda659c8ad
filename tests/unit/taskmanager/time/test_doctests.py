"""The examples in the docstrings of the time and windowing modules run as written."""

import doctest
import importlib
import pkgutil

import pytest

MODULES = ["strom.client.api.time", "strom.client.api.windowing"] + [
    f"{package}.{info.name}"
    for package in ("strom.taskmanager.time", "strom.taskmanager.windowing")
    for info in pkgutil.iter_modules(importlib.import_module(package).__path__)
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
