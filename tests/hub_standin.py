"""A loopback stand-in for the part of the Hugging Face Hub API that `huggingface_hub` uses to upload,
list and download dataset repositories (what Minari's `hf://` remote and `dmg publish` need).

Standard library only: an `http.server.ThreadingHTTPServer` on 127.0.0.1 in a thread, repositories held in
memory as one snapshot of files per commit. Point `huggingface_hub` at it with the `HF_ENDPOINT` environment
variable (read once, when `huggingface_hub` is imported: patch `huggingface_hub.constants.ENDPOINT` in a
process that has already imported it). Files are stored as regular git blobs (preupload answers "regular"),
so no LFS or Xet transfer is ever asked for.

Served, for dataset repositories only:

    GET  /api/datasets?author=&search=                       repository listing
    POST /api/repos/create                                    repository creation (409 if it exists)
    GET  /api/datasets/<org>/<name>[/revision/<rev>]          repository info: head commit and files
    GET  /api/datasets/<org>/<name>/tree/<rev>[/<path>]       tree listing (recursive=true for every file)
    POST /api/datasets/<org>/<name>/preupload/<rev>           upload modes: always "regular"
    POST /api/datasets/<org>/<name>/commit/<rev>              a commit (NDJSON: header, files in base64)
    HEAD, GET /datasets/<org>/<name>/resolve/<rev>/<path>     a file, with ETag, X-Repo-Commit, Content-Length
    POST /api/validate-yaml                                   a README.md's front matter (before its commit)
    GET  /api/agent-harnesses                                 an empty registry (newer clients ask for it)

Anything else is answered 404 and logged in `unknown`. With `token` set, writes without
`Authorization: Bearer <token>` are refused with 401, as the Hub refuses anonymous writes.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

DATE = "2026-01-01T00:00:00.000Z"


def git_blob_sha1(content: bytes) -> str:
    """The git object id of a file, which the Hub sends as the ETag of a regular (non-LFS) file."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


@dataclass
class Repo:
    """One dataset repository: a file snapshot per commit, oldest first."""

    repo_id: str
    commits: list[tuple[str, dict[str, bytes]]] = field(default_factory=list)

    def __post_init__(self):
        self.commits.append((hashlib.sha1(f"init {self.repo_id}".encode()).hexdigest(), {}))

    @property
    def head(self) -> str:
        return self.commits[-1][0]

    def files(self, revision: str = "main") -> dict[str, bytes] | None:
        """The files at `revision` ("main" or a commit id), or None for an unknown revision."""
        if revision == "main":
            return self.commits[-1][1]
        return next((files for sha, files in self.commits if sha == revision), None)

    def commit(self, summary: str, added: dict[str, bytes], deleted: list[str]) -> str:
        files = {**self.commits[-1][1], **added}
        for path in deleted:
            files.pop(path, None)
        sha = hashlib.sha1(f"{self.head} {summary} {sorted((p, git_blob_sha1(c)) for p, c in files.items())}"
                           .encode()).hexdigest()
        self.commits.append((sha, files))
        return sha


