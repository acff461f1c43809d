"""The clients of benchmarks/annotation_http.py: annotators that label through HTTP as a script and as a browser do.

Plain `http.client` over one keep-alive connection per annotator (reopened when the server closes it): the clients
share the two cores with the server they measure, so each request should cost them as little as possible.

api_annotator: POST claim, POST submit (JSON, `Authorization: Token <key>`), repeated.
workbench_annotator: the workbench's own requests with the session and CSRF cookies a signed-in browser holds: the
prefetch htmx fires after an item is shown, the htmx submit of the form (302 to the workbench), the GET that follows
the redirect (the page htmx swaps #workbench from), repeated.
"""

import http.client
import json
import re
import time
import urllib.parse

ASSIGNMENT_ID = re.compile(rb'id="workbench" data-assignment-id="(\d+)"')
CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([^"]+)"')


class Connection:
    """One keep-alive HTTP connection with a cookie jar, timing each request by kind."""

    def __init__(self, host: str, port: int, timings: dict, cookies: dict | None = None):
        self.host, self.port, self.timings = host, port, timings
        self.cookies = dict(cookies or {})
        self.http = http.client.HTTPConnection(host, port, timeout=60)

    def request(self, kind: str, method: str, path: str, *, body: bytes | None = None, headers: dict | None = None):
        """(status, headers, body); the latency lands in timings[kind] as (start, ms) from the time the request
        is sent to the last byte of the answer."""
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        started = time.time()
        t0 = time.perf_counter()
        for attempt in (1, 2):
            try:
                self.http.request(method, path, body=body, headers=headers)
                response = self.http.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed the kept-alive connection between two requests: reopen once, as a browser does.
                self.http.close()
                if attempt == 2:
                    raise
        self.timings.setdefault(kind, []).append((started, (time.perf_counter() - t0) * 1000))
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name.strip()] = rest.split(";", 1)[0]
        if response.getheader("Connection", "").lower() == "close":
            self.http.close()
        return response.status, response, data


def api_annotator(host: str, port: int, project_id: int, token: str, label_id: int, deadline: float) -> dict:
    """Claim and submit through the JSON API until `deadline`. Returns timings, counts and errors."""
    timings: dict = {}
    outcome = {"timings": timings, "annotations": 0, "errors": 0, "empty": 0, "error_samples": []}
    connection = Connection(host, port, timings)
    auth = {"Authorization": f"Token {token}", "Accept": "application/json"}
    submit_body = json.dumps({"label_ids": [label_id], "time_spent_ms": 1000}).encode()
    while time.time() < deadline:
        try:
            status, _, data = connection.request("claim", "POST", f"/api/v1/annotation/projects/{project_id}/claim/",
                                                 body=b"", headers=auth)
            if status == 204:
                outcome["empty"] += 1
                break
            if status != 200:
                _error(outcome, "claim", status, data)
                continue
            assignment_id = json.loads(data)["assignment_id"]
            status, _, data = connection.request(
                "submit", "POST", f"/api/v1/annotation/assignments/{assignment_id}/submit/", body=submit_body,
                headers={**auth, "Content-Type": "application/json"})
            if status == 200:
                outcome["annotations"] += 1
            else:
                _error(outcome, "submit", status, data)
        except (OSError, http.client.HTTPException) as error:
            _error(outcome, "connection", 0, repr(error).encode())
    return outcome


def workbench_annotator(host: str, port: int, project_id: int, session_key: str, label_id: int,
                        deadline: float) -> dict:
    """Label in the workbench as a browser does until `deadline`. Returns timings, counts and errors."""
    timings: dict = {}
    outcome = {"timings": timings, "annotations": 0, "errors": 0, "empty": 0, "error_samples": []}
    connection = Connection(host, port, timings, cookies={"sessionid": session_key})
    page_path = f"/annotate/projects/{project_id}/work/"
    origin = f"http://{host}:{port}"
    htmx = {"HX-Request": "true", "HX-Current-URL": origin + page_path, "Referer": origin + page_path,
            "Origin": origin}
    try:
        status, _, page = connection.request("page", "GET", page_path, headers={"Referer": origin + page_path})
        if status == 200 and not ASSIGNMENT_ID.search(page):  # "Start labelling": the POST claims, then the page
            csrf = CSRF_INPUT.search(page).group(1).decode()
            connection.request("start", "POST", page_path, body=f"csrfmiddlewaretoken={csrf}".encode(),
                               headers={"Content-Type": "application/x-www-form-urlencoded", "Referer": origin,
                                        "Origin": origin})
            status, _, page = connection.request("page", "GET", page_path)
    except (OSError, http.client.HTTPException) as error:
        _error(outcome, "connection", 0, repr(error).encode())
        return outcome
    while time.time() < deadline:
        try:
            found = ASSIGNMENT_ID.search(page) if status == 200 else None
            if found is None:
                if status == 200:
                    outcome["empty"] += 1
                    break
                _error(outcome, "page", status, page)
                status, _, page = connection.request("page", "GET", page_path, headers=htmx)
                continue
            assignment_id = found.group(1).decode()
            csrf = CSRF_INPUT.search(page).group(1).decode()
            status, _, data = connection.request(
                "prefetch", "POST", f"/annotate/projects/{project_id}/prefetch/", body=b"",
                headers={**htmx, "X-CSRFToken": csrf, "HX-Target": "prefetch-status"})
            if status != 200:
                _error(outcome, "prefetch", status, data)
            form = urllib.parse.urlencode({"csrfmiddlewaretoken": csrf, "label_ids": label_id, "corrected_response": "",
                                           "comment": "", "free_text": "", "time_spent_ms": 1000}).encode()
            status, response, data = connection.request(
                "submit", "POST", f"/annotate/assignments/{assignment_id}/submit/", body=form,
                headers={**htmx, "X-CSRFToken": csrf, "HX-Target": "workbench", "HX-Trigger": "annotation-form",
                         "Content-Type": "application/x-www-form-urlencoded"})
            if status == 302:
                outcome["annotations"] += 1
                location = urllib.parse.urlsplit(response.getheader("Location"))
                next_path = location.path + (f"?{location.query}" if location.query else "")
            else:
                _error(outcome, "submit", status, data)
                next_path = page_path
            status, _, page = connection.request("page", "GET", next_path, headers=htmx)
        except (OSError, http.client.HTTPException) as error:
            _error(outcome, "connection", 0, repr(error).encode())
    return outcome


def _error(outcome: dict, kind: str, status: int, body: bytes) -> None:
    outcome["errors"] += 1
    if len(outcome["error_samples"]) < 3:
        outcome["error_samples"].append(f"{kind} {status}: {body[:300]!r}")
