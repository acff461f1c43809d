"""Running a python grader's `grade(sample, item)` where it can do no harm.

Layers, each enough on its own for what it stops:
- a separate process (python -I -S, an empty environment), started in a session of its own so a timeout kills all of
  it; its working folder a fresh temporary directory, removed afterwards;
- a network namespace of its own (unshare(CLONE_NEWNET), inside a user namespace when the worker is not root) when
  the kernel lets us: no network device but a loopback that is down; `isolation()` says whether it was available;
- resource limits set before the program starts (resource.setrlimit): CPU seconds, address space, file size, open
  files, and no new processes (RLIMIT_NPROC 0). The kernel never holds root to RLIMIT_NPROC, so a worker running as
  root has the child drop to `nobody` before the grader's code runs (after the imports it offers);
- inside, an audit hook installed before the grader's code runs (graders.grading.sandbox_child): no sockets, no
  processes, no ctypes, no files outside its folder;
- a wall-clock limit on the whole call.
A crash, a refused operation, a limit hit or a timeout is a score of 0 with the reason; nothing is raised.
"""

import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

CHILD = Path(__file__).with_name("sandbox_child.py")
CLONE_NEWNET = 0x40000000
CLONE_NEWUSER = 0x10000000
NOBODY = 65534
OUTPUT_LIMIT_BYTES = 1_000_000


@dataclass(frozen=True)
class SandboxLimits:
    """Per call: CPU seconds, address space in MiB, wall-clock seconds."""

    cpu_seconds: int = 2
    memory_mb: int = 512
    wall_seconds: float = 10.0


def _unshare(flags: int) -> bool:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.unshare(flags) == 0
    except (OSError, AttributeError):
        return False


def _network_isolation_available() -> bool:
    """Whether a child may get a network namespace of its own (probed once, in a throwaway process)."""
    flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWNET | CLONE_NEWUSER
    probe = subprocess.run(  # noqa: S603 - our own interpreter and a fixed snippet
        [sys.executable, "-I", "-S", "-c",
         f"import ctypes,sys; sys.exit(0 if ctypes.CDLL(None).unshare({flags}) == 0 else 1)"],
        capture_output=True, timeout=30, check=False,
    )
    return probe.returncode == 0


_ISOLATION: dict | None = None


def isolation() -> dict:
    """{"namespaces": bool}: whether this machine gives the child user and network namespaces of its own."""
    global _ISOLATION
    if _ISOLATION is None:
        _ISOLATION = {"namespaces": _network_isolation_available()}
    return _ISOLATION


def _limit_child(limits: SandboxLimits, folder: str, network_namespace: bool):
    """preexec_fn: runs in the child between fork and exec; only async-signal-tolerant work here."""

    def apply() -> None:
        # Root may enter a network namespace by itself; anyone else needs a user namespace for it.
        flags = CLONE_NEWNET if os.geteuid() == 0 else CLONE_NEWNET | CLONE_NEWUSER
        if network_namespace and not _unshare(flags):
            os._exit(71)  # promised isolation that did not happen: refuse to run
        memory = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (10 * 1024 * 1024, 10 * 1024 * 1024))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _reason_of_exit(code: int, limits: SandboxLimits) -> str:
    if code in (-signal.SIGXCPU, -signal.SIGKILL):
        return f"the grader used more than its {limits.cpu_seconds} s of CPU time"
    if code == 71:
        return "the sandbox could not isolate the grader from the network"
    if code < 0:
        return f"the grader was stopped by signal {signal.Signals(-code).name}"
    return f"the grader's process exited with code {code}"


def python_grade_many(source: str, pairs: list[tuple[dict, dict]], *, limits: SandboxLimits = SandboxLimits(),
                      _audit_hook: bool = True) -> list[tuple[float, str]]:
    """(score, reason) for each (sample, item), in one sandboxed process running `source`'s grade(sample, item).

    A failure of one pair scores that pair 0 with its reason; a failure of the process (timeout, memory, a crash, a
    source that does not define grade) scores every pair 0 with the same reason. The reason is "" for a clean score.
    `_audit_hook` False leaves out the inner layer: only for the tests that prove the outer layers hold alone.
    """
    if not pairs:
        return []
    folder = tempfile.mkdtemp(prefix="whetstone-grader-")
    network_namespace = isolation()["namespaces"]
    drop_to = NOBODY if os.geteuid() == 0 else None
    if drop_to is not None:
        os.chown(folder, NOBODY, NOBODY)
    request = json.dumps({"source": source, "pairs": [[sample, item] for sample, item in pairs], "folder": folder,
                          "drop_to": drop_to, "audit_hook": _audit_hook})
    try:
        process = subprocess.Popen(  # noqa: S603 - our own interpreter and our own child script
            [sys.executable, "-I", "-S", str(CHILD)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=folder, env={},
            start_new_session=True, preexec_fn=_limit_child(limits, folder, network_namespace),  # noqa: PLW1509
        )
        try:
            output, _ = process.communicate(request.encode(), timeout=limits.wall_seconds)
            failure = None if process.returncode == 0 else _reason_of_exit(process.returncode, limits)
        except subprocess.TimeoutExpired:
            failure = f"the grader did not finish within {limits.wall_seconds:g} s"
            output = b""
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            process.wait()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if failure is None:
        failure, answer = _answer(output[:OUTPUT_LIMIT_BYTES])
        if answer is not None:
            results = answer.get("results")
            if "error" in answer:
                failure = answer["error"]
            elif not isinstance(results, list) or len(results) != len(pairs):
                failure = "the grader's process gave no result for every sample"
            else:
                return [(float(result["score"]), "") if "score" in result else (0.0, str(result.get("error")))
                        for result in results]
    return [(0.0, failure)] * len(pairs)


def _answer(output: bytes) -> tuple[str | None, dict | None]:
    lines = output.decode("utf-8", "replace").strip().splitlines()
    if not lines:
        return "the grader's process wrote no result (it may have run out of memory)", None
    try:
        answer = json.loads(lines[-1])
    except json.JSONDecodeError:
        return "the grader's process wrote no readable result", None
    return (None, answer) if isinstance(answer, dict) else ("the grader's process wrote no readable result", None)


def python_grade(source: str, sample: dict, item: dict, *,
                 limits: SandboxLimits = SandboxLimits()) -> tuple[float, str]:
    """(score, reason) of one sample; see python_grade_many."""
    return python_grade_many(source, [(sample, item)], limits=limits)[0]


def sandbox_overhead_ms(calls: int = 10) -> float:
    """Mean wall time of a python-grader call whose grade does nothing: what the sandbox itself costs per call."""
    started = time.perf_counter()
    for _ in range(calls):
        python_grade("def grade(sample, item):\n    return 1.0\n", {"output_text": ""}, {})
    return (time.perf_counter() - started) / calls * 1000
