/* Raccordo agent desktop: CSRF header for htmx, the live WebSocket, offers and presence (Alpine components).
   No build step; Alpine is its CSP build, so components are registered here, not written inline. */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  document.addEventListener("htmx:configRequest", function (event) {
    var token = csrfToken();
    if (token) event.detail.headers["X-CSRF-Token"] = token;
    if ("snoozed_until" in event.detail.parameters || (event.detail.parameters.has && event.detail.parameters.has("snoozed_until"))) {
      var offset = String(new Date().getTimezoneOffset());
      if (event.detail.parameters.set) event.detail.parameters.set("tz_offset", offset);
      else event.detail.parameters.tz_offset = offset;
    }
  });

  // An error answer aimed at the page's error region (the page kernel sets HX-Retarget on every
  // error of an htmx request): show it there, instead of htmx dropping a 4xx silently.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail.xhr;
    if (xhr && xhr.status >= 400 && xhr.status !== 422 && xhr.getResponseHeader("HX-Retarget")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    // The agent's next successful action clears the last error (a background refresh does not).
    var region = document.getElementById("page-error");
    var xhr = event.detail.xhr, elt = event.detail.elt;
    var byAgent = elt && (elt.tagName === "FORM" || elt.tagName === "BUTTON" || elt.tagName === "A");
    if (region && byAgent && xhr && xhr.status < 400 && region.childNodes.length) region.textContent = "";
  });

  function fire(name) {
    if (window.htmx) window.htmx.trigger(document.body, name);
  }

  // Debounced refreshes: a burst of events makes one request per fragment.
  var pending = {};
  function refresh(name) {
    if (pending[name]) return;
    pending[name] = setTimeout(function () { delete pending[name]; fire(name); }, 150);
  }

  function openConversationId() {
    var section = document.querySelector("section.conversation[data-conversation-id]");
    return section ? parseInt(section.getAttribute("data-conversation-id"), 10) : null;
  }

  // --- collision: who else is viewing or typing in the open conversation ------------------------
  var viewers = [], typers = {}, typingSentAt = 0, typingStop = null;

  function send(message) {
    if (socket && socket.readyState === 1) socket.send(JSON.stringify(message));
  }

  function renderCollision() {
    var box = document.getElementById("collision");
    if (!box) return;
    var names = {};
    try { names = JSON.parse(box.getAttribute("data-users") || "{}"); } catch (e) { names = {}; }
    var me = parseInt(document.body.getAttribute("data-user-id"), 10);
    var now = Date.now();
    var nameOf = function (id) { return names[String(id)] || ("#" + id); };
    var watching = viewers.filter(function (id) { return id !== me; }).map(nameOf);
    var typing = Object.keys(typers).filter(function (id) { return typers[id] > now && parseInt(id, 10) !== me; }).map(nameOf);
    var parts = [];
    if (watching.length) parts.push(box.getAttribute("data-viewing").replace("{names}", watching.join(", ")));
    if (typing.length) parts.push(box.getAttribute("data-typing").replace("{names}", typing.join(", ")));
    box.textContent = parts.join(" · ");
    box.hidden = parts.length === 0;
    box.setAttribute("data-viewers", watching.join(","));
    box.setAttribute("data-typers", typing.join(","));
  }

  function onCollision(message) {
    if (message.conversation_id !== openConversationId()) return;
    if (message.type === "viewers") {
      viewers = message.user_ids || [];
    } else if (message.type === "typing") {
      if (message.state) typers[message.user_id] = Date.now() + 6000;
      else delete typers[message.user_id];
      setTimeout(renderCollision, 6100);
    }
    renderCollision();
  }

  function typing(state) {
    var current = openConversationId();
    if (!current) return;
    send({ type: "typing", conversation_id: current, state: state });
    typingSentAt = state ? Date.now() : 0;
  }

  document.addEventListener("input", function (event) {
    if (!event.target || event.target.id !== "reply-text") return;
    if (Date.now() - typingSentAt > 3000) typing(true);
    clearTimeout(typingStop);
    typingStop = setTimeout(function () { typing(false); }, 4000);
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (typingSentAt && event.target && event.target.closest && event.target.closest("#composer")) { clearTimeout(typingStop); typing(false); }
  });
  window.addEventListener("pagehide", function () {
    var current = openConversationId();
    if (current) send({ type: "viewing", conversation_id: current, state: false });
  });

  // --- answer templates: "/" in the composer opens a picker of rendered templates ---------------
  var picker = { url: null, rows: null, shown: [], index: 0, start: -1 };

  function pickerList() { return document.getElementById("template-picker"); }

  function closePicker() {
    var list = pickerList();
    if (list) { list.hidden = true; list.textContent = ""; }
    picker.shown = []; picker.start = -1; picker.index = 0;
  }

  function drawPicker(query) {
    var list = pickerList();
    if (!list || !picker.rows) return;
    var q = query.toLowerCase();
    picker.shown = picker.rows.filter(function (row) { return row.shortcut.indexOf(q) === 0 || row.name.toLowerCase().indexOf(q) !== -1; }).slice(0, 20);
    picker.index = Math.min(picker.index, Math.max(0, picker.shown.length - 1));
    list.textContent = "";
    if (!picker.shown.length) {
      var empty = document.createElement("li");
      empty.textContent = list.getAttribute("data-empty");
      empty.setAttribute("aria-disabled", "true");
      list.appendChild(empty);
    }
    picker.shown.forEach(function (row, i) {
      var item = document.createElement("li");
      item.setAttribute("role", "option");
      item.setAttribute("data-shortcut", row.shortcut);
      item.setAttribute("aria-selected", i === picker.index ? "true" : "false");
      item.textContent = row.name;
      var small = document.createElement("small");
      small.textContent = "/" + row.shortcut;
      item.appendChild(small);
      item.addEventListener("mousedown", function (event) { event.preventDefault(); insertTemplate(row); });
      list.appendChild(item);
    });
    list.hidden = false;
  }

  function pickerQuery(textarea) {
    var before = textarea.value.slice(0, textarea.selectionStart);
    var match = /(^|\s)\/([a-z0-9_-]*)$/.exec(before);
    if (!match) return null;
    return { start: before.length - match[2].length - 1, query: match[2] };
  }

  function updatePicker(textarea) {
    var found = pickerQuery(textarea);
    if (!found) { closePicker(); return; }
    picker.start = found.start;
    var url = textarea.getAttribute("data-templates-url");
    // The inbox chosen to answer on picks each template's version for its channel.
    var inbox = document.getElementById("reply-inbox");
    if (inbox && inbox.value) url += (url.indexOf("?") === -1 ? "?" : "&") + "inbox_id=" + encodeURIComponent(inbox.value);
    if (picker.url === url && picker.rows) { drawPicker(found.query); return; }
    picker.url = url; picker.rows = null;
    fetch(url, { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : []; }).then(function (rows) {
      if (picker.url !== url) return;
      picker.rows = rows;
      var again = pickerQuery(textarea);
      if (again) drawPicker(again.query);
    });
  }

  function insertTemplate(row) {
    var textarea = document.getElementById("reply-text");
    if (!textarea || picker.start < 0) return;
    var end = textarea.selectionStart;
    textarea.value = textarea.value.slice(0, picker.start) + row.text + textarea.value.slice(end);
    var caret = picker.start + row.text.length;
    textarea.setSelectionRange(caret, caret);
    textarea.focus();
    closePicker();
  }

  document.addEventListener("input", function (event) {
    if (event.target && event.target.id === "reply-text") updatePicker(event.target);
  });
  document.addEventListener("keydown", function (event) {
    if (!event.target || event.target.id !== "reply-text") return;
    var list = pickerList();
    if (!list || list.hidden) return;
    if (event.key === "Escape") { event.preventDefault(); closePicker(); return; }
    if (!picker.shown.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      picker.index = (picker.index + (event.key === "ArrowDown" ? 1 : picker.shown.length - 1)) % picker.shown.length;
      var found = pickerQuery(event.target);
      drawPicker(found ? found.query : "");
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      insertTemplate(picker.shown[picker.index]);
    }
  });
  document.addEventListener("focusout", function (event) {
    if (event.target && event.target.id === "reply-text") setTimeout(closePicker, 150);
  });

  // --- live refreshes of the conversation head keep what the user is filling in --------------------
  // (a wrap-up code being chosen, an open transfer form); a response to the user's own post does not.
  var kept = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    kept = null;
    if (!target || target.id !== "conversation-head" || !event.detail.requestConfig || event.detail.requestConfig.verb !== "get") return;
    kept = { values: {}, open: [] };
    target.querySelectorAll("select[id], textarea[id], input[id]:not([type=hidden])").forEach(function (field) {
      if (field.value) kept.values[field.id] = field.value;
    });
    target.querySelectorAll("details[open]").forEach(function (details) { kept.open.push(details.className); });
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!kept || !event.detail.target) return;
    var head = document.getElementById("conversation-head");
    if (!head) return;
    Object.keys(kept.values).forEach(function (id) {
      var field = document.getElementById(id);
      if (field && head.contains(field) && !field.value) field.value = kept.values[id];
    });
    kept.open.forEach(function (name) { var details = head.querySelector("details." + name.split(" ")[0]); if (details) details.open = true; });
    kept = null;
  });

  // --- @mentions: a toast for the mentioned user --------------------------------------------------
  function showMention(payload) {
    var box = document.getElementById("toasts");
    if (!box || !payload.conversation_id) return;
    var toast = document.createElement("div");
    toast.className = "toast";
    toast.setAttribute("role", "status");
    toast.setAttribute("data-conversation-id", String(payload.conversation_id));
    var title = document.createElement("strong");
    title.textContent = box.getAttribute("data-mention").replace("{name}", payload.by_name || "").replace("{id}", String(payload.conversation_id));
    var text = document.createElement("p");
    text.textContent = payload.text || "";
    var link = document.createElement("a");
    link.href = "/conversations/" + payload.conversation_id;
    link.textContent = box.getAttribute("data-open");
    var close = document.createElement("button");
    close.type = "button";
    close.className = "link";
    close.textContent = box.getAttribute("data-close");
    close.addEventListener("click", function () { toast.remove(); });
    toast.appendChild(title); toast.appendChild(text); toast.appendChild(link); toast.appendChild(document.createTextNode(" ")); toast.appendChild(close);
    box.appendChild(toast);
    setTimeout(function () { toast.remove(); }, 15000);
  }

  // --- the live connection -------------------------------------------------------------------
  var socket = null, lastEventId = null, retry = 0, pingTimer = null;

  function setLiveState(online) {
    var badge = document.getElementById("live-state");
    if (!badge) return;
    badge.textContent = badge.getAttribute(online ? "data-online" : "data-offline");
    badge.classList.toggle("offline", !online);
    document.body.setAttribute("data-ws", online ? "open" : "closed");
  }

  function onEvent(message) {
    if (typeof message.id === "number") lastEventId = message.id;
    var kind = message.kind || "";
    document.dispatchEvent(new CustomEvent("raccordo:event", { detail: message }));  // for the other desk scripts (desk-alerts.js, ...)
    var current = openConversationId();
    var me = parseInt(document.body.getAttribute("data-user-id"), 10);
    if (kind === "routing.offered" && message.user_id === me) {
      document.dispatchEvent(new CustomEvent("raccordo:offer", { detail: message.payload || {} }));
    } else if (kind === "routing.offer_withdrawn" || (kind === "conversation.updated" && message.conversation_id)) {
      document.dispatchEvent(new CustomEvent("raccordo:offer-gone", { detail: { conversation_id: message.conversation_id, kind: kind } }));
    }
    if (kind.indexOf("conversation.") === 0 || kind.indexOf("message.") === 0 || kind.indexOf("routing.") === 0) {
      refresh("raccordo:list");
      if (current && message.conversation_id === current) {
        refresh("raccordo:thread");
        if (kind.indexOf("conversation.") === 0) refresh("raccordo:head");
      }
    }
    if (kind === "mention.created" && message.user_id === me) showMention(message.payload || {});
    if (kind === "presence.changed" && message.user_id === me) refresh("raccordo:presence");
    refresh("raccordo:live");
  }

  function connect() {
    if (document.body.getAttribute("data-live") !== "on") return;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    // batch=1: live events arrive as one "events" frame per server pump, shared by every agent
    // with the same view, instead of one frame per event.
    var url = scheme + location.host + "/ws?batch=1" + (lastEventId !== null ? "&last_event_id=" + lastEventId : "");
    socket = new WebSocket(url);
    socket.onopen = function () {
      retry = 0;
      setLiveState(true);
      var current = openConversationId();
      if (current) socket.send(JSON.stringify({ type: "viewing", conversation_id: current, state: true }));
      pingTimer = setInterval(function () {
        if (socket.readyState !== 1) return;
        socket.send('{"type":"ping"}');
        var open = openConversationId();  // viewing expires on the server after 30 s: say it again
        if (open) socket.send(JSON.stringify({ type: "viewing", conversation_id: open, state: true }));
      }, 20000);
    };
    socket.onmessage = function (raw) {
      var message;
      try { message = JSON.parse(raw.data); } catch (e) { return; }
      if (message.type === "hello") {
        if (lastEventId === null) lastEventId = message.last_event_id;
        document.dispatchEvent(new CustomEvent("raccordo:hello"));
        refresh("raccordo:presence");  // connecting may have made the agent online
      } else if (message.type === "viewers" || message.type === "typing") {
        onCollision(message);
      } else if (message.type === "event") {
        onEvent(message);
      } else if (message.type === "events") {
        (message.events || []).forEach(onEvent);
      } else if (message.type === "resync") {
        lastEventId = null;
        refresh("raccordo:list");
        refresh("raccordo:thread");
      }
    };
    socket.onclose = function () {
      setLiveState(false);
      clearInterval(pingTimer);
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 500 * Math.pow(2, retry - 1));
    };
  }

  // --- Alpine components ---------------------------------------------------------------------
  function api(method, path) {
    return fetch(path, { method: method, credentials: "same-origin", headers: { "X-CSRF-Token": csrfToken(), "Content-Type": "application/json" }, body: method === "POST" ? "{}" : undefined });
  }

  document.addEventListener("alpine:init", function () {
    window.Alpine.data("offers", function () {
      return {
        items: [],
        timer: null,
        init: function () {
          var self = this;
          document.addEventListener("raccordo:offer", function (event) { self.add(event.detail); });
          document.addEventListener("raccordo:offer-gone", function (event) {
            if (event.detail.kind === "routing.offer_withdrawn") self.remove(event.detail.conversation_id);
          });
          document.addEventListener("raccordo:hello", function () { self.load(); });
          this.timer = setInterval(function () { self.tick(); }, 250);
        },
        load: function () {
          var self = this;
          fetch("/api/v1/routing/offers", { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : []; }).then(function (rows) {
            rows.forEach(function (row) {
              self.add({ conversation_id: row.conversation_id, queue: "", channel: row.channel, expires_at: row.offer_expires_at, timeout_seconds: null });
            });
          });
        },
        add: function (payload) {
          if (!payload || !payload.conversation_id || !payload.expires_at) return;
          this.remove(payload.conversation_id);
          var expires = Date.parse(payload.expires_at);
          var total = payload.timeout_seconds || Math.max(1, Math.round((expires - Date.now()) / 1000));
          this.items.push({ conversation_id: payload.conversation_id, queue: payload.queue || "", channel: payload.channel || "", expires: expires, total: total,
                            left: Math.max(0, Math.round((expires - Date.now()) / 1000)), error: "", title: "#" + payload.conversation_id });
        },
        remove: function (id) {
          this.items = this.items.filter(function (item) { return item.conversation_id !== id; });
        },
        tick: function () {
          var now = Date.now();
          this.items.forEach(function (item) { item.left = Math.max(0, Math.ceil((item.expires - now) / 1000)); });
          this.items = this.items.filter(function (item) { return item.expires > now - 1000; });
        },
        accept: function (offer) {
          var self = this;
          api("POST", "/api/v1/conversations/" + offer.conversation_id + "/offer/accept").then(function (response) {
            if (response.ok) { window.location.href = "/conversations/" + offer.conversation_id; return; }
            return response.json().then(function (problem) { offer.error = problem.detail || self.$el.getAttribute("data-accept-error"); });
          });
        },
        decline: function (offer) {
          var self = this;
          api("POST", "/api/v1/conversations/" + offer.conversation_id + "/offer/decline").then(function () { self.remove(offer.conversation_id); });
        }
      };
    });

    window.Alpine.data("presence", function () {
      return {
        status: "",
        init: function () { this.status = this.$el.getAttribute("data-status"); },
        get isAway() { return this.status === "away"; }
      };
    });
  });

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-tz-offset]").forEach(function (input) { input.value = String(new Date().getTimezoneOffset()); });
    connect();
  });
})();
