"""Every option of every `sharpr` subcommand explains itself in `--help`."""

import argparse

from services.cli import parser


def undocumented(command: argparse.ArgumentParser) -> list[str]:
    """`prog option` for each argument and subcommand of `command`, at any depth, without help."""
    missing = []
    for action in command._actions:
        if isinstance(action, argparse._SubParsersAction):
            missing += [f"{command.prog} {choice.dest}" for choice in action._choices_actions
                        if not (choice.help or "").strip()]
            for sub in action.choices.values():
                missing += undocumented(sub)
        elif not (action.help or "").strip():
            missing.append(f"{command.prog} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_option_of_every_subcommand_has_a_help_line():
    assert undocumented(parser()) == []
