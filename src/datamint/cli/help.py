"""How ``--help`` looks: plain text, option names with a value name (``--tag TAG``), no internal types.

Typer labels every parameter with its Python type (``--yes <bool>``, ``PATHS... <list[Path]>``)
and, with rich panels, cuts long option names at 80 columns. Our commands use plain help
(:data:`TYPER_SETTINGS`) and :class:`PlainHelpCommand`, which leaves those labels out.
"""

from __future__ import annotations

import re
from typing import Any

import click
from typer.core import TyperCommand

#: Settings of every ``typer.Typer`` of the CLI.
TYPER_SETTINGS: dict[str, Any] = {
    "rich_markup_mode": None,
    "pretty_exceptions_enable": False,
    "context_settings": {"help_option_names": ["-h", "--help"], "max_content_width": 100},
}
_TYPE_LABEL = re.compile(r" <[^<>]+>$")


class PlainHelpCommand(TyperCommand):
    """A command whose help lists arguments and options without Typer's type labels."""

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        arguments, options = [], []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            name, text = record
            if param.param_type_name == "argument":
                arguments.append((_TYPE_LABEL.sub("", name), text))
            else:
                options.append((_TYPE_LABEL.sub("", name), text))
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return [piece.replace("{", "").replace("}", "") for piece in super().collect_usage_pieces(ctx)]
