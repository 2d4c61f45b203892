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

  function markSelected() {
    var t = thread();
    var current = t ? t.dataset.conversationId : null;
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
  document.addEventListener("htmx:oobBeforeSwap", function () { wasNearBottom = nearBottom(); });
  document.addEventListener("htmx:wsBeforeMessage", function () { wasNearBottom = nearBottom(); });

  document.addEventListener("htmx:afterSettle", function (event) {
    if (event.detail.target && event.detail.target.id === "thread-pane") {
      live.onOpen(followThread);
      scrollToBottom();
      var box = document.getElementById("reply-body");
      if (box) { box.focus(); }
    }
    markSelected();
  });
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

  // Enter sends, Shift+Enter starts a new line.
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (box.id !== "reply-body" || event.key !== "Enter" || event.shiftKey || event.isComposing) { return; }
    event.preventDefault();
    if (box.value.trim()) { box.form.requestSubmit(); }
  });

  // Typing signal to the customer, at most every two seconds.
  var lastTyping = 0;
  document.addEventListener("input", function (event) {
    if (event.target.id !== "reply-body") { return; }
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

  document.addEventListener("switchboard:resync", function () {
    htmx.ajax("GET", window.location.href, { target: "#list-pane", select: "#list-pane", swap: "outerHTML" });
  });

  document.addEventListener("DOMContentLoaded", function () {
    live.onOpen(followThread);
    markSelected();
    scrollToBottom();
  });
})();
