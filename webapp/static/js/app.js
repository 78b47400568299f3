// htmx: swap 422 answers (validation errors shown in place); other errors stay unswapped.
// Settle at once (no 20 ms delay): htmx wires up new content (its hx- attributes, autofocus)
// when it settles; with a delay, a click or keystroke in between on a busy machine went past
// htmx (the SMS senden dialog was shown, its form sent as a plain page, the typing landed in
// the field autofocus moved to). The app uses no settle transitions.
document.addEventListener("DOMContentLoaded", function () {
  if (!window.htmx) return;
  htmx.config.defaultSettleDelay = 0;
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "422", swap: true },
    { code: "[45]..", swap: false, error: true },
  ];
});
// A 401 to an htmx request carries HX-Redirect to the login page; htmx follows it.

// Requests htmx makes by itself (hx-trigger "every …": live status, job progress) are no sign
// of a person at the screen: they must not keep an idle session alive (SESSION_IDLE_MINUTES).
// An element whose refresh a script of its own triggers says so with data-background-poll.
document.addEventListener("htmx:configRequest", function (event) {
  const elt = event.detail.elt;
  const trigger = elt.getAttribute("hx-trigger") || "";
  if (/^\s*every\s/.test(trigger) || elt.hasAttribute("data-background-poll")) {
    event.detail.headers["X-Background-Poll"] = "1";
  }
});

// Template picker of the SMS editor: fill the text area with the chosen SMS text. The server
// fills the placeholders the chosen Person/Firma can fill (the quick form's record_kind and
// record_id); the others stay and are marked by the live check, which refuses them.
function loadTemplate(select) {
  const target = document.querySelector(select.dataset.templateTarget);
  let url = select.dataset.bodyUrl.replace(/\/0\/body$/, "/" + select.value + "/body");
  const form = select.closest("form");
  const kind = form && form.querySelector("[name=record_kind]");
  const id = form && form.querySelector("[name=record_id]");
  if (kind && kind.value && id && id.value) {
    url += "?" + new URLSearchParams({ [kind.value]: id.value }).toString();
  }
  fetch(url, { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.text() : Promise.reject(response); })
    .then(function (body) {
      target.value = body;
      target.dataset.loadedTemplate = body;
      target.dispatchEvent(new Event("input", { bubbles: true }));
      target.focus();
    });
}
document.addEventListener("change", function (event) {
  const select = event.target.closest("select[data-template-target]");
  if (select && select.value) loadTemplate(select);
});

// Live checks of the SMS editor (#number-check, #sms-check; in the SMS senden dialog
// #quick-number-check, …) say whether their field is valid: data-validity "valid", "invalid" or
// "" (nothing to say). The field (data-validity-from names its check) takes it as aria-invalid —
// Pico draws the ✓ or the red border from it — so the mark never contradicts the message. A
// message of the server at the field (#<field id>-error) speaks until the field is changed.
function applyValidity(field) {
  if (document.getElementById(field.id + "-error")) return;
  const check = document.querySelector(field.dataset.validityFrom);
  const validity = check ? check.dataset.validity : "";
  if (validity === "valid") field.setAttribute("aria-invalid", "false");
  else if (validity === "invalid") field.setAttribute("aria-invalid", "true");
  else field.removeAttribute("aria-invalid");
}
document.addEventListener("htmx:afterSettle", function (event) {
  const config = event.detail.requestConfig;
  const field = (config && config.elt) || event.target;
  if (field && field.dataset && field.dataset.validityFrom) applyValidity(field);
});
document.addEventListener("input", function (event) {
  const field = event.target;
  if (!field.dataset || !field.dataset.validityFrom) return;
  const error = document.getElementById(field.id + "-error");
  if (error) {
    error.remove();
    field.removeAttribute("aria-invalid");
  }
});

// Collapsible panels whose open/closed state is remembered (Suchkriterien bars).
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("details[data-remember]").forEach(function (panel) {
    const key = "panel:" + panel.dataset.remember;
    const stored = localStorage.getItem(key);
    if (stored !== null) panel.open = stored === "open";
    panel.addEventListener("toggle", function () {
      localStorage.setItem(key, panel.open ? "open" : "closed");
    });
  });
});

// "Alle auf dieser Seite" checkbox of bulk-action lists.
document.addEventListener("change", function (event) {
  const all = event.target.closest("input[data-select-all]");
  if (!all) return;
  document.querySelectorAll(all.dataset.selectAll).forEach(function (box) {
    box.checked = all.checked;
  });
});

