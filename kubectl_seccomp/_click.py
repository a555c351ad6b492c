"""click as typer runs it: typer's own copy (``typer._click``, in typer releases that vendor click),
else the ``click`` package (earlier typer releases depend on it).

The exceptions typer raises and the command objects it builds are of that copy's classes, so the
CLI layer catches and inspects them through this module, never through ``import click`` directly.
Type checking sees the click package: the vendored copy has the same interface.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click
else:
    try:
        from typer import _click as click
    except ImportError:
        import click

__all__ = ["click"]
