/* Guided scripts: refresh the runner panel (and the customer's attributes) when a script event
   arrives for the open conversation: an answer given in another tab, or an admin saving a new
   version while the agent runs it. Listens to desktop.js's "raccordo:event"; no inline code (CSP). */
(function () {
  "use strict";

  function openConversationId() {
    var section = document.querySelector("section.conversation[data-conversation-id]");
    return section ? parseInt(section.getAttribute("data-conversation-id"), 10) : null;
  }

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
