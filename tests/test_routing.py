"""The intent router on held-out data: accuracy, false activation, and the data sets' hygiene.

The limits (OFFLINE_INTENT_THRESHOLD, OFFLINE_INTENT_MIN_SIMILARITY) were calibrated on the dev file only;
the test file and Banking77 are never used to tune anything.
"""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from agent.offline.intents import INFORM, INTENTS, OUT_OF_SCOPE, STORE_FLOWS, load_examples, normalize
from agent.eval.routing import evaluate_routing, load_rows
from tests.conftest import ROOT, require, shared_data

DATA = ROOT / "agent" / "eval" / "data"
DEV, TEST = DATA / "routing_dev.jsonl", DATA / "routing_test.jsonl"
DEV2 = DATA / "routing_dev2.jsonl"  # a second dev file in the second test file's styles, for tuning
DEV3 = DATA / "routing_dev3.jsonl"  # written before a batch of examples, to check that they generalise
DEV4 = DATA / "routing_dev4.jsonl"  # exchanges, order changes and their look-alikes, for tuning
DEV5 = DATA / "routing_dev5.jsonl"  # returns and look-alikes in the second test file's styles, for tuning
DEV6 = DATA / "routing_dev6.jsonl"  # look-alikes of every store intent in the second test file's styles, for tuning
DEV7 = DATA / "routing_dev7.jsonl"  # other businesses' orders, returns and bills, named by kind, for tuning
BANKING77 = shared_data("banking77/train.csv")

# The project's acceptance thresholds on the held-out test file.
MIN_TEST_ACCURACY = 0.90
MAX_FALSE_ACTIVATION = 0.03
MIN_EXAMPLES_PER_INTENT = 15
MIN_OUT_OF_SCOPE_EXAMPLES = 80
MIN_DEV_ROWS, MIN_TEST_ROWS, MIN_TEST_OUT_OF_SCOPE = 200, 400, 150
# Banking77 is all out of scope for a shop, but three of its categories are, word for word, shop
# requests too ("when will I get my refund?", "how can I change my address?", "I want to return an
# item for a refund"): a shop assistant must route those to its flows. The bound on the rest is
# the acceptance threshold; on everything it is what the router measured, with some slack.
BANKING_SHOP_LIKE = frozenset({"Refund_not_showing_up", "request_refund", "edit_personal_details"})
BANKING_SAMPLE, BANKING_SEED = 1000, 77
MAX_BANKING_FALSE_ACTIVATION = 0.06


@pytest.fixture(scope="module")
def router(embedder):
    from agent.offline.router import IntentRouter
    from agent.settings import OfflineSettings

    return IntentRouter.from_settings(embedder, OfflineSettings())


@pytest.fixture(scope="module")
def test_report(router):
    return evaluate_routing(router, load_rows(TEST))


def test_test_file_accuracy_meets_acceptance(test_report):
    assert test_report.accuracy >= MIN_TEST_ACCURACY, test_report.confusions[:10]


# Issue #12's bar; the second test file is held to it in tests/test_routing_second_set.py.
ISSUE12_ACCURACY, ISSUE12_RECALL, ISSUE12_FALSE_ACTIVATION = 0.93, 0.90, 0.02


def assert_meets_issue_12s_bar(report) -> None:
    # Numbers only in the messages: the held-out rows are not printed.
    assert report.accuracy >= ISSUE12_ACCURACY, f"accuracy {report.accuracy:.1%}"
    assert report.false_activation_rate <= ISSUE12_FALSE_ACTIVATION, (
        f"false activation {report.false_activation_rate:.1%}")
    short = {intent: f"{stats.recall:.1%}" for intent, stats in report.per_intent.items()
             if intent in STORE_FLOWS and stats.recall < ISSUE12_RECALL}
    assert not short, f"store intents under {ISSUE12_RECALL:.0%} recall: {short}"


def test_test_file_meets_issue_12s_bar(test_report):
    assert_meets_issue_12s_bar(test_report)


def test_test_file_false_activation_meets_acceptance(test_report):
    assert test_report.false_activation_rate <= MAX_FALSE_ACTIVATION, [
        e for e in test_report.errors if e["expected"] == OUT_OF_SCOPE
    ]


def test_every_intent_has_enough_examples():
    examples = load_examples()
    assert set(examples) == set(INTENTS)
    for intent, texts in examples.items():
        assert len(texts) >= MIN_EXAMPLES_PER_INTENT, intent
    assert len(examples[OUT_OF_SCOPE]) >= MIN_OUT_OF_SCOPE_EXAMPLES


