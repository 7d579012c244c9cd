/* 社工助手 web chat. Plain ES2017 without modules or build step, so it runs in WeChat's in-app browser.
   All text from the server is inserted with textContent, never as HTML. */
(function () {
  "use strict";

  var log = document.getElementById("log");
  var form = document.getElementById("composer");
  var input = document.getElementById("input");
  var sendButton = document.getElementById("send");
  var TIMEOUT_MS = 25000;
  var TRANSCRIPT_KEY = "shegong.transcript";
  var MAX_TRANSCRIPT = 60;
  var busy = false;
  var transcript = [];

  function randomId(prefix) {
    var bytes = new Uint8Array(12);
    if (window.crypto && window.crypto.getRandomValues) {
      window.crypto.getRandomValues(bytes);
    } else {
      for (var i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
    }
    return prefix + Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  // Storage can throw in private modes; the chat still works, it only forgets the transcript on reload.
  // Who the visitor is lives in an HttpOnly cookie the server sets: this script never sees or sends it.
  function load(store, key) {
    try { return window[store].getItem(key); } catch (e) { return null; }
  }
  function save(store, key, value) {
    try { window[store].setItem(key, value); } catch (e) { /* not persisted */ }
  }
  try { window.localStorage.removeItem("shegong.visitor"); } catch (e) { /* the old, self-chosen id */ }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function docHref(path) {
    return "/docs/" + String(path).split("/").map(encodeURIComponent).join("/");
  }

  function citationLabel(c) {
    return "📄 《" + (c.title || "") + "》" + (c.source || "") + (c.year ? " " + c.year + "年" : "");
  }

  // One message on screen. kind: "me", "bot" or "error"; reply fields as in POST /api/chat.
  function render(kind, reply) {
    var row = el("div", "msg " + (kind === "me" ? "me" : "bot") + (kind === "error" ? " error" : ""));
    row.appendChild(el("span", "sr-only", kind === "me" ? "您说：" : "社工助手说："));
    row.appendChild(el("div", "bubble", reply.text));
    var citations = reply.citations || [];
    if (citations.length) {
      var list = el("ul", "cites");
      list.setAttribute("aria-label", "出处");
      citations.forEach(function (c) {
        var item = el("li");
        var link = el("a", "cite", citationLabel(c));
        link.href = docHref(c.path);
        item.appendChild(link);
        list.appendChild(item);
      });
      row.appendChild(list);
    }
    var buttons = reply.buttons || [];
    if (buttons.length) {
      var group = el("div", "quick");
      group.setAttribute("role", "group");
      group.setAttribute("aria-label", "快捷回复");
      buttons.forEach(function (b) {
        var chip = el("button", "chip", b.label);
        chip.type = "button";
        chip.setAttribute("data-payload", b.payload || b.label);
        group.appendChild(chip);
      });
      row.appendChild(group);
    }
    log.appendChild(row);
    return row;
  }

  function remember(kind, reply) {
    transcript.push({ kind: kind, reply: reply });
    if (transcript.length > MAX_TRANSCRIPT) transcript = transcript.slice(-MAX_TRANSCRIPT);
    save("sessionStorage", TRANSCRIPT_KEY, JSON.stringify(transcript));
  }

  function show(kind, reply) {
    var row = render(kind, reply);
    remember(kind, reply);
    return row;
  }

  function scrollTo(row, toStart) {
    // A long answer is shown from its first line; anything else just keeps the newest message in view.
    if (toStart && row.scrollIntoView) row.scrollIntoView({ block: "start" });
    else window.scrollTo(0, document.documentElement.scrollHeight);
  }

  function typing() {
    var row = el("div", "msg bot typing");
    row.setAttribute("role", "status");
    var bubble = el("div", "bubble");
    bubble.appendChild(el("span", "sr-only", "社工助手正在输入…"));
    for (var i = 0; i < 3; i++) bubble.appendChild(el("span", "dot"));
    row.appendChild(bubble);
    log.appendChild(row);
    return row;
  }

  function setBusy(value) {
    busy = value;
    sendButton.disabled = value;
    log.setAttribute("aria-busy", value ? "true" : "false");
  }

  function post(body) {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller ? setTimeout(function () { controller.abort(); }, TIMEOUT_MS) : null;
    return fetch("/api/chat", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
      signal: controller ? controller.signal : undefined,
      credentials: "same-origin"
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok || !Array.isArray(data.replies)) {
          var error = new Error(data.error || "HTTP " + response.status);
          error.serverSaid = response.status === 429 || response.status === 503 ? data.error : "";
          throw error;
        }
        return data.replies;
      });
    }).then(function (replies) {  // no Promise.finally: that is ES2018
      if (timer) clearTimeout(timer);
      return replies;
    }, function (error) {
      if (timer) clearTimeout(timer);
      throw error;
    });
  }

  function send(text, isButton, label) {
    if (busy || !text) return Promise.resolve();
    setBusy(true);
    scrollTo(show("me", { text: label || text }), false);
    var indicator = typing();
    scrollTo(indicator, false);
    return post({ text: text, message_id: randomId("m-"), is_button: !!isButton })
      .then(function (replies) {
        indicator.remove();
        var first = null;
        replies.forEach(function (reply) {
          var row = show("bot", reply);
          first = first || row;
        });
        if (first) scrollTo(first, true);
      })
      .catch(function (error) {
        indicator.remove();
        // Typed text goes back into the box so trying again is one tap.
        if (!isButton && !input.value) input.value = text;
        scrollTo(show("error", {
          text: (error && error.serverSaid) ||
            "抱歉，网络好像不太顺畅，消息没有发出去。请检查网络后再点“发送”试一次；急事请拨打 12345。"
        }), false);
      })
      .then(function () { setBusy(false); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || busy) return;
    input.value = "";
    send(text, false).then(function () { input.focus(); });
  });

  log.addEventListener("click", function (event) {
    var chip = event.target.closest ? event.target.closest(".chip") : null;
    if (!chip || busy) return;
    send(chip.getAttribute("data-payload"), true, chip.textContent);
  });

  // A social worker's replies during 转人工 cannot be pushed to a page: it asks for them every few seconds.
  var POLL_MS = 5000;
  function poll() {
    if (document.hidden || !window.fetch) return;
    fetch("/api/chat/updates", { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : { replies: [] }; })
      .then(function (data) {
        (data.replies || []).forEach(function (reply) { scrollTo(show("bot", reply), false); });
      })
      .catch(function () { /* the next tick tries again */ });
  }
  setInterval(poll, POLL_MS);

  // Back from a document page: put the conversation back as it was.
  try { transcript = JSON.parse(load("sessionStorage", TRANSCRIPT_KEY) || "[]") || []; } catch (e) { transcript = []; }
  if (!Array.isArray(transcript)) transcript = [];
  transcript.forEach(function (item) { render(item.kind, item.reply || {}); });
  if (transcript.length) scrollTo(log.lastElementChild, false);
})();
