/* The agent workspace: following the open thread, the composer, small conveniences. */
(function () {
  "use strict";
  var live = window.SwitchboardLive;

  function thread() { return document.getElementById("thread"); }

  function scroller() { return document.getElementById("thread-scroll"); }
  function nearBottom() {
    var el = scroller();
    return !el || el.scrollHeight - el.scrollTop - el.clientHeight < 120;
  }
  function scrollToBottom() {
    var el = scroller();
    if (el) { el.scrollTop = el.scrollHeight; }
  }

  // Tell the server which conversation this screen shows; it checks access before
  // sending that conversation's updates, and replays what happened since the render.
  function followThread(socket) {
    var t = thread();
    var message = { type: "open", conversation: t ? Number(t.dataset.conversationId) : null };
    if (t) { message.last_event_id = Number(t.dataset.lastEventId || 0); }
    socket.send(JSON.stringify(message));
  }

  // The selected row: the conversation being opened, or else the one on screen.
  var selectedId = null;
  function markSelected(conversationId) {
    var t = thread();
    if (conversationId) { selectedId = String(conversationId); }
    var current = selectedId || (t ? t.dataset.conversationId : null);
    document.querySelectorAll(".conv-row").forEach(function (row) {
      var selected = row.dataset.conversationId === current;
      row.classList.toggle("is-selected", selected);
      var link = row.querySelector(".conv-link");
      if (link) {
        if (selected) { link.setAttribute("aria-current", "true"); } else { link.removeAttribute("aria-current"); }
      }
    });
  }

  var wasNearBottom = true;
  var keyboardNavigation = false;
  var pendingId = null;
  document.addEventListener("htmx:oobBeforeSwap", function () { wasNearBottom = nearBottom(); });
  document.addEventListener("htmx:wsBeforeMessage", function () { wasNearBottom = nearBottom(); });

  // Runs in the same task as the swap, so no key press can slip in between.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.detail.target || event.detail.target.id !== "thread-pane") { return; }
    var opened = thread();
    var openedId = opened ? opened.dataset.conversationId : null;
    if (pendingId && openedId !== pendingId) { return; }  // a stale answer; another is coming
    pendingId = null;
    live.onOpen(followThread);
    scrollToBottom();
    markSelected(openedId);
    // Opened from the keyboard: stay in the list so j/k keep working. By mouse: reply.
    var focus = keyboardNavigation
      ? document.querySelector(".conv-link[aria-current='true']")
      : document.getElementById("reply-body");
    keyboardNavigation = false;
    if (focus) { focus.focus(); }
  });
  document.addEventListener("htmx:afterSettle", function () { markSelected(); });
  function afterLiveSwap() {
    markSelected();
    if (wasNearBottom) { scrollToBottom(); }
  }
  document.addEventListener("htmx:oobAfterSwap", afterLiveSwap);
  document.addEventListener("switchboard:swapped", afterLiveSwap);

  // After our own reply: keep the composer focused and show the new message.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.elt && event.detail.elt.id === "composer") {
      var box = document.getElementById("reply-body");
      if (box && !box.value) { box.focus(); }
      scrollToBottom();
    }
  });

  // Reply or private note: the same box, labelled and styled for what it will do.
  function setMode(mode) {
    var form = document.getElementById("composer");
    if (!form) { return; }
    var radio = form.querySelector("input[name='mode'][value='" + mode + "']");
    if (radio) { radio.checked = true; }
    var label = form.querySelector(".composer-label");
    var box = document.getElementById("reply-body");
    form.classList.toggle("is-note", mode === "note");
    label.textContent = label.dataset[mode === "note" ? "labelNote" : "labelReply"];
    box.placeholder = box.dataset[mode === "note" ? "placeholderNote" : "placeholderReply"];
    box.focus();
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "mode" && event.target.form && event.target.form.id === "composer") {
      setMode(event.target.value);
    }
  });

  // @mentions: in a note, "@" followed by letters offers colleagues who can see it.
  var picker = { open: false, start: 0, index: 0, matches: [] };
  function mentionable() {
    var box = document.getElementById("reply-body");
    return box && box.dataset.mentionable ? JSON.parse(box.dataset.mentionable) : [];
  }
  function closePicker() {
    var list = document.getElementById("mention-picker");
    if (list) { list.hidden = true; list.textContent = ""; }
    picker.open = false;
  }
  function renderPicker() {
    var list = document.getElementById("mention-picker");
    list.textContent = "";
    picker.matches.forEach(function (person, i) {
      var item = document.createElement("li");
      item.setAttribute("role", "option");
      item.id = "mention-option-" + i;
      item.setAttribute("aria-selected", i === picker.index ? "true" : "false");
      item.textContent = person.name;
      item.addEventListener("mousedown", function (event) { event.preventDefault(); choose(i); });
      list.appendChild(item);
    });
    list.hidden = picker.matches.length === 0;
    document.getElementById("reply-body").setAttribute("aria-activedescendant", "mention-option-" + picker.index);
  }
  function choose(i) {
    var box = document.getElementById("reply-body");
    var person = picker.matches[i];
    var before = box.value.slice(0, picker.start);
    var after = box.value.slice(box.selectionStart);
    box.value = before + "@" + person.name + " " + after;
    var caret = (before + "@" + person.name + " ").length;
    box.setSelectionRange(caret, caret);
    closePicker();
  }
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (box.id !== "reply-body") { return; }
    var form = box.form;
    if (!form.classList.contains("is-note")) { closePicker(); return; }
    var upto = box.value.slice(0, box.selectionStart);
    var match = /(^|\s)@([^\s@]{0,30})$/.exec(upto);
    if (!match) { closePicker(); return; }
    var query = match[2].toLowerCase();
    picker.start = upto.length - match[2].length - 1;
    picker.matches = mentionable().filter(function (person) {
      return person.name.toLowerCase().indexOf(query) !== -1 || person.email.toLowerCase().indexOf(query) === 0;
    }).slice(0, 8);
    picker.index = 0;
    picker.open = picker.matches.length > 0;
    renderPicker();
  });

  // Enter sends, Shift+Enter starts a new line; in the picker, arrows and Enter choose.
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (box.id !== "reply-body") { return; }
    if (picker.open) {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        var step = event.key === "ArrowDown" ? 1 : -1;
        picker.index = (picker.index + step + picker.matches.length) % picker.matches.length;
        renderPicker();
        return;
      }
      if (event.key === "Enter" || event.key === "Tab") { event.preventDefault(); choose(picker.index); return; }
      if (event.key === "Escape") { event.preventDefault(); closePicker(); return; }
    }
    if (event.key !== "Enter" || event.shiftKey || event.isComposing) { return; }
    event.preventDefault();
    if (box.value.trim()) { box.form.requestSubmit(); }
  });

  // Typing signal to the customer, at most every two seconds.
  var lastTyping = 0;
  document.addEventListener("input", function (event) {
    if (event.target.id !== "reply-body" || event.target.form.classList.contains("is-note")) { return; }
    var now = Date.now();
    var t = thread();
    if (t && now - lastTyping > 2000) {
      lastTyping = now;
      live.send({ type: "typing", conversation: Number(t.dataset.conversationId) });
    }
  });

  // Errors say what happened: the server's message where it sent one.
  function flash(text) {
    var el = document.getElementById("flash");
    if (!el) { return; }
    el.textContent = text;
    el.hidden = false;
    clearTimeout(el._timer);
    el._timer = setTimeout(function () { el.hidden = true; }, 6000);
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var text = (event.detail.xhr.responseText || "").trim();
    if ((status === 400 || status === 422) && text && text.length < 300 && text.charAt(0) !== "<") {
      flash(text);
      return;
    }
    flash(status === 404 ? "That conversation is not available to you."
      : status === 403 ? "You are not allowed to do that."
      : "Something went wrong (" + status + "). Try again in a moment.");
  });
  document.addEventListener("htmx:sendError", function () {
    flash("You seem to be offline. Your message was not sent; try again when you are back online.");
  });

  // Keyboard: j/k move through the list, r reply, n note, e resolve or reopen, a assign,
  // / search, ? lists the shortcuts. Letters act only outside text fields.
  function rows() { return Array.prototype.slice.call(document.querySelectorAll(".conv-row .conv-link")); }
  function move(step) {
    var links = rows();
    if (!links.length) { return; }
    var current = links.findIndex(function (link) { return link.getAttribute("aria-current") === "true"; });
    var next = links[Math.max(0, Math.min(links.length - 1, current + step))];
    if (current === -1) { next = links[0]; }
    keyboardNavigation = true;
    // Select at once, so a quick second key press moves on from here, not from the old row.
    pendingId = next.closest(".conv-row").dataset.conversationId;
    markSelected(pendingId);
    next.click();
  }
  function typing(target) {
    return target.closest && target.closest("input, textarea, select, [contenteditable='true']");
  }
  var shortcuts = {
    j: function () { move(1); },
    k: function () { move(-1); },
    r: function () { setMode("reply"); },
    n: function () { setMode("note"); },
    e: function () {
      var button = document.querySelector(".thread-header button[data-shortcut='e']");
      if (button) { button.click(); }
    },
    a: function () {
      var select = document.querySelector(".thread-header select[name='assignee']");
      if (select) { select.focus(); }
    },
    "/": function () {
      var search = document.querySelector("input[type='search']");
      if (search) { search.focus(); search.select(); }
    },
    "?": function () {
      var dialog = document.getElementById("shortcuts");
      if (dialog && !dialog.open) { dialog.showModal(); }
    }
  };
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && typing(event.target)) { event.target.blur(); return; }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) { return; }
    var action = shortcuts[event.key];
    if (action) {
      event.preventDefault();
      action();
    }
  });

  document.addEventListener("switchboard:resync", function () {
    htmx.ajax("GET", window.location.href, { target: "#list-pane", select: "#list-pane", swap: "outerHTML" });
  });

  document.addEventListener("DOMContentLoaded", function () {
    live.onOpen(followThread);
    markSelected();
    scrollToBottom();
  });
})();
