/* A reply is never lost silently (docs/desktop.md):
   - a send of the composer that fails (server error, network drop, a refused or stale target) says so
     at the composer, with "Try again"; the form is not swapped, so the typed text and files stay;
   - "Send on another channel" in a failed delivery's banner opens the composer on that inbox with the
     failed text. */
(function () {
  "use strict";

  var failed = null;  // the element whose request failed: "Try again" sends it again

  function inComposer(elt) {
    return elt && elt.closest && (elt.id === "composer" || elt.closest("#composer"));
  }

  function showFailure(elt, message) {
    var box = document.getElementById("composer-failure");
    if (!box) return;
    failed = elt;
    box.querySelector("p").textContent = message;
    box.hidden = false;
  }

  function hideFailure() {
    var box = document.getElementById("composer-failure");
    if (box) box.hidden = true;
    failed = null;
  }

  function text(key, values) {
    var box = document.getElementById("composer-failure");
    var template = (box && box.getAttribute("data-t-" + key)) || "";
    return template.replace(/\{(\w+)\}/g, function (all, name) { return name in values ? values[name] : all; });
  }

  // A 422 comes back as the composer with the errors next to the fields; anything else is shown here.
  document.addEventListener("htmx:afterRequest", function (event) {
    var elt = event.detail.elt, xhr = event.detail.xhr;
    if (!inComposer(elt) || !xhr) return;
    var verb = event.detail.requestConfig && event.detail.requestConfig.verb;
    if (verb && verb !== "post") return;
    if (xhr.status === 0) return;  // htmx:sendError says it
    if (xhr.status >= 400 && xhr.status !== 422) {
      var refused = xhr.status < 500;
      var detail = "";
      if (refused) {
        var holder = document.createElement("div");
        holder.innerHTML = xhr.responseText || "";
        detail = (holder.textContent || "").trim();
      }
      showFailure(elt, refused && detail ? text("refused", { message: detail }) : text("server", { status: String(xhr.status) }));
    } else if (xhr.status < 400) {
      hideFailure();
    }
  });
  document.addEventListener("htmx:sendError", function (event) {
    if (inComposer(event.detail.elt)) showFailure(event.detail.elt, text("network", {}));
  });

  document.addEventListener("click", function (event) {
    var button = event.target && event.target.closest ? event.target.closest("button[data-action]") : null;
    if (!button) return;
    var action = button.getAttribute("data-action");
    if (action === "composer-retry" && failed && window.htmx) {
      var again = failed;
      hideFailure();
      window.htmx.trigger(again, again.tagName === "FORM" ? "submit" : "click");
    } else if (action === "send-elsewhere") {
      openComposerOn(button.getAttribute("data-inbox-id"), button.getAttribute("data-text") || "");
    }
  });

  function openComposerOn(inboxId, body) {
    var reply = document.getElementById("composer-mode-reply");
    if (reply && !reply.checked) {
      reply.checked = true;
      reply.dispatchEvent(new Event("change", { bubbles: true }));
    }
    var select = document.getElementById("reply-inbox");
    if (select && inboxId) {
      select.value = inboxId;
      select.dispatchEvent(new Event("change", { bubbles: true }));
    }
    var textarea = document.getElementById("reply-text");
    if (!textarea) return;
    textarea.value = body;
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
    textarea.scrollIntoView({ block: "center" });
    textarea.focus();
  }
})();
