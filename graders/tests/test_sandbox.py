"""The python grader's sandbox, attacked for real: each grader below scores 0 with its reason, and the test process
(the "server") goes on working."""

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from graders.grading.sandbox import (
    CHILD,
    SandboxLimits,
    _limit_child,
    isolation,
    python_grade,
    python_grade_many,
)

SAMPLE = {"output_text": "the answer is 42"}
ITEM = {"reference": "42"}


def test_a_plain_grader_scores_each_sample():
    source = "def grade(sample, item):\n    return 1.0 if item['reference'] in sample['output_text'] else 0.0\n"
    pairs = [(SAMPLE, ITEM), ({"output_text": "no idea"}, ITEM)]
    assert python_grade_many(source, pairs) == [(1.0, ""), (0.0, "")]


def test_it_may_use_the_standard_library_and_its_own_folder():
    source = ("import json, math, re, collections\n"
              "def grade(sample, item):\n"
              "    open('notes.txt', 'w').write(json.dumps({'n': 2}))\n"
              "    return math.sqrt(json.load(open('notes.txt'))['n'] ** 2)\n")
    assert python_grade(source, SAMPLE, ITEM) == (2.0, "")


@pytest.fixture
def listening_socket():
    """A real server on 127.0.0.1 that records whether anyone connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    connections = []
    stop = threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connections.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], connections
    stop.set()
    thread.join()
    server.close()


def test_a_grader_that_opens_a_socket_scores_zero_and_connects_nowhere(listening_socket):
    port, connections = listening_socket
    source = (f"import socket\ndef grade(sample, item):\n"
              f"    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n    return 1.0\n")
    score, reason = python_grade(source, SAMPLE, ITEM)
    assert score == 0.0
    assert reason == "PermissionError: the grader sandbox does not allow importing socket"
    # Through the module already loaded by the interpreter, the audit hook still refuses the socket itself.
    sneaky = (f"import sys\ndef grade(sample, item):\n"
              f"    _socket = sys.modules.get('_socket') or __import__('_socket')\n"
              f"    _socket.socket().connect(('127.0.0.1', {port}))\n    return 1.0\n")
    score, reason = python_grade(sneaky, SAMPLE, ITEM)
    assert score == 0.0 and reason.startswith("PermissionError: the grader sandbox does not allow")
    time.sleep(0.3)
    assert connections == []


def test_a_grader_that_reads_outside_its_folder_scores_zero(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("the key")
    for path in (str(secret), "/etc/passwd", "../secret.txt"):
        source = f"def grade(sample, item):\n    return len(open({path!r}).read())\n"
        score, reason = python_grade(source, SAMPLE, ITEM)
        assert score == 0.0
        assert reason.startswith("PermissionError: the grader sandbox allows files in its own folder only")
        assert reason.endswith("(line 2)")
    listing = "import os\ndef grade(sample, item):\n    return len(os.listdir('/'))\n"
    assert python_grade(listing, SAMPLE, ITEM)[0] == 0.0


def test_a_fork_bomb_scores_zero():
    source = "import os\ndef grade(sample, item):\n    while True:\n        os.fork()\n"
    assert python_grade(source, SAMPLE, ITEM) == (
        0.0, "PermissionError: the grader sandbox does not allow os.fork (line 4)")


def test_a_grader_that_loops_forever_scores_zero_within_its_limits():
    started = time.monotonic()
    score, reason = python_grade("def grade(sample, item):\n    while True:\n        pass\n", SAMPLE, ITEM,
                                 limits=SandboxLimits(cpu_seconds=1, wall_seconds=5))
    assert (score, reason) == (0.0, "the grader used more than its 1 s of CPU time")
    assert time.monotonic() - started < 5
    # Sleeping costs no CPU: the wall clock stops it.
    score, reason = python_grade("import time\ndef grade(sample, item):\n    time.sleep(60)\n", SAMPLE, ITEM,
                                 limits=SandboxLimits(wall_seconds=1))
    assert (score, reason) == (0.0, "the grader did not finish within 1 s")


def test_memory_crashes_and_bad_returns_score_zero_with_the_reason():
    cases = {
        "def grade(sample, item):\n    x = 'a' * (10 ** 10)\n": "MemoryError:  (line 2)",
        "def grade(sample, item):\n    return 1 / 0\n": "ZeroDivisionError: division by zero (line 2)",
        "def grade(sample, item):\n    return 'high'\n": "TypeError: grade() returned str, not a number",
        "def grade(sample, item):\n    return float('nan')\n": "ValueError: grade() returned nan",
        "def grade(sample, item)\n    return 1\n": "SyntaxError: expected ':' (<grader>, line 1)",
        "def other(sample, item):\n    return 1\n": "NameError: the source defines no grade(sample, item) function",
        "import os\ndef grade(sample, item):\n    os._exit(3)\n": "the grader's process exited with code 3",
    }
    for source, reason in cases.items():
        assert python_grade(source, SAMPLE, ITEM) == (0.0, reason), source


def test_one_failing_sample_does_not_fail_the_others():
    source = "def grade(sample, item):\n    return 1 / len(sample['output_text'])\n"
    assert python_grade_many(source, [({"output_text": "ab"}, {}), ({"output_text": ""}, {})]) == [
        (0.5, ""), (0.0, "ZeroDivisionError: division by zero (line 2)")]


def test_the_outer_layers_hold_without_the_audit_hook(listening_socket):
    """Process limits, the dropped root and the network namespace stop a fork bomb and a socket on their own."""
    port, connections = listening_socket
    fork = "import os\ndef grade(sample, item):\n    os.fork()\n    return 1.0\n"
    assert python_grade_many(fork, [(SAMPLE, ITEM)], _audit_hook=False) == [
        (0.0, "BlockingIOError: [Errno 11] Resource temporarily unavailable (line 3)")]
    if not isolation()["namespaces"]:
        pytest.skip("this kernel gives no network namespace; the audit hook is the network barrier")
    # A plain interpreter under the sandbox's process limits and namespace, without the hook or the dropped root.
    connect = subprocess.run(
        [sys.executable, "-I", "-S", "-c",
         f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
         "    print('connected')\nexcept OSError as e:\n    print(e.errno)"],
        capture_output=True, text=True, timeout=30, check=False,
        preexec_fn=_limit_child(SandboxLimits(), "/tmp", network_namespace=True))
    assert connect.stdout.strip() == "101"  # ENETUNREACH: the namespace has no network
    time.sleep(0.3)
    assert connections == []


def test_the_child_script_is_the_one_started():
    assert CHILD.name == "sandbox_child.py" and CHILD.is_file()
    assert os.getpid() > 0  # the test process is alive after every attack above
