/* Raccordo desk keyboard shortcuts (listed in the "?" dialog, _desk_shortcuts.html), and the admin menu
   of the navigation (a <details> closed by Escape or a click elsewhere).
   Single keys act only when the focus is not in a field: typing is never hijacked. In a field,
   Escape leaves it (so the next key is a shortcut) and Ctrl/Cmd+Enter in the reply box sends. */
(function () {
  "use strict";

  var goPending = 0;
  var currentId = null;  // the conversation picked with j/k in the list
  var opener = null;     // what had the focus before the shortcuts dialog opened

  function typingIn(element) {
    if (!element || !element.tagName) return false;
    if (element.isContentEditable) return true;
    var tag = element.tagName.toLowerCase();
    if (tag === "textarea" || tag === "select") return true;
    if (tag !== "input") return false;
    return ["button", "submit", "reset", "checkbox", "radio", "range", "color", "file", "image"].indexOf((element.type || "").toLowerCase()) === -1;
  }

  function click(selector) {
    var element = document.querySelector(selector);
    if (!element || element.disabled) return false;
    element.click();
    return true;
  }

  // --- the conversation list ---------------------------------------------------------------------
  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#conversation-list .row[data-conversation-id]")); }

  function moveInList(step) {
    var list = rows();
    if (!list.length) return false;
    var active = document.activeElement && document.activeElement.closest ? document.activeElement.closest(".row[data-conversation-id]") : null;
    var index = list.indexOf(active);
    if (index === -1 && currentId !== null) index = list.findIndex(function (row) { return row.getAttribute("data-conversation-id") === currentId; });
    if (index === -1) index = list.findIndex(function (row) { return row.classList.contains("selected"); });
    index = index === -1 ? (step > 0 ? 0 : list.length - 1) : Math.min(list.length - 1, Math.max(0, index + step));
    var row = list[index];
    list.forEach(function (other) { other.classList.toggle("kbd-current", other === row); });
    currentId = row.getAttribute("data-conversation-id");
    var link = row.querySelector("a");
    if (link) { link.focus(); link.scrollIntoView({ block: "nearest" }); }
    return true;
  }

  function openCurrent() {
    if (currentId === null) return false;
    var link = document.querySelector('#conversation-list .row[data-conversation-id="' + currentId + '"] a');
    if (!link) return false;
    link.click();
    return true;
  }

  // A live refresh replaces the list: keep the keyboard's place in it.
  var refocus = null;
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    refocus = null;
    if (target && target.id === "conversation-list" && document.activeElement && target.contains(document.activeElement)) {
      var row = document.activeElement.closest(".row[data-conversation-id]");
      if (row) refocus = row.getAttribute("data-conversation-id");
    }
  });
  document.addEventListener("htmx:afterSettle", function () {
    if (currentId !== null) {
      var row = document.querySelector('#conversation-list .row[data-conversation-id="' + currentId + '"]');
      if (row) row.classList.add("kbd-current");
    }
    if (refocus === null) return;
    var link = document.querySelector('#conversation-list .row[data-conversation-id="' + refocus + '"] a');
    refocus = null;
    if (link && (document.activeElement === document.body || !document.activeElement)) link.focus();
  });

  // --- the composer --------------------------------------------------------------------------------
  function focusComposer(asNote) {
    var text = document.getElementById("reply-text");
    var composer = document.getElementById("composer");
    if (!text || !composer) return false;
    composer.classList.toggle("note-mode", asNote);  // composer.js follows the class with its reply / note switch
    if (!document.getElementById("composer-mode-note")) {  // a composer without that switch: say it in the placeholder
      var help = document.getElementById("shortcuts-dialog");
      if (!text.hasAttribute("data-reply-placeholder")) text.setAttribute("data-reply-placeholder", text.getAttribute("placeholder") || "");
      text.setAttribute("placeholder", asNote && help ? help.getAttribute("data-note-placeholder") : text.getAttribute("data-reply-placeholder"));
    }
    text.focus();
    return true;
  }

  function send(text, event) {
    var composer = text.closest("#composer");
    if (!composer) return;
    var button = composer.querySelector(composer.classList.contains("note-mode") ? '[data-action="note"]' : '[data-action="reply"]');
    if (!button) return;
    event.preventDefault();
    button.click();
  }

  // --- the conversation head -------------------------------------------------------------------------
  function openTransfer() {
    var details = document.querySelector("#conversation-head details.transfer");
    if (!details) return false;
    details.open = true;
    var field = details.querySelector("select, textarea, input");
    if (field) field.focus();
    return true;
  }

  // --- offers ----------------------------------------------------------------------------------------
  function offerButton(action) {
    var active = document.activeElement && document.activeElement.closest ? document.activeElement.closest(".offer") : null;
    var offer = active || document.querySelector(".offers .offer");
    return offer ? offer.querySelector('[data-action="offer-' + action + '"]') : null;
  }

  // --- the help dialog ---------------------------------------------------------------------------------
  function openHelp() {
    var dialog = document.getElementById("shortcuts-dialog");
    if (!dialog || dialog.open) return false;
    opener = document.activeElement && document.activeElement !== document.body ? document.activeElement : document.getElementById("shortcuts-open");
    dialog.showModal();
    return true;
  }

  function go(path) {
    var link = document.querySelector('.topbar nav a[href="' + path + '"]');
    if (!link) return false;
    window.location.href = link.getAttribute("href");
    return true;
  }

  var actions = {
    j: function () { return moveInList(1); },
    k: function () { return moveInList(-1); },
    Enter: function () { return document.activeElement === document.body || document.activeElement === document.getElementById("main") ? openCurrent() : false; },
    r: function () { return focusComposer(false); },
    n: function () { return focusComposer(true); },
    e: function () { return click('#conversation-head [data-action="resolved"]'); },
    p: function () { return click('#conversation-head [data-action="pending"]'); },
    t: function () { return openTransfer(); },
    "/": function () { var search = document.getElementById("inbox-search"); if (!search) return false; search.focus(); if (search.select) search.select(); return true; },
    a: function () { var button = offerButton("accept"); if (!button) return false; button.click(); return true; },
    d: function () { var button = offerButton("decline"); if (!button) return false; button.click(); return true; },
    "?": function () { return openHelp(); },
  };

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.isComposing) return;
    var target = event.target;
    if (typingIn(target)) {
      if (target.id === "reply-text" && event.key === "Enter" && (event.ctrlKey || event.metaKey)) send(target, event);
      else if (event.key === "Escape") target.blur();
      return;
    }
    if (event.key === "Escape") {
      var menu = document.querySelector("details.nav-menu[open]");
      if (menu) { menu.open = false; menu.querySelector("summary").focus(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var dialog = document.getElementById("shortcuts-dialog");
    if (dialog && dialog.open) return;
    if (goPending && Date.now() - goPending < 1500) {
      goPending = 0;
      if ((event.key === "i" && go("/inbox")) || (event.key === "l" && go("/live"))) event.preventDefault();
      return;
    }
    goPending = 0;
    if (event.key === "g") { goPending = Date.now(); return; }
    var action = Object.prototype.hasOwnProperty.call(actions, event.key) ? actions[event.key] : null;
    if (action && action()) event.preventDefault();
  });

  document.addEventListener("click", function (event) {
    var target = event.target;
    document.querySelectorAll("details.nav-menu[open]").forEach(function (menu) { if (!menu.contains(target)) menu.open = false; });
    if (target && target.closest && target.closest("#shortcuts-open")) openHelp();
  });

  document.addEventListener("DOMContentLoaded", function () {
    var dialog = document.getElementById("shortcuts-dialog");
    if (!dialog) return;
    dialog.addEventListener("close", function () {
      if (opener && document.contains(opener)) opener.focus();
      opener = null;
    });
    dialog.addEventListener("click", function (event) { if (event.target === dialog) dialog.close(); });  // a click on the backdrop
  });
})();
