/* Guided scripts: refresh the runner panel (and the customer's attributes) when a script event
   arrives for the open conversation: an answer given in another tab, or an admin saving a new
   version while the agent runs it. Listens to desktop.js's "raccordo:event"; no inline code (CSP). */
(function () {
  "use strict";

  function openConversationId() {
    var section = document.querySelector("section.conversation[data-conversation-id]");
    return section ? parseInt(section.getAttribute("data-conversation-id"), 10) : null;
  }

  // A live refresh that would show the very step already on screen (same run, step and version)
  // is not swapped in: it would wipe what the agent has started to answer. This covers the echo
  // of the agent's own answer arriving before or after the answer's own response.
  function stateOf(root) {
    var run = root && root.querySelector(".script-run[data-run-id]");
    return run ? [run.getAttribute("data-run-id"), run.getAttribute("data-step-id"), run.getAttribute("data-version")].join("/") : null;
  }
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || target.id !== "script-panel" || event.detail.requestConfig.verb !== "get") return;
    var incoming = document.createElement("div");
    incoming.innerHTML = event.detail.serverResponse || "";
    var now = stateOf(target);
    if (now !== null && now === stateOf(incoming) && !incoming.querySelector("[role=alert]")) event.detail.shouldSwap = false;
  });

  var timer = null;
  document.addEventListener("raccordo:event", function (event) {
    var message = event.detail || {};
    var kind = message.kind || "";
    if (kind.indexOf("script.") !== 0 || !message.conversation_id || message.conversation_id !== openConversationId()) return;
    // The echo of this tab's own answer: the panel already shows that step, and refreshing it
    // would wipe what the agent has started to fill in for it. Attributes still refresh.
    var payload = message.payload || {};
    var shown = document.querySelector("#script-panel .script-run[data-run-id]");
    if (kind === "script.run_updated" && shown && payload.status === "in_progress" &&
        shown.getAttribute("data-run-id") === String(payload.run_id) && shown.getAttribute("data-step-id") === String(payload.step || "")) {
      if (window.htmx) window.htmx.trigger(document.body, "raccordo:attributes");
      return;
    }
    if (timer) return;
    timer = setTimeout(function () {
      timer = null;
      if (!window.htmx) return;
      window.htmx.trigger(document.body, "raccordo:script");
      window.htmx.trigger(document.body, "raccordo:attributes");
    }, 150);
  });
})();
