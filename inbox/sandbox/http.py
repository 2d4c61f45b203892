"""The small HTTP vocabulary the sandbox's provider APIs are written in.

No Django here: the sandbox runs standalone (`manage.py sandbox`) and inside tests.
"""

import json
import secrets
from dataclasses import dataclass, field
from email.message import Message
from urllib.parse import parse_qs, urlsplit


@dataclass
class UploadedFile:
    name: str
    filename: str
    content_type: str
    content: bytes


@dataclass
class Request:
    method: str
    path: str
    query: dict  # name -> [values]
    headers: dict  # lower-case name -> value
    body: bytes
    base_url: str
    json: object = None
    form: dict = field(default_factory=dict)  # name -> [values]
    files: dict = field(default_factory=dict)  # name -> UploadedFile
    json_error: bool = False

    @classmethod
    def build(cls, method, target, headers, body, base_url):
        parts = urlsplit(target)
        request = cls(
            method=method.upper(),
            path=parts.path,
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in headers.items()},
            body=body,
            base_url=base_url,
        )
        request._parse_body()
        return request

    @property
    def content_type(self):
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def url(self):
        query = "&".join(f"{k}={v}" for k, values in self.query.items() for v in values)
        return self.base_url + self.path + (f"?{query}" if query else "")

    def _parse_body(self):
        if not self.body:
            return
        kind = self.content_type
        if kind == "application/json":
            try:
                self.json = json.loads(self.body)
            except ValueError:
                self.json_error = True
        elif kind == "application/x-www-form-urlencoded":
            self.form = parse_qs(self.body.decode("utf-8", "replace"), keep_blank_values=True)
        elif kind == "multipart/form-data":
            self.form, self.files = parse_multipart(self.headers.get("content-type", ""), self.body)

    def first(self, name, default=None):
        """A parameter from the query string, the form or a JSON object body, in that order."""
        for source in (self.query, self.form):
            if name in source and source[name]:
                return source[name][0]
        if isinstance(self.json, dict) and name in self.json:
            return self.json[name]
        return default

    def bearer_token(self):
        value = self.headers.get("authorization", "")
        if value[:7].lower() == "bearer ":
            return value[7:].strip()
        return None

    def record(self):
        """The request as `requests()` lists it."""
        return {
            "method": self.method,
            "path": self.path,
            "query": {k: v[0] if len(v) == 1 else v for k, v in self.query.items()},
            "headers": dict(self.headers),
            "json": self.json,
            "form": {k: v[0] if len(v) == 1 else v for k, v in self.form.items()},
            "files": {
                name: {
                    "filename": f.filename,
                    "content_type": f.content_type,
                    "size": len(f.content),
                }
                for name, f in self.files.items()
            },
        }


def parse_multipart(content_type_header, body):
    header = Message()
    header["content-type"] = content_type_header
    boundary = header.get_param("boundary")
    form, files = {}, {}
    if not boundary:
        return form, files
    delimiter = b"--" + boundary.encode("latin-1")
    for chunk in body.split(delimiter)[1:]:
        if chunk.startswith(b"--"):
            break
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        head, _, content = chunk.partition(b"\r\n\r\n")
        if content.endswith(b"\r\n"):
            content = content[:-2]
        part = Message()
        for line in head.decode("utf-8", "replace").split("\r\n"):
            name, sep, value = line.partition(":")
            if sep:
                part[name.strip()] = value.strip()
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        filename = part.get_filename()
        if filename is not None:
            files[name] = UploadedFile(
                name=name,
                filename=filename,
                content_type=part.get_content_type() if part["content-type"] else "",
                content=content,
            )
        else:
            form.setdefault(name, []).append(content.decode("utf-8", "replace"))
    return form, files


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict = field(default_factory=dict)
    # Callables run by the sandbox's outbox after the answer is written (receipts).
    after: list = field(default_factory=list)


def json_response(status, data, headers=None, after=None):
    return Response(
        status=status,
        body=json.dumps(data).encode(),
        headers=dict(headers or {}),
        after=list(after or []),
    )


# Returned by a handler to close the connection without an answer.
DROP = object()


def random_hex(n):
    return secrets.token_hex(n // 2 + 1)[:n]


def random_digits(n):
    first = str(secrets.randbelow(9) + 1)
    return first + "".join(str(secrets.randbelow(10)) for _ in range(n - 1))