// The modal dialog (SMS senden): open when htmx has filled it and wired up its form (settled:
// before, a click on Senden would send it as a plain page), close on Abbrechen / after sending.
document.addEventListener("htmx:afterSettle", function (event) {
  const target = event.target;
  if (target.id === "modal-content") {
    const modal = document.getElementById("modal");
    // An empty answer (the SMS was queued) leaves the dialog closed.
    if (target.innerHTML.trim() === "") modal.close();
    else if (!modal.open) modal.showModal();
  }
});
document.addEventListener("click", function (event) {
  if (event.target.closest("[data-close-modal]")) {
    document.getElementById("modal").close();
  }
  // A contact found by the quick form's search: take its number, remember the record, say
  // "An: Name, Nummer", and fill a template loaded before (and not edited since) for it.
  const pick = event.target.closest(".contact-pick");
  if (pick) {
    const form = pick.closest("form");
    const recipient = form.querySelector("[name=recipient]");
    recipient.value = pick.dataset.mobile;
    form.querySelector("[name=record_kind]").value = pick.dataset.kind;
    form.querySelector("[name=record_id]").value = pick.dataset.id;
    const mandant = form.querySelector("[name=mandant]");
    if (mandant) mandant.value = pick.dataset.mandant;
    showRecipient(form, pick.dataset.name, pick.dataset.display);
    recipient.dispatchEvent(new Event("input", { bubbles: true }));
    pick.closest(".contact-results").innerHTML = "";
    const select = form.querySelector("select[data-template-target]");
    const text = select && document.querySelector(select.dataset.templateTarget);
    if (select && select.value && text && text.value === text.dataset.loadedTemplate) {
      loadTemplate(select);
    }
  }
});
function showRecipient(form, name, number) {
  const line = form.querySelector("#quicksend-to");
  if (!line) return;
  line.querySelector("[data-to=name]").textContent = name || "";
  line.querySelector("[data-to=number]").textContent = number || "";
  line.hidden = !name;
}
// Typing another number in the quick form: the SMS no longer goes to the chosen record.
document.addEventListener("input", function (event) {
  if (!event.isTrusted || event.target.name !== "recipient") return;
  const form = event.target.closest("#quicksend-form");
  const kind = form && form.querySelector("[name=record_kind]");
  if (!kind || !kind.value) return;
  kind.value = "";
  form.querySelector("[name=record_id]").value = "";
  showRecipient(form, "", "");
});
document.addEventListener("DOMContentLoaded", function () {
  document.body.addEventListener("sms-queued", function () {
    const modal = document.getElementById("modal");
    if (modal.open) modal.close();
  });
});

// Smstexte: a click on a placeholder inserts it at the cursor of the text area (and updates
// the live preview through the text area's own htmx "input" trigger).
document.addEventListener("click", function (event) {
  const button = event.target.closest("[data-insert][data-insert-into]");
  if (!button) return;
  const area = document.getElementById(button.dataset.insertInto);
  if (!area) return;
  const token = button.dataset.insert;
  const start = area.selectionStart ?? area.value.length;
  const end = area.selectionEnd ?? start;
  area.setRangeText(token, start, end, "end");
  area.focus();
  area.dispatchEvent(new Event("input", { bubbles: true }));
});

// The Content-Security-Policy runs no inline code (onclick=, onsubmit=, …): what the templates
// used to do inline is done here, declared by data- attributes.

// List rows open their record on double-click: <tr data-open-url="/persons/7">.
document.addEventListener("dblclick", function (event) {
  const row = event.target.closest("[data-open-url]");
  if (row) window.location.href = row.dataset.openUrl;
});

// Forms that ask before they are sent: <form data-confirm="Rolle X wirklich löschen?">, or a
// submit button of a form with several (its own question). Capture phase: a "no" stops the
// submit before anything else (htmx, other handlers) sees it.
document.addEventListener(
  "submit",
  function (event) {
    const form = event.target;
    const button = event.submitter;
    const question = (button && button.dataset.confirm) || form.dataset.confirm;
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  },
  true
);

// Forms sent only once (Auftrag versenden): <form data-disable-on-submit> disables its submit
// buttons while the browser sends it.
document.addEventListener("submit", function (event) {
  const form = event.target;
  if (event.defaultPrevented || !form.matches("form[data-disable-on-submit]")) return;
  form.querySelectorAll("button[type=submit], input[type=submit]").forEach(function (button) {
    button.disabled = true;
  });
});

