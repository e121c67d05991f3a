"""On shutdown the app releases what outlives a request (agent/factory.py `Services.aclose`)."""

from __future__ import annotations

from types import SimpleNamespace

from agent.factory import Services


async def test_every_part_closes_even_when_one_fails(caplog):
    closed: list[str] = []

    def closer(name: str, fail: bool = False):
        async def close() -> None:
            closed.append(name)
            if fail:
                raise ConnectionError(f"{name} is gone")
        return close

    services = Services(chat=None, agent=None, knowledge=None, registry=None, uploads=None, login_limiter=None,
                        store=SimpleNamespace(dispose=closer("shop")),
                        relay=SimpleNamespace(close=closer("relay", fail=True)),
                        sessions=SimpleNamespace(close=closer("sessions")))
    await services.aclose()
    assert closed == ["relay", "sessions", "shop"]
    assert "could not close the relay" in caplog.text
