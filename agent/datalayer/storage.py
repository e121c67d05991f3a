"""Where element files (attachments, source texts) live: a local folder or an S3-compatible bucket.

Keys are built by the data layer from thread and element ids, but thread ids
come from the browser, so every backend re-checks keys: relative, no `..`, and
for the local folder the resolved path must stay under the root (symlinks too).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from agent.datalayer.errors import DataLayerError, StorageKeyError

if TYPE_CHECKING:
    from agent.settings import DatabaseSettings


class Storage(Protocol):
    """Blocking calls: the data layer runs them in a worker thread."""

    def upload(self, key: str, data: bytes, mime: str) -> str:
        """Store `data` under `key` (overwriting) and return its URL."""

    def read(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None:
        """Remove the object; a missing one is not an error."""

    def url(self, key: str) -> str:
        """A URL the browser can load; may expire (S3), so it is recomputed on every read."""


def check_key(key: str) -> str:
    """Return the key as a clean relative POSIX path, or raise StorageKeyError."""
    if not isinstance(key, str) or not key or "\x00" in key or "\\" in key:
        raise StorageKeyError(f"invalid storage key {key!r}")
    path = PurePosixPath(key)
    if path.is_absolute() or (len(key) > 1 and key[1] == ":"):
        raise StorageKeyError(f"storage key must be relative: {key!r}")
    if any(part in ("..", ".") for part in key.split("/")) or "" in key.split("/"):
        raise StorageKeyError(f"storage key must not contain '..', '.' or empty parts: {key!r}")
    return str(path)


class LocalStorage:
    def __init__(self, root: str | os.PathLike[str], base_url: str = "/files") -> None:
        self.root = Path(root).resolve()
        self.base_url = base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()  # follows symlinks, so a link out of root is caught
        if not path.is_relative_to(self.root) or path == self.root:
            raise StorageKeyError(f"storage key escapes the storage folder: {key!r}")
        return path

    def upload(self, key: str, data: bytes, mime: str) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path(key)  # re-check: mkdir may have walked through a directory swapped for a symlink
        # Write a temp file and rename it, so readers never see half a file; rename replaces a link, not its target.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.url(key)

    def read(self, key: str) -> bytes:
        path = self._path(key)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise DataLayerError(f"stored file {key!r} is missing") from None
        with os.fdopen(fd, "rb") as handle:
            return handle.read()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def url(self, key: str) -> str:
        return f"{self.base_url}/{quote(check_key(key))}"


class S3Storage:
    """S3, MinIO, R2...: needs `boto3` (optional, imported only when this class is used)."""

    def __init__(
        self,
        bucket: str,
        endpoint_url: str = "",
        *,
        prefix: str = "",
        url_expiry_s: int = 3600,
        client: Any = None,
    ) -> None:
        if client is None:
            try:
                import boto3
            except ImportError as exc:
                raise DataLayerError("S3 storage needs boto3: pip install boto3") from exc
            client = boto3.client("s3", endpoint_url=endpoint_url or None)
        self.client = client
        self.bucket = bucket
        self.prefix = check_key(prefix.strip("/")) + "/" if prefix.strip("/") else ""
        self.url_expiry_s = url_expiry_s

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def upload(self, key: str, data: bytes, mime: str) -> str:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=mime)
        return self.url(key)

    def read(self, key: str) -> bytes:
        response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        return response["Body"].read()

    def delete(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self._key(key))  # S3 delete is idempotent

    def url(self, key: str) -> str:
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)}, ExpiresIn=self.url_expiry_s
        )


def build_storage(settings: DatabaseSettings, base_url: str = "/files") -> Storage:
    if settings.s3_bucket:
        return S3Storage(settings.s3_bucket, settings.s3_endpoint_url)
    return LocalStorage(settings.storage_dir, base_url=base_url)
