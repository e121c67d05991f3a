"""Short answers and cues: yes, no, ok, "never mind", and a correction of what was said before."""

from __future__ import annotations

import re

from agent.offline.entities.text import _plain

_MAYBE = re.compile(r"\b(not sure|unsure|maybe|perhaps|i don'?t know|dunno|idk|not certain)\b")
_NO = re.compile(
    r"^(no|nope|nah|na|negative|not really|no way|don'?t|do not|not now|wrong|incorrect|n)\b"
    r"|\b(that'?s not (right|correct|it)|not (correct|right)|please don'?t|don'?t do (it|that))\b"
)
_YES = re.compile(
    r"^(yes|yeah|yea|yep|yup|ya|y|sure|ok|okay|k|correct|right|confirm(ed)?|affirmative|absolutely|"
    r"definitely|of course|certainly|please do|go ahead|do it|sounds good|that'?s (right|correct|it|fine)|"
    r"yes please|alright|all right|fine|exactly|proceed|perfect)\b"
    r"|\b(go ahead|please do|do it|confirm(ed)?|that'?s (right|correct)|sounds good)\b"
)
_NO_PROBLEM = re.compile(r"^no (problem|worries)\b")


_BARE = {
    "no": {"no", "nope", "nah", "no thanks", "no thank you", "no thx", "not really", "no that's all", "no that's it",
           "that's all", "that's it", "that is all", "nothing", "nothing else", "all good", "i'm good", "im good"},
    "yes": {"yes", "yeah", "yep", "yup", "ya", "sure", "yes please", "please", "please do", "sure please", "go ahead",
            "yes i would", "i would"},
    "ok": {"ok", "okay", "k", "kk", "alright", "all right", "fine", "got it", "ok cool", "okay cool", "understood",
           "i see", "ah ok", "oh ok", "ok then", "okay then"},
}


def bare_answer(text: str) -> str | None:
    """"yes", "no" or "ok" for a message that is nothing but that answer ("nope.", "Yes please!")."""
    plain = " ".join(_plain(text).replace(",", " ").strip(" .!").split())
    return next((kind for kind, words in _BARE.items() if plain in words), None)


def yes_no(text: str) -> bool | None:
    """True for a yes, False for a no, None when the message is neither or hedges."""
    plain = _plain(text)
    if not plain or _MAYBE.search(plain):
        return None
    if _NO_PROBLEM.match(plain):
        return True
    if _NO.search(plain):
        return False
    if _YES.search(plain):
        return True
    return None


_NEVER_MIND = re.compile(
    r"^(?:(?:please|ok|okay|oh|no|just|actually|hmm),? )?"
    r"(never ?mind|nvm|forget (it|about it|that)|cancel that|stop|scratch that|abort|"
    r"leave it|don'?t bother|no stop|quit|exit)\b"
)
_NEVER_MIND_ANYWHERE = re.compile(r"\b(never ?mind|nvm|forget it|forget about it|scratch that)\b")
_SHORT_MESSAGE_WORDS = 6  # longer messages carry a new request, not just a retreat


def never_mind(text: str) -> bool:
    """The customer abandons what is under way ("never mind", "forget it", "cancel that", "stop")."""
    plain = _plain(text).strip(" .!")
    if _NEVER_MIND_ANYWHERE.search(plain):
        return True
    if not _NEVER_MIND.match(plain):
        return False
    # "cancel that order" is a request; "cancel that" and "stop, please" are not.
    rest = _NEVER_MIND.sub("", plain, count=1)
    return len(plain.split()) <= _SHORT_MESSAGE_WORDS and not re.search(r"\b(order|item|purchase)\b", rest)


_CORRECTION = re.compile(
    r"\b(actually|i meant|i mean|meant to say|not that one|the other one|other order|wrong order|"
    r"that'?s wrong|that'?s not (it|right|the one)|not the right (one|order)|oops|my bad|correction)\b"
)


def correction(text: str) -> bool:
    """The customer corrects what they said before ("actually", "no, the other one", "I meant ...")."""
    return bool(_CORRECTION.search(_plain(text)))
