// The WeChat simulator: sends as the customer through the console, shows passive replies and
// what the fake WeChat API received (customer-service / template messages).
(function () {
  "use strict";
  const phone = document.getElementById("phone");
  if (!phone) return;
  const chat = document.getElementById("chat");
  const openid = phone.dataset.openid;
  let seen = parseInt(phone.dataset.seen || "0", 10);

  function bubble(cls, text, label) {
    const li = document.createElement("li");
    li.className = "bubble " + cls;
    if (label) {
      const small = document.createElement("small");
      small.textContent = "[" + label + "] ";
      li.appendChild(small);
    }
    li.appendChild(document.createTextNode(text));
    chat.appendChild(li);
    chat.scrollTop = chat.scrollHeight;
  }

  async function pollInbox() {
    try {
      const resp = await fetch(phone.dataset.inboxUrl + "?openid=" + encodeURIComponent(openid) + "&seen=" + seen,
                               {credentials: "same-origin"});
      if (!resp.ok) return;
      const data = await resp.json();
      seen = data.seen;
      for (const item of data.items) {
        bubble("bank", item.text + (item.errcode ? "（发送失败 " + item.errcode + "）" : ""), item.kind);
      }
    } catch (e) { /* the next poll tries again */ }
  }

  async function send(action, value, shown) {
    bubble("me", shown);
    const resp = await fetch(phone.dataset.sendUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": phone.dataset.csrf},
      body: JSON.stringify({openid: openid, action: action, value: value}),
    });
    if (!resp.ok) {
      bubble("system", "发送失败：HTTP " + resp.status);
      return;
    }
    const data = await resp.json();
    if (data.status !== 200) bubble("system", "公众号返回 " + data.status + "：" + (data.error || ""));
    else if (data.reply) bubble("bank", data.reply);
    await pollInbox();
  }

  document.getElementById("sim-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    const input = document.getElementById("sim-text");
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send("text", text, text);
  });
  document.querySelectorAll("[data-action]").forEach(function (btn) {
    btn.addEventListener("click", function () {
      const action = btn.dataset.action;
      const value = btn.dataset.value || "";
      send(action, value, "[" + btn.textContent.trim() + "]");
    });
  });
  ["scan", "scan-subscribe"].forEach(function (id) {
    const btn = document.getElementById(id);
    btn.addEventListener("click", function () {
      const select = document.getElementById("scan-branch");
      send(btn.dataset.kind, select.value, "[扫码：" + select.options[select.selectedIndex].text + "]");
    });
  });
  document.getElementById("menu-send").addEventListener("click", function () {
    const key = document.getElementById("menu-key").value.trim();
    if (key) send("menu", key, "[菜单 " + key + "]");
  });
  chat.scrollTop = chat.scrollHeight;
  setInterval(pollInbox, 3000);
})();
