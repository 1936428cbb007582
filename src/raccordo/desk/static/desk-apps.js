// Side-panel apps: posts the conversation's context to each app frame beside the conversation,
// with targetOrigin = the app's exact origin, when the frame loads, when the open conversation
// changes (live events) and when the app asks for it ({type: "raccordo.ready"}). Messages from any
// other window or origin are ignored (counted in #side-apps[data-ignored]). Format: docs/side-panel-apps.md.
(function () {
  "use strict";

  var latest = {};  // app id -> the last context message fetched for it
  var loaded = {};  // app id -> whether its frame has loaded
  var timer = null;

  function box() { return document.getElementById("side-apps"); }

  function frames() {
    return Array.prototype.slice.call(document.querySelectorAll("iframe[data-side-app]"));
  }

  function post(frame) {
    var id = frame.getAttribute("data-side-app");
    if (!latest[id] || !loaded[id] || !frame.contentWindow) return;
    frame.contentWindow.postMessage(latest[id], frame.getAttribute("data-origin"));
  }

  function refresh() {
    var section = box();
    if (!section) return;
    var url = "/api/v1/conversations/" + section.getAttribute("data-conversation-id") + "/side-panel-apps";
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (rows) {
        rows.forEach(function (row) { latest[String(row.id)] = row.message; });
        frames().forEach(post);
      })
      .catch(function () { /* offline: the next event or ready message tries again */ });
  }

  function later() {
    if (timer) clearTimeout(timer);
    timer = setTimeout(function () { timer = null; refresh(); }, 200);
  }

  function ignored() {
    var section = box();
    if (section) section.setAttribute("data-ignored", String(parseInt(section.getAttribute("data-ignored") || "0", 10) + 1));
  }

  window.addEventListener("message", function (event) {
    var section = box();
    if (!section) return;
    var frame = frames().filter(function (f) { return f.contentWindow === event.source; })[0];
    if (!frame || event.origin !== frame.getAttribute("data-origin")) {
      // Not one of our app frames, or the frame now shows another origin than the configured one.
      if (event.data && typeof event.data === "object" && typeof event.data.type === "string" && event.data.type.indexOf("raccordo.") === 0) ignored();
      return;
    }
    if (event.data && event.data.type === "raccordo.ready") {
      loaded[frame.getAttribute("data-side-app")] = true;  // it may have loaded before this script ran
      later();
    }
    else ignored();
  });

  document.addEventListener("raccordo:event", function (event) {
    var section = box();
    var message = event.detail || {};
    if (!section) return;
    var kind = String(message.kind || "");
    var open = parseInt(section.getAttribute("data-conversation-id"), 10);
    if ((kind.indexOf("conversation.") === 0 && message.conversation_id === open) || kind.indexOf("contact.") === 0) later();
  });

  function start() {
    frames().forEach(function (frame) {
      frame.addEventListener("load", function () {
        loaded[frame.getAttribute("data-side-app")] = true;
        post(frame);
      });
    });
    if (box()) refresh();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
