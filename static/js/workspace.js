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
    if (!el) { return; }
    // A link to one message (from search) lands on it instead of the newest one.
    var target = /^#message-\d+$/.test(window.location.hash) && document.querySelector(window.location.hash);
    if (target && el.contains(target) && !target.dataset.landed) {
      target.dataset.landed = "1";
      target.classList.add("is-target");
      target.scrollIntoView({ block: "center" });
      return;
    }
    el.scrollTop = el.scrollHeight;
  }

  // Tell the server which conversation this screen shows; it checks access before
  // sending that conversation's updates, and replays what happened since the render.
  function followMessage() {
    var t = thread();
    var message = { type: "open", conversation: t ? Number(t.dataset.conversationId) : null };
    if (t) { message.last_event_id = Number(t.dataset.lastEventId || 0); }
    return message;
  }
  function followThread(socket) { socket.send(JSON.stringify(followMessage())); }

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
  var reloadedFocus = null;  // a thread reloaded in place: "reply" (it was being typed in) or "stay"
  document.addEventListener("htmx:oobBeforeSwap", function () { wasNearBottom = nearBottom(); });
  document.addEventListener("htmx:wsBeforeMessage", function () { wasNearBottom = nearBottom(); });

  // Only the answer to the latest request for the thread pane is swapped in: an earlier
  // one that arrives later (a slow click, a reload) would show a conversation the agent
  // has left.
  var latestThreadRequest = null;  // until it is answered
  function forThreadPane(event) { return event.detail.target && event.detail.target.id === "thread-pane"; }
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (forThreadPane(event)) { latestThreadRequest = event.detail.xhr; }
  });
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (forThreadPane(event) && event.detail.xhr !== latestThreadRequest) { event.detail.shouldSwap = false; }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    if (event.detail.xhr === latestThreadRequest) { latestThreadRequest = null; }
  });

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
    restoreDraft();
    // Opened from the keyboard: stay in the list so j/k keep working. By mouse: reply.
    // Reloaded in place: the reply box keeps the focus if it had it; nothing else moves.
    var focus = keyboardNavigation
      ? document.querySelector(".conv-link[aria-current='true']")
      : document.getElementById("reply-body");
    if (reloadedFocus) { focus = reloadedFocus === "reply" ? document.getElementById("reply-body") : null; }
    keyboardNavigation = false;
    reloadedFocus = null;
    if (focus) { focus.focus(); }
  });
  document.addEventListener("htmx:afterSettle", function () {
    markSelected();
    dayLines();
    markUnreadRows(document);
  });

  // Day separators, in the viewer's time zone: derived here so pushed fragments stay shared.
  var dayFormat = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
    weekday: "long", day: "numeric", month: "long", year: "numeric",
    timeZone: document.body.dataset.timeZone || undefined
  });
  function dayLines() {
    var list = document.querySelector("#thread ol.messages");
    if (!list) { return; }
    list.querySelectorAll(".day-separator").forEach(function (el) { el.remove(); });
    var previous = null;
    list.querySelectorAll(":scope > li").forEach(function (item) {
      var time = item.querySelector("time[datetime]");
      if (!time) { return; }
      var day = dayFormat.format(new Date(time.getAttribute("datetime")));
      if (day !== previous) {
        var line = document.createElement("li");
        line.className = "day-separator";
        line.setAttribute("role", "separator");
        line.textContent = day;
        item.before(line);
        previous = day;
      }
    });
  }

  // Older messages load when the reader scrolls near the top; the view stays where it was.
  var heightBeforeOlder = null;
  document.addEventListener("scroll", function (event) {
    var el = event.target;
    if (el.id !== "thread-scroll" || el.scrollTop > 80 || heightBeforeOlder !== null) { return; }
    var button = el.querySelector(".load-older");
    if (button) {
      heightBeforeOlder = el.scrollHeight - el.scrollTop;
      button.click();
    }
  }, true);
  document.addEventListener("htmx:afterSettle", function (event) {
    var el = scroller();
    var path = event.detail.pathInfo ? event.detail.pathInfo.requestPath : "";
    if (heightBeforeOlder !== null && el && path.indexOf("/messages/?before=") !== -1) {
      el.scrollTop = el.scrollHeight - heightBeforeOlder;
      heightBeforeOlder = null;
    }
  });

  // Drafts survive moving between conversations (and reloads) until they are sent.
  function draftKey(form) { return "switchboard.draft." + form.dataset.conversationId; }
  function restoreDraft() {
    var form = document.getElementById("composer");
    var box = document.getElementById("reply-body");
    if (!form || !box || box.value) { return; }
    try { box.value = sessionStorage.getItem(draftKey(form)) || ""; } catch (e) { /* storage off */ }
  }
  document.addEventListener("input", function (event) {
    if (event.target.id !== "reply-body") { return; }
    try { sessionStorage.setItem(draftKey(event.target.form), event.target.value); } catch (e) { /* storage off */ }
  });
  document.addEventListener("htmx:afterRequest", function (event) {
    var form = event.detail.elt;
    if (form && form.id === "composer" && event.detail.successful) {
      try { sessionStorage.removeItem(draftKey(form)); } catch (e) { /* storage off */ }
    }
  });
  function afterLiveSwap() {
    markSelected();
    dayLines();
    if (wasNearBottom) { scrollToBottom(); }
  }
  document.addEventListener("htmx:oobAfterSwap", afterLiveSwap);
  document.addEventListener("switchboard:swapped", afterLiveSwap);

  // After our own reply: show the new message, and give focus back to the composer only
  // if it had it when the reply left; the agent may have moved on while it was in flight.
  var composerHadFocus = false;
  document.addEventListener("htmx:beforeRequest", function (event) {
    if (event.detail.elt && event.detail.elt.id === "composer") {
      composerHadFocus = event.detail.elt.contains(document.activeElement);
    }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { composerHadFocus = false; }
  }, true);
  document.addEventListener("focusin", function (event) {
    if (!event.target.closest || !event.target.closest("#composer")) { composerHadFocus = false; }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.detail.elt && event.detail.elt.id === "composer") {
      var box = document.getElementById("reply-body");
      if (box && !box.value && composerHadFocus) { box.focus(); }
      composerHadFocus = false;
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
    var hint = form.querySelector(".composer-hint");
    if (hint) { hint.textContent = hint.dataset[mode === "note" ? "hintNote" : "hintReply"]; }
    box.focus();
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "mode" && event.target.form && event.target.form.id === "composer") {
      setMode(event.target.value);
    }
  });

  // Suggestions while typing: "@" in a note offers colleagues who can see the conversation;
  // "/" offers canned responses, inserted with their placeholders filled in.
  var picker = { open: false, start: 0, index: 0, matches: [], kind: null };
  function composerData(name) {
    var box = document.getElementById("reply-body");
    return box && box.dataset[name] ? JSON.parse(box.dataset[name]) : null;
  }
  function fill(text) {
    var values = composerData("placeholders") || {};
    return text.replace(/\{\{\s*([a-z_.]+)\s*\}\}/g, function (all, key) {
      return key in values ? values[key] : all;
    });
  }
  var sources = {
    mention: {
      pattern: /(^|\s)@([^\s@]{0,30})$/,
      label: "labelMention",
      onlyInNote: true,
      find: function (query) {
        return (composerData("mentionable") || []).filter(function (person) {
          return person.name.toLowerCase().indexOf(query) !== -1 || person.email.toLowerCase().indexOf(query) === 0;
        }).map(function (person) { return { text: person.name, insert: "@" + person.name + " " }; });
      }
    },
    canned: {
      pattern: /(^|\s)\/([\w-]{0,40})$/,
      label: "labelCanned",
      onlyInNote: false,
      find: function (query) {
        return (composerData("canned") || []).filter(function (item) {
          return item.shortcut.indexOf(query) !== -1 || item.title.toLowerCase().indexOf(query) !== -1;
        }).map(function (item) {
          return { text: "/" + item.shortcut + " — " + item.title, insert: fill(item.body) };
        });
      }
    }
  };
  function closePicker() {
    var list = document.getElementById("suggestions");
    if (list) { list.hidden = true; list.textContent = ""; }
    var box = document.getElementById("reply-body");
    if (box) { box.removeAttribute("aria-activedescendant"); }
    picker.open = false;
  }
  function renderPicker() {
    var list = document.getElementById("suggestions");
    var box = document.getElementById("reply-body");
    list.textContent = "";
    list.setAttribute("aria-label", list.dataset[sources[picker.kind].label]);
    picker.matches.forEach(function (match, i) {
      var item = document.createElement("li");
      item.setAttribute("role", "option");
      item.id = "suggestion-" + i;
      item.setAttribute("aria-selected", i === picker.index ? "true" : "false");
      item.textContent = match.text;
      item.addEventListener("mousedown", function (event) { event.preventDefault(); choose(i); });
      list.appendChild(item);
    });
    list.hidden = picker.matches.length === 0;
    box.setAttribute("aria-activedescendant", "suggestion-" + picker.index);
  }
  function choose(i) {
    var box = document.getElementById("reply-body");
    var before = box.value.slice(0, picker.start);
    var after = box.value.slice(box.selectionStart);
    var inserted = picker.matches[i].insert;
    box.value = before + inserted + after;
    var caret = (before + inserted).length;
    box.setSelectionRange(caret, caret);
    box.dispatchEvent(new Event("input", { bubbles: true }));
    closePicker();
  }
  document.addEventListener("input", function (event) {
    var box = event.target;
    if (box.id !== "reply-body" || !event.isTrusted) { return; }
    var inNote = box.form.classList.contains("is-note");
    var upto = box.value.slice(0, box.selectionStart);
    for (var kind in sources) {
      var source = sources[kind];
      var match = source.pattern.exec(upto);
      if (match && (inNote || !source.onlyInNote)) {
        picker.kind = kind;
        picker.start = upto.length - match[2].length - 1;
        picker.matches = source.find(match[2].toLowerCase()).slice(0, 8);
        picker.index = 0;
        picker.open = picker.matches.length > 0;
        renderPicker();
        return;
      }
    }
    closePicker();
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
  function message(name, fallback) {
    var el = document.getElementById("flash");
    return (el && el.dataset[name]) || fallback;
  }
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var text = (event.detail.xhr.responseText || "").trim();
    if ((status === 400 || status === 422) && text && text.length < 300 && text.charAt(0) !== "<") {
      flash(text);
      return;
    }
    flash(status === 404 ? message("msgMissing", "That conversation is not available to you.")
      : status === 403 ? message("msgForbidden", "You are not allowed to do that.")
      : message("msgFailed", "Something went wrong (%(status)s). Try again in a moment.")
        .replace("%(status)s", status));
  });
  document.addEventListener("htmx:sendError", function () {
    flash(message("msgOffline", "You seem to be offline. Your message was not sent; try again when you are back online."));
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

  // Unread: the server counts per view (on request, debounced); rows are marked here.
  var workspace = document.getElementById("workspace");
  var baseTitle = document.title;
  function setTitleCount(n) {
    document.title = (n > 0 ? "(" + n + ") " : "") + baseTitle.replace(/^\(\d+\) /, "");
  }
  var countsTimer = null;
  function requestCounts() {
    clearTimeout(countsTimer);
    countsTimer = setTimeout(function () { live.send({ type: "counts" }); }, 1500);
  }
  function markUnreadRows(root) {
    (root || document).querySelectorAll("[data-unread-ids]").forEach(function (marker) {
      marker.dataset.unreadIds.split(" ").forEach(function (id) {
        var row = id && document.getElementById("conversation-" + id);
        if (row) { row.classList.add("is-unread"); }
      });
      marker.removeAttribute("data-unread-ids");
    });
  }
  function openConversationId() { var t = thread(); return t ? t.dataset.conversationId : null; }

  // Browser notifications for my conversations and mentions, when enabled and permitted.
  function notify(title, body, conversationId) {
    if (!workspace || workspace.dataset.notifications !== "on") { return; }
    if (!("Notification" in window) || Notification.permission !== "granted") { return; }
    if (!document.hidden && openConversationId() === String(conversationId)) { return; }
    var note = new Notification(title, { body: body, tag: "conversation-" + conversationId });
    note.onclick = function () {
      window.focus();
      window.location.href = "/conversations/" + conversationId + "/";
    };
  }

  document.addEventListener("switchboard:row-moved", function (event) {
    var row = event.detail.row;
    if (live.isNews() && row.dataset.conversationId !== openConversationId()) {
      row.classList.add("is-unread");
      if (row.dataset.assignee === document.body.dataset.userId && row.dataset.lastFrom === "contact") {
        var name = row.querySelector(".conv-name");
        var preview = row.querySelector(".conv-preview");
        notify(name ? name.textContent : "", preview ? preview.textContent.trim() : "", row.dataset.conversationId);
      }
    }
    requestCounts();
  });
  document.addEventListener("htmx:beforeRequest", function (event) {
    var row = event.detail.elt.closest && event.detail.elt.closest(".conv-row");
    if (row) { row.classList.remove("is-unread"); }
  });

  // Who else is here: viewers of this conversation, and a warning when one is replying.
  var viewers = {};
  function renderViewers() {
    var t = thread();
    var box = t && document.getElementById("viewers-" + t.dataset.conversationId);
    if (!box) { return; }
    var here = viewers[t.dataset.conversationId] || {};
    var replying = [], viewing = [];
    Object.keys(here).forEach(function (id) {
      (here[id].state === "replying" ? replying : viewing).push(here[id].name);
    });
    box.classList.toggle("is-warning", replying.length > 0);
    box.textContent = replying.length
      ? box.dataset.replying.replace("%(names)s", replying.join(", "))
      : viewing.length ? box.dataset.viewing.replace("%(names)s", viewing.join(", ")) : "";
  }
  document.addEventListener("switchboard:signal", function (event) {
    var data = event.detail;
    if (data.type === "counts") {
      Object.keys(data.counts).forEach(function (key) {
        var badge = document.getElementById("unread-" + key);
        if (badge) { badge.textContent = data.counts[key]; badge.hidden = !data.counts[key]; }
      });
      setTitleCount(data.counts.title || 0);
    } else if (data.type === "presence") {
      document.querySelectorAll("[data-presence-user='" + data.user + "']").forEach(function (dot) {
        dot.className = dot.className.replace(/presence-\w+/, "presence-" + data.availability);
        dot.dataset.availability = data.availability;
      });
      var menu = document.getElementById("availability");
      if (menu && String(data.user) === document.body.dataset.userId) { menu.value = data.availability; }
    } else if (data.type === "viewer") {
      var key = String(data.conversation);
      viewers[key] = viewers[key] || {};
      if (data.state === "left") {
        delete viewers[key][data.user];
      } else {
        viewers[key][data.user] = { name: data.name, state: data.state === "replying" ? "replying" : "viewing" };
        if (data.state === "replying") {
          clearTimeout(viewers[key][data.user].timer);
          viewers[key][data.user].timer = setTimeout(function () {
            if (viewers[key][data.user]) { viewers[key][data.user].state = "viewing"; renderViewers(); }
          }, 6000);
        }
      }
      renderViewers();
    } else if (data.type === "mention") {
      notify(data.title, data.text, data.conversation);
      requestCounts();
    }
  });

  // Bulk actions appear when rows are selected.
  function updateBulk() {
    var bar = document.getElementById("bulk-actions");
    if (!bar) { return; }
    var n = document.querySelectorAll(".conv-select:checked").length;
    bar.hidden = n === 0;
    var count = document.getElementById("bulk-count");
    if (count) { count.textContent = count.dataset.template.replace("%(n)s", n); }
  }
  document.addEventListener("change", function (event) {
    if (event.target.classList && event.target.classList.contains("conv-select")) { updateBulk(); }
  });
  document.addEventListener("htmx:afterSettle", updateBulk);

  // Notifications need the browser's permission, asked for with a click.
  document.addEventListener("DOMContentLoaded", function () {
    var allow = document.getElementById("allow-notifications");
    if (allow && "Notification" in window && Notification.permission === "default") { allow.hidden = false; }
  });
  document.addEventListener("click", function (event) {
    if (event.target.id !== "allow-notifications" || !("Notification" in window)) { return; }
    Notification.requestPermission().then(function () { event.target.hidden = true; });
  });
  document.addEventListener("change", function (event) {
    if (event.target.id === "notifications-enabled" && workspace) {
      workspace.dataset.notifications = event.target.checked ? "on" : "off";
    }
  });

  // Presence: away after a while without input; back when input returns. Ping keeps the
  // socket counted as open.
  var IDLE_AFTER = 5 * 60 * 1000;
  var lastInput = Date.now();
  var idle = false;
  ["keydown", "mousemove", "mousedown", "focus", "scroll"].forEach(function (name) {
    window.addEventListener(name, function () {
      lastInput = Date.now();
      if (idle) { idle = false; live.send({ type: "active" }); }
    }, { passive: true, capture: true });
  });
  setInterval(function () {
    live.send({ type: "ping" });
    if (!idle && Date.now() - lastInput > IDLE_AFTER) { idle = true; live.send({ type: "idle" }); }
  }, 30000);

  // The server says this page missed updates (too far behind to catch up, or it dropped
  // some): reload the list, and have the open thread caught up again from the event it
  // was rendered with (as after a reconnection: the draft, files and scroll stay). A
  // server that fell behind may say so many times in a row, so this happens at most once
  // every few seconds, and once more after the last.
  var RESYNC_EVERY = 5000;
  var lastResync = 0;
  var resyncLater = null;
  function reloadListAndCatchUpThread() {
    lastResync = Date.now();
    // Aimed at the list pane, the page's own address answers with the list pane alone.
    htmx.ajax("GET", window.location.href, { target: "#list-pane" });
    if (thread()) { live.send(followMessage()); }
  }
  // The open thread missed more than can be replayed: only the thread pane is reloaded.
  function reloadThread() {
    var t = thread();
    if (!t || latestThreadRequest) { return; }  // none open, or one is on its way
    var typing = document.activeElement && document.activeElement.id === "reply-body";
    reloadedFocus = typing ? "reply" : "stay";
    htmx.ajax("GET", "/conversations/" + t.dataset.conversationId + "/", { target: "#thread-pane" });
  }
  document.addEventListener("switchboard:resync", function (event) {
    if (event.detail && event.detail.scope === "thread") { reloadThread(); return; }
    if (resyncLater) { return; }
    var wait = lastResync + RESYNC_EVERY - Date.now();
    if (wait <= 0) { reloadListAndCatchUpThread(); return; }
    resyncLater = setTimeout(function () { resyncLater = null; reloadListAndCatchUpThread(); }, wait);
  });

  document.addEventListener("DOMContentLoaded", function () {
    live.onOpen(followThread);
    markUnreadRows(document);
    if (workspace) { setTitleCount(Number(workspace.dataset.titleUnread || 0)); }
    markSelected();
    dayLines();
    restoreDraft();
    scrollToBottom();
  });
})();
