"""``python -m strom.client.cli``."""

from strom.client.cli.main import main

main()
