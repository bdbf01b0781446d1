"""The README is the user's contract: written for users (no numbered issues or
sessions, no dated work periods, no HTML comments left from editing), it names
the shell completions, and its CLI reference covers every subcommand the binary
has."""
import os
import re
import subprocess

import pytest

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
BINARY = os.path.join(ROOT, ".build", "release", "par-video")


def readme():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        return f.read()


def test_readme_is_written_for_users():
    text = readme()
    assert not re.search(r"\b(issue|session)s? #?\d+", text, re.I), "numbered issues or sessions"
    assert not re.search(r"\bwork period", text, re.I), "dated work periods"
    assert "<!--" not in text, "an HTML comment"


def test_readme_names_the_shell_completions():
    text = readme()
    assert "completion" in text and all(sh in text for sh in ("bash", "zsh", "fish"))


def test_cli_reference_covers_every_subcommand():
    if not os.access(BINARY, os.X_OK):
        pytest.skip("par-video is not built: swift build -c release --product par-video")
    out = subprocess.run([BINARY, "--help"], capture_output=True, text=True, timeout=60).stdout
    section = out.split("SUBCOMMANDS:", 1)[1]
    subcommands = re.findall(r"^  ([a-z][a-z-]+)", section, re.M)
    assert len(subcommands) >= 8, subcommands
    reference = readme().split("## CLI reference", 1)[1]
    missing = [s for s in subcommands if f"par-video {s}" not in reference and f"`{s}`" not in reference]
    assert not missing, f"subcommands the README's CLI reference leaves out: {missing}"
