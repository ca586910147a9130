"""Two threads importing the GGUF reader at once must both get it.

At start the inference worker imports the engine (and with it `lmdesk.core.gguf`) while
the GUI thread may open a page that imports one of its modules directly
(`lmdesk.core.gguf.model`, through the estimator). If a module of the package waits for
the package itself (`from . import checked`), the two threads wait for each other and
Python breaks the deadlock with a half-imported module: an ImportError, and My Models
"could not be opened". A fresh interpreter replays that order: the first thread is held
inside the package's import until the second is inside the module's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RACE = """
import sys, threading, time

inside_package = threading.Event()
second_started = threading.Event()


class HoldFirstThread:
    # Holds the first thread when the package's __init__ reaches its header module.
    def find_spec(self, name, path=None, target=None):
        if name == "lmdesk.core.gguf.header" and threading.current_thread().name == "first":
            inside_package.set()
            second_started.wait(5)
            time.sleep(0.3)  # the second thread is now inside lmdesk.core.gguf.model
        return None


sys.meta_path.insert(0, HoldFirstThread())
failures = []


def load(name):
    try:
        __import__(name)
    except Exception as exc:
        failures.append(f"{name}: {exc!r}")


def second():
    inside_package.wait(5)
    second_started.set()
    load("lmdesk.core.gguf.model")


threads = [
    threading.Thread(target=load, args=("lmdesk.core.gguf",), name="first"),
    threading.Thread(target=second, name="second"),
]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("\\n".join(failures) or "ok")
"""


def test_the_package_and_its_model_module_imported_by_two_threads_at_once() -> None:
    done = subprocess.run(
        [sys.executable, "-c", RACE],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
