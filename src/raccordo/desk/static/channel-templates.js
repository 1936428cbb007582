/* Raccordo composer: the template picker of a channel whose closed message window still takes the
   provider's approved templates (ComposerRules.templates_outside_window: WhatsApp).
   When the chosen inbox's window is closed the picker replaces the text box (the agent may also pick a
   template while it is open). Templates come from /api/v1/conversations/{id}/channel-templates, prefilled
   from the contact and conversation; the preview shows what the customer will read; the choice is posted
   as the reply's content_attributes (hidden field), which the server checks again. A template the
   contact may not get (a marketing one without consent) is listed, disabled, with the reason.
   Runs after composer.js on the same document-level events, so its send-button state wins while a
   template is in use. No inline code (CSP). */
(function () {
  "use strict";

  var cache = {};  // inbox id -> templates (one fetch per inbox per page)

  function el(id) { return document.getElementById(id); }
  function box() { return el("channel-templates"); }
  function tr(key, params) {
    var b = box(), text = (b && b.getAttribute("data-t-" + key)) || "";
    Object.keys(params || {}).forEach(function (name) { text = text.split("{" + name + "}").join(String(params[name])); });
    return text;
  }
  function rules() {
    var select = el("reply-inbox"), option = select && select.options[select.selectedIndex];
    if (!option) return {};
    try { return JSON.parse(option.getAttribute("data-rules") || "{}"); } catch (e) { return {}; }
  }
  function inboxId() { var select = el("reply-inbox"); return select ? select.value : ""; }
  function noteMode() { var note = el("composer-mode-note"); return !!(note && note.checked); }
  function render(body, values) {
    return body.replace(/\{\{(\d+)\}\}/g, function (all, n) { var v = values[Number(n) - 1]; return v ? v : all; });
  }

  function chosen() {
    var select = el("channel-template-choice"), list = cache[inboxId()] || [];
    return select && select.value !== "" ? list[Number(select.value)] : null;
  }
  function values() {
    return Array.prototype.map.call(document.querySelectorAll("#channel-template-variables input"), function (input) { return input.value.trim(); });
  }

  // The reply's content_attributes, the preview and the send button, from the chosen template and its values.
  function refresh() {
    var b = box(), f = el("composer");
    if (!b || !f) return;
    var using = !b.hidden && el("channel-templates-use").checked;
    var hidden = el("channel-template-attributes"), send = f.querySelector("button[data-action=reply]"), why = el("send-reason");
    var text = f.querySelector(".picker");
    if (text) text.hidden = using;
    if (!using) { hidden.value = ""; f.removeAttribute("data-template-ready"); return; }
    // The window banner (composer.js) sends the agent to another channel; here a template reaches the customer.
    var banner = el("composer-window");
    if (banner && !el("channel-templates-why").hidden) banner.hidden = true;
    var template = chosen(), vals = values();
    var problem = !template ? tr("choose-first") : template.unavailable ? template.unavailable
      : vals.some(function (v) { return !v; }) ? tr("fill-all") : "";
    el("channel-template-preview").textContent = template ? render(template.body, vals) : "";
    var unavailable = el("channel-template-unavailable");
    unavailable.hidden = !(template && template.unavailable);
    unavailable.textContent = template && template.unavailable ? template.unavailable : "";
    if (template && !template.unavailable) {
      var attributes = JSON.parse(JSON.stringify(template.attributes));
      attributes.template.variables = vals;
      hidden.value = JSON.stringify(attributes);
    } else {
      hidden.value = "";
    }
    f.setAttribute("data-template-ready", problem ? "0" : "1");
    if (send) send.disabled = !!problem;
    if (why) why.textContent = problem;
  }

  function drawVariables() {
    var holder = el("channel-template-variables"), template = chosen();
    holder.textContent = "";
    if (!template) { refresh(); return; }
    template.prefill.forEach(function (value, index) {
      var id = "channel-template-var-" + (index + 1);
      var label = document.createElement("label");
      label.setAttribute("for", id);
      label.textContent = tr("variable", { n: index + 1 });
      var input = document.createElement("input");
      input.id = id;
      input.value = value;
      input.maxLength = 1024;
      if (template.hints[index]) input.placeholder = template.hints[index];
      holder.appendChild(label);
      holder.appendChild(input);
    });
    refresh();
  }

  function drawList(list) {
    var select = el("channel-template-choice");
    select.textContent = "";
    var first = -1;
    list.forEach(function (template, index) {
      var option = document.createElement("option");
      option.value = String(index);
      option.textContent = template.name + " (" + template.language + ")" + (template.unavailable ? " — " + tr("unavailable") : "");
      if (template.unavailable) option.setAttribute("data-unavailable", "1");
      select.appendChild(option);
      if (first < 0 && !template.unavailable) first = index;
    });
    el("channel-templates-none").hidden = list.length > 0;
    select.hidden = list.length === 0;
    if (list.length) select.value = String(first >= 0 ? first : 0);
    drawVariables();
  }

  function load() {
    var id = inboxId(), b = box();
    if (cache[id]) { drawList(cache[id]); return; }
    fetch(b.getAttribute("data-url") + "?inbox_id=" + encodeURIComponent(id), { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : []; })
      .then(function (list) { cache[id] = list; if (inboxId() === id) drawList(list); })
      .catch(function () { cache[id] = []; drawList([]); });
  }

  // Shown for an inbox whose channel takes templates outside its window; forced on when the window is closed.
  function setup() {
    var b = box();
    if (!b) return;
    var r = rules(), use = el("channel-templates-use");
    b.hidden = noteMode() || !r.templates_outside_window;
    if (b.hidden) { use.checked = false; refresh(); return; }
    var closed = r.reply_window_seconds && !r.window_open;
    el("channel-templates-why").hidden = !closed;
    if (closed) use.checked = true;
    use.disabled = !!closed;
    el("channel-templates-body").hidden = !use.checked;
    if (use.checked) load(); else refresh();
  }

  document.addEventListener("change", function (event) {
    var id = event.target && event.target.id;
    if (id === "reply-inbox" || id === "channel-templates-use" || (event.target && event.target.name === "composer_mode")) setup();
    else if (id === "channel-template-choice") drawVariables();
  });
  document.addEventListener("input", function (event) {
    if (event.target && event.target.closest && event.target.closest("#channel-template-variables")) refresh();
    else if (box() && !box().hidden) refresh();
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "composer") setup();
  });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup);
  else setup();
})();
