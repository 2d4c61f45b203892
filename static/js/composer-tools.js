/* The composer's tools: files to send (button, drag and drop, pasted images) and emoji.
 *
 * htmx replaces the composer after every send, so everything here is bound once, on
 * document, and finds the composer's parts by id when an event comes.
 *
 * The files to send live in the composer's <input type="file" name="files">, which the
 * form posts as multipart. Choosing more files adds to them (the browser alone would
 * replace them), chips show them and remove one, and a refused send (422) gives them
 * back to the new composer so the agent can drop the one the server named.
 */
(function () {
  "use strict";

  function byId(id) { return document.getElementById(id); }
  function textBox() { return byId("reply-body"); }
  function fileInput() { return byId("composer-files"); }

  // --- Files --------------------------------------------------------------------------------

  function chosenFiles(input) {
    if (!input._chosen) { input._chosen = Array.prototype.slice.call(input.files || []); }
    return input._chosen;
  }

  // Put the chosen files into the input (what the form sends) and show them as chips.
  function setFiles(input, files) {
    input._chosen = files.slice();
    var transfer = new DataTransfer();
    files.forEach(function (file) { transfer.items.add(file); });
    input.files = transfer.files;
    renderChips(input);
  }

  function addFiles(files) {
    var input = fileInput();
    if (!input || !files.length) { return; }
    setFiles(input, chosenFiles(input).concat(Array.prototype.slice.call(files)));
  }

  function renderChips(input) {
    var chips = byId("composer-chips");
    var box = textBox();
    if (!chips) { return; }
    var files = chosenFiles(input);
    SwitchboardFiles.renderChips(chips, files);
    // Files alone make a message: the text is required only when there are none.
    if (box) { box.required = files.length === 0; }
  }

  document.addEventListener("change", function (event) {
    var input = event.target;
    if (input.id !== "composer-files") { return; }
    // The browser has just replaced the input's files with the new choice: add the
    // earlier ones back in front of it.
    var earlier = input._chosen || [];
    setFiles(input, earlier.concat(Array.prototype.slice.call(input.files)));
  });

  document.addEventListener("click", function (event) {
    var remove = event.target.closest && event.target.closest("[data-remove-file]");
    if (!remove || !remove.closest("#composer")) { return; }
    var input = fileInput();
    var files = chosenFiles(input).slice();
    var index = Number(remove.dataset.removeFile);
    files.splice(index, 1);
    setFiles(input, files);
    var chips = byId("composer-chips").querySelectorAll(".attachment-chip-remove");
    var next = chips[Math.min(index, chips.length - 1)];
    (next || textBox()).focus();
  });

  // Enter sends files even without text (the workspace sends only when there is text).
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (box.id !== "reply-body" || event.key !== "Enter" || event.shiftKey || event.isComposing) { return; }
    var input = fileInput();
    if (!box.value.trim() && input && chosenFiles(input).length) {
      event.preventDefault();
      box.form.requestSubmit();
    }
  });

  // Drag and drop onto the composer.
  function carriesFiles(event) {
    var types = event.dataTransfer && event.dataTransfer.types;
    return Boolean(types) && Array.prototype.indexOf.call(types, "Files") !== -1;
  }
  function dropZone(event) {
    return event.target.closest ? event.target.closest("#composer") : null;
  }
  ["dragenter", "dragover"].forEach(function (name) {
    document.addEventListener(name, function (event) {
      var zone = dropZone(event);
      if (!zone || !carriesFiles(event)) { return; }
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      zone.classList.add("is-dropping");
    });
  });
  document.addEventListener("dragleave", function (event) {
    var zone = dropZone(event);
    if (zone && !zone.contains(event.relatedTarget)) { zone.classList.remove("is-dropping"); }
  });
  document.addEventListener("drop", function (event) {
    var zone = dropZone(event);
    if (!zone || !carriesFiles(event)) { return; }
    event.preventDefault();
    zone.classList.remove("is-dropping");
    addFiles(event.dataTransfer.files);
  });

  // Pasting an image (a screenshot) into the reply box attaches it.
  function pastedName(file) {
    var stamp = new Date().toISOString().slice(0, 19).replace(/[-:]/g, "").replace("T", "-");
    var extension = (file.type.split("/")[1] || "png").replace("jpeg", "jpg");
    return "pasted-" + stamp + "." + extension;
  }
  document.addEventListener("paste", function (event) {
    if (event.target.id !== "reply-body" || !event.clipboardData) { return; }
    var images = [];
    Array.prototype.forEach.call(event.clipboardData.items || [], function (item) {
      if (item.kind !== "file" || item.type.indexOf("image/") !== 0) { return; }
      var file = item.getAsFile();
      if (file) { images.push(new File([file], pastedName(file), { type: file.type })); }
    });
    if (!images.length) { return; }
    if (Array.prototype.indexOf.call(event.clipboardData.types, "text/plain") === -1) { event.preventDefault(); }
    addFiles(images);
  });

  // A refused send or "Save as canned response" re-renders the composer: keep the files.
  var filesInFlight = null;
  function isReply(detail) {
    var path = (detail.pathInfo && detail.pathInfo.requestPath) || "";
    return /\/reply\/$/.test(path.split("?")[0]);
  }
  document.addEventListener("htmx:configRequest", function (event) {
    var elt = event.detail.elt;
    if (!elt || !elt.closest || !elt.closest("#composer")) { return; }
    var input = fileInput();
    filesInFlight = input ? chosenFiles(input).slice() : null;
    // Only a reply takes files; do not upload them to save a canned response.
    if (!/\/reply\/$/.test(event.detail.path) && event.detail.formData) {
      event.detail.formData.delete("files");
    }
  });
  document.addEventListener("htmx:afterSwap", function (event) {
    var input = fileInput();
    var kept = filesInFlight;
    if (!input || !kept || !kept.length) { return; }
    var xhr = event.detail.xhr;
    if (xhr && xhr.status === 200 && isReply(event.detail)) { filesInFlight = null; return; }
    filesInFlight = null;
    setFiles(input, kept);
  });

  // --- Emoji --------------------------------------------------------------------------------

  var emojiData = null;  // a promise of the vendored list, fetched on first open
  function loadEmoji(source) {
    if (!emojiData) {
      emojiData = fetch(source, { credentials: "same-origin" }).then(function (response) {
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      }).then(function (data) {
        return data.emoji.map(function (row) {
          return { char: row[0], label: row[1], search: (row[1] + " " + row[2]).toLowerCase(), group: row[3] };
        });
      });
      emojiData.catch(function () { emojiData = null; });
    }
    return emojiData;
  }

  function picker() { return byId("emoji-picker"); }
  function isOpen() { var p = picker(); return Boolean(p && !p.hidden); }

  function setStatus(text) {
    var status = picker().querySelector(".emoji-status");
    status.textContent = text || "";
    status.hidden = !text;
  }

  function emojiButton(item) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "emoji-option";
    button.tabIndex = -1;
    button.dataset.emoji = item.char;
    button.setAttribute("aria-label", item.label);
    button.title = item.label;
    button.textContent = item.char;
    return button;
  }

  function renderEmoji(list, query) {
    var p = picker();
    var grid = byId("emoji-grid");
    grid.textContent = "";
    var q = (query || "").trim().toLowerCase();
    if (!q) {
      var section = null, current = null;
      list.forEach(function (item) {
        if (item.group !== current) {
          current = item.group;
          var heading = document.createElement("p");
          heading.className = "emoji-group";
          heading.textContent = p.dataset["group-" + current] || "";
          section = document.createElement("div");
          section.className = "emoji-set";
          section.setAttribute("role", "group");
          section.setAttribute("aria-label", heading.textContent);
          grid.append(heading, section);
        }
        section.appendChild(emojiButton(item));
      });
    } else {
      var words = q.split(/\s+/);
      var found = list.filter(function (item) {
        return words.every(function (word) { return item.search.indexOf(word) !== -1; });
      }).slice(0, 200);
      var set = document.createElement("div");
      set.className = "emoji-set";
      found.forEach(function (item) { set.appendChild(emojiButton(item)); });
      grid.appendChild(set);
    }
    setStatus(grid.querySelector(".emoji-option") ? "" : p.dataset.labelEmpty);
    var first = grid.querySelector(".emoji-option");
    if (first) { first.tabIndex = 0; }
  }

  function openPicker() {
    var p = picker();
    var button = byId("emoji-button");
    if (!p) { return; }
    p.hidden = false;
    button.setAttribute("aria-expanded", "true");
    var search = byId("emoji-search");
    search.focus();
    if (p.dataset.rendered) {
      // Each opening starts from the whole set, not from the last search.
      if (search.value) { search.value = ""; renderEmoji(p._emoji, ""); }
      return;
    }
    setStatus(p.dataset.labelLoading);
    loadEmoji(p.dataset.source).then(function (list) {
      p._emoji = list;
      p.dataset.rendered = "true";
      renderEmoji(list, search.value);
    }, function () {
      setStatus(p.dataset.labelFailed);
    });
  }

  function closePicker(focusBack) {
    var p = picker();
    if (!p || p.hidden) { return; }
    p.hidden = true;
    var button = byId("emoji-button");
    if (button) { button.setAttribute("aria-expanded", "false"); }
    if (focusBack) { focusBack.focus(); }
  }

  function insertEmoji(char) {
    var box = textBox();
    if (!box) { return; }
    var start = box.selectionStart, end = box.selectionEnd;
    if (typeof start !== "number") { start = end = box.value.length; }
    box.focus();
    box.setRangeText(char, start, end, "end");
    // Let the draft keeper and the rest of the page know the text changed.
    box.dispatchEvent(new Event("input", { bubbles: true }));
    closePicker(null);
  }

  document.addEventListener("click", function (event) {
    var target = event.target;
    if (!target.closest) { return; }
    if (target.closest("#emoji-button")) {
      if (isOpen()) { closePicker(textBox()); } else { openPicker(); }
      return;
    }
    var option = target.closest(".emoji-option");
    if (option && option.closest("#emoji-picker")) {
      insertEmoji(option.dataset.emoji);
      return;
    }
    if (isOpen() && !target.closest("#emoji-picker")) { closePicker(null); }
  });

  document.addEventListener("input", function (event) {
    if (event.target.id !== "emoji-search") { return; }
    var p = picker();
    if (p._emoji) { renderEmoji(p._emoji, event.target.value); }
  });

  // The option in `direction` from `from`, by where the options are on screen.
  function neighbour(from, direction) {
    var options = Array.prototype.slice.call(byId("emoji-grid").querySelectorAll(".emoji-option"));
    var index = options.indexOf(from);
    if (direction === "ArrowLeft") { return options[index - 1]; }
    if (direction === "ArrowRight") { return options[index + 1]; }
    if (direction === "Home") { return options[0]; }
    if (direction === "End") { return options[options.length - 1]; }
    var box = from.getBoundingClientRect();
    var down = direction === "ArrowDown";
    var rowTop = null, best = null, bestDistance = Infinity;
    var ordered = down ? options.slice(index + 1) : options.slice(0, index).reverse();
    for (var i = 0; i < ordered.length; i++) {
      var rect = ordered[i].getBoundingClientRect();
      var other = down ? rect.top > box.top + 2 : rect.top < box.top - 2;
      if (!other) { continue; }
      if (rowTop === null) { rowTop = rect.top; }
      if (Math.abs(rect.top - rowTop) > 2) { break; }
      var distance = Math.abs(rect.left - box.left);
      if (distance < bestDistance) { best = ordered[i]; bestDistance = distance; }
    }
    return best;
  }

  function moveTo(option) {
    if (!option) { return; }
    byId("emoji-grid").querySelectorAll(".emoji-option[tabindex='0']").forEach(function (el) { el.tabIndex = -1; });
    option.tabIndex = 0;
    option.focus();
  }

  // Keys inside the picker are the picker's: handled before the workspace's shortcuts see them.
  window.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!target.closest || !target.closest("#emoji-picker")) { return; }
    var key = event.key;
    if (key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      closePicker(textBox());
      return;
    }
    if (target.id === "emoji-search") {
      if (key === "Enter") {
        // Never submit the reply form from here: insert the first match instead.
        event.preventDefault();
        event.stopPropagation();
        var first = byId("emoji-grid").querySelector(".emoji-option");
        if (first) { insertEmoji(first.dataset.emoji); }
      } else if (key === "ArrowDown") {
        event.preventDefault();
        event.stopPropagation();
        moveTo(byId("emoji-grid").querySelector(".emoji-option[tabindex='0']") ||
          byId("emoji-grid").querySelector(".emoji-option"));
      }
      return;
    }
    if (!target.classList.contains("emoji-option")) { return; }
    if (["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End"].indexOf(key) !== -1) {
      event.preventDefault();
      event.stopPropagation();
      var next = neighbour(target, key);
      if (!next && key === "ArrowUp") { byId("emoji-search").focus(); return; }
      moveTo(next);
    } else if (key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey && key !== " ") {
      // Typing on the grid searches; the letter lands in the search box.
      event.stopPropagation();
      byId("emoji-search").focus();
    }
  }, true);

  // --- Images in the thread ------------------------------------------------------------------

  // An image that loads after the thread scrolled to the bottom pushes the end out of
  // view; follow it when the reader was at the bottom.
  document.addEventListener("load", function (event) {
    var img = event.target;
    if (img.tagName !== "IMG" || !img.closest(".attachments")) { return; }
    var scroller = img.closest("#thread-scroll");
    if (!scroller) { return; }
    var gap = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight;
    if (gap - img.offsetHeight < 160) { scroller.scrollTop = scroller.scrollHeight; }
  }, true);
})();