def test_data_sets_are_big_enough_and_labelled_with_known_intents():
    dev, test = load_rows(DEV), load_rows(TEST)
    assert len(dev) >= MIN_DEV_ROWS and len(test) >= MIN_TEST_ROWS
    assert sum(row.intent == OUT_OF_SCOPE for row in test) >= MIN_TEST_OUT_OF_SCOPE
    assert {row.intent for row in dev + test + load_rows(DEV2) + load_rows(DEV3) + load_rows(DEV4)
            + load_rows(DEV5) + load_rows(DEV6) + load_rows(DEV7)} <= set(INTENTS)


def test_examples_dev_and_test_share_no_sentence():
    sets = {
        "examples": [text for texts in load_examples().values() for text in texts],
        "dev": [row.text for row in load_rows(DEV)],
        "dev2": [row.text for row in load_rows(DEV2)],
        "dev3": [row.text for row in load_rows(DEV3)],
        "dev4": [row.text for row in load_rows(DEV4)],
        "dev5": [row.text for row in load_rows(DEV5)],
        "dev6": [row.text for row in load_rows(DEV6)],
        "dev7": [row.text for row in load_rows(DEV7)],
        "test": [row.text for row in load_rows(TEST)],
    }
    normalized = {name: [normalize(text) for text in texts] for name, texts in sets.items()}
    for name, texts in normalized.items():
        assert len(texts) == len(set(texts)), f"{name} repeats itself"
    names = list(normalized)
    for i, first in enumerate(names):
        for second in names[i + 1:]:
            assert not set(normalized[first]) & set(normalized[second]), (first, second)


# Torn between an exchange and an order change, and surely the shop's: neither reaches the probability bar alone.
TORN = "so the headphones came, nice, but the gold trim is kinda tacky on me. the plain black edition would be better"


def test_a_message_torn_between_two_requests_goes_to_the_likelier(router):
    routing = router.route(TORN)
    assert routing.in_scope and routing.intent == "exchange_items" and not routing.clear
    strict = router.with_limits(router.threshold, router.min_similarity)
    strict.in_scope_threshold = 1.0  # off: out of scope when no request reaches the bar
    assert strict.route(TORN).intent == OUT_OF_SCOPE


# Like no example in its words, so under the similarity floor, yet the classifier is sure it is an exchange.
UNFAMILIAR = "the curtains that came are too short for my windows, could I get the 90 inch length instead"


def test_a_message_the_classifier_is_sure_of_is_understood_below_the_similarity_floor(router):
    assert router.route(UNFAMILIAR).intent == "exchange_items"
    strict = router.with_limits(router.threshold, router.min_similarity)
    strict.understood_threshold = 1.0  # off: the similarity floor alone decides what is understood
    assert strict.route(UNFAMILIAR).intent == OUT_OF_SCOPE


def test_long_message_routes_on_its_request_not_its_greeting(router):
    routing = router.route("Hi there. I bought headphones last week and they broke. I want to return them")
    assert routing.intent == "return_items" and routing.in_scope


def test_out_of_scope_greeting_is_not_a_greeting(router):
    routing = router.route("Hi. I ordered sushi from a restaurant an hour ago. Where is it?")
    assert routing.intent == OUT_OF_SCOPE and not routing.in_scope
    assert routing.runner_up != OUT_OF_SCOPE, "out of scope, the runner-up is the best store guess"


@pytest.mark.parametrize("text", ["#W1234567", "my order number is w1234567", "dana@example.com"])
def test_bare_identifiers_inform_rather_than_start_a_flow(router, text):
    assert router.route(text).intent == INFORM


@pytest.mark.parametrize("text, intent", [("thx", "thanks"), ("yo", "greeting"), ("cya", "goodbye")])
def test_short_small_talk_is_answered_by_rule(router, text, intent):
    assert router.route(text).intent == intent


@pytest.mark.parametrize("text", ["track W5551234", "where's #W2223334"])
def test_an_order_id_reads_as_an_order(router, text):
    """An id's word pieces mean nothing to the model; said as "order", "track W5551234" is a status request."""
    routing = router.route(text)
    assert routing.intent == "order_status" and routing.in_scope


def test_typos_are_corrected_before_embedding(router):
    assert router.route("cancle my ordr").intent == "cancel_order"


