"""The dialogue engine's memory: typed views over the plain dict the session store keeps between turns.

Everything lives in `ModelRequest.state` (the conversation's `dialogue` dict), so a flow survives a
reload and continues on another instance. Only JSON types are stored: dicts, lists, strings, numbers.
The views hold no data of their own; they read and write the dict they wrap.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

T = TypeVar("T")
MAX_SAID = 6  # customer messages a flow remembers for references ("the headphones" said before identification)
MAX_RECENT = 8  # outcomes remembered for a hand-over summary
MAX_QUOTED = 3  # latest customer messages kept to quote in a hand-over summary


class Key(Generic[T]):
    """An attribute of a view, kept under its own name in the wrapped dict (so it is saved with it)."""

    def __init__(self, doc: str, read_only: bool = False) -> None:
        self.__doc__ = doc
        self.read_only = read_only

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, view: Any, owner: type | None = None) -> T:
        return view.data[self.name]

    def __set__(self, view: Any, value: T) -> None:
        if self.read_only:
            raise AttributeError(f"{self.name} is set through its view's methods")
        view.data[self.name] = value


class Flow:
    """One task in progress (a return, a cancellation...): its slots, what it asked, what it learned."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    @classmethod
    def start(cls, intent: str) -> Flow:
        return cls({"intent": intent, "slots": {}, "said": [], "since": {}, "awaiting": None, "options": {},
                    "prompt": "", "choices": [], "results": {}, "card": None, "refused": None, "notes": []})

    @property
    def intent(self) -> str:
        return str(self.data["intent"])

    @property
    def slots(self) -> dict[str, Any]:
        return self.data["slots"]

    def get(self, slot: str, default: Any = None) -> Any:
        return self.slots.get(slot, default)

    def fill(self, slot: str, value: Any) -> None:
        self.slots[slot] = value
        self.data["last_filled"] = slot

    def reject(self) -> str | None:
        """"No, the other one": forget the newest slot's value, and don't pick it by itself again."""
        slot = self.data.get("last_filled")
        if slot is None or slot not in self.slots:
            return None
        self.data.setdefault("rejected", {}).setdefault(slot, []).append(self.slots[slot])
        self.clear(slot)
        return slot

    def rejected(self, slot: str) -> list[Any]:
        return list(self.data.get("rejected", {}).get(slot, []))

    def clear(self, *slots: str, keep_newest: bool = False) -> None:
        """Forget slots, and the messages said so far as a source for them; with `keep_newest`, the latest
        message still counts (it is the correction: "actually, order #W1001004")."""
        for slot in slots:
            self.slots.pop(slot, None)
            self.data["since"][slot] = max(0, len(self.data["said"]) - (1 if keep_newest else 0))

    def hear(self, text: str) -> None:
        said: list[str] = self.data["said"]
        said.append(text)
        if len(said) > MAX_SAID:
            del said[0]
            for slot, index in self.data["since"].items():
                self.data["since"][slot] = max(0, index - 1)

    def heard(self, slot: str) -> list[str]:
        """Messages that may still fill `slot`, newest first."""
        return list(reversed(self.data["said"][self.data["since"].get(slot, 0):]))

    awaiting = Key[str | None]("the slot the open question asks for (None: no question)", read_only=True)

    @property
    def options(self) -> dict[str, Any]:
        """Choice label -> slot value, for the slot being asked."""
        return self.data["options"]

    def ask(self, slot: str | None, prompt: str, choices: dict[str, Any] | None = None) -> None:
        self.data["awaiting"] = slot
        self.data["prompt"] = prompt
        self.data["options"] = dict(choices or {})
        self.data["choices"] = list(self.data["options"])

    prompt = Key[str]("the open question, to ask again after an aside", read_only=True)

    @property
    def choices(self) -> list[str]:
        return list(self.data["choices"])

    @property
    def results(self) -> dict[str, Any]:
        """Data of the reads this flow made, by tool name (the answer of an information flow)."""
        return self.data["results"]

    card = Key[str | None]("the write tool whose confirmation card waits for a click")
    refused = Key[str | None]("why policy refused the request, while the customer decides what to do instead")

    def note(self, text: str) -> None:
        """Something that went wrong, for the hand-over summary."""
        if text not in self.data["notes"]:
            self.data["notes"].append(text)

    @property
    def notes(self) -> list[str]:
        return list(self.data["notes"])