// Phone layout, the "Menü" button: it opens and closes the navigation. Its aria-expanded is the
// one state (app.css shows the menu from it). Escape closes the menu and returns to the button;
// following a link in it (also "SMS senden", which opens a dialog) closes it.
function setMenuOpen(toggle, open) {
  toggle.setAttribute("aria-expanded", open ? "true" : "false");
}
document.addEventListener("click", function (event) {
  const toggle = event.target.closest(".menu-toggle");
  if (toggle) {
    setMenuOpen(toggle, toggle.getAttribute("aria-expanded") !== "true");
    return;
  }
  const link = event.target.closest(".nav-menu a");
  const open = document.querySelector(".menu-toggle[aria-expanded=true]");
  if (link && open) setMenuOpen(open, false);
});
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") return;
  const toggle = document.querySelector(".menu-toggle[aria-expanded=true]");
  if (!toggle || !toggle.closest("nav").contains(document.activeElement)) return;
  setMenuOpen(toggle, false);
  toggle.focus();
});

// Phone layout, lists: each cell of a table.list gets its column's name (data-label) and the
// table data-stack, so app.css can show every row as a stack of "name value" lines. Header
// cells with a control (select all, sort links) stay visible there (data-control). Runs on the
// page and on every part htmx swaps in (a whole list, one row).
function visibleText(element) {
  const copy = element.cloneNode(true);
  copy.querySelectorAll(".sr-only, [aria-hidden=true]").forEach(function (hidden) {
    hidden.remove();
  });
  return copy.textContent.replace(/\s+/g, " ").trim();
}
function stackTable(table) {
  const head = table.tHead && table.tHead.rows[0];
  if (!head) return;
  const labels = [];
  Array.from(head.cells).forEach(function (th) {
    const text = visibleText(th);
    for (let i = 0; i < th.colSpan; i++) labels.push(text);
    if (th.querySelector("a, button, input, select")) {
      th.dataset.control = "";
      const input = th.querySelector("input[aria-label]");
      if (!text && input) th.dataset.label = input.getAttribute("aria-label");
    }
  });
  Array.from(table.tBodies).forEach(function (body) {
    Array.from(body.rows).forEach(function (row) {
      let column = 0;
      Array.from(row.cells).forEach(function (cell) {
        const label = cell.colSpan === 1 ? labels[column] : "";
        if (label) cell.dataset.label = label;
        else delete cell.dataset.label;
        column += cell.colSpan;
      });
    });
  });
  table.dataset.stack = "";
}
function stackTables(root) {
  const inside = root.closest ? root.closest("table.list") : null;
  if (inside) stackTable(inside);
  if (root.querySelectorAll) root.querySelectorAll("table.list").forEach(stackTable);
}
document.addEventListener("DOMContentLoaded", function () {
  stackTables(document);
});
document.addEventListener("htmx:load", function (event) {
  stackTables(event.detail.elt);
});

// Copy buttons: <button data-copy="#webhook-url"> copies the text of that element and says so
// in its status element (aria-describedby). The Clipboard API needs a secure context (HTTPS or
// localhost); on a plain-http intranet address the text is selected and copied the old way,
// and where even that is refused the status says how to copy by hand (the text stays selected).
function selectText(element) {
  const range = document.createRange();
  range.selectNodeContents(element);
  const selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}
function copyByHand(text, element) {
  selectText(element);
  try {
    return document.execCommand("copy") ? Promise.resolve() : Promise.reject(new Error(text));
  } catch (error) {
    return Promise.reject(error);
  }
}
document.addEventListener("click", function (event) {
  const button = event.target.closest("button[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (!source) return;
  const text = source.textContent.trim();
  const state = document.getElementById(button.getAttribute("aria-describedby"));
  const copying = navigator.clipboard && window.isSecureContext
    ? navigator.clipboard.writeText(text).catch(function () { return copyByHand(text, source); })
    : copyByHand(text, source);
  copying.then(
    function () { if (state) state.textContent = button.dataset.copied; },
    function () {
      selectText(source);
      if (state) state.textContent = button.dataset.copyFailed;
    }
  );
});

// The Exportieren menu above a list: a choice starts the download and closes the menu (the
// page stays as it is); Escape closes it too.
document.addEventListener("click", function (event) {
  const choice = event.target.closest("details.export-menu a");
  if (choice) choice.closest("details").open = false;
});
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") return;
  const menu = event.target.closest && event.target.closest("details.export-menu[open]");
  if (!menu) return;
  menu.open = false;
  menu.querySelector("summary").focus();
});
