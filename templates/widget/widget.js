/* Switchboard chat widget loader. Embed with:
 *   <script src="{{ public_url }}/widget.js" data-inbox="INBOX TOKEN" async></script>
 * Optional: data-identifier and data-identifier-hash (hex HMAC-SHA256 of the identifier
 * with the inbox's identity secret) for visitors signed in on the host site.
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__switchboardWidget) { return; }
  window.__switchboardWidget = true;
  var base = new URL(script.src).origin;
  var inbox = script.getAttribute("data-inbox");
  var storageKey = "switchboard.visitor." + inbox;

  function readToken() {
    try { return window.localStorage.getItem(storageKey) || ""; } catch (e) { return ""; }
  }
  function writeToken(token) {
    try { window.localStorage.setItem(storageKey, token); } catch (e) { /* private mode */ }
  }

  var button = document.createElement("button");
  button.type = "button";
  button.setAttribute("aria-label", "Chat with us");
  button.setAttribute("aria-expanded", "false");
  button.textContent = "💬";
  var s = button.style;
  s.position = "fixed"; s.right = "20px"; s.bottom = "20px"; s.zIndex = "2147483000";
  s.width = "56px"; s.height = "56px"; s.borderRadius = "50%"; s.border = "0";
  s.background = "#2563eb"; s.color = "#fff"; s.fontSize = "26px"; s.cursor = "pointer";
  s.boxShadow = "0 6px 20px rgba(0,0,0,.25)";

  var frame = null;
  function openFrame() {
    if (!frame) {
      var params = new URLSearchParams({
        token: readToken(),
        site: window.location.origin,
        identifier: script.getAttribute("data-identifier") || "",
        identifier_hash: script.getAttribute("data-identifier-hash") || "",
        language: (navigator.language || "").slice(0, 2)
      });
      frame = document.createElement("iframe");
      frame.title = "Chat";
      frame.src = base + "/widget/" + encodeURIComponent(inbox) + "/#" + params.toString();
      var f = frame.style;
      f.position = "fixed"; f.right = "20px"; f.bottom = "88px"; f.zIndex = "2147483000";
      f.width = "370px"; f.height = "560px"; f.maxHeight = "calc(100vh - 110px)";
      f.maxWidth = "calc(100vw - 40px)"; f.border = "0"; f.borderRadius = "14px";
      f.boxShadow = "0 12px 40px rgba(0,0,0,.25)"; f.background = "#fff";
      document.body.appendChild(frame);
    }
    frame.style.display = "block";
    button.setAttribute("aria-expanded", "true");
  }
  function closeFrame() {
    if (frame) { frame.style.display = "none"; }
    button.setAttribute("aria-expanded", "false");
    button.focus();
  }
  button.addEventListener("click", function () {
    if (frame && frame.style.display !== "none") { closeFrame(); } else { openFrame(); }
  });
  window.addEventListener("message", function (event) {
    if (event.origin !== base || !event.data || typeof event.data !== "object") { return; }
    if (event.data.type === "switchboard:token" && typeof event.data.token === "string") {
      writeToken(event.data.token);
    } else if (event.data.type === "switchboard:close") {
      closeFrame();
    }
  });
  function mount() { document.body.appendChild(button); }
  if (document.body) { mount(); } else { document.addEventListener("DOMContentLoaded", mount); }
})();
