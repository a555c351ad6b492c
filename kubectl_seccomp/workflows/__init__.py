"""The command cores of the cluster commands, one module each: ``record``,
``apply``, ``rollback``, ``status``, ``cleanup``. They share ``_install`` (put
profiles on the nodes and roll an owner onto them) and ``_common`` (reporter,
paths, locks, owner checks), and are independent of each other. No typer and
no printing: progress goes through a Reporter, results are frozen dataclasses.
"""
