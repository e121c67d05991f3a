"""Accounts: argon2 hashes, verification, roles and the `python -m agent.users` CLI."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from agent import users
from agent.datalayer import migrate
from agent.datalayer.errors import UnknownUserError, UserExistsError
from agent.datalayer.models import ROLES
from tests.conftest import ROOT
from tests.postgres import PG_URL, private_schema, require_postgres, run_sync


@pytest.fixture(autouse=True)
def no_database_env(monkeypatch):
    for name in [n for n in os.environ if n.startswith("DATABASE_")]:
        monkeypatch.delenv(name)


@pytest.fixture
async def db(tmp_path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'users.db'}"
    await migrate(url)
    return url


def test_passwords_are_stored_as_argon2id_hashes():
    hashed = users.hash_password("correct horse")
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert users.hash_password("correct horse") != hashed  # salted
    with pytest.raises(ValueError):
        users.hash_password("short")


async def test_verify_accepts_the_right_password_only(db):
    created = await users.create_user(db, " Lead@Example.com ", "s3cret-pass", "lead", "Lea")
    assert (created.identifier, created.role, created.has_password) == ("lead@example.com", "lead", True)

    user = await users.verify(db, "LEAD@example.com", "s3cret-pass")
    assert user is not None and user.identifier == "lead@example.com" and user.id == created.id
    assert user.role == "lead" and user.display_name == "Lea"
    assert await users.verify(db, "lead@example.com", "wrong-pass") is None
    assert await users.verify(db, "nobody@example.com", "s3cret-pass") is None


async def test_unknown_users_cost_the_same_hash_check(db, monkeypatch):
    await users.create_user(db, "oauth-only@example.com", None)
    checked = []

    class Spy:  # PasswordHasher has read-only slots, so wrap it
        def __getattr__(self, name):
            return getattr(real, name)

        def verify(self, hashed, password):
            checked.append(hashed)
            return real.verify(hashed, password)

    real = users.hasher
    monkeypatch.setattr(users, "hasher", Spy())
    assert await users.verify(db, "nobody@example.com", "whatever-pass") is None
    assert await users.verify(db, "oauth-only@example.com", "whatever-pass") is None  # no password set
    assert len(checked) == 2 and all(h.startswith("$argon2id$") for h in checked)


async def test_roles_are_checked_and_identifiers_unique(db):
    for role in ROLES:
        assert (await users.create_user(db, f"{role}@example.com", "password-1", role)).role == role
    with pytest.raises(ValueError):
        await users.create_user(db, "x@example.com", "password-1", "superuser")
    with pytest.raises(UserExistsError):
        await users.create_user(db, "ADMIN@example.com", "password-2", "customer")
    assert [(u.identifier, u.role) for u in await users.list_users(db)] == [
        ("admin@example.com", "admin"), ("customer@example.com", "customer"), ("lead@example.com", "lead"),
    ]  # fmt: skip


async def test_set_password_replaces_the_old_one(db):
    await users.create_user(db, "a@example.com", "old-password", "admin")
    await users.set_password(db, "a@example.com", "new-password")
    assert await users.verify(db, "a@example.com", "old-password") is None
    assert await users.verify(db, "a@example.com", "new-password") is not None
    with pytest.raises(UnknownUserError):
        await users.set_password(db, "ghost@example.com", "new-password")


async def test_chainlit_login_keeps_role_and_password(db, tmp_path):
    """Chainlit calls create_user on every login, with the metadata verify() returned."""
    from agent.web.datalayer import SQLDataLayer, persisted_user
    from agent.datalayer.storage import LocalStorage

    await users.create_user(db, "lead@example.com", "s3cret-pass", "lead")
    layer = SQLDataLayer(db, LocalStorage(tmp_path / "files"))
    try:
        user = await users.verify(layer, "lead@example.com", "s3cret-pass")  # the app passes its layer
        persisted = await layer.create_user(persisted_user(user))
        assert persisted.id == user.id and persisted.metadata["role"] == "lead"
        assert await users.verify(layer, "lead@example.com", "s3cret-pass") is not None
    finally:
        await layer.close()


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_")}
    return subprocess.run(
        [sys.executable, "-m", "agent.users", *args], cwd=ROOT, env=env, input=stdin,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


async def test_cli_adds_lists_and_changes_passwords(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'new' / 'cli.db'}"  # a database nobody has migrated yet
    common = ["--database-url", url, "--schema", ""]

    added = cli(*common, "add", "--role", "lead", "--identifier", "lead@example.com", "--password", "s3cret-pass")
    assert added.returncode == 0, added.stderr
    assert "created lead lead@example.com" in added.stdout
    piped = cli(*common, "add", "--identifier", "c@example.com", "--display-name", "Cy", stdin="piped-pass\n")
    assert piped.returncode == 0, piped.stderr

    listed = cli(*common, "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()[1:]]
    assert [(r[0], r[1], r[2], r[4]) for r in rows] == [("c@example.com", "customer", "Cy", "yes"),
                                                         ("lead@example.com", "lead", "", "yes")]  # fmt: skip
    assert "s3cret" not in listed.stdout and "argon2" not in listed.stdout

    again = cli(*common, "add", "--identifier", "lead@example.com", "--password", "other-pass")
    assert again.returncode == 1 and "already exists" in again.stderr
    assert cli(*common, "set-password", "--identifier", "lead@example.com", stdin="changed-pass\n").returncode == 0

    assert await users.verify(url, "lead@example.com", "changed-pass") is not None
    assert await users.verify(url, "c@example.com", "piped-pass") is not None


def test_cli_rejects_bad_input_without_a_traceback(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    short = cli("--database-url", url, "add", "--identifier", "x@example.com", "--password", "short")
    assert short.returncode == 1 and "at least" in short.stderr and "Traceback" not in short.stderr
    wrong = cli("--database-url", "mysql+aiomysql://h/db", "list")
    assert wrong.returncode == 1 and "SQLite or PostgreSQL" in wrong.stderr


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request, tmp_path) -> tuple[str, str]:
    """(url, schema) of an accounts database nobody has migrated yet."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'options.db'}", ""
        return
    require_postgres()
    with private_schema() as schema:
        yield PG_URL, schema


@pytest.mark.parametrize("add_options", ["before", "after"])
def test_cli_takes_database_options_before_or_after_the_command(fresh_database, add_options, tmp_path,
                                                                monkeypatch, capsys):
    url, schema = fresh_database
    monkeypatch.chdir(tmp_path)  # the default DATABASE_URL, sqlite:///.data/app.db, would land here
    url_option, schema_option = ["--database-url", url], ["--schema", schema]
    options = [*url_option, *schema_option]
    add = ["add", "--identifier", "lead@example.com", "--role", "lead", "--password", "s3cret-pass"]

    assert users.main([*options, *add] if add_options == "before" else [*add, *options]) == 0
    assert "created lead lead@example.com" in capsys.readouterr().out
    split = [*url_option, "list", *schema_option] if add_options == "before" else [*schema_option, "list", *url_option]
    assert users.main(split) == 0
    assert [line.split("\t")[:2] for line in capsys.readouterr().out.splitlines()[1:]] == [["lead@example.com", "lead"]]
    assert not (tmp_path / ".data").exists(), "the default database is never opened"
    assert [u.identifier for u in run_sync(users.list_users(url, schema=schema))] == ["lead@example.com"]


def test_the_users_module_runs_without_chainlit():
    code = "import sys, agent.users; sys.exit('chainlit' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0
