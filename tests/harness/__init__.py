"""Test harness shared by unit and integration tests: real servers and Fake/Testing doubles."""
