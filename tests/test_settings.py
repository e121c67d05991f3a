"""Settings come from env and .env; the README table and .env.example stay in sync with them."""

from __future__ import annotations

import re
import tomllib

import pytest

from agent.settings import AuthSettings, Settings, env_example, markdown_table
from tests.conftest import ROOT


def test_defaults_need_no_configuration():
    settings = Settings()
    assert not settings.llm.configured, "no key, no server: the offline engine is the default"
    assert settings.knowledge.collection == "support-kb"


def test_env_and_dotenv_override_defaults(monkeypatch, tmp_path):
    (tmp_path / ".env").write_text("LLM_MODEL=llama3.1\nLLM_BASE_URL=http://localhost:11434/v1\nCHAT_MAX_TOOL_STEPS=7\n")
    monkeypatch.setenv("CHAT_MAX_TOOL_STEPS", "9")
    settings = Settings()
    assert settings.llm.configured and settings.llm.model == "llama3.1"
    assert settings.llm.base_url == "http://localhost:11434/v1"
    assert settings.chat.max_tool_steps == 9, "the environment wins over .env"


def test_secrets_are_not_printed(monkeypatch):
    monkeypatch.setenv("LLM_API_KEY", "sk-secret-value")
    settings = Settings()
    assert settings.llm.api_key.get_secret_value() == "sk-secret-value"
    assert "sk-secret-value" not in repr(settings)


def test_env_example_is_in_sync():
    assert (ROOT / ".env.example").read_text() == env_example(), "run `make env-example`"


def test_readme_configuration_table_is_in_sync():
    readme = (ROOT / "README.md").read_text()
    assert markdown_table() in readme, "paste `python -m agent.settings markdown` into the README"


def test_every_variable_has_a_description():
    for line in markdown_table().splitlines()[2:]:
        assert not line.endswith("|  |"), line


def test_chainlit_config_is_safe():
    config = tomllib.loads((ROOT / ".chainlit" / "config.toml").read_text())
    origins = config["project"]["allow_origins"]
    assert origins and "*" not in origins
    assert config["features"]["unsafe_allow_html"] is False
    upload = config["features"]["spontaneous_file_upload"]
    assert "*/*" not in upload["accept"] and "*" not in str(upload["accept"])


def test_chainlit_upload_limits_match_ours():
    from agent.settings import UploadSettings

    upload = tomllib.loads((ROOT / ".chainlit" / "config.toml").read_text())["features"]["spontaneous_file_upload"]
    ours = UploadSettings()
    assert upload["enabled"] is True
    assert (upload["max_files"], upload["max_size_mb"]) == (ours.max_files, ours.max_size_mb)
    extensions = {ext.lstrip(".") for exts in upload["accept"].values() for ext in exts}
    assert {"pdf", "docx", "html", "md", "txt", "csv", "eml"} <= extensions
    assert extensions - {"htm", "markdown"} <= set(ours.allowed_types)


def test_readme_starts_with_the_two_commands():
    first_lines = (ROOT / "README.md").read_text().splitlines()[:12]
    commands = [line.strip() for line in first_lines if re.fullmatch(r"\s*make \w+\s*", line)]
    assert commands[:2] == ["make run", "make test"]


@pytest.mark.parametrize("origin", ["*", "https://shop.example/path", "shop.example", "https://*.example"])
def test_the_widget_origin_is_one_exact_origin(origin):
    with pytest.raises(ValueError, match="AUTH_WIDGET_ORIGIN"):
        AuthSettings(widget_origin=origin)
    assert AuthSettings(widget_origin="https://shop.example/").widget_origin == "https://shop.example"
