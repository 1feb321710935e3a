"""Every module of loopscope imports with nothing POSIX-only: it must load on the lab PC (Windows).

A fresh interpreter imports every module of loopscope (loopscope.daq, .instruments, .gui,
.analysis, .sim_devices) while imports of fcntl, termios, pwd, grp and resource made *by those modules*
fail (as on Windows), and while `signal` as those modules see it lacks the POSIX-only names
(SIGKILL, SIGHUP, SIGUSR1, alarm, ...). Third-party packages keep their own platform branches
(pyserial, under pymeasure, and portalocker import fcntl on POSIX and take their Windows
branch there), so the guard looks at who imports, not only at what.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r'''
import builtins, importlib, json, pkgutil, signal, sys, types

OURS = {"loopscope"}   # every module of ours is loopscope.*
PACKAGES = ["loopscope", "loopscope.daq", "loopscope.instruments", "loopscope.gui", "loopscope.analysis",
            "loopscope.sim_devices"]
BLOCKED = {"fcntl", "termios", "pwd", "grp", "resource"}
POSIX_ONLY_SIGNAL = {
    "SIGKILL", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGCHLD", "SIGPIPE", "SIGSTOP",
    "SIGCONT", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGWINCH", "SIGVTALRM", "SIGPROF", "SIGIO", "SIGPOLL",
    "SIGSYS", "SIGTRAP", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGBUS", "SIGPWR", "SIGRTMIN", "SIGRTMAX",
    "alarm", "pause", "setitimer", "getitimer", "siginterrupt", "sigwait", "sigwaitinfo", "sigtimedwait",
    "pthread_kill", "pthread_sigmask", "sigpending", "SIG_BLOCK", "SIG_UNBLOCK", "SIG_SETMASK",
    "ITIMER_REAL", "ITIMER_VIRTUAL", "ITIMER_PROF", "ItimerError",
}
portable_signal = types.ModuleType("signal")
portable_signal.__dict__.update({k: v for k, v in vars(signal).items() if k not in POSIX_ONLY_SIGNAL})

def importer_is_ours(globals_):
    return str((globals_ or {}).get("__name__") or "").split(".")[0] in OURS

def check(name, globals_):
    top = name.split(".")[0]
    if importer_is_ours(globals_):
        if top in BLOCKED:
            raise ImportError(f"{globals_['__name__']} imports {name} at import time (POSIX only)")
        if top == "signal":
            return portable_signal
    return None

real_import = builtins.__import__
def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0:
        replacement = check(name, globals)
        if replacement is not None:
            return replacement
    return real_import(name, globals, locals, fromlist, level)
builtins.__import__ = guarded_import

real_import_module = importlib.import_module
def guarded_import_module(name, package=None):
    if not name.startswith("."):
        replacement = check(name, sys._getframe(1).f_globals)
        if replacement is not None:
            return replacement
    return real_import_module(name, package)
importlib.import_module = guarded_import_module

failed, imported = {}, []
for package in PACKAGES:
    module = real_import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        if info.name.rsplit(".", 1)[-1] == "__main__":
            continue  # runs the command when imported
        try:
            real_import_module(info.name)
            imported.append(info.name)
        except Exception as exc:
            failed[info.name] = f"{type(exc).__name__}: {exc}"

# the guard itself works: a module of ours importing these is caught
probes = {}
for code in ("import fcntl", "import termios", "from pwd import getpwnam", "import grp", "import resource",
             "from signal import SIGKILL", "import signal; signal.SIGHUP"):
    try:
        exec(code, {"__name__": "loopscope.daq._portability_probe"})
        probes[code] = "not caught"
    except (ImportError, AttributeError):
        probes[code] = "caught"
print(json.dumps({"failed": failed, "imported": imported, "probes": probes}))
'''


def test_every_module_imports_without_posix_only_modules():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(report["probes"].values()) == {"caught"}, report["probes"]
    assert report["failed"] == {}, json.dumps(report["failed"], indent=1)
    # it did import the modules that matter here (and many more)
    for name in ("loopscope.daq.storage", "loopscope.daq.locks", "loopscope.daq.queue", "loopscope.daq.output_files", "loopscope.daq.cli", "loopscope.analysis.reanalysis",
                 "loopscope.analysis.cli", "loopscope.gui.browser", "loopscope.instruments.station", "loopscope.sim_devices.cli", "loopscope.cli"):
        assert name in report["imported"], name
