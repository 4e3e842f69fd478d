"""The command-line reference, generated from the real parser (``bridge.cli.build_parser``).

:func:`reference` writes one section per sub-command (usage, description, every flag
with its metavar and help); :func:`synopsis` the usage lines of every sub-command, with
which the reference starts. The Sphinx build writes the reference to
``docs/generated/cli_reference.md`` at every build (docs/cli.md includes it), so a new flag is
documented without editing the docs; ``tests/test_docs.py`` checks that every flag is in it.

``python docs/_ext/cliref.py`` prints the synopsis.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

#: width of the generated usage lines (fixed, so the text does not depend on the terminal)
WIDTH = 100


def _parser() -> argparse.ArgumentParser:
    from bridge.cli import build_parser

    return build_parser()


def subcommands(parser: argparse.ArgumentParser | None = None) -> dict[str, argparse.ArgumentParser]:
    """Sub-command name -> its parser, in the order ``sleep-replay --help`` lists them."""
    parser = parser or _parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise ValueError("the parser has no sub-commands")


def _formatter(parser: argparse.ArgumentParser) -> argparse.HelpFormatter:
    return parser.formatter_class(prog=parser.prog, width=WIDTH)


def usage(parser: argparse.ArgumentParser) -> str:
    """The usage text of ``parser`` (without ``usage:``), wrapped at :data:`WIDTH`."""
    f = _formatter(parser)
    f.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups, prefix="")
    return f.format_help().strip()


def synopsis(parser: argparse.ArgumentParser | None = None) -> str:
    """Usage of ``sleep-replay`` and of every sub-command: every flag, as the parser has it."""
    parser = parser or _parser()
    return "\n".join([usage(parser)] + [usage(sub) for sub in subcommands(parser).values()])


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _flag_rows(parser: argparse.ArgumentParser, group: Any) -> list[str]:
    f = _formatter(parser)
    rows = []
    for action in group._group_actions:
        if action.help == argparse.SUPPRESS:
            continue
        invocation = f._format_action_invocation(action)
        help_text = f._expand_help(action) if action.help else ""
        rows.append(f"| `{_cell(invocation)}` | {_cell(help_text)} |")
    return rows


def reference(parser: argparse.ArgumentParser | None = None) -> str:
    """Markdown: one section per sub-command with its usage, description and every argument."""
    parser = parser or _parser()
    out = ["## Synopsis", "", "Every sub-command with every flag:", "", "```text", synopsis(parser), "```", "",
           f"## `{parser.prog}`", "", parser.description or "", "", "```text", usage(parser), "```", ""]
    for name, sub in subcommands(parser).items():
        out += [f"## `{parser.prog} {name}`", "", _cell(sub.description or ""), "", "```text", usage(sub), "```", ""]
        for group in sub._action_groups:
            rows = _flag_rows(sub, group)
            if not rows:
                continue
            title = group.title or ""
            out += [f"**{title}**" + (f": {_cell(group.description)}" if group.description else ""), "",
                    "| argument | meaning |", "|---|---|", *rows, ""]
    return "\n".join(out)


def write(path: str | Path) -> None:
    """Write :func:`reference` to ``path`` (the Sphinx build calls this)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(reference() + "\n")


def _on_builder_inited(app: Any) -> None:
    write(Path(app.srcdir) / "generated" / "cli_reference.md")


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _on_builder_inited)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


if __name__ == "__main__":
    print(synopsis())
