/* The widget inside its iframe: the visitor's session, history, sending and live updates. */
(function () {
  "use strict";
  var body = document.body;
  var inbox = body.dataset.inboxToken;
  var base = "/widget/" + encodeURIComponent(inbox) + "/";
  var params = new URLSearchParams(window.location.hash.slice(1));
  var site = params.get("site") || "";
  var token = params.get("token") || "";
  history.replaceState(null, "", window.location.pathname);

  var messages = document.getElementById("widget-messages");
  var errorBox = document.getElementById("widget-error");
  var composer = document.getElementById("widget-composer");
  var textarea = document.getElementById("widget-body");
  var scroll = document.getElementById("widget-scroll");

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }
  function toParent(message) {
    if (site && window.parent !== window) { window.parent.postMessage(message, site); }
  }
  function scrollToBottom() { scroll.scrollTop = scroll.scrollHeight; }

  function request(method, path, bodyData) {
    var headers = { "X-Visitor-Token": token };
    var options = { method: method, headers: headers, credentials: "omit" };
    if (bodyData) { options.body = bodyData; }
    return fetch(base + path, options);
  }
  function errorText(response, fallback) {
    return response.json().then(function (data) { return data.error || fallback; }, function () { return fallback; });
  }

  function startSession(withIdentity) {
    var payload = { site: site, token: token, language: params.get("language") || "" };
    if (withIdentity) {
      payload.identifier = params.get("identifier") || "";
      payload.identifier_hash = params.get("identifier_hash") || "";
    }
    return fetch(base + "sessions/", {
      method: "POST",
      credentials: "omit",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(payload)
    }).then(function (response) {
      if (response.ok) { return response.json(); }
      return errorText(response, "The chat could not start.").then(function (text) {
        if (response.status === 403 && withIdentity && payload.identifier) {
          showError(text);
          return startSession(false);
        }
        throw new Error(text);
      });
    });
  }

  function loadHistory() {
    return request("GET", "messages/").then(function (response) {
      if (!response.ok) { throw new Error("Your earlier messages could not be loaded."); }
      return response.text();
    }).then(function (html) {
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var history = holder.firstElementChild;
      while (history.firstElementChild) { messages.appendChild(history.firstElementChild); }
      SwitchboardLive.formatTimes(messages);
      scrollToBottom();
      return Number(history.dataset.lastEventId || 0);
    });
  }

  function connect(lastEventId) {
    var liveEl = document.getElementById("widget-live");
    liveEl.dataset.visitorToken = token;
    liveEl.dataset.lastEventId = String(lastEventId);
    SwitchboardLive.setLastEventId(lastEventId);
    var scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    liveEl.setAttribute("data-live", "");
    liveEl.setAttribute("hx-ext", "ws");
    liveEl.setAttribute("ws-connect", scheme + "//" + window.location.host + "/ws" + base);
    htmx.process(liveEl);
  }

  // Tell the server which of our messages the visitor has seen (while the chat is visible).
  var lastReadSent = 0;
  function reportRead() {
    if (document.visibilityState !== "visible") { return; }
    var replies = messages.querySelectorAll("[data-direction='outbound']");
    if (!replies.length) { return; }
    var newest = Number(replies[replies.length - 1].dataset.messageId);
    if (newest > lastReadSent) {
      lastReadSent = newest;
      SwitchboardLive.send({ type: "read", message: newest });
    }
  }
  document.addEventListener("visibilitychange", reportRead);
  function clearTyping() { document.getElementById("widget-typing").textContent = ""; }
  document.addEventListener("htmx:oobAfterSwap", function (event) {
    if (event.target === messages) { clearTyping(); }
    scrollToBottom();
    reportRead();
  });
  document.addEventListener("switchboard:swapped", function () { scrollToBottom(); reportRead(); });
  document.addEventListener("switchboard:resync", function () {
    messages.textContent = "";
    loadHistory();
  });

  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = textarea.value.trim();
    if (!text) { return; }
    var data = new FormData();
    data.append("body", text);
    textarea.value = "";
    showError("");
    request("POST", "messages/", data).then(function (response) {
      if (!response.ok) {
        return errorText(response, "Your message was not sent.").then(function (message) {
          textarea.value = text;
          showError(message);
        });
      }
      return response.text().then(function (html) {
        htmx.swap(messages, html, { swapStyle: "none" });
        SwitchboardLive.formatTimes(messages);
        scrollToBottom();
      });
    }, function () {
      textarea.value = text;
      showError("You seem to be offline. Your message was not sent; try again.");
    });
  });
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      composer.requestSubmit();
    }
  });
  var lastTyping = 0;
  textarea.addEventListener("input", function () {
    var now = Date.now();
    if (now - lastTyping > 2000) { lastTyping = now; SwitchboardLive.send({ type: "typing" }); }
  });

  document.getElementById("widget-profile").addEventListener("submit", function (event) {
    event.preventDefault();
    var status = document.getElementById("widget-profile-status");
    request("POST", "profile/", new FormData(event.target)).then(function (response) {
      if (response.ok) { status.textContent = "Saved."; return; }
      return errorText(response, "Not saved.").then(function (text) { status.textContent = text; });
    });
  });
  document.getElementById("widget-close").addEventListener("click", function () {
    toParent({ type: "switchboard:close" });
  });

  startSession(true).then(function (data) {
    token = data.token;
    toParent({ type: "switchboard:token", token: token });
    return loadHistory();
  }).then(connect).catch(function (error) {
    showError(error.message || "The chat could not start.");
  });
})();
