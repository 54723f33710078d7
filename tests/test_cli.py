"""The ``compressai-isp`` console script: every sub-command's ``--help`` reads cleanly."""

from __future__ import annotations

import argparse
import re

import pytest

from compressai_isp.cli import SUBCOMMANDS, main
from compressai_isp.cli import build_parser as build_command_parser
from compressai_isp.codec import cli as codec_cli
from compressai_isp.codec.format import BitstreamError
from compressai_isp.errors import (
    DEBUG_ENV,
    EXIT_INPUT,
    EXIT_USAGE,
    CompressAIISPError,
    InputError,
    UsageError,
    exit_status,
    run_command,
    usage_errors,
)
from compressai_isp.train import build_parser
from compressai_isp.utils.errors import EvalError
from compressai_isp.utils.results import ResultFileError


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


# ---- one set of flag letters ---------------------------------------------------------------

#: What each letter means in every sub-command that has it (CompressAI's eval_model letters).
LETTERS = {
    "-a": "--architecture",
    "-q": "--quality",
    "-m": "--metric",
    "-p": "--path",
    "-d": "--output-directory",
    "-o": ("--output", "--output-file"),
}
#: CompressAI's train has -m/--model and -d/--dataset; compare's -m names models as train's does;
#: anchors keeps -o, its first spelling of -d.
EXCEPTIONS = {
    ("train", "-m"): "--model",
    ("compare", "-m"): "--model",
    ("train", "-d"): "--dataset",
    ("anchors", "-o"): "--output-directory",
}


def _parsers(name: str, parser: argparse.ArgumentParser):
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub, subparser in action.choices.items():
                yield from _parsers(f"{name} {sub}", subparser)


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_a_flag_letter_means_the_same_in_every_sub_command(command):
    for name, parser in _parsers(command, build_command_parser(command)):
        for action in parser._actions:
            for letter in set(action.option_strings) & set(LETTERS):
                expected = EXCEPTIONS.get((command, letter), LETTERS[letter])
                first_long = next(o for o in action.option_strings if o.startswith("--"))
                assert first_long in (expected if isinstance(expected, tuple) else (expected,)), (
                    f"{name}: {letter} is {first_long}"
                )


@pytest.mark.parametrize(
    ("command", "spellings", "dest"),
    [
        ("encode", ("-a", "--architecture", "--arch"), "arch"),
        ("encode", ("-p", "--path", "--checkpoint"), "checkpoint"),
        ("decode", ("-p", "--path", "--checkpoint"), "checkpoint"),
        ("demo", ("-d", "--output-directory", "--output-dir"), "output_dir"),
    ],
)
def test_old_spellings_still_parse(command, spellings, dest):
    parser = build_command_parser(command)
    positional = [] if command == "demo" else ["photo"]
    values = {str(getattr(parser.parse_args([*positional, flag, "x"]), dest)) for flag in spellings}
    assert values == {"x"}


def test_old_spellings_of_the_anchors_and_eval_output_directory_still_parse():
    anchors = build_command_parser("anchors")
    for flag in ("-d", "--output-directory", "-o", "--output-dir"):
        assert anchors.parse_args(["libraw", "data", flag, "out"]).output_dir == "out"
    for flag in ("-q", "--quality", "--qualities"):
        assert anchors.parse_args(["libraw", "data", flag, "50"]).qualities == "50"
    evaluate = build_command_parser("eval")
    for flag in ("-d", "--output-directory", "--output_directory"):  # the last: CompressAI's
        assert evaluate.parse_args(["pretrained", "data", flag, "out"]).output_directory == "out"


# ---- one error base, one place that reports errors ---------------------------------------------


def test_every_error_of_the_package_derives_from_the_one_base():
    assert codec_cli.UsageError is UsageError
    for error, status in (
        (BitstreamError, EXIT_INPUT),
        (ResultFileError, EXIT_INPUT),
        (EvalError, EXIT_INPUT),
        (UsageError, EXIT_USAGE),
    ):
        assert issubclass(error, CompressAIISPError) and exit_status(error("x")) == status
    # The Python types callers already catch stay what they were.
    assert issubclass(BitstreamError, ValueError) and issubclass(ResultFileError, ValueError)
    assert issubclass(EvalError, RuntimeError) and issubclass(UsageError, ValueError)


def _fails_with(error: BaseException):
    def work() -> int:
        raise error

    return work


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (UsageError("-q: no\nquality"), 2),
        (InputError("photo.dng: unreadable"), 1),
        (ValueError("a value the\n library refused"), 1),
        (FileNotFoundError(2, "No such file or directory"), 1),
        (KeyError("rbn"), 1),
    ],
)
def test_run_command_reports_an_error_in_one_line_with_its_exit_status(capsys, error, status):
    assert run_command("compressai-isp x", _fails_with(error)) == status
    err = capsys.readouterr().err
    assert err.startswith("compressai-isp x: error: ") and err.count("\n") == 1


def test_run_command_reports_ctrl_c_and_lets_argparse_and_bugs_through(capsys, monkeypatch):
    assert run_command("prog", _fails_with(KeyboardInterrupt())) == 130
    assert capsys.readouterr().err == (
        "prog: error: interrupted (no partial output was left behind)\n"
    )
    with pytest.raises(SystemExit):
        run_command("prog", _fails_with(SystemExit(2)))
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        run_command("prog", _fails_with(ZeroDivisionError()))
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(ValueError, match="shown with its traceback"):
        run_command("prog", _fails_with(ValueError("shown with its traceback")))
    assert run_command("prog", lambda: None) == 0


def test_usage_errors_turns_a_failure_the_command_line_names_into_exit_2():
    with pytest.raises(UsageError, match="checkpoint x.pth does not exist") as caught:
        with usage_errors():
            raise FileNotFoundError("checkpoint x.pth does not exist")
    assert exit_status(caught.value) == EXIT_USAGE
    usage = UsageError("kept as it is")
    with pytest.raises(UsageError) as caught, usage_errors():
        raise usage
    assert caught.value is usage


@pytest.mark.parametrize(
    "argv",
    [
        ["encode", "missing.dng", "-o", "x.rbit"],
        ["decode", "missing.rbit"],
        ["info", "missing.rbit"],
        ["plot", "-f", "missing.json"],
        ["bd", "missing.json", "missing.json"],
        ["compare", "missing.dng"],
        ["eval", "pretrained", "missing"],
        ["anchors", "libraw", "missing"],
        ["demo", "--raw", "missing.dng", "-d", "out"],
    ],
)
def test_every_sub_command_reports_a_missing_input_in_one_line_and_exits_1(
    capsys, tmp_path, monkeypatch, argv
):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"compressai-isp {argv[0]}: error: ") and err.count("\n") == 1
    assert "missing" in err
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["out"])
