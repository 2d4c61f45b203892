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
  var fileInput = document.getElementById("widget-files");
  var chips = document.getElementById("widget-chips");

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

  // Files of the conversation. The iframe sends no cookies, so a plain <img src> could
  // not prove who is asking: each file is fetched once with the visitor's token and
  // shown from an object URL (CSP allows blob: images).
  var fileUrls = {};
  function attachmentUrl(id) {
    if (!fileUrls[id]) {
      fileUrls[id] = request("GET", "attachments/" + encodeURIComponent(id) + "/").then(function (response) {
        if (!response.ok) { throw new Error("The file could not be loaded."); }
        return response.blob();
      }).then(function (blob) { return URL.createObjectURL(blob); });
      fileUrls[id].catch(function () { delete fileUrls[id]; });
    }
    return fileUrls[id];
  }
  function showAttachments(root) {
    (root || messages).querySelectorAll("img[data-attachment-id]:not([src])").forEach(function (img) {
      attachmentUrl(img.dataset.attachmentId).then(function (url) {
        img.addEventListener("load", scrollToBottom, { once: true });
        img.src = url;
      }, function () { img.classList.add("is-missing"); });
    });
  }
  messages.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-attachment-id]");
    if (!link) { return; }
    event.preventDefault();
    attachmentUrl(link.dataset.attachmentId).then(function (url) {
      var save = document.createElement("a");
      save.href = url;
      save.download = link.getAttribute("download") || "";
      document.body.appendChild(save);
      save.click();
      save.remove();
    }, function (error) { showError(error.message); });
  });

  // Files to send with the next message: chosen with the paperclip, dropped, or pasted.
  var chosen = [];
  function setFiles(files) {
    chosen = files.slice();
    var transfer = new DataTransfer();
    chosen.forEach(function (file) { transfer.items.add(file); });
    fileInput.files = transfer.files;
    SwitchboardFiles.renderChips(chips, chosen);
    textarea.required = chosen.length === 0;
  }
  function addFiles(files) {
    if (files && files.length) { setFiles(chosen.concat(Array.prototype.slice.call(files))); }
  }
  fileInput.addEventListener("change", function () {
    // The browser replaced the input's files with the new choice: keep the earlier ones.
    setFiles(chosen.concat(Array.prototype.slice.call(fileInput.files)));
  });
  chips.addEventListener("click", function (event) {
    var remove = event.target.closest("[data-remove-file]");
    if (!remove) { return; }
    var files = chosen.slice();
    files.splice(Number(remove.dataset.removeFile), 1);
    setFiles(files);
    textarea.focus();
  });
  composer.addEventListener("dragover", function (event) {
    if (event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") !== -1) {
      event.preventDefault();
    }
  });
  composer.addEventListener("drop", function (event) {
    if (!event.dataTransfer || !event.dataTransfer.files.length) { return; }
    event.preventDefault();
    addFiles(event.dataTransfer.files);
  });
  textarea.addEventListener("paste", function (event) {
    var images = Array.prototype.slice.call((event.clipboardData && event.clipboardData.files) || [])
      .filter(function (file) { return file.type.indexOf("image/") === 0; });
    if (!images.length) { return; }
    if (Array.prototype.indexOf.call(event.clipboardData.types, "text/plain") === -1) { event.preventDefault(); }
    addFiles(images);
  });

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
      showAttachments(messages);
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
    showAttachments(messages);
    scrollToBottom();
    reportRead();
  });
  document.addEventListener("switchboard:swapped", function () {
    showAttachments(messages);
    scrollToBottom();
    reportRead();
  });
  document.addEventListener("switchboard:resync", function () {
    messages.textContent = "";
    loadHistory();
  });

  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = textarea.value.trim();
    var files = chosen.slice();
    if (!text && !files.length) { return; }
    var data = new FormData();
    data.append("body", text);
    files.forEach(function (file) { data.append("files", file, file.name); });
    textarea.value = "";
    setFiles([]);
    showError("");
    function giveBack() {
      textarea.value = text;
      setFiles(files);
    }
    request("POST", "messages/", data).then(function (response) {
      if (!response.ok) {
        return errorText(response, "Your message was not sent.").then(function (message) {
          giveBack();
          showError(message);
        });
      }
      return response.text().then(function (html) {
        htmx.swap(messages, html, { swapStyle: "none" });
        SwitchboardLive.formatTimes(messages);
        showAttachments(messages);
        scrollToBottom();
      });
    }, function () {
      giveBack();
      showError("You seem to be offline. Your message was not sent; try again.");
    });
  });
  textarea.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      if (textarea.value.trim() || chosen.length) { composer.requestSubmit(); }
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
