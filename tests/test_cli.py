"""The ``compressai-isp`` console script: every sub-command's ``--help`` reads cleanly."""

from __future__ import annotations

import re

import pytest

from compressai_isp.cli import SUBCOMMANDS, main
from compressai_isp.train import build_parser


def _help(capsys, *argv: str) -> str:
    try:
        status = main(list(argv))
    except SystemExit as done:  # argparse's own exit; the codec commands return instead
        status = done.code
    assert status == 0
    return " ".join(capsys.readouterr().out.split())  # undo argparse's line wrapping


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_help_states_each_default_once(capsys, command):
    text = _help(capsys, command, "--help")
    assert not re.search(r"default[^()]*\) \(default:", text), text


def test_train_help_shows_the_defaults_of_the_common_options(capsys):
    text = _help(capsys, "train", "--help")
    assert "(default: the zoo ladder)" in text and "(default: None)" not in text
    for option, default in (("-lr", "5e-05"), ("--batch-size", "8"), ("--num-workers", "")):
        assert re.search(rf"{option} \S+ .*?\(default: {default}", text), option


def test_every_train_option_is_explained():
    undocumented = [a.option_strings for a in build_parser()._actions if not a.help]
    assert undocumented == []
