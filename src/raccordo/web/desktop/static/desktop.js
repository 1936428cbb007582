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
    if (kind === "presence.changed" && message.user_id === me) refresh("raccordo:presence");
    refresh("raccordo:live");
  }

  function connect() {
    if (document.body.getAttribute("data-live") !== "on") return;
    var scheme = location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + location.host + "/ws" + (lastEventId !== null ? "?last_event_id=" + lastEventId : "");
    socket = new WebSocket(url);
    socket.onopen = function () {
      retry = 0;
      setLiveState(true);
      var current = openConversationId();
      if (current) socket.send(JSON.stringify({ type: "viewing", conversation_id: current, state: true }));
      pingTimer = setInterval(function () { if (socket.readyState === 1) socket.send('{"type":"ping"}'); }, 20000);
    };
    socket.onmessage = function (raw) {
      var message;
      try { message = JSON.parse(raw.data); } catch (e) { return; }
      if (message.type === "hello") {
        if (lastEventId === null) lastEventId = message.last_event_id;
        document.dispatchEvent(new CustomEvent("raccordo:hello"));
        refresh("raccordo:presence");  // connecting may have made the agent online
      } else if (message.type === "event") {
        onEvent(message);
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
