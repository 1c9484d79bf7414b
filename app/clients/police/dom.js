// Building the page without innerHTML: every text from the service goes in as a text node.

/** h("button", {class: "x", onclick: f, "data-act": "verify"}, "text", child, [more]) */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      node.addEventListener(name.slice(2), value);
    } else if (name === "class") {
      node.className = value;
    } else if (name === "for") {
      node.htmlFor = value;
    } else if (name === "value") {
      node.value = value;
    } else {
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A labelled form field: the label's for= names the control's id. */
export function field(label, control, hint) {
  const hintId = hint ? `${control.id}-hint` : null;
  if (hintId) control.setAttribute("aria-describedby", hintId);
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control,
    hint ? h("p", { class: "hint", id: hintId }, hint) : null);
}

/** A <select> of [value, text] pairs with ``selected`` chosen. */
export function select(id, options, selected) {
  return h("select", { id, name: id },
    options.map(([value, text]) => h("option", { value, selected: value === (selected ?? "") }, text)));
}

/** A definition list of [term, value] pairs (empty values left out). */
export function facts(rows, attrs = {}) {
  return h("dl", { class: "pairs", ...attrs }, rows
    .filter(([, value]) => value !== null && value !== undefined && value !== "")
    .map(([term, value, key]) => [h("dt", {}, term), h("dd", key ? { "data-key": key } : {}, value)]));
}

/**
 * A table with a caption, column headers and one row per item. Each row's first
 * link takes the focus; ArrowUp/ArrowDown move between rows, Home/End to the ends.
 */
export function table({ id, caption, columns, rows, rowAttrs = () => ({}) }) {
  const body = h("tbody", {}, rows.map((row) => h("tr", rowAttrs(row),
    columns.map((column, index) => h(index === 0 ? "th" : "td", index === 0 ? { scope: "row" } : {},
      column.cell(row))))));
  body.addEventListener("keydown", (event) => {
    const keys = ["ArrowDown", "ArrowUp", "Home", "End"];
    if (!keys.includes(event.key)) return;
    const links = [...body.querySelectorAll("tr")].map((tr) => tr.querySelector("a, button"))
      .filter(Boolean);
    const at = links.indexOf(document.activeElement);
    if (at < 0) return;
    const next = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: links.length - 1 }[event.key];
    if (next >= 0 && next < links.length) {
      event.preventDefault();
      links[next].focus();
    }
  });
  return h("table", { id, class: "grid" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((column) => h("th", { scope: "col" }, column.title)))),
    body);
}

/** Remove every child of ``node`` and put ``children`` in. */
export function replace(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

/**
 * Ask the officer to confirm, in a modal <dialog>. With ``input`` ({label, required,
 * multiline}) the answer is the text typed; null when cancelled.
 */
export function confirmDialog({ message, confirmLabel, cancelLabel, input }) {
  return new Promise((resolve) => {
    const text = input ? h(input.multiline === false ? "input" : "textarea", {
      id: "confirm-text", required: input.required ? true : null, rows: 3, maxlength: 2000,
    }) : null;
    const error = h("p", { class: "error", id: "confirm-error", role: "alert" });
    const dialog = h("dialog", { id: "confirm-dialog", "aria-labelledby": "confirm-message" },
      h("form", { method: "dialog" },
        h("p", { id: "confirm-message" }, message),
        text ? field(input.label, text) : null,
        error,
        h("div", { class: "buttons" },
          h("button", { type: "button", id: "confirm-cancel", class: "secondary",
            onclick: () => dialog.close("cancel") }, cancelLabel),
          h("button", { type: "submit", id: "confirm-ok", value: "ok" }, confirmLabel))));
    dialog.addEventListener("submit", (event) => {
      if (text && input.required && !text.value.trim()) {
        event.preventDefault();
        error.textContent = input.label;
        text.focus();
      }
    });
    dialog.addEventListener("close", () => {
      const ok = dialog.returnValue === "ok";
      dialog.remove();
      resolve(ok ? (text ? text.value.trim() : true) : null);
    });
    document.body.append(dialog);
    dialog.showModal();
    (text || dialog.querySelector("#confirm-ok")).focus();
  });
}
