/* Raccordo desk alerts: a chime and a browser notification for each incoming offer, the mute toggle,
   the "Enable notifications" button, and live refreshes of the header's load per channel.
   The chime is synthesized with the Web Audio API (no audio file; nothing the CSP forbids). Browsers
   start audio only after a user gesture, so the AudioContext is created and resumed on the first
   click, key or touch. Offers arrive from desktop.js as "raccordo:offer" events on document. */
(function () {
  "use strict";

  var audio = null;

  function userId() { return document.body.getAttribute("data-user-id") || ""; }
  function soundKey() { return "raccordo.desk.sound." + userId(); }

  function soundOn() {
    try { return window.localStorage.getItem(soundKey()) !== "off"; } catch (e) { return true; }
  }

  function setSound(on) {
    try { window.localStorage.setItem(soundKey(), on ? "on" : "off"); } catch (e) { /* private mode: the toggle lasts for the page */ }
    drawSound(on);
  }

  function drawSound(on) {
    var button = document.getElementById("sound-toggle");
    if (!button) return;
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.classList.toggle("muted", !on);
  }

  function unlockAudio() {
    var Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!audio) {
      try { audio = new Context(); } catch (e) { return null; }
    }
    if (audio.state === "suspended" && audio.resume) audio.resume();
    return audio;
  }

  ["pointerdown", "keydown", "touchstart"].forEach(function (name) {
    document.addEventListener(name, function () { unlockAudio(); }, { capture: true, passive: true });
  });

  /** Two short sine notes (A5 then E6) with a soft attack and decay: about half a second. */
  function chime() {
    if (!soundOn()) return false;
    var context = unlockAudio();
    if (!context) return false;
    var start = context.currentTime + 0.01;
    [[880, 0], [1318.5, 0.16]].forEach(function (note) {
      var oscillator = context.createOscillator();
      var gain = context.createGain();
      oscillator.type = "sine";
      oscillator.frequency.setValueAtTime(note[0], start + note[1]);
      gain.gain.setValueAtTime(0.0001, start + note[1]);
      gain.gain.exponentialRampToValueAtTime(0.25, start + note[1] + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, start + note[1] + 0.35);
      oscillator.connect(gain);
      gain.connect(context.destination);
      oscillator.start(start + note[1]);
      oscillator.stop(start + note[1] + 0.4);
    });
    return true;
  }

  // --- browser notifications ----------------------------------------------------------------------
  var shown = {};

  function notificationsSupported() { return "Notification" in window; }

  function drawNotifyButton() {
    var button = document.getElementById("notify-enable");
    if (!button) return;
    var state = notificationsSupported() ? window.Notification.permission : "unsupported";
    button.hidden = state !== "default";
    document.body.setAttribute("data-notifications", state);
  }

  function focusOffer(conversationId) {
    var offer = document.querySelector('.offer[data-conversation-id="' + conversationId + '"]');
    var button = offer && offer.querySelector('[data-action="offer-accept"]');
    if (button) button.focus();
  }

  function notify(payload) {
    if (!notificationsSupported() || window.Notification.permission !== "granted") return;
    var texts = document.getElementById("desk-controls");
    if (!texts) return;
    var fill = function (text) {
      return (text || "").replace("{id}", String(payload.conversation_id)).replace("{queue}", payload.queue || "").replace("{channel}", payload.channel || "");
    };
    var notification;
    try {
      notification = new window.Notification(fill(texts.getAttribute("data-offer-title")), {
        body: fill(texts.getAttribute("data-offer-body")), tag: "raccordo-offer-" + payload.conversation_id, lang: document.documentElement.lang,
      });
    } catch (e) { return; }  // e.g. a browser that allows notifications only from a service worker
    shown[payload.conversation_id] = notification;
    notification.onclick = function () {
      window.focus();
      focusOffer(payload.conversation_id);
      notification.close();
    };
  }

  function forget(conversationId) {
    var notification = shown[conversationId];
    if (notification) { notification.close(); delete shown[conversationId]; }
  }

  document.addEventListener("raccordo:offer", function (event) {
    var payload = event.detail || {};
    if (!payload.conversation_id) return;
    chime();
    notify(payload);
  });
  document.addEventListener("raccordo:offer-gone", function (event) {
    if (event.detail && event.detail.kind === "routing.offer_withdrawn") forget(event.detail.conversation_id);
  });

  // --- mentions: the same chime, and a notification that opens the conversation -------------------
  function notifyMention(message) {
    var payload = message.payload || {};
    chime();
    if (!notificationsSupported() || window.Notification.permission !== "granted") return;
    var texts = document.getElementById("desk-controls");
    if (!texts || !payload.conversation_id) return;
    var fill = function (text) {
      return (text || "").replace("{name}", payload.by_name || "").replace("{id}", String(payload.conversation_id));
    };
    var notification;
    try {
      notification = new window.Notification(fill(texts.getAttribute("data-mention-title")), {
        body: (payload.excerpt || payload.text || "").slice(0, 200), tag: "raccordo-mention-" + payload.conversation_id, lang: document.documentElement.lang,
      });
    } catch (e) { return; }
    notification.onclick = function () {
      window.focus();
      window.location.assign("/conversations/" + encodeURIComponent(payload.conversation_id));
      notification.close();
    };
  }

  document.addEventListener("raccordo:event", function (event) {
    var message = event.detail || {};
    if (message.kind === "mention.created" && String(message.user_id) === userId()) notifyMention(message);
  });

  // --- the header's load per channel follows assignments, status changes and offers ---------------
  var loadTimer = null;
  document.addEventListener("raccordo:event", function (event) {
    var message = event.detail || {};
    var kind = message.kind || "";
    if (kind.indexOf("conversation.") !== 0 && kind.indexOf("routing.") !== 0) return;
    var me = parseInt(userId(), 10);
    var payload = message.payload || {};
    if (message.user_id !== me && payload.previous_user_id !== me) return;
    if (kind === "conversation.updated" && message.user_id === me) forget(message.conversation_id);  // accepted: the notification is done
    clearTimeout(loadTimer);
    loadTimer = setTimeout(function () { if (window.htmx) window.htmx.trigger(document.body, "raccordo:presence"); }, 300);
  });

  document.addEventListener("DOMContentLoaded", function () {
    drawSound(soundOn());
    drawNotifyButton();
    var sound = document.getElementById("sound-toggle");
    if (sound) sound.addEventListener("click", function () { var on = !soundOn(); setSound(on); if (on) chime(); });
    var enable = document.getElementById("notify-enable");
    if (enable) enable.addEventListener("click", function () {
      if (!notificationsSupported()) return;
      var asked = window.Notification.requestPermission(drawNotifyButton);  // the callback form for older browsers
      if (asked && asked.then) asked.then(drawNotifyButton);
    });
  });
})();
