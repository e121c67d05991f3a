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

    def services(model: object) -> Services:
        return Services(chat=None, agent=SimpleNamespace(model=model), knowledge=None, registry=None, uploads=None,
                        login_limiter=None, store=SimpleNamespace(dispose=closer("shop")),
                        relay=SimpleNamespace(close=closer("relay", fail=True)),
                        sessions=SimpleNamespace(close=closer("sessions")))

    await services(SimpleNamespace(aclose=closer("model"))).aclose()  # a model server's pooled connections
    assert closed == ["relay", "sessions", "shop", "model"]
    assert "could not close the relay" in caplog.text
    closed.clear()
    await services(SimpleNamespace()).aclose()  # the offline engine holds no connections
    assert closed == ["relay", "sessions", "shop"]