def test_empty_message_is_out_of_scope(router):
    assert not router.route("   ").in_scope
    assert router.route_many([]) == []


def test_route_many_matches_route(router):
    texts = ["where is my order", "tell me a joke", "thanks"]
    batch, one_by_one = router.route_many(texts), [router.route(text) for text in texts]
    assert [r.intent for r in batch] == [r.intent for r in one_by_one]
    # Batched and single embeddings differ in the last float bits.
    assert [r.score for r in batch] == pytest.approx([r.score for r in one_by_one], abs=1e-5)


def test_a_text_routed_lately_is_not_classified_again(router, monkeypatch):
    """The engine routes a message, then the facts' tagger routes it again: the second costs nothing."""
    calls = []
    classify = router._classifier.probabilities
    monkeypatch.setattr(router._classifier, "probabilities", lambda *a: calls.append(a[0]) or classify(*a))
    text = "hi, could you tell me where my parcel with the blender is"
    first = router.route(text)
    assert router.route_many(["what time is it on mars", text]) == [router.route("what time is it on mars"), first]
    assert [text] in calls and sum(text in batch for batch in calls) == 1, calls
    # A clone with other limits decides differently, so it keeps its own memory.
    strict = router.with_limits(threshold=0.999, min_similarity=router.min_similarity)
    assert strict.route(text).intent == OUT_OF_SCOPE != first.intent
    assert router.route(text) == first


def test_a_long_request_is_read_whole_and_a_story_sentence_by_sentence(router, monkeypatch):
    """A message's sentences decide only when the whole asks nothing of the shop; a long request is embedded once."""
    fresh = router.with_limits(router.threshold, router.min_similarity)  # its own memory: nothing routed lately
    embedded: list[str] = []
    embed = fresh.embedder.embed
    monkeypatch.setattr(fresh.embedder, "embed", lambda texts: embedded.extend(texts) or embed(texts))
    request = "Hi there. I bought headphones last week and they broke. I want to return them"
    assert fresh.route(request).intent == "return_items"
    assert len(embedded) == 1, embedded
    embedded.clear()
    story = "We went hiking in the rain last weekend. The views were great. Which trail in Colorado should we try next?"
    assert fresh.route(story).intent == OUT_OF_SCOPE
    assert len(embedded) == 4, embedded  # the whole, then its three sentences
    assert [r.intent for r in fresh.route_many([request, story])] == [router.route(request).intent, OUT_OF_SCOPE]


def test_nearest_examples_are_read_only_where_the_classifier_is_unsure(router, monkeypatch):
    fresh = router.with_limits(router.threshold, router.min_similarity)  # its own memory: nothing routed lately
    looked: list[int] = []
    similarity = fresh._classifier.similarity
    monkeypatch.setattr(fresh._classifier, "similarity",
                        lambda vectors: looked.append(len(vectors)) or similarity(vectors))
    sure = fresh.route("where is my order W1234567")
    assert sure.intent == "order_status" and sure.score >= fresh.understood_threshold and not looked
    unsure = fresh.route("what is the capital of australia")
    assert unsure.intent == OUT_OF_SCOPE and looked == [1]
    batch = router.route_many(["where is my order W1234567", "what is the capital of australia"])
    assert [(r.intent, r.known) for r in batch] == [(sure.intent, sure.known), (unsure.intent, unsure.known)]


def test_router_needs_out_of_scope_examples():
    from agent.offline.classifier import ClassifierOptions
    from agent.offline.router import IntentRouter
    from knowledge.testing import FakeEmbedder

    with pytest.raises(ValueError, match="out_of_scope"):
        IntentRouter(FakeEmbedder(), {"greeting": ["hi"], "thanks": ["thanks"]}, threshold=0.5, min_similarity=0.4,
                     options=ClassifierOptions(regularization=1.0, lexical_weight=1.0, top_k=3))


def test_cli_prints_and_writes_the_report(tmp_path):
    out = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "agent.eval", "routing", str(TEST), "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "false activation" in result.stdout and "precision" in result.stdout
    report = json.loads(out.read_text())
    assert report["total"] == len(load_rows(TEST))
    assert {"accuracy", "false_activation_rate", "per_intent", "confusions"} <= set(report)


