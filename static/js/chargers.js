// The Opladere page's selection and its dialogs: only what HTMX cannot do by itself.
//
// - Selection: ticked chargers survive the rows being re-rendered (polling, paging);
//   the action bar shows once something is ticked; "all matching the filter" sends
//   the filter instead of ids. Every [data-selection-action] button gets the selection
//   added to its HTMX request, so new actions need no JavaScript of their own.
// - Dialogs: content loaded into a <dialog> opens it; [data-close-dialog] closes it;
//   the server's "restartStarted" event closes it and announces the result.
// - The restart window: removing a charger updates the count; OKAY is disabled at zero.
//   For "all matching the filter" the list is paged by the server, so a removal is a
//   hidden "exclude" input in the form (OKAY posts the filter plus the removals); a
//   removed row can be put back, and rows of other pages remember their state.
(function () {
  "use strict";

  const selected = new Set();
  let matching = false; // "all matching the filter" instead of the ids in `selected`

  const $ = (selector, root) => (root || document).querySelector(selector);
  const $$ = (selector, root) => Array.from((root || document).querySelectorAll(selector));

  function rowBoxes() {
    return $$("[data-select-charger]");
  }

  function render() {
    const bar = $("[data-selection-bar]");
    const results = $("#charger-results");
    if (!bar || !results) return;
    const boxes = rowBoxes().filter((box) => !box.disabled);
    boxes.forEach((box) => { box.checked = matching || selected.has(box.value); });
    const total = Number(results.dataset.total || 0);
    const count = matching ? total : selected.size;
    bar.hidden = count === 0;
    $("[data-selection-count]", bar).textContent = String(count);
    const ticked = boxes.filter((box) => box.checked).length;
    const pageBox = $("[data-select-page]");
    if (pageBox) {
      pageBox.checked = boxes.length > 0 && ticked === boxes.length;
      pageBox.indeterminate = ticked > 0 && ticked < boxes.length;
    }
    const matchButton = $("[data-select-matching]", bar);
    if (matchButton) {
      matchButton.hidden = matching || total <= boxes.length || ticked !== boxes.length;
      $("[data-matching-count]", matchButton).textContent = String(total);
    }
  }

  function clearSelection() {
    selected.clear();
    matching = false;
    render();
  }

  document.addEventListener("change", (event) => {
    const box = event.target;
    if (box.matches("[data-select-charger]")) {
      if (matching && !box.checked) {
        // Leaving "all matching": keep what is ticked on this page.
        matching = false;
        rowBoxes().forEach((b) => { if (!b.disabled && b !== box) selected.add(b.value); });
      }
      box.checked ? selected.add(box.value) : selected.delete(box.value);
      render();
    } else if (box.matches("[data-select-page]")) {
      if (!box.checked) matching = false;
      rowBoxes().forEach((b) => {
        if (!b.disabled) box.checked ? selected.add(b.value) : selected.delete(b.value);
      });
      render();
    }
  });

  document.addEventListener("click", (event) => {
    const target = event.target.closest("button");
    if (!target) return;
    if (target.matches("[data-select-matching]")) {
      matching = true;
      render();
    } else if (target.matches("[data-select-none]")) {
      clearSelection();
    } else if (target.matches("[data-close-dialog]")) {
      const dialog = target.closest("dialog");
      if (dialog) dialog.close();
    } else if (target.matches("[data-restart-remove]")) {
      removeFromWindow(target);
    } else if (target.matches("[data-restart-exclude]")) {
      toggleExclusion(target);
    } else if (target.matches("[data-restart-restore-all]")) {
      const form = target.closest("[data-restart-matching]");
      if (form) {
        $("[data-restart-removed]", form).replaceChildren();
        showExclusions(form);
        const find = $("#restart-find", form);
        if (find) find.focus();
      }
    }
  });

  // The selection goes along with every selection action's request.
  document.addEventListener("htmx:configRequest", (event) => {
    const elt = event.detail.elt;
    if (!elt.matches || !elt.matches("[data-selection-action]")) return;
    const params = event.detail.parameters;
    if (matching) {
      params.append("scope", "filter");
      new URLSearchParams(window.location.search).forEach((value, key) => {
        if (["q", "group", "status", "ocpp_status"].includes(key)) params.append(key, value);
      });
    } else {
      selected.forEach((id) => params.append("charger", id));
    }
  });

  // A new filter is a new question: the old selection does not carry over.
  document.addEventListener("htmx:beforeRequest", (event) => {
    if (event.detail.elt.id === "charger-filter") clearSelection();
  });

  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail.target;
    if (target.id === "charger-results" || $("#charger-results") === event.detail.elt) {
      // Rows being restarted cannot stay selected.
      rowBoxes().forEach((box) => { if (box.disabled) selected.delete(box.value); });
      render();
    }
    $$("[data-restart-matching]").forEach(showExclusions);
    const dialog = target.closest ? target.closest("dialog") : null;
    if (dialog) {
      if (!dialog.open) dialog.showModal();
      const focus = $("[autofocus]", dialog) || $("h2", dialog);
      if (focus && !dialog.contains(document.activeElement)) focus.focus();
    }
  });

  document.body.addEventListener("restartStarted", (event) => {
    $$("dialog[open]").forEach((dialog) => dialog.close());
    const announce = $("[data-restart-announce]");
    if (announce && event.detail && event.detail.message) announce.textContent = event.detail.message;
    clearSelection();
  });

  function excluded(form, id) {
    return $$("[data-restart-removed] input", form).find((input) => input.value === id);
  }

  function toggleExclusion(button) {
    const form = button.closest("[data-restart-matching]");
    if (!form) return;
    const id = button.dataset.restartExclude;
    const input = excluded(form, id);
    if (input) {
      input.remove();
    } else {
      const added = document.createElement("input");
      added.type = "hidden";
      added.name = "exclude";
      added.value = id;
      $("[data-restart-removed]", form).append(added);
    }
    showExclusions(form);
  }

  // Rows, count, OKAY and the "removed by you" line follow the form's exclude inputs.
  function showExclusions(form) {
    const removed = $$("[data-restart-removed] input", form).length;
    const left = Math.max(0, Number(form.dataset.restartTotal || 0) - removed);
    $$("[data-restart-exclude]", form).forEach((button) => {
      const out = Boolean(excluded(form, button.dataset.restartExclude));
      const item = button.closest("[data-restart-item]");
      if (item) item.classList.toggle("removed", out);
      button.setAttribute("aria-label", out ? button.dataset.labelRestore : button.dataset.labelRemove);
    });
    $("[data-restart-count]", form).textContent = String(left);
    const line = $("[data-restart-removed-line]", form);
    if (line) {
      line.hidden = removed === 0;
      $("[data-restart-removed-count]", line).textContent = String(removed);
    }
    $$("[data-restart-submit]", form).forEach((submit) => { submit.disabled = left === 0; });
  }

  function removeFromWindow(button) {
    const form = button.closest("[data-restart-form]");
    const item = button.closest("[data-restart-item]");
    if (!form || !item) return;
    const items = $$("[data-restart-item]", form);
    const next = items[items.indexOf(item) + 1] || items[items.indexOf(item) - 1];
    item.remove();
    const left = $$("[data-restart-item]", form).length;
    $("[data-restart-count]", form).textContent = String(left);
    $$("[data-restart-submit]", form).forEach((submit) => { submit.disabled = left === 0; });
    const focus = next ? $("[data-restart-remove]", next) : $("[data-close-dialog]", form);
    if (focus) focus.focus();
  }

  render();
})();