class DialogueState:
    """The whole conversation's dialogue state: the flow in progress, who the customer is, store reads."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        data.setdefault("flow", None)
        data.setdefault("customer", None)
        data.setdefault("bound", False)
        data.setdefault("misses", 0)
        data.setdefault("handed_over", False)
        data.setdefault("cache", {})
        data.setdefault("turn", {})
        data.setdefault("recent", [])
        data.setdefault("said", [])
        data.setdefault("queue", [])
        data.setdefault("parked", [])

    @property
    def flow(self) -> Flow | None:
        return Flow(self.data["flow"]) if self.data["flow"] else None

    def start(self, intent: str) -> Flow:
        flow = Flow.start(intent)
        self.data["flow"] = flow.data
        return flow

    def end(self) -> None:
        self.data["flow"] = None

    @property
    def queue(self) -> list[dict[str, Any]]:
        """Requests of one message still to do, in order: {"intent", "text", "order_id", "number"}."""
        return self.data["queue"]

    def park(self) -> None:
        """The flow waits only for a click on its card: set it aside so the next queued request can start."""
        if self.data["flow"]:
            self.data["parked"].append(self.data["flow"])
        self.end()

    @property
    def parked_cards(self) -> list[str]:
        """Write tools whose cards wait for a click while another request went ahead."""
        return [str(flow["card"]) for flow in self.data["parked"] if flow.get("card")]

    def settle_parked(self, tool: str) -> None:
        parked = self.data["parked"]
        for index, flow in enumerate(parked):
            if flow.get("card") == tool:
                del parked[index]
                return

    def retire(self, *tools: str) -> None:
        """Cards of `tools` the customer took back or corrected: the runner retires them with this turn's reply."""
        retiring = self.turn.setdefault("withdraw", [])
        retiring.extend(tool for tool in tools if tool and tool not in retiring)

    def retiring(self) -> tuple[str, ...]:
        """The cards to retire with this response (said once: the list empties)."""
        return tuple(self.turn.pop("withdraw", []))

    def drop_all(self) -> None:
        """The customer called everything off: the flow, the queue and the parked cards."""
        self.end()
        self.data["queue"], self.data["parked"] = [], []

    @property
    def customer(self) -> str | None:
        """The store user id this conversation acts for, once a tool told us."""
        return self.data["customer"]

    @customer.setter
    def customer(self, user_id: str | None) -> None:
        self.data["customer"] = user_id
        if user_id:
            self.bound = True

    bound = Key[bool]("account tools answer (signed in or identified), even before the user id is known")

    misses = Key[int]("messages in a row not understood")

    handed_over = Key[bool]("a colleague has the conversation: misunderstandings no longer hand it over again")

    @property
    def cache(self) -> dict[str, Any]:
        """Store reads reused across turns: 'orders' (the list), 'order' (details by id), 'user', 'products'."""
        return self.data["cache"]

    def forget_store(self) -> None:
        """A write was applied: the orders, balances and statuses read before may be stale."""
        self.data["cache"] = {}

    @property
    def turn(self) -> dict[str, Any]:
        """Scratch for the message being answered: its routing and the notices to say before the reply."""
        return self.data["turn"]

    def new_turn(self) -> None:
        self.data["turn"] = {"notices": []}

    def notice(self, text: str) -> None:
        notices = self.turn.setdefault("notices", [])
        if text and text not in notices:
            notices.append(text)

    def notices(self) -> list[str]:
        return list(self.turn.get("notices", []))

    def hear(self, text: str) -> None:
        _keep_last(self.data["said"], text, MAX_QUOTED)

    @property
    def said(self) -> list[str]:
        """The customer's latest messages, oldest first."""
        return list(self.data["said"])

    def remember(self, text: str) -> None:
        """An outcome ("cancel_pending_order: applied"), for a later hand-over summary."""
        _keep_last(self.data["recent"], text, MAX_RECENT)

    @property
    def recent(self) -> list[str]:
        return list(self.data["recent"])


def _keep_last(items: list[str], item: str, limit: int) -> None:
    items.append(item)
    del items[:-limit]
