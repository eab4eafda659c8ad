"""The ``strom`` command line (click): daemons, ``run``, ``list``, ``info``, ``cancel``. See docs/cli.md."""