def test_banking77_rarely_starts_a_store_flow(router):
    require(BANKING77.exists(), f"Banking77 not found at {BANKING77}")
    with BANKING77.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    # The second half of a fixed shuffle: the first half was the one looked at while writing negatives.
    order = list(range(len(rows)))
    random.Random(BANKING_SEED).shuffle(order)
    held_out = order[len(order) // 2:]
    sample = [rows[i] for i in random.Random(BANKING_SEED).sample(held_out, BANKING_SAMPLE)]
    routed = [r.intent for r in router.route_many([row["text"] for row in sample])]
    activated = [row["category"] for row, intent in zip(sample, routed, strict=True) if intent in STORE_FLOWS]
    clear_cut = [row for row in sample if row["category"] not in BANKING_SHOP_LIKE]
    clear_cut_activated = [c for c in activated if c not in BANKING_SHOP_LIKE]
    print(f"Banking77: {len(activated) / len(sample):.1%} false activation, "
          f"{len(clear_cut_activated) / len(clear_cut):.1%} outside the shop-like categories")
    assert len(activated) / len(sample) <= MAX_BANKING_FALSE_ACTIVATION, activated
    assert len(clear_cut_activated) / len(clear_cut) <= MAX_FALSE_ACTIVATION, clear_cut_activated


def test_shipped_data_is_valid_json_lines():
    for path in (DEV, TEST):
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            assert set(json.loads(line)) == {"text", "intent"}


@pytest.mark.parametrize(("text", "intent"), [
    ("I want to cancel my gym membership", OUT_OF_SCOPE),
    ("how do I top up my card", OUT_OF_SCOPE),
    ("where is my walmart order", OUT_OF_SCOPE),
    ("where's my gopuff order", OUT_OF_SCOPE),  # food delivery services, by name
    ("I can't find my order on their website", OUT_OF_SCOPE),  # "their": another business's
    ("I work at a cafe and need to cancel a supplier order", OUT_OF_SCOPE),  # the customer's job, not our shop
    ("I want to cancel an order I placed with a furniture maker", OUT_OF_SCOPE),  # a kind of business, indefinite
    ("my wife's order from a clothing site came damaged, what should she tell them", OUT_OF_SCOPE),
    ("my refund from the dmv hasn't come yet", OUT_OF_SCOPE),
    ("I ordered a lamp from your site a week ago and nothing yet", "order_status"),  # "your site" is ours
    # A business's kind after a word of buying only, and "a shop" bare may be us: our customers' requests stay ours.
    ("cancel my order, i found it cheaper at another store", "cancel_order"),
    ("I bought a keyboard with a company card, can I get an invoice for it", "invoice"),
    ("the watch came with an app that won't pair, i want to return it", "return_items"),
    ("I bought it as a gift from a shop, can I return it?", "return_items"),
    ("I need to withdraw my order, I don't need it anymore", "cancel_order"),
    ("please cancel order #W1001003, my flight got moved and I won't need it", "cancel_order"),
])
def test_another_business_never_starts_a_store_flow_without_our_order_id(router, text, intent):
    assert router.route(text).intent == intent


def test_dev7_other_businesses_rarely_start_a_store_flow(router):
    # Orders at a boutique, a bakery, a furniture maker (data/businesses.txt) took dev7 from 7 of 223 out-of-scope
    # rows starting a flow to 2.
    report = evaluate_routing(router, load_rows(DEV7))
    assert report.false_activation_rate <= ISSUE12_FALSE_ACTIVATION, [
        e["text"] for e in report.errors if e["expected"] == OUT_OF_SCOPE and e["routed"] in STORE_FLOWS]
    assert report.accuracy >= ISSUE12_ACCURACY, f"accuracy {report.accuracy:.1%}"


def test_dev6_look_alikes_rarely_start_a_store_flow(router):
    # Game stores, other senses of "order" and "address", writing requests and more companies by name
    # (data/elsewhere.txt) took dev6 from 6 of 163 out-of-scope rows starting a flow to 2 of 157.
    report = evaluate_routing(router, load_rows(DEV6))
    assert report.false_activation_rate <= ISSUE12_FALSE_ACTIVATION, [
        e["text"] for e in report.errors if e["expected"] == OUT_OF_SCOPE and e["routed"] in STORE_FLOWS]
    assert report.accuracy >= ISSUE12_ACCURACY, f"accuracy {report.accuracy:.1%}"


@pytest.mark.parametrize("text", ["steam refund", "restraining order info", "what's my mac address",
                                  "write a haiku about my package"])
def test_other_senses_of_the_shops_words_are_out_of_scope(router, text):
    assert router.route(text).intent == OUT_OF_SCOPE
