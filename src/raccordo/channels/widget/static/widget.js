/*!
 * Raccordo web chat widget — https://github.com/raccordo (AGPL-3.0-or-later)
 *
 * Embed with one tag:  <script src="https://YOUR-RACCORDO/widget/widget.js" data-inbox="INBOX-IDENTIFIER" async></script>
 * Optional, before the tag: window.raccordoSettings = {language: "it", attributes: {...},
 *   user: {id: "42", hash: "<hex HMAC-SHA256(inbox hmac_secret, id) computed on your server>", name, email}}
 * Afterwards: Raccordo.open(), Raccordo.close(), Raccordo.setAttributes({...}), Raccordo.identify(user), Raccordo.reset().
 *
 * Hand-written, dependency-free vanilla JS served by the app (no build step, no Node). It lives in a
 * shadow root so the host page's styles neither leak in nor out; every message is rendered with
 * textContent, never as HTML. Strings come from the server's Italian/English catalogs.
 */
(function () {
  "use strict";
  if (window.Raccordo && window.Raccordo._loaded) return;
  var script = document.currentScript || document.querySelector("script[data-inbox][src*='widget.js']");
  if (!script) return;
  var inbox = script.getAttribute("data-inbox");
  var base = new URL(script.src, location.href).origin;
  var cfg = window.raccordoSettings || {};
  var nav = (cfg.language || script.getAttribute("data-language") || navigator.language || "en").toLowerCase();
  var lang = nav.indexOf("it") === 0 ? "it" : "en";
  var storeKey = "raccordo.widget." + inbox;
  var saved = load();
  var attributes = Object.assign({}, cfg.attributes || {}, saved.attributes || {});
  var S = {}; // strings
  var settings = {};
  var ws = null, token = saved.token || null, retry = 0, opened = false, unread = 0;
  var shown = {}, pending = {}, agentSeen = null, availability = null, contactEmail = null, verified = false;
  var typingTimer = null, typingSent = false, lastAgentId = 0;

  function load() { try { return JSON.parse(localStorage.getItem(storeKey) || "{}"); } catch (e) { return {}; } }
  function save() {
    saved.token = token; saved.attributes = attributes;
    try { localStorage.setItem(storeKey, JSON.stringify(saved)); } catch (e) { /* private mode: history lasts the page */ }
  }
  function el(tag, props, kids) {
    var node = document.createElement(tag);
    for (var k in props || {}) {
      if (k === "text") node.textContent = props[k];
      else if (k.indexOf("on") === 0) node.addEventListener(k.slice(2), props[k]);
      else node.setAttribute(k, props[k]);
    }
    (kids || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }
  function uid() { return (crypto.randomUUID ? crypto.randomUUID() : Date.now().toString(36) + Math.random().toString(36).slice(2)); }

  // --- the UI, in a shadow root -------------------------------------------------------------------
  var host = el("div", { id: "raccordo-widget" });
  var root = host.attachShadow({ mode: "open" });
  var css = ":host{all:initial}*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif}" +
    ".launcher{position:fixed;right:20px;bottom:20px;width:56px;height:56px;border-radius:50%;border:0;background:var(--p);color:var(--op);cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.25);z-index:2147483646;font-size:26px}" +
    ".launcher:focus-visible,button:focus-visible,textarea:focus-visible,input:focus-visible{outline:3px solid #ffbf47;outline-offset:2px}" +
    ".badge{position:absolute;top:-4px;right:-4px;background:#d1242f;color:#fff;border-radius:10px;font-size:12px;padding:2px 6px}" +
    ".panel{position:fixed;right:20px;bottom:88px;width:370px;max-width:calc(100vw - 40px);height:560px;max-height:calc(100vh - 120px);background:#fff;color:#1f2328;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:flex;flex-direction:column;overflow:hidden;z-index:2147483647;font-size:15px}" +
    "[hidden]{display:none!important}" +
    "header{background:var(--p);color:var(--op);padding:14px 16px;display:flex;align-items:center;justify-content:space-between}" +
    "header h2{font-size:17px;margin:0}header button{background:transparent;border:0;color:inherit;font-size:22px;cursor:pointer;min-width:44px;min-height:44px}" +
    ".log{flex:1;overflow-y:auto;padding:12px;display:flex;flex-direction:column;gap:8px;background:#f6f8fa}" +
    ".msg{max-width:80%;padding:8px 12px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word;line-height:1.35}" +
    ".msg.visitor{align-self:flex-end;background:var(--p);color:var(--op)}.msg.agent{align-self:flex-start;background:#fff;border:1px solid #d0d7de}" +
    ".msg.greeting{align-self:flex-start;background:#fff;border:1px dashed #d0d7de}" +
    ".meta{font-size:12px;opacity:.8;margin-top:2px}.msg .who{font-size:12px;font-weight:600;display:block}" +
    ".msg button.file{display:block;margin-top:4px;background:rgba(0,0,0,.06);border:0;border-radius:6px;padding:6px;color:inherit;cursor:pointer;text-align:left;text-decoration:underline}" +
    ".msg img{max-width:100%;display:block;margin-top:4px;border-radius:6px}" +
    ".status{font-size:13px;padding:6px 12px;color:#57606a;min-height:1.5em}" +
    ".notice{background:#fff8c5;border-top:1px solid #d4a72c;padding:10px 12px;font-size:14px}" +
    ".notice form,.prechat{display:flex;flex-direction:column;gap:6px;margin-top:6px}" +
    ".prechat{padding:16px;overflow-y:auto;flex:1}" +
    "label{font-size:13px;font-weight:600}input{padding:8px;border:1px solid #8c959f;border-radius:6px;font-size:15px}" +
    ".compose{display:flex;gap:6px;padding:8px;border-top:1px solid #d0d7de;align-items:flex-end}" +
    "textarea{flex:1;resize:none;border:1px solid #8c959f;border-radius:8px;padding:8px;font-size:15px;max-height:120px;min-height:44px}" +
    ".btn{background:var(--p);color:var(--op);border:0;border-radius:8px;padding:0 14px;min-height:44px;cursor:pointer;font-size:15px}" +
    ".icon{background:transparent;border:1px solid #8c959f;border-radius:8px;min-width:44px;min-height:44px;cursor:pointer;font-size:18px}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}" +
    ".err{color:#d1242f;font-size:13px}" +
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100%;max-height:100%;border-radius:0}}";
  root.appendChild(el("style", { text: css }));
  var badge = el("span", { class: "badge", hidden: "" });
  var launcher = el("button", { class: "launcher", type: "button", "aria-expanded": "false", "aria-controls": "raccordo-panel", onclick: function () { opened ? close() : open(); } }, [el("span", { "aria-hidden": "true", text: "💬" }), badge]);
  var title = el("h2", { id: "raccordo-title" });
  var closeBtn = el("button", { type: "button", onclick: function () { close(); }, text: "×" });
  var log = el("div", { class: "log", role: "log", "aria-live": "polite", "aria-relevant": "additions", tabindex: "0" });
  var status = el("div", { class: "status", role: "status", "aria-live": "polite" });
  var notice = el("div", { class: "notice", hidden: "" });
  var textarea = el("textarea", { id: "raccordo-input", rows: "1" });
  var inputLabel = el("label", { class: "sr", for: "raccordo-input" });
  var fileInput = el("input", { type: "file", class: "sr", tabindex: "-1", "aria-hidden": "true" });
  var attachBtn = el("button", { type: "button", class: "icon", onclick: function () { fileInput.click(); } }, [el("span", { "aria-hidden": "true", text: "📎" })]);
  var sendBtn = el("button", { type: "submit", class: "btn" });
  var fileErr = el("div", { class: "err", role: "alert" });
  var compose = el("form", { class: "compose" }, [inputLabel, attachBtn, fileInput, textarea, sendBtn]);
  var prechat = el("form", { class: "prechat", hidden: "" });
  var panel = el("section", { class: "panel", id: "raccordo-panel", role: "dialog", "aria-labelledby": "raccordo-title", hidden: "" },
    [el("header", {}, [title, closeBtn]), log, prechat, status, notice, fileErr, compose]);
  root.appendChild(launcher);
  root.appendChild(panel);

  function applyStrings() {
    launcher.setAttribute("aria-label", S.open);
    closeBtn.setAttribute("aria-label", S.close);
    title.textContent = S.title;
    log.setAttribute("aria-label", S.messages_label);
    inputLabel.textContent = S.placeholder;
    textarea.setAttribute("placeholder", S.placeholder);
    attachBtn.setAttribute("aria-label", S.attach);
    sendBtn.textContent = S.send;
    var colors = settings.colors || {};
    host.style.setProperty("--p", colors.primary || "#1f6feb");
    host.style.setProperty("--op", colors.on_primary || "#fff");
    if (settings.attachment_types) fileInput.setAttribute("accept", settings.attachment_types.join(","));
  }

  function open() {
    opened = true; panel.hidden = false; launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", S.close || "");
    unread = 0; badge.hidden = true;
    (prechat.hidden ? textarea : prechat.querySelector("input") || textarea).focus();
    log.scrollTop = log.scrollHeight;
    markRead();
  }
  function close() {
    opened = false; panel.hidden = true; launcher.setAttribute("aria-expanded", "false");
    launcher.setAttribute("aria-label", S.open || ""); launcher.focus();
  }
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") close(); });

  // --- messages -----------------------------------------------------------------------------------
  function time(iso) { try { return new Date(iso).toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit" }); } catch (e) { return ""; } }

  function download(att, button) {
    fetch(base + "/widget/" + inbox + "/attachments/" + att.id, { headers: { "X-Raccordo-Visitor": token } })
      .then(function (r) { if (!r.ok) throw new Error(r.status); return r.blob(); })
      .then(function (blob) {
        var url = URL.createObjectURL(blob);
        if (/^image\/(png|jpeg|gif|webp)$/.test(att.content_type) && button) {
          button.replaceWith(el("img", { src: url, alt: att.filename }));
        } else {
          var a = el("a", { href: url, download: att.filename }); a.click();
        }
      }).catch(function () { status.textContent = S.failed; });
  }

  function render(m) {
    if (shown[m.id]) return;
    if (m.client_id && pending[m.client_id]) { var old = pending[m.client_id].node; delete pending[m.client_id]; if (old) old.remove(); }
    shown[m.id] = true;
    var mine = m.from === "visitor";
    var node = el("div", { class: "msg " + (mine ? "visitor" : "agent"), "data-id": String(m.id) }, [
      el("span", { class: "who", text: mine ? S.you : (m.sender_name || S.agent) }),
      el("span", { class: "text", text: m.text || "" }),
    ]);
    (m.attachments || []).forEach(function (a) {
      var b = el("button", { type: "button", class: "file", text: "📎 " + a.filename });
      b.addEventListener("click", function () { download(a, b); });
      node.appendChild(b);
      if (/^image\//.test(a.content_type)) download(a, b);
    });
    node.appendChild(el("div", { class: "meta", text: time(m.created_at) }));
    node._at = m.created_at; node._mine = mine;
    insert(node, m.id);
    if (!mine) {
      lastAgentId = Math.max(lastAgentId, m.id);
      if (!opened) { unread++; badge.textContent = String(unread); badge.hidden = false; }
      markRead();
    }
    updateSeen();
  }
  function insert(node, id) {
    var after = null;
    Array.prototype.forEach.call(log.querySelectorAll(".msg[data-id]"), function (n) { if (+n.getAttribute("data-id") < id) after = n; });
    if (after && after.nextSibling) log.insertBefore(node, after.nextSibling);
    else if (!after && log.querySelector(".msg[data-id]")) log.insertBefore(node, log.querySelector(".msg[data-id]"));
    else log.appendChild(node);
    log.scrollTop = log.scrollHeight;
  }
  function updateSeen() {
    var old = log.querySelector(".seen"); if (old) old.remove();
    if (!agentSeen) return;
    var mine = log.querySelectorAll(".msg.visitor[data-id]");
    var last = mine[mine.length - 1];
    if (last && last._at && new Date(last._at) <= new Date(agentSeen)) last.appendChild(el("div", { class: "meta seen", text: S.seen }));
  }
  function markRead() {
    if (opened && lastAgentId && document.visibilityState !== "hidden") send({ type: "read", message_id: lastAgentId });
  }
  document.addEventListener("visibilitychange", markRead);

  // --- availability and the email fallback ---------------------------------------------------------
  function showAvailability(a) {
    availability = a;
    notice.textContent = "";
    if (!a || a.available) { notice.hidden = true; return; }
    notice.hidden = false;
    notice.appendChild(el("p", { text: a.reason === "outside_hours" ? S.offline_closed : S.offline_no_agents }));
    if (!a.email_fallback) { notice.appendChild(el("p", { text: S.offline_no_email_inbox })); return; }
    if (contactEmail) { notice.appendChild(el("p", { class: "saved", text: S.offline_email_saved })); return; }
    var input = el("input", { type: "email", id: "raccordo-email", autocomplete: "email", required: "" });
    var err = el("div", { class: "err", role: "alert" });
    var form = el("form", {}, [el("p", { text: S.offline_ask_email }), el("label", { for: "raccordo-email", text: S.offline_email_label }), input, err,
      el("button", { type: "submit", class: "btn", text: S.offline_email_send })]);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      if (!input.value) return;
      form._err = err; detailsForm = form;
      send({ type: "details", email: input.value });
    });
    notice.appendChild(form);
  }
  var detailsForm = null;

  // --- pre-chat form -------------------------------------------------------------------------------
  function showPrechat() {
    var fields = settings.prechat_fields || [];
    if (!fields.length || saved.prechat_done || verified || Object.keys(shown).length) { prechat.hidden = true; compose.hidden = false; return; }
    prechat.textContent = "";
    prechat.appendChild(el("p", { text: S.prechat_intro }));
    fields.forEach(function (f) {
      var id = "raccordo-f-" + f.name;
      var type = f.type === "tel" ? "tel" : f.type === "email" ? "email" : "text";
      prechat.appendChild(el("label", { for: id, text: f.label + (f.required ? " (" + S.required + ")" : "") }));
      var input = el("input", { id: id, name: f.name, type: type });
      if (f.required) { input.required = true; input.setAttribute("aria-required", "true"); }
      prechat.appendChild(input);
    });
    prechat.appendChild(el("button", { type: "submit", class: "btn", text: S.prechat_start }));
    prechat.hidden = false; compose.hidden = true;
  }
  prechat.addEventListener("submit", function (e) {
    e.preventDefault();
    var values = {};
    Array.prototype.forEach.call(prechat.querySelectorAll("input"), function (i) { if (i.value) values[i.name] = i.value; });
    var details = { type: "details", name: values.name, email: values.email, phone: values.phone };
    Object.keys(values).forEach(function (k) { if (["name", "email", "phone"].indexOf(k) < 0) attributes[k] = values[k]; });
    if (details.name || details.email || details.phone) send(details);
    saved.prechat_done = true; saved.name = values.name; save();
    prechat.hidden = true; compose.hidden = false; textarea.focus();
  });

  // --- sending -------------------------------------------------------------------------------------
  function send(frame) { if (ws && ws.readyState === 1) { ws.send(JSON.stringify(frame)); return true; } return false; }

  function post(text, attachments) {
    var id = uid();
    var frame = { type: "message", client_id: id, text: text, attachments: attachments || [], page_url: location.href, referrer: document.referrer || null, attributes: attributes, name: saved.name || null };
    var node = el("div", { class: "msg visitor pending" }, [el("span", { class: "who", text: S.you }), el("span", { class: "text", text: text || (attachments[0] && "📎 " + attachments[0].filename) })]);
    log.appendChild(node); log.scrollTop = log.scrollHeight;
    pending[id] = { frame: frame, node: node };
    send(frame);
  }
  compose.addEventListener("submit", function (e) {
    e.preventDefault();
    var text = textarea.value.trim();
    if (!text) return;
    textarea.value = "";
    post(text, []);
    stopTyping();
  });
  textarea.addEventListener("keydown", function (e) { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); compose.requestSubmit ? compose.requestSubmit() : compose.dispatchEvent(new Event("submit")); } });
  textarea.addEventListener("input", function () {
    if (!typingSent) { typingSent = send({ type: "typing", state: true }); }
    clearTimeout(typingTimer); typingTimer = setTimeout(stopTyping, 4000);
  });
  function stopTyping() { clearTimeout(typingTimer); if (typingSent) { send({ type: "typing", state: false }); typingSent = false; } }
  fileInput.addEventListener("change", function () {
    var file = fileInput.files[0]; fileInput.value = ""; fileErr.textContent = "";
    if (!file) return;
    var types = settings.attachment_types || [];
    var typeOk = types.some(function (t) { return t === file.type || (t.slice(-2) === "/*" && file.type.indexOf(t.slice(0, -1)) === 0); });
    if (!typeOk) { fileErr.textContent = S.attachment_type; return; }
    if (file.size > settings.max_attachment_bytes) { fileErr.textContent = S.attachment_too_large; return; }
    var reader = new FileReader();
    reader.onload = function () { post("", [{ filename: file.name, content_type: file.type, data_base64: String(reader.result).split(",")[1] || "" }]); };
    reader.readAsDataURL(file);
  });

  // --- the connection ------------------------------------------------------------------------------
  function session() {
    var body = { visitor_token: token, language: lang };
    if (cfg.user && cfg.user.id) body.user = { id: String(cfg.user.id), hash: cfg.user.hash, name: cfg.user.name, email: cfg.user.email };
    return fetch(base + "/widget/" + inbox + "/session", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) })
      .then(function (r) { return r.json().then(function (data) { if (!r.ok) { var e = new Error(data.detail || r.status); e.status = r.status; throw e; } return data; }); })
      .then(function (data) {
        if (token && token !== data.visitor_token) reset(true);
        token = data.visitor_token; S = data.strings; settings = data.settings; verified = data.verified;
        contactEmail = data.contact && data.contact.email;
        save(); applyStrings();
        if (!log.querySelector(".greeting") && S.greeting) log.insertBefore(el("div", { class: "msg greeting", text: S.greeting }), log.firstChild);
        showAvailability(data.availability);
        if (!host.isConnected) document.body.appendChild(host);
        connect();
      });
  }
  function connect() {
    status.textContent = retry ? S.reconnecting : S.connecting;
    ws = new WebSocket(base.replace(/^http/, "ws") + "/widget/ws?inbox=" + encodeURIComponent(inbox) + "&lang=" + lang, ["raccordo.widget." + token]);
    ws.onopen = function () { retry = 0; status.textContent = ""; Object.keys(pending).forEach(function (k) { send(pending[k].frame); }); };
    ws.onmessage = function (e) {
      var f = JSON.parse(e.data);
      if (f.type === "hello") { f.messages.forEach(render); agentSeen = f.agent_seen_at; updateSeen(); showAvailability(f.availability); showPrechat(); }
      else if (f.type === "message") render(f.message);
      else if (f.type === "ack") { var p = pending[f.client_id]; if (p && p.node) p.node.classList.remove("pending"); }
      else if (f.type === "typing") status.textContent = f.state ? S.typing : "";
      else if (f.type === "seen") { agentSeen = f.at; updateSeen(); }
      else if (f.type === "availability") showAvailability(f.availability);
      else if (f.type === "details") {
        if (f.email) contactEmail = f.email;
        showAvailability(availability);
      } else if (f.type === "error") {
        var target = f.client_id && pending[f.client_id];
        if (target) { delete pending[f.client_id]; target.node.classList.add("failed"); target.node.appendChild(el("div", { class: "err", text: f.message })); }
        else if (detailsForm && f.field === "email") detailsForm._err.textContent = f.message;
        else status.textContent = f.message;
      }
    };
    ws.onclose = function () {
      ws = null;
      var delay = Math.min(30000, 1000 * Math.pow(2, retry++));
      status.textContent = S.reconnecting;
      setTimeout(function () { session().catch(later); }, delay);
    };
  }
  function later(err) {
    if (err && err.status === 403) { status.textContent = err.message; return; } // origin or identity refused: do not hammer
    setTimeout(function () { session().catch(later); }, Math.min(30000, 1000 * Math.pow(2, retry++)));
  }
  function reset(keepToken) {
    log.textContent = ""; shown = {}; pending = {}; lastAgentId = 0; agentSeen = null;
    if (!keepToken) { token = null; saved = {}; try { localStorage.removeItem(storeKey); } catch (e) { /* ignore */ } }
  }

  window.Raccordo = {
    _loaded: true,
    open: open,
    close: close,
    setAttributes: function (a) { Object.assign(attributes, a || {}); save(); },
    identify: function (user) { cfg.user = user; if (ws) ws.close(); else session().catch(later); },
    reset: function () { reset(false); cfg.user = null; if (ws) ws.close(); },
  };
  function start() { session().catch(later); }
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);
})();
