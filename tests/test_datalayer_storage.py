"""File storage of the data layer (path traversal, symlinks, S3): needs no database and runs once."""

from __future__ import annotations

import pytest

from agent.datalayer.errors import DataLayerError, StorageKeyError
from agent.datalayer.storage import LocalStorage, S3Storage
from agent.web.datalayer import SQLDataLayer
from tests.datalayer_fixtures import no_database_env  # noqa: F401 (fixture)

# --- storage (no database)


def test_local_storage_round_trip_and_urls(tmp_path):
    storage = LocalStorage(tmp_path / "root", base_url="/files/")
    assert storage.upload("threads/t1/e 1", b"data", "text/plain") == "/files/threads/t1/e%201"
    assert storage.read("threads/t1/e 1") == b"data"
    storage.delete("threads/t1/e 1")
    storage.delete("threads/t1/e 1")  # missing is fine
    with pytest.raises(DataLayerError):
        storage.read("threads/t1/e 1")


@pytest.mark.parametrize(
    "key", ["../x", "/etc/passwd", "a/../../x", "a/./b", "a//b", "", "a\\..\\b", "C:/x", "a/b/", "nul\x00"]
)
def test_local_storage_refuses_keys_outside_its_root(tmp_path, key):
    storage = LocalStorage(tmp_path / "root")
    for call in (lambda: storage.upload(key, b"x", "text/plain"), lambda: storage.read(key),
                 lambda: storage.delete(key), lambda: storage.url(key)):  # fmt: skip
        with pytest.raises(StorageKeyError):
            call()
    assert not (tmp_path / "x").exists()


def test_local_storage_refuses_symlinks_that_escape(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"secret")
    root = tmp_path / "root"
    root.mkdir()
    (root / "dir").symlink_to(outside, target_is_directory=True)
    (root / "file").symlink_to(outside / "secret")
    storage = LocalStorage(root)
    with pytest.raises(StorageKeyError):
        storage.read("dir/secret")
    with pytest.raises(StorageKeyError):
        storage.read("file")
    with pytest.raises(StorageKeyError):
        storage.upload("dir/new", b"x", "text/plain")
    with pytest.raises(StorageKeyError):
        storage.delete("file")
    assert (outside / "secret").read_bytes() == b"secret" and not (outside / "new").exists()


async def test_browser_chosen_thread_ids_never_become_paths(tmp_path):
    data_layer = SQLDataLayer(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}", LocalStorage(tmp_path / "files"))
    try:
        key = data_layer.object_key("../../etc", "passwd")
        assert ".." not in key and key.startswith("threads/") and key.endswith("/passwd")
    finally:
        await data_layer.close()


class FakeS3:
    def __init__(self):
        self.objects: dict[tuple[str, str], bytes] = {}

    def put_object(self, Bucket, Key, Body, ContentType):  # noqa: N803 (boto3 names)
        self.objects[Bucket, Key] = Body

    def get_object(self, Bucket, Key):  # noqa: N803
        import io

        return {"Body": io.BytesIO(self.objects[Bucket, Key])}

    def delete_object(self, Bucket, Key):  # noqa: N803
        self.objects.pop((Bucket, Key), None)

    def generate_presigned_url(self, operation, Params, ExpiresIn):  # noqa: N803
        return f"https://s3.example/{Params['Bucket']}/{Params['Key']}?expires={ExpiresIn}"


def test_s3_storage_calls_the_boto3_api_with_prefixed_checked_keys():
    client = FakeS3()
    storage = S3Storage("bucket", prefix="support/", client=client, url_expiry_s=60)
    url = storage.upload("threads/t/e", b"x", "text/plain")
    assert url == "https://s3.example/bucket/support/threads/t/e?expires=60"
    assert client.objects == {("bucket", "support/threads/t/e"): b"x"}
    assert storage.read("threads/t/e") == b"x"
    storage.delete("threads/t/e")
    assert client.objects == {}
    with pytest.raises(StorageKeyError):
        storage.upload("../t", b"x", "text/plain")


def test_s3_storage_with_real_boto3():
    boto3 = pytest.importorskip("boto3", reason="boto3 is optional (only for DATABASE_S3_BUCKET) and not installed")
    from botocore.stub import Stubber

    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s")
    storage = S3Storage("bucket", client=client)
    with Stubber(client) as stub:
        put = {"Bucket": "bucket", "Key": "a/b", "Body": b"x", "ContentType": "text/plain"}
        stub.add_response("put_object", {}, put)
        stub.add_response("delete_object", {}, {"Bucket": "bucket", "Key": "a/b"})
        url = storage.upload("a/b", b"x", "text/plain")
        storage.delete("a/b")
        stub.assert_no_pending_responses()
    assert url.startswith("https://bucket.s3.amazonaws.com/a/b?") and "Signature" in url
