// Policy check-up (政策体检) in the citizen chat: a header button that starts one, and the
// check-up's checklist questions shown as toggles with one confirm button.  Loaded before
// chat.js, which calls XSCheckup.options() for every message that carries options and
// exposes its send() as XSChat.send.  No inline script or style (the page's CSP forbids them).
"use strict";

(function () {
  const T = {
    zh: { start: "政策体检", ask: "帮我看看我能享受哪些政策", ok: "确定", group: "可多选，选好后点确定", sep: "；", shown: "、" },
    en: { start: "Benefits check-up", ask: "What benefits am I eligible for?", ok: "OK",
      group: "Tick any, then press OK", sep: "; ", shown: ", " },
  };
  const lang = () => ((document.documentElement.lang || "zh").startsWith("zh") ? "zh" : "en");

  // Renders the options of a message whose rows are checklist toggles; false leaves the
  // message to chat.js's ordinary buttons.
  function options(msg, div, send) {
    const toggles = msg.options.filter((o) => o.toggle);
    if (!toggles.length) return false;
    const s = T[lang()];
    const box = document.createElement("div");
    box.className = "options checklist";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", s.group);
    const pressed = [];
    for (const o of toggles) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "option toggle";
      b.textContent = o.label;
      b.setAttribute("aria-pressed", "false");
      b.addEventListener("click", () => {
        const on = b.getAttribute("aria-pressed") !== "true";
        b.setAttribute("aria-pressed", String(on));
        if (on) pressed.push(o); else pressed.splice(pressed.indexOf(o), 1);
      });
      box.appendChild(b);
    }
    const row = document.createElement("div");
    row.className = "options";
    const others = msg.options.filter((o) => !o.toggle);
    const done = () => div.querySelectorAll(".checklist button, .options button").forEach((x) => { x.disabled = true; });
    const ok = document.createElement("button");
    ok.type = "button";
    ok.className = "primary checkup-ok";
    ok.textContent = s.ok;
    ok.addEventListener("click", () => {
      // nothing ticked is the first plain option, "none of these"
      const picked = toggles.filter((o) => pressed.includes(o));
      done();
      if (picked.length) send(picked.map((o) => o.value).join(s.sep), picked.map((o) => o.label).join(s.shown));
      else if (others.length) send(others[0].value, others[0].label);
    });
    row.appendChild(ok);
    for (const o of others) {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "option";
      b.textContent = o.label;
      b.addEventListener("click", () => { done(); send(o.value, o.label); });
      row.appendChild(b);
    }
    div.append(box, row);
    return true;
  }

  // The header button: starts a check-up in the chat's current language.
  function addStartButton() {
    const header = document.querySelector("header");
    if (!header || document.getElementById("checkup")) return;
    const b = document.createElement("button");
    b.type = "button";
    b.id = "checkup";
    const label = () => { b.textContent = T[lang()].start; };
    label();
    b.addEventListener("click", () => { if (window.XSChat) window.XSChat.send(T[lang()].ask); });
    header.insertBefore(b, document.getElementById("human"));
    // the chat switches languages by setting <html lang>: follow it
    new MutationObserver(label).observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
  }

  window.XSCheckup = { options };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", addStartButton);
  else addStartButton();
})();