class HubStandIn:
    """The stand-in server. Use as a context manager; `url` is its endpoint (`HF_ENDPOINT`).

    Attributes:
        repos: repository id ("org/name") -> `Repo`.
        requests: every request served, as (method, path, status).
        unknown: requests no route matched, as (method, path): an API the stand-in does not know.
    """

    def __init__(self, token: str | None = None):
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.requests: list[tuple[str, str, int]] = []
        self.unknown: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_class(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> HubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def point_huggingface_hub_here(self, monkeypatch, home) -> None:
        """Point `huggingface_hub` at the stand-in in this process, and its cache at `home`, with pytest's
        `monkeypatch` (undone after the test); subprocesses get the same from `HF_ENDPOINT` and `HF_HOME`.

        `huggingface_hub` reads `HF_ENDPOINT` and `HF_HOME` once, into `huggingface_hub.constants`, when it is
        imported, and some versions copy the resolve-URL template into `file_download` (0.25) as it is
        imported: all of those are patched.
        """
        from huggingface_hub import constants, file_download

        template = self.url + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setenv("HF_ENDPOINT", self.url)
        monkeypatch.setenv("HF_HOME", str(home))
        monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
        monkeypatch.setattr(constants, "ENDPOINT", self.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        monkeypatch.setattr(file_download, "HUGGINGFACE_CO_URL_TEMPLATE", template, raising=False)
        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(constants, "HF_HUB_CACHE", str(home / "hub"))
        # The registry of AI agents that newer versions fetch once a day and keep in HF_HOME.
        monkeypatch.setattr(constants, "AGENT_HARNESSES_PATH", str(home / "agent_harnesses.json"), raising=False)

    def file(self, repo_id: str, path: str) -> bytes:
        """The content of `path` at the head of `repo_id` (KeyError if missing)."""
        return self.repos[repo_id].files()[path]


_REPO = r"/(?P<repo>[^/]+/[^/]+)"


def _handler_class(hub: HubStandIn) -> type[BaseHTTPRequestHandler]:
    routes = [
        ("GET", re.compile(r"^/api/datasets$"), "list_repos"),
        ("POST", re.compile(r"^/api/validate-yaml$"), "validate_yaml"),
        ("GET", re.compile(r"^/api/agent-harnesses$"), "agent_harnesses"),
        ("POST", re.compile(r"^/api/repos/create$"), "create_repo"),
        ("GET", re.compile(rf"^/api/datasets{_REPO}(?:/revision/(?P<rev>[^/]+))?$"), "repo_info"),
        ("GET", re.compile(rf"^/api/datasets{_REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?$"), "tree"),
        ("POST", re.compile(rf"^/api/datasets{_REPO}/preupload/(?P<rev>[^/]+)$"), "preupload"),
        ("POST", re.compile(rf"^/api/datasets{_REPO}/commit/(?P<rev>[^/]+)$"), "commit"),
        ("HEAD", re.compile(rf"^/datasets{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), "resolve"),
        ("GET", re.compile(rf"^/datasets{_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)$"), "resolve"),
    ]

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the Hub; every answer carries its Content-Length

        def log_message(self, *args) -> None:  # quiet: the requests are kept in `hub.requests`
            pass

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_HEAD(self) -> None:
            self._dispatch("HEAD")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_PUT(self) -> None:
            self._dispatch("PUT")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        # --- plumbing ---

        def _dispatch(self, method: str) -> None:
            parts = urlsplit(self.path)
            self.query = parse_qs(parts.query)
            self.body = self._read_body()
            path = parts.path
            for route_method, pattern, name in routes:
                match = pattern.match(path)
                if route_method == method and match:
                    args = {key: unquote(value) for key, value in match.groupdict().items() if value is not None}
                    with hub.lock:
                        status = getattr(self, name)(method, **args)
                    break
            else:
                with hub.lock:
                    hub.unknown.append((method, self.path))
                status = self._json({"error": f"the stand-in does not serve {method} {path}"}, 404)
            with hub.lock:
                hub.requests.append((method, self.path, status))

        def _read_body(self) -> bytes:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _send(self, status: int, body: bytes, headers: dict[str, str], head_only: bool = False) -> int:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if not head_only:
                self.wfile.write(body)
            return status

        def _json(self, payload, status: int = 200, headers: dict[str, str] | None = None,
                  head_only: bool = False) -> int:
            return self._send(status, json.dumps(payload).encode(), {"Content-Type": "application/json",
                                                                     **(headers or {})}, head_only)

        def _error(self, status: int, code: str, message: str, head_only: bool = False) -> int:
            return self._json({"error": message}, status, {"X-Error-Code": code, "X-Error-Message": message},
                              head_only)

        def _authorized(self) -> bool:
            return hub.token is None or self.headers.get("Authorization") == f"Bearer {hub.token}"

        def _repo(self, repo: str, head_only: bool = False) -> Repo | int:
            if repo not in hub.repos:
                return self._error(404, "RepoNotFound", f"Repository {repo} not found", head_only)
            return hub.repos[repo]

        def _info(self, repo: Repo, revision: str, files: dict[str, bytes]) -> dict:
            sha = repo.head if revision == "main" else revision
            return {"_id": repo.repo_id, "id": repo.repo_id, "author": repo.repo_id.split("/")[0], "sha": sha,
                    "private": False, "disabled": False, "gated": False, "downloads": 0, "likes": 0,
                    "tags": [], "lastModified": DATE, "createdAt": DATE,
                    "siblings": [{"rfilename": path, "size": len(content)} for path, content in sorted(files.items())]}

        # --- routes ---

        def list_repos(self, method: str) -> int:
            author = self.query.get("author", [None])[0]
            search = self.query.get("search", [""])[0]
            found = []
            for repo_id, repo in sorted(hub.repos.items()):
                owner, name = repo_id.split("/")
                if (author is None or owner == author) and search in repo_id:
                    found.append({key: value for key, value in self._info(repo, "main", {}).items()
                                  if key != "siblings"})
            return self._json(found)

        def validate_yaml(self, method: str) -> int:
            content = json.loads(self.body)["content"]
            if content.startswith("---\n") and "\n---\n" not in content[3:]:
                return self._send(400, b"the metadata block of README.md is not closed by ---", {})
            return self._json({"errors": [], "warnings": []})

        def agent_harnesses(self, method: str) -> int:
            return self._json({"standardEnvVars": [], "harnesses": {}})

        def create_repo(self, method: str) -> int:
            if not self._authorized():
                return self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
            payload = json.loads(self.body)
            if payload.get("type") != "dataset":
                return self._error(400, "BadRequest", "the stand-in serves dataset repositories only")
            repo_id = f"{payload['organization']}/{payload['name']}" if payload.get("organization") \
                else payload["name"]
            if repo_id in hub.repos:
                return self._json({"error": "You already created this dataset repo",
                                   "url": f"{hub.url}/datasets/{repo_id}"}, 409)
            hub.repos[repo_id] = Repo(repo_id)
            return self._json({"url": f"{hub.url}/datasets/{repo_id}", "name": repo_id, "id": repo_id})

        def repo_info(self, method: str, repo: str, rev: str = "main") -> int:
            found = self._repo(repo)
            if isinstance(found, int):
                return found
            files = found.files(rev)
            if files is None:
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            return self._json(self._info(found, rev, files))

        def tree(self, method: str, repo: str, rev: str, path: str = "") -> int:
            found = self._repo(repo)
            if isinstance(found, int):
                return found
            files = found.files(rev)
            if files is None:
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            recursive = self.query.get("recursive", ["false"])[0].lower() in ("true", "1")
            prefix = f"{path.strip('/')}/" if path.strip("/") else ""
            entries: dict[str, dict] = {}
            for file_path, content in sorted(files.items()):
                if not file_path.startswith(prefix):
                    continue
                parts = file_path[len(prefix):].split("/")
                for depth in range(1, len(parts)):  # the folders on the way
                    if depth > 1 and not recursive:
                        break
                    folder = prefix + "/".join(parts[:depth])
                    entries.setdefault(folder, {"type": "directory", "path": folder, "oid": git_blob_sha1(
                        folder.encode())})
                if recursive or len(parts) == 1:
                    entries[file_path] = {"type": "file", "path": file_path, "size": len(content),
                                          "oid": git_blob_sha1(content)}
            if prefix and not entries:
                return self._error(404, "EntryNotFound", f"{path} does not exist on {rev}")
            return self._json(sorted(entries.values(), key=lambda entry: entry["path"]))

        def preupload(self, method: str, repo: str, rev: str) -> int:
            if not self._authorized():
                return self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
            found = self._repo(repo)
            if isinstance(found, int):
                return found
            files = json.loads(self.body)["files"]
            return self._json({"files": [{"path": entry["path"], "uploadMode": "regular", "shouldIgnore": False}
                                         for entry in files], "commitOid": found.head})

        def commit(self, method: str, repo: str, rev: str) -> int:
            if not self._authorized():
                return self._error(401, "Unauthorized", "Invalid credentials in Authorization header")
            found = self._repo(repo)
            if isinstance(found, int):
                return found
            if rev != "main":
                return self._error(400, "BadRequest", "the stand-in commits to main only")
            summary, added, deleted = "", {}, []
            for line in self.body.decode().splitlines():
                if not line.strip():
                    continue
                item = json.loads(line)
                value = item["value"]
                if item["key"] == "header":
                    summary = value.get("summary", "")
                    parent = value.get("parentCommit")
                    if parent is not None and parent != found.head:
                        return self._error(412, "PreconditionFailed", "parentCommit is not the head of main")
                elif item["key"] == "file":
                    if value.get("encoding") != "base64":
                        return self._error(400, "BadRequest", f"unknown encoding {value.get('encoding')!r}")
                    added[value["path"]] = base64.b64decode(value["content"])
                elif item["key"] in ("deletedFile", "deletedFolder"):
                    deleted += [path for path in found.files() if path == value["path"]
                                or path.startswith(value["path"].rstrip("/") + "/")]
                else:  # lfsFile and the rest: never asked for, since preupload answers "regular"
                    return self._error(400, "BadRequest", f"the stand-in does not take {item['key']!r} items")
            sha = found.commit(summary, added, deleted)
            return self._json({"success": True, "commitOid": sha, "pullRequestUrl": None,
                               "commitUrl": f"{hub.url}/datasets/{repo}/commit/{sha}"})

        def resolve(self, method: str, repo: str, rev: str, path: str) -> int:
            head_only = method == "HEAD"
            found = self._repo(repo, head_only)
            if isinstance(found, int):
                return found
            files = found.files(rev)
            if files is None:
                return self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}", head_only)
            if path not in files:
                return self._error(404, "EntryNotFound", f"{path} does not exist on {rev}", head_only)
            content = files[path]
            sha = found.head if rev == "main" else rev
            return self._send(200, content, {"Content-Type": "application/octet-stream",
                                             "ETag": f'"{git_blob_sha1(content)}"', "X-Repo-Commit": sha,
                                             "Accept-Ranges": "bytes"}, head_only)

    return Handler
