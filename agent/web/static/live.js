// The live hand-over page: new messages arrive over server-sent events; replies are posted without a reload.
// Without this script the page still works: the form posts and the page reloads with the transcript.
(function () {
  "use strict";
  const chat = document.getElementById("chat");
  const form = document.getElementById("reply");
  const problem = document.getElementById("live-error");
  const shown = new Set(Array.from(chat.querySelectorAll("li[data-id]"), (li) => li.dataset.id));

  function show(message) {
    if (shown.has(message.id)) return; // the stream starts with a catch-up of what is stored
    shown.add(message.id);
    const item = document.createElement("li");
    item.className = message.kind;
    item.dataset.id = message.id;
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = message.author;
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = message.text;
    item.append(who, text);
    chat.append(item);
    chat.scrollTop = chat.scrollHeight;
  }

  function say(text) {
    problem.textContent = text;
    problem.hidden = !text;
  }

  const events = new EventSource(chat.dataset.events);
  events.addEventListener("message", (event) => show(JSON.parse(event.data)));
  events.addEventListener("error", () => say("Reconnecting to the conversation…"));
  events.addEventListener("open", () => say(""));
  chat.scrollTop = chat.scrollHeight;

  if (form) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const box = form.elements.namedItem("text");
      const response = await fetch(form.action, {
        method: "POST", body: new FormData(form), headers: { Accept: "application/json" },
      }).catch(() => null);
      if (response === null) return say("Not sent: the workspace is not answering. Try again.");
      const raw = await response.text();
      let body = {};
      try { body = JSON.parse(raw); } catch (_) { /* a plain-text refusal: shown as it is */ }
      if (!response.ok) return say(body.detail || raw || "Not sent. Reload the page and try again.");
      say("");
      show(body);
      box.value = "";
      box.focus();
    });
  }
})();
