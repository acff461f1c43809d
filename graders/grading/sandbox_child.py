"""The process a python grader runs in (started by graders.grading.sandbox; standard library only, run with -I -S).

Reads {"source", "pairs": [[sample, item], ...], "folder", "drop_to"} as JSON on stdin; drops root (to the uid
`drop_to`) when started as root, then, before any user code runs, closes
the doors an audit hook can close: opening, listing or changing files outside its folder (the standard library
stays readable, for imports), sockets, new processes (fork, exec, spawn, subprocess), ctypes, and importing the
modules that reach those. Audit hooks cannot be removed from Python. Writes one JSON line to the real stdout:
{"results": [{"score": float} | {"error": "..."}, ...]} or {"error": "..."} when the source itself fails.
"""

import io
import json
import math
import os
import sys
import sysconfig
import traceback

BLOCKED_MODULES = {"socket", "_socket", "ssl", "_ssl", "subprocess", "_posixsubprocess", "multiprocessing",
                   "_multiprocessing", "ctypes", "_ctypes", "mmap", "pty", "select", "selectors", "asyncio",
                   "urllib.request", "http.client", "ftplib", "smtplib", "telnetlib", "resource", "signal"}
BLOCKED_EVENTS = ("socket.", "subprocess.", "ctypes.", "os.fork", "os.forkpty", "os.exec", "os.spawn",
                  "os.posix_spawn", "os.system", "os.kill", "os.killpg", "os.setuid", "os.chroot", "pty.",
                  "sys.setprofile", "sys.settrace", "webbrowser.",
                  "os.putenv", "os.unsetenv")
PATH_EVENTS = {"open": 0, "os.listdir": 0, "os.scandir": 0, "os.remove": 0, "os.rmdir": 0, "os.rename": 0,
               "os.mkdir": 0, "os.chmod": 0, "os.chown": 0, "os.link": 0, "os.symlink": 0, "os.truncate": 0,
               "os.utime": 0, "shutil.rmtree": 0, "os.chdir": 0, "glob.glob": 0}
LIBRARY_FOLDERS = tuple(os.path.realpath(path) + os.sep for path in
                        {sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")} if path)


def _inside(path, folder: str) -> bool:
    if isinstance(path, int):
        return True  # an already-open descriptor: the open that made it was checked
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    real = os.path.realpath(os.path.join(folder, os.fspath(path)))
    return real == folder or real.startswith(folder + os.sep)


def _read_only(arguments: tuple) -> bool:
    """An "open" event (path, mode, flags) that only reads."""
    mode = arguments[1] if len(arguments) > 1 else None
    flags = arguments[2] if len(arguments) > 2 else 0
    if mode is None:
        return not (flags or 0) & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC)
    return set(str(mode)) <= {"r", "b", "t"}


def _hook(folder: str):
    def hook(event: str, arguments: tuple) -> None:
        if event == "import" and arguments and (arguments[0] in BLOCKED_MODULES
                                                or arguments[0].split(".")[0] in BLOCKED_MODULES):
            raise PermissionError(f"the grader sandbox does not allow importing {arguments[0]}")
        if event.startswith(BLOCKED_EVENTS):
            raise PermissionError(f"the grader sandbox does not allow {event}")
        if event in PATH_EVENTS and arguments:
            path = arguments[PATH_EVENTS[event]]
            if path is None or _inside(path, folder):
                return
            if event == "open" and isinstance(path, str) and _read_only(arguments) \
                    and os.path.realpath(path).startswith(LIBRARY_FOLDERS):
                return
            raise PermissionError(f"the grader sandbox allows files in its own folder only, not {path}")

    return hook


def _number(value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"grade() returned {type(value).__name__}, not a number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"grade() returned {value}")
    return value


def main() -> None:
    request = json.loads(sys.stdin.read())
    out = sys.stdout
    folder = os.path.realpath(request["folder"])
    os.chdir(folder)
    # Imported before the doors close, so a grader may use them.
    import collections, difflib, functools, itertools, random, re, statistics, string, unicodedata  # noqa: F401,E401
    if request.get("drop_to") is not None:
        # The kernel exempts root from RLIMIT_NPROC: become nobody, whom it holds to it.
        os.setgroups([])
        os.setgid(request["drop_to"])
        os.setuid(request["drop_to"])
    if request.get("audit_hook", True):
        sys.addaudithook(_hook(folder))
    sys.stdout = sys.stderr = io.StringIO()
    namespace = {"__name__": "grader"}
    try:
        exec(compile(request["source"], "<grader>", "exec"), namespace)  # the grader's own code: the sandbox's purpose
        grade = namespace.get("grade")
        if not callable(grade):
            raise NameError("the source defines no grade(sample, item) function")
    except BaseException as error:  # noqa: BLE001 - whatever the source does is reported, never raised
        out.write(json.dumps({"error": f"{type(error).__name__}: {error}"}) + "\n")
        out.flush()
        return
    results = []
    for sample, item in request["pairs"]:
        try:
            results.append({"score": _number(grade(sample, item))})
        except BaseException as error:  # noqa: BLE001
            frames = traceback.extract_tb(error.__traceback__)
            lines = [frame.lineno for frame in frames if frame.filename == "<grader>"]
            where = f" (line {lines[-1]})" if lines else ""
            results.append({"error": f"{type(error).__name__}: {error}{where}"})
    out.write(json.dumps({"results": results}) + "\n")
    out.flush()


if __name__ == "__main__":
    main()
