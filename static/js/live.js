/* Switchboard live updates, shared by the agent workspace and the website widget.
 *
 * The server sends htmx out-of-band fragments over the websocket (htmx ws extension).
 * Each frame starts with "<!-- live-event ID PART -->". This script
 *  - skips frames it has applied already (catch-up may resend a few),
 *  - on every (re)connect tells the server the last event id it applied,
 *  - swaps fragments by id: a repeated or late fragment replaces, never duplicates,
 *  - shows the connection state, and formats times in the viewer's time zone.
 */
(function () {
  "use strict";
  var FRAME = /^<!-- live-event (\d+) (\w+) -->/;
  var applied = new Set();
  var appliedOrder = [];
  var live = null;
  var lastEventId = 0;
  // The page was rendered with everything up to this event; frames at or below it that
  // catch-up resends are not news (no notification, no unread mark).
  var renderedUpTo = 0;
  var currentFrameId = 0;
  var socket = null;
  var listeners = { open: [] };

  function remember(key) {
    applied.add(key);
    appliedOrder.push(key);
    if (appliedOrder.length > 5000) { applied.delete(appliedOrder.shift()); }
  }

  function setConnection(state) {
    var el = document.getElementById("connection-status");
    if (!el) { return; }
    el.dataset.state = state;
    el.textContent = el.dataset["label" + state.charAt(0).toUpperCase() + state.slice(1)] || {
      online: "Live", connecting: "Connecting…", reconnecting: "Reconnecting… new messages will appear when you are back online."
    }[state];
  }

  // The workspace's pill carries the sentence, translated whole ("You were signed out.
  // %(link)s to keep …"), the link's text and the sign-in URL; the link goes where the
  // placeholder is and brings the agent back to this page once signed in.
  function showSignedOut() {
    var el = document.getElementById("connection-status");
    if (!el) { return; }
    var parts = el.dataset.labelSignedOut.split("%(link)s");
    var link = document.createElement("a");
    link.href = el.dataset.signInUrl + "?next=" +
      encodeURIComponent(window.location.pathname + window.location.search);
    link.textContent = el.dataset.labelSignIn;
    // One inline run: the pill is a flex box, which would make the link an item of its own.
    var text = document.createElement("span");
    text.append(parts[0], link, parts.slice(1).join(""));
    el.dataset.state = "signed-out";
    el.replaceChildren(text);
  }

  document.addEventListener("htmx:wsOpen", function (event) {
    socket = event.detail.socketWrapper;
    var resume = { type: "resume", last_event_id: lastEventId };
    var source = event.target.closest ? event.target.closest("[data-live]") : null;
    if (source && source.dataset.visitorToken) { resume.token = source.dataset.visitorToken; }
    socket.send(JSON.stringify(resume));
    setConnection("online");
    listeners.open.forEach(function (fn) { fn(socket); });
  });

  // The server refuses the socket of a session that ended (signed out in another tab,
  // expired, account deactivated), and a browser sees a refused socket as a network drop.
  // So a page that says where to ask (the workspace; never the widget) asks whether it is
  // still signed in each time its socket closes, one question at a time. Signed out, it stops
  // reconnecting: the ws extension gives up only once the socket's element leaves the page
  // (at most one attempt already scheduled still goes out, and is refused).
  var signedOut = false;
  var askingSession = false;
  function askWhetherSignedIn(socketElement) {
    var source = socketElement.closest ? socketElement.closest("[data-live]") : null;
    var url = source && source.dataset.sessionUrl;
    if (!url || askingSession) { return; }
    askingSession = true;
    fetch(url, { credentials: "same-origin", cache: "no-store" }).then(function (response) {
      if (response.status !== 401) { return; }
      signedOut = true;
      socketElement.remove();
      showSignedOut();
    }).catch(function () {
      // Offline, or the server is down: still reconnecting.
    }).finally(function () {
      askingSession = false;
    });
  }
  // The server closes with this code when what the user may see has changed (an inbox
  // added or taken away, a new role or language): the page joins again at once, and the
  // server decides what it joins. (channels_app.consumers.CLOSE_TO_REJOIN)
  var CLOSE_TO_REJOIN = 4012;
  function connectionLost(event) {
    if (signedOut) { return; }
    var closed = event.detail && event.detail.event;
    if (event.type === "htmx:wsClose" && closed && closed.code === CLOSE_TO_REJOIN) {
      setConnection("connecting");
      event.detail.socketWrapper.reconnect();
      return;
    }
    setConnection("reconnecting");
    askWhetherSignedIn(event.target);
  }
  document.addEventListener("htmx:wsClose", connectionLost);
  document.addEventListener("htmx:wsError", connectionLost);

  // Small signals (counts, presence, who is viewing) come as JSON, not HTML: they are
  // handed to listeners of "switchboard:signal" and never swapped into the page.
  function signal(text) {
    var data;
    try { data = JSON.parse(text); } catch (e) { return; }
    document.dispatchEvent(new CustomEvent("switchboard:signal", { detail: data }));
  }
  document.addEventListener("htmx:wsBeforeMessage", function (event) {
    var message = event.detail.message;
    var match = FRAME.exec(message);
    if (match) {
      var key = match[1] + ":" + match[2];
      if (applied.has(key)) { event.preventDefault(); return; }
      remember(key);
      currentFrameId = Number(match[1]);
      lastEventId = Math.max(lastEventId, currentFrameId);
      message = message.slice(match[0].length);
    }
    if (message.trim().charAt(0) === "{") {
      event.preventDefault();
      signal(message);
    } else if (match) {
      document.dispatchEvent(new CustomEvent("switchboard:frame", { detail: { part: match[2] } }));
    }
  });

  // Whether a pushed row belongs in the list on this screen. The fragment is the same
  // for every viewer; which list it joins is decided here, by the viewer's page.
  function rowMatchesView(row) {
    var list = document.getElementById("conversation-list");
    if (!list || row.dataset.status !== list.dataset.status) { return false; }
    var view = list.dataset.view;
    var kind = view.split("-")[0];
    var id = view.split("-")[1];
    if (view === "mine") { return row.dataset.assignee === document.body.dataset.userId; }
    if (view === "unassigned") { return row.dataset.assignee === ""; }
    if (view === "mentions") { return Boolean(document.getElementById(row.id)); }
    if (kind === "inbox") { return row.dataset.inbox === id; }
    if (kind === "team") { return row.dataset.team === id; }
    if (kind === "label") { return (" " + row.dataset.labels).indexOf(" " + id + " ") !== -1; }
    return true;
  }

  // Rows pushed above the part of the list the agent is reading would shove it down (or up,
  // when a row leaves). Before a row swap, remember the first row in view and where it sat;
  // after it, scroll so that row sits there again. At the very top nothing is kept: new
  // conversations should come into view there. (The list turns off the browser's own
  // scroll anchoring, so this one rule holds in every browser.)
  var listAnchor = null;
  function rememberListAnchor(incomingId) {
    listAnchor = null;
    var list = document.getElementById("conversation-list");
    if (!list || list.scrollTop <= 0) { return; }
    var top = list.getBoundingClientRect().top;
    var rows = list.querySelectorAll(":scope > .conv-row");
    for (var i = 0; i < rows.length; i++) {
      var box = rows[i].getBoundingClientRect();
      if (box.bottom > top + 1 && rows[i].id !== incomingId) {
        listAnchor = { id: rows[i].id, offset: box.top - top };
        return;
      }
    }
  }
  function restoreListAnchor() {
    var anchor = listAnchor;
    listAnchor = null;
    var list = document.getElementById("conversation-list");
    var row = anchor && document.getElementById(anchor.id);
    if (!list || !row || !list.contains(row)) { return; }
    var shift = row.getBoundingClientRect().top - list.getBoundingClientRect().top - anchor.offset;
    if (shift) { list.scrollTop += shift; }
  }
  document.addEventListener("htmx:oobAfterSwap", restoreListAnchor);

  // Versions are fixed-width timestamps ("seconds.micro"), so they compare as strings.
  function isOlder(item, existing) {
    var fresh = item.dataset.version, shown = existing.dataset.version;
    return Boolean(fresh && shown && fresh.length === shown.length && fresh < shown);
  }

  // Upsert by id. data-upsert="replace": update in place if present, else insert.
  // data-upsert="move": take the old copy out and insert the new one (a row moving up).
  document.addEventListener("htmx:oobBeforeSwap", function (event) {
    var wrapper = event.detail.fragment;
    if (!wrapper || !wrapper.dataset || !wrapper.dataset.upsert) { return; }
    var item = wrapper.firstElementChild;
    if (!item || !item.id) { return; }
    var existing = document.getElementById(item.id);
    var isRow = wrapper.hasAttribute("data-list-row");
    if (isRow) { rememberListAnchor(item.id); }
    // Per-viewer state a shared fragment cannot carry: the row's selection checkbox.
    var kept = existing && existing.querySelector(".conv-select");
    var fresh = item.querySelector(".conv-select");
    if (kept && fresh) { fresh.checked = kept.checked; }
    if (isRow && !rowMatchesView(item)) {
      if (existing) { existing.remove(); }
      event.detail.shouldSwap = false;
      return;
    }
    // A copy older than the one shown never replaces it: a reply's own response (still
    // "queued") can reach the page after the push saying it was sent.
    if (existing && isOlder(item, existing)) {
      event.detail.shouldSwap = false;
      return;
    }
    if (!existing) {
      if (wrapper.dataset.upsert === "move") {
        document.dispatchEvent(new CustomEvent("switchboard:row-moved", { detail: { row: item } }));
      }
      return;
    }
    var list = document.getElementById("conversation-list");
    if (wrapper.dataset.upsert === "move") {
      document.dispatchEvent(new CustomEvent("switchboard:row-moved", { detail: { row: item } }));
    }
    if (wrapper.dataset.upsert === "move" && (!list || list.dataset.sort === "newest")) {
      existing.remove();
      return;
    }
    existing.replaceWith(item);
    htmx.process(item);
    event.detail.shouldSwap = false;
    document.dispatchEvent(new CustomEvent("switchboard:swapped", { detail: { elt: item } }));
  });

  // Times: the server renders UTC; show them in the viewer's zone and language.
  var zone = document.body.dataset.timeZone || undefined;
  var lang = document.documentElement.lang || undefined;
  function formatter(options) {
    try { return new Intl.DateTimeFormat(lang, Object.assign({ timeZone: zone }, options)); }
    catch (e) { return new Intl.DateTimeFormat(lang, options); }
  }
  var formats = {
    time: formatter({ hour: "2-digit", minute: "2-digit" }),
    date: formatter({ year: "numeric", month: "short", day: "numeric" }),
    day: formatter({ weekday: "short", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" })
  };
  function elapsed(date) {
    var seconds = Math.max(0, (Date.now() - date.getTime()) / 1000);
    if (seconds < 60) { return "<1m"; }
    if (seconds < 3600) { return Math.floor(seconds / 60) + "m"; }
    if (seconds < 86400) { return Math.floor(seconds / 3600) + "h " + Math.floor((seconds % 3600) / 60) + "m"; }
    return Math.floor(seconds / 86400) + "d";
  }
  function formatTime(el) {
    var date = new Date(el.getAttribute("datetime"));
    if (isNaN(date)) { return; }
    var kind = el.dataset.format;
    if (kind === "elapsed") { el.textContent = elapsed(date); return; }
    if (kind === "short") {
      var sameDay = formats.date.format(date) === formats.date.format(new Date());
      el.textContent = sameDay ? formats.time.format(date) : formats.date.format(date);
      return;
    }
    el.textContent = (formats[kind] || formats.time).format(date);
    el.title = formats.day.format(date);
  }
  function formatTimes(root) {
    (root || document).querySelectorAll("time[datetime][data-format]").forEach(formatTime);
  }

  // Fragments that say how long they live (typing indicators) clear themselves.
  function expire(root) {
    (root || document).querySelectorAll("[data-expires]").forEach(function (el) {
      clearTimeout(el._expiry);
      el._expiry = setTimeout(function () { el.textContent = ""; }, Number(el.dataset.expires));
    });
  }

  function afterSwap(root) { formatTimes(root); expire(root); }
  document.addEventListener("htmx:afterSettle", function (event) { afterSwap(event.detail.elt); });
  document.addEventListener("htmx:oobAfterSwap", function () { afterSwap(document); });
  document.addEventListener("switchboard:swapped", function (event) { afterSwap(event.detail.elt.parentNode); });
  document.addEventListener("htmx:load", function (event) {
    if (event.detail.elt && event.detail.elt.id === "live-resync") {
      // detail.scope: "page", or "thread" when only the open thread could not catch up.
      var scope = event.detail.elt.dataset.resync || "page";
      document.dispatchEvent(new CustomEvent("switchboard:resync", { detail: { scope: scope } }));
    }
  });

  document.addEventListener("DOMContentLoaded", function () {
    live = document.querySelector("[data-live]");
    if (live) {
      lastEventId = Number(live.dataset.lastEventId || 0);
      renderedUpTo = lastEventId;
    }
    formatTimes(document);
    setInterval(function () {
      document.querySelectorAll("time[data-format='elapsed']").forEach(formatTime);
    }, 30000);
  });

  window.SwitchboardLive = {
    // Runs `fn` now if the socket is open, and on every (re)connection. Registered once,
    // however often it is asked: a page asks each time it opens a thread.
    onOpen: function (fn) {
      if (listeners.open.indexOf(fn) === -1) { listeners.open.push(fn); }
      if (socket) { fn(socket); }
    },
    send: function (data) { if (socket) { socket.send(JSON.stringify(data)); } },
    setLastEventId: function (id) {
      lastEventId = Math.max(lastEventId, Number(id) || 0);
      renderedUpTo = Math.max(renderedUpTo, Number(id) || 0);
    },
    // Whether the frame being applied is newer than what the page was rendered with.
    isNews: function () { return currentFrameId > renderedUpTo; },
    formatTimes: formatTimes
  };
})();
