"""``core.log.native_stderr_silenced``: native writes to file descriptor 2 vanish inside, Python's
own stderr output (logging, print to sys.stderr) still arrives, and everything is restored after."""
import subprocess
import sys

from core.settings import REPO_ROOT

SCRIPT = """
import logging, os, sys
from core.log import native_stderr_silenced, setup_logging
setup_logging()
log = logging.getLogger("t")
os.write(2, b"native-before\\n")
with native_stderr_silenced():
    os.write(2, b"native-inside\\n")
    log.info("python-log-inside")
    print("python-print-inside", file=sys.stderr)
os.write(2, b"native-after\\n")
log.info("python-log-after")
with native_stderr_silenced(enabled=False):
    os.write(2, b"native-not-silenced\\n")
"""


def test_native_stderr_is_silenced_python_output_is_not():
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=60, env={"PYTHONPATH": str(REPO_ROOT), "PATH": ""})
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "native-inside" not in result.stderr
    for expected in ("native-before", "python-log-inside", "python-print-inside", "native-after",
                     "python-log-after", "native-not-silenced"):
        assert any(expected in line for line in lines), (expected, result.stderr)
    order = [next(i for i, line in enumerate(lines) if key in line)
             for key in ("native-before", "python-log-inside", "native-after", "python-log-after")]
    assert order == sorted(order)
