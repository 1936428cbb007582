/* Agenda: live refresh of the agenda fragments on agenda.* events, and a toast when one of the
   agent's callbacks or follow-ups falls due ("Callback due: <contact>", with a link). No inline code (CSP). */
(function () {
  "use strict";

  var timer = null;
  function refresh() {
    if (timer) return;
    timer = setTimeout(function () {
      timer = null;
      if (window.htmx) window.htmx.trigger(document.body, "raccordo:agenda");
    }, 150);
  }

  function showDue(payload) {
    var box = document.getElementById("toasts");
    var strings = document.getElementById("agenda-strings");
    if (!box || !strings || !payload.conversation_id) return;
    var toast = document.createElement("div");
    toast.className = "toast agenda-toast";
    toast.setAttribute("role", "status");
    toast.setAttribute("data-agenda-id", String(payload.id));
    var title = document.createElement("strong");
    var template = strings.getAttribute("data-due-" + payload.kind) || strings.getAttribute("data-due-callback") || "";
    title.textContent = template.replace("{contact}", payload.contact_name || ("#" + payload.conversation_id));
    toast.appendChild(title);
    if (payload.note) {
      var note = document.createElement("p");
      note.textContent = payload.note;
      toast.appendChild(note);
    }
    var link = document.createElement("a");
    link.href = "/conversations/" + payload.conversation_id;
    link.textContent = strings.getAttribute("data-open");
    var close = document.createElement("button");
    close.type = "button";
    close.className = "link";
    close.textContent = strings.getAttribute("data-close");
    close.addEventListener("click", function () { toast.remove(); });
    toast.appendChild(link);
    toast.appendChild(document.createTextNode(" "));
    toast.appendChild(close);
    box.appendChild(toast);
    setTimeout(function () { toast.remove(); }, 60000);
  }

  document.addEventListener("raccordo:event", function (event) {
    var message = event.detail || {};
    var kind = message.kind || "";
    if (kind.indexOf("agenda.") !== 0) return;
    refresh();
    var me = parseInt(document.body.getAttribute("data-user-id"), 10);
    if (kind === "agenda.due" && message.user_id === me) showDue(message.payload || {});
  });
})();
