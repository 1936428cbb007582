/* Raccordo composer: the chosen inbox's rules (counter, attachments, message window), files picked,
   dropped or pasted, the emoji picker and the @mention autocomplete of internal notes.
   No inline code (CSP): everything hangs off document-level listeners, so it survives htmx swaps of
   #composer. The rules come from each inbox <option data-rules>, written by the server from the
   channel module's ComposerRules; the server enforces the same rules (services/composer.py). */
(function () {
  "use strict";

  var files = [];          // File objects chosen for the next post
  var keepFiles = null;    // kept across a 422 re-render of the composer
  var emoji = null;        // the vendored emoji set, loaded on first open
  var people = null;       // colleagues for @mentions, loaded on first "@"
  var mention = { shown: [], index: 0, start: -1 };

  function form() { return document.getElementById("composer"); }
  function el(id) { return document.getElementById(id); }
  function tr(key, params) {
    var f = form();
    var text = (f && f.getAttribute("data-t-" + key)) || "";
    Object.keys(params || {}).forEach(function (name) { text = text.split("{" + name + "}").join(String(params[name])); });
    return text;
  }
  function mode() {
    var note = el("composer-mode-note");
    return note && note.checked ? "note" : "reply";
  }
  function rules() {
    var select = el("reply-inbox");
    var option = select && select.options[select.selectedIndex];
    if (!option) return {};
    try { return JSON.parse(option.getAttribute("data-rules") || "{}"); } catch (e) { return {}; }
  }
  function length(text) { return Array.from(text.replace(/\r\n/g, "\n")).length; }
  function size(bytes) {
    if (bytes >= 1048576) return (bytes / 1048576).toFixed(1).replace(/\.0$/, "") + " MB";
    if (bytes >= 1024) return Math.round(bytes / 1024) + " KB";
    return bytes + " B";
  }
  function when(iso) {
    var lang = document.body.getAttribute("data-lang") || "en";
    try { return new Date(iso).toLocaleString(lang === "it" ? "it-IT" : "en-GB", { dateStyle: "medium", timeStyle: "short" }); } catch (e) { return iso; }
  }

  // GSM 03.38: characters of the extension table count twice; anything else makes the SMS UCS-2.
  var GSM = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
  var GSM_EXT = "^{}\\[~]|€\f";
  function sms(text) {
    if (!text) return { gsm: true, count: 0 };
    var units = 0, gsm = true;
    Array.from(text).forEach(function (ch) {
      if (GSM.indexOf(ch) !== -1) units += 1; else if (GSM_EXT.indexOf(ch) !== -1) units += 2; else gsm = false;
    });
    if (gsm) return { gsm: true, count: units <= 160 ? 1 : Math.ceil(units / 153) };
    units = text.length;  // UTF-16 code units
    return { gsm: false, count: units <= 70 ? 1 : Math.ceil(units / 67) };
  }

  function typeAllowed(type, allowed) {
    if (!allowed || !allowed.length) return true;
    type = (type || "").split(";")[0].trim().toLowerCase();
    return allowed.some(function (a) { return type === a || (a.slice(-2) === "/*" && type.indexOf(a.slice(0, -1)) === 0); });
  }

  function fileProblems(r) {
    if (mode() === "note") return [];
    var problems = [];
    if (files.length && r.attachments === false) problems.push(tr("no-attachments", { channel: r.channel || "" }));
    if (r.max_attachments && files.length > r.max_attachments) problems.push(tr("too-many", { limit: r.max_attachments }));
    files.forEach(function (file) {
      if (r.max_attachment_bytes && file.size > r.max_attachment_bytes) problems.push(tr("too-large", { filename: file.name, limit: size(r.max_attachment_bytes) }));
      if (!typeAllowed(file.type, r.attachment_types)) problems.push(tr("bad-type", { filename: file.name, allowed: (r.attachment_types || []).join(", ") }));
    });
    return problems;
  }

  // An extended window (an agent's tag after the provider's standard one): say which applies now and until when.
  function windowOpenText(r) {
    var extra = r.standard_window_seconds && r.window_closes_at ? r.reply_window_seconds - r.standard_window_seconds : 0;
    if (extra <= 0) return tr("window-open", { when: when(r.window_closes_at), channel: r.channel });
    var standardEnd = new Date(Date.parse(r.window_closes_at) - extra * 1000);
    if (Date.now() < standardEnd.getTime()) return tr("window-open-standard", { standard: when(standardEnd.toISOString()), when: when(r.window_closes_at) });
    return tr("window-open-extended", { when: when(r.window_closes_at) });
  }

  // --- the rules shown: counter, window banner, attach button, send button ---------------------
  function update() {
    var f = form(), textarea = el("reply-text");
    if (!f || !textarea) return;
    var r = rules(), note = mode() === "note";
    f.setAttribute("data-mode", note ? "note" : "reply");
    if (f.classList.contains("note-mode") !== note) f.classList.toggle("note-mode", note);  // what desk-shortcuts.js reads
    var count = length(textarea.value);
    var counter = el("composer-counter");
    var tooLong = !note && r.max_length && count > r.max_length;
    var tooManyParts = !note && r.sms_segments && r.max_sms_segments && sms(textarea.value.replace(/\r\n/g, "\n")).count > r.max_sms_segments;
    if (counter) {
      var text = !note && r.max_length ? tr("counter", { count: count, limit: r.max_length }) : tr("counter-free", { count: count });
      var parts = sms(textarea.value.replace(/\r\n/g, "\n"));
      // The encoding shown with the count: one emoji or non-GSM letter turns the whole SMS into UCS-2.
      if (!note && r.sms_segments) text += " · " + tr(parts.gsm ? "sms-gsm7" : "sms-ucs2", { count: parts.count });
      counter.textContent = text;
      counter.setAttribute("data-sms-encoding", !note && r.sms_segments ? (parts.gsm ? "gsm7" : "ucs2") : "");
      counter.classList.toggle("over", !!tooLong || !!tooManyParts);
    }
    var banner = el("composer-window");
    var windowClosed = !note && r.reply_window_seconds && !r.window_open;
    if (banner) {
      banner.hidden = note || !r.reply_window_seconds;
      banner.classList.toggle("closed", !!windowClosed);
      if (windowClosed) banner.textContent = r.window_closes_at ? tr("window-closed", { when: when(r.window_closes_at), channel: r.channel }) : tr("window-never", { channel: r.channel });
      else if (r.reply_window_seconds) banner.textContent = windowOpenText(r);
    }
    var attach = el("composer-attach"), reason = el("attach-reason");
    var noFiles = !note && r.attachments === false;
    if (attach) attach.disabled = !!noFiles;
    if (reason) {
      if (noFiles) reason.textContent = tr("no-attachments", { channel: r.channel || "" });
      else if (note) reason.textContent = "";
      else reason.textContent = tr("attach-limits", { count: r.max_attachments || "∞", size: r.max_attachment_bytes ? size(r.max_attachment_bytes) : "∞", types: (r.attachment_types && r.attachment_types.length) ? r.attachment_types.join(", ") : tr("any-type") });
    }
    var problems = fileProblems(r);
    var error = el("attach-error");
    if (error) { error.hidden = !problems.length; error.textContent = problems.join(" "); }
    // A provider template in use (channel-templates.js, its hook) decides the send button itself.
    if (f.hasAttribute("data-template-ready")) return;
    var send = f.querySelector("button[data-action=reply]"), why = el("send-reason");
    var sendReason = windowClosed ? tr("send-window") : tooLong ? tr("send-too-long", { limit: r.max_length }) : tooManyParts ? tr("send-too-many-sms", { limit: r.max_sms_segments }) : problems.length ? tr("send-files") : "";
    if (send) { send.disabled = !!sendReason; send.classList.toggle("primary", !note); }
    var noteButton = f.querySelector("button[data-action=note]");
    if (noteButton) noteButton.classList.toggle("primary", note);
    if (why) why.textContent = sendReason;
  }

  // --- attachments ------------------------------------------------------------------------------
  function syncInput() {
    var input = el("composer-files");
    if (!input) return;
    var transfer = new DataTransfer();
    files.forEach(function (file) { transfer.items.add(file); });
    input.files = transfer.files;
  }

  function drawFiles() {
    var list = el("composer-attachments");
    if (!list) return;
    list.textContent = "";
    files.forEach(function (file, index) {
      var item = document.createElement("li");
      item.setAttribute("data-filename", file.name);
      var name = document.createElement("span");
      name.textContent = file.name;
      var small = document.createElement("small");
      small.textContent = " (" + size(file.size) + ") ";
      var remove = document.createElement("button");
      remove.type = "button";
      remove.className = "link";
      remove.setAttribute("data-remove-file", String(index));
      remove.setAttribute("aria-label", tr("remove", { filename: file.name }));
      remove.textContent = "✕";
      item.appendChild(name); item.appendChild(small); item.appendChild(remove);
      list.appendChild(item);
    });
    syncInput();
    update();
  }

  function addFiles(list) {
    Array.prototype.forEach.call(list || [], function (file) { files.push(file); });
    drawFiles();
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target || !target.closest) return;
    if (target.closest("#composer-attach")) { var input = el("composer-files"); if (input) input.click(); return; }
    var remove = target.closest("[data-remove-file]");
    if (remove && remove.closest("#composer")) {
      files.splice(parseInt(remove.getAttribute("data-remove-file"), 10), 1);
      drawFiles();
      var attach = el("composer-attach"); if (attach) attach.focus();
      return;
    }
    if (target.closest("#emoji-button")) { toggleEmoji(); return; }
    var pick = target.closest("[data-emoji]");
    if (pick) { insertAtCursor(pick.getAttribute("data-emoji")); closeEmoji(true); return; }
    var panel = el("emoji-panel");
    if (panel && !panel.hidden && !target.closest("#emoji-panel")) closeEmoji(false);
  });
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target) return;
    if (target.id === "composer-files") {
      // The input's own list replaces ours: add what was picked to what we had.
      var picked = Array.prototype.slice.call(target.files || []);
      var known = files.slice();
      files = known.concat(picked.filter(function (file) { return known.indexOf(file) === -1; }));
      drawFiles();
    } else if (target.id === "reply-inbox" || target.name === "composer_mode") {
      update();
      if (target.name === "composer_mode") closeMentions();
    }
  });
  document.addEventListener("dragover", function (event) {
    if (event.target && event.target.closest && event.target.closest("#composer")) { event.preventDefault(); form().classList.add("dragging"); }
  });
  document.addEventListener("dragleave", function (event) {
    if (event.target && event.target.id === "composer") form().classList.remove("dragging");
  });
  document.addEventListener("drop", function (event) {
    if (!event.target || !event.target.closest || !event.target.closest("#composer")) return;
    event.preventDefault();
    form().classList.remove("dragging");
    if (event.dataTransfer && event.dataTransfer.files && event.dataTransfer.files.length) addFiles(event.dataTransfer.files);
  });
  document.addEventListener("paste", function (event) {
    if (!event.target || event.target.id !== "reply-text" || !event.clipboardData || !event.clipboardData.files.length) return;
    event.preventDefault();
    addFiles(event.clipboardData.files);
  });

  // After a post: a success clears the files, a 422 keeps them for the corrected retry.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.target && event.detail.target.id === "composer") keepFiles = event.detail.xhr && event.detail.xhr.status === 422 ? files.slice() : [];
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "composer") return;
    if (keepFiles !== null) { files = keepFiles; keepFiles = null; }
    closeMentions();
    drawFiles();
  });

  // --- emoji --------------------------------------------------------------------------------------
  function insertAtCursor(text) {
    var textarea = el("reply-text");
    if (!textarea) return;
    var start = textarea.selectionStart, end = textarea.selectionEnd;
    textarea.value = textarea.value.slice(0, start) + text + textarea.value.slice(end);
    var caret = start + text.length;
    textarea.focus();
    textarea.setSelectionRange(caret, caret);
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function fold(text) { return (text || "").normalize("NFD").replace(/[\u0300-\u036f]/g, "").toLowerCase(); }

  function drawEmoji(query) {
    var grid = el("emoji-grid");
    if (!grid || !emoji) return;
    var lang = document.body.getAttribute("data-lang") === "it" ? "it" : "en";
    var q = fold(query.trim());
    grid.textContent = "";
    var total = 0;
    emoji.groups.forEach(function (group) {
      var items = group.items.filter(function (item) { return !q || fold(item[1]).indexOf(q) !== -1 || fold(item[2]).indexOf(q) !== -1 || (item[3] && fold(item[3]).indexOf(q) !== -1); });
      if (!items.length) return;
      var section = document.createElement("div");
      section.setAttribute("role", "group");
      section.setAttribute("aria-label", group[lang]);
      var heading = document.createElement("p");
      heading.className = "emoji-group";
      heading.textContent = group[lang];
      section.appendChild(heading);
      items.forEach(function (item) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "emoji";
        button.setAttribute("data-emoji", item[0]);
        button.setAttribute("aria-label", lang === "it" ? item[2] : item[1]);
        button.title = lang === "it" ? item[2] : item[1];
        button.textContent = item[0];
        section.appendChild(button);
        total += 1;
      });
      grid.appendChild(section);
    });
    if (!total) {
      var empty = document.createElement("p");
      empty.className = "muted";
      empty.textContent = tr("no-emoji");
      grid.appendChild(empty);
    }
  }

  function toggleEmoji() {
    var panel = el("emoji-panel");
    if (!panel) return;
    if (!panel.hidden) { closeEmoji(true); return; }
    panel.hidden = false;
    el("emoji-button").setAttribute("aria-expanded", "true");
    var search = el("emoji-search");
    search.value = "";
    search.focus();
    if (emoji) { drawEmoji(""); return; }
    fetch(form().getAttribute("data-emoji-url"), { credentials: "same-origin" }).then(function (r) { return r.json(); }).then(function (data) {
      emoji = data;
      drawEmoji(search.value);
    });
  }

  function closeEmoji(refocus) {
    var panel = el("emoji-panel"), button = el("emoji-button");
    if (!panel || panel.hidden) return;
    panel.hidden = true;
    if (button) { button.setAttribute("aria-expanded", "false"); if (refocus && document.activeElement && panel.contains(document.activeElement)) button.focus(); }
  }

  document.addEventListener("input", function (event) {
    if (event.target && event.target.id === "emoji-search") drawEmoji(event.target.value);
  });
  document.addEventListener("keydown", function (event) {
    var panel = el("emoji-panel");
    if (!panel || panel.hidden || !event.target || !panel.contains(event.target)) return;
    if (event.key === "Escape") { event.preventDefault(); closeEmoji(true); el("emoji-button").focus(); return; }
    var buttons = Array.prototype.slice.call(panel.querySelectorAll("button[data-emoji]"));
    if (!buttons.length) return;
    var at = buttons.indexOf(event.target);
    if (event.target.id === "emoji-search" && (event.key === "ArrowDown" || event.key === "Enter")) { event.preventDefault(); buttons[0].focus(); return; }
    if (at === -1) return;
    var step = { ArrowRight: 1, ArrowLeft: -1, ArrowDown: 8, ArrowUp: -8 }[event.key];
    if (step) {
      event.preventDefault();
      var next = at + step;
      if (next < 0) { el("emoji-search").focus(); return; }
      buttons[Math.min(next, buttons.length - 1)].focus();
    }
  });

  // --- @mentions in internal notes -----------------------------------------------------------------
  function mentionList() { return el("mention-picker"); }

  function closeMentions() {
    var list = mentionList();
    if (list) { list.hidden = true; list.textContent = ""; }
    mention.shown = []; mention.start = -1; mention.index = 0;
  }

  function mentionQuery(textarea) {
    var before = textarea.value.slice(0, textarea.selectionStart);
    var match = /(^|[\s(])@([^\s@]{0,40}(?: [^\s@]{0,40})?)$/.exec(before);
    if (!match) return null;
    return { start: before.length - match[2].length - 1, query: match[2] };
  }

  function drawMentions(query) {
    var list = mentionList();
    if (!list || !people) return;
    var me = parseInt(document.body.getAttribute("data-user-id"), 10);
    var q = fold(query);
    mention.shown = people.filter(function (p) { return p.id !== me && (fold(p.name).indexOf(q) !== -1 || fold(p.handle).indexOf(q) === 0); }).slice(0, 8);
    if (!mention.shown.length && query.indexOf(" ") !== -1) { closeMentions(); return; }
    mention.index = Math.min(mention.index, Math.max(0, mention.shown.length - 1));
    list.textContent = "";
    if (!mention.shown.length) {
      var empty = document.createElement("li");
      empty.textContent = tr("no-people");
      empty.setAttribute("aria-disabled", "true");
      list.appendChild(empty);
    }
    mention.shown.forEach(function (person, i) {
      var item = document.createElement("li");
      item.setAttribute("role", "option");
      item.id = "mention-option-" + person.id;
      item.setAttribute("data-user-id", String(person.id));
      item.setAttribute("aria-selected", i === mention.index ? "true" : "false");
      item.textContent = person.name;
      var small = document.createElement("small");
      small.textContent = "@" + person.handle;
      item.appendChild(small);
      item.addEventListener("mousedown", function (event) { event.preventDefault(); insertMention(person); });
      list.appendChild(item);
    });
    var textarea = el("reply-text");
    if (textarea && mention.shown.length) textarea.setAttribute("aria-activedescendant", "mention-option-" + mention.shown[mention.index].id);
    list.hidden = false;
  }

  function updateMentions(textarea) {
    if (mode() !== "note") { closeMentions(); return; }
    var found = mentionQuery(textarea);
    if (!found) { closeMentions(); return; }
    mention.start = found.start;
    if (people) { drawMentions(found.query); return; }
    fetch(form().getAttribute("data-people-url"), { credentials: "same-origin" }).then(function (r) { return r.ok ? r.json() : []; }).then(function (rows) {
      people = rows;
      var again = mentionQuery(textarea);
      if (again && mode() === "note") drawMentions(again.query);
    });
  }

  function insertMention(person) {
    var textarea = el("reply-text");
    if (!textarea || mention.start < 0) return;
    var end = textarea.selectionStart;
    var text = "@" + person.insert + " ";
    textarea.value = textarea.value.slice(0, mention.start) + text + textarea.value.slice(end);
    var caret = mention.start + text.length;
    textarea.focus();
    textarea.setSelectionRange(caret, caret);
    textarea.removeAttribute("aria-activedescendant");
    closeMentions();
    update();
  }

  document.addEventListener("input", function (event) {
    if (!event.target || event.target.id !== "reply-text") return;
    updateMentions(event.target);
    update();
  });
  document.addEventListener("keydown", function (event) {
    if (!event.target || event.target.id !== "reply-text") return;
    var list = mentionList();
    if (!list || list.hidden) return;
    if (event.key === "Escape") { event.preventDefault(); closeMentions(); return; }
    if (!mention.shown.length) return;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      mention.index = (mention.index + (event.key === "ArrowDown" ? 1 : mention.shown.length - 1)) % mention.shown.length;
      var found = mentionQuery(event.target);
      drawMentions(found ? found.query : "");
    } else if (event.key === "Enter" || event.key === "Tab") {
      event.preventDefault();
      insertMention(mention.shown[mention.index]);
    }
  });
  document.addEventListener("focusout", function (event) {
    if (event.target && event.target.id === "reply-text") setTimeout(closeMentions, 150);
  });

  // The "n" / "r" shortcuts (desk-shortcuts.js) switch the composer's note-mode class: follow it.
  new MutationObserver(function (records) {
    records.forEach(function (record) {
      if (record.target.id !== "composer") return;
      var radio = el(record.target.classList.contains("note-mode") ? "composer-mode-note" : "composer-mode-reply");
      if (radio && !radio.checked) { radio.checked = true; closeMentions(); update(); }
    });
  }).observe(document.documentElement, { attributes: true, attributeFilter: ["class"], subtree: true });

  document.addEventListener("DOMContentLoaded", function () { update(); });
})();
