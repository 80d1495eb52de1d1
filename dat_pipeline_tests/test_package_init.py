"""Importing the package undoes an inherited 'ignore SIGTERM' (see dat_pipeline/__init__.py)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import signal
signal.signal(signal.SIGTERM, signal.SIG_IGN)
import dat_pipeline
print(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
"""


def test_importing_the_package_restores_the_default_sigterm():
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"
