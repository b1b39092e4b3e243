// Keyward's small amount of behaviour. The CSP allows only same-origin
// script files, so everything that would otherwise be an inline handler
// lives here, wired by data-* attributes. Every page works without it.
(function () {
  "use strict";

  var COPIED_MS = 2000;
  var FALLBACK_MS = 4000;
  // How long after a click inside [data-leave-ok] leaving the page is allowed
  // without a prompt. beforeunload fires as soon as navigation starts, so a
  // short window suffices; it lapses if the click did not navigate (htmx).
  var LEAVE_OK_MS = 2000;

  // announce speaks msg through the page's polite live region.
  function announce(msg) {
    var region = document.getElementById("live-region");
    if (!region) {
      region = document.createElement("div");
      region.id = "live-region";
      region.className = "sr-only";
      region.setAttribute("aria-live", "polite");
      document.body.appendChild(region);
    }
    region.textContent = "";
    // A fresh text node after clearing makes screen readers repeat the
    // same message on a second copy.
    window.setTimeout(function () {
      region.textContent = msg;
    }, 50);
  }

  // --- Copy buttons: <button data-copy="#id"> ---------------------------

  function copyText(target) {
    if ("value" in target && typeof target.value === "string") {
      return target.value;
    }
    return target.textContent.trim();
  }

  function selectTarget(target) {
    if (typeof target.select === "function") {
      target.focus();
      target.select();
      return;
    }
    var range = document.createRange();
    range.selectNodeContents(target);
    var sel = window.getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }

  // setLabel shows text on the button for ms, then restores its label.
  function setLabel(button, text, ms) {
    var label = button.querySelector("[data-copy-label]") || button;
    if (!button.dataset.copyOriginal) {
      button.dataset.copyOriginal = label.textContent;
    }
    label.textContent = text;
    window.clearTimeout(Number(button.dataset.copyTimer || 0));
    button.dataset.copyTimer = String(
      window.setTimeout(function () {
        label.textContent = button.dataset.copyOriginal;
        delete button.dataset.copyOriginal;
        delete button.dataset.copyTimer;
      }, ms)
    );
  }

  function fallback(button, target) {
    selectTarget(target);
    var keys = /Mac|iPhone|iPad/.test(navigator.platform || "") ? "⌘C" : "Ctrl+C";
    var msg = "Press " + keys + " to copy";
    setLabel(button, msg, FALLBACK_MS);
    announce(msg);
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest("[data-copy]");
    if (!button) {
      return;
    }
    var target = document.querySelector(button.getAttribute("data-copy"));
    if (!target) {
      return;
    }
    ev.preventDefault();
    var text = copyText(target);
    if (!navigator.clipboard || typeof navigator.clipboard.writeText !== "function") {
      fallback(button, target);
      return;
    }
    navigator.clipboard.writeText(text).then(
      function () {
        setLabel(button, "Copied", COPIED_MS);
        announce("Copied to clipboard");
      },
      function () {
        fallback(button, target);
      }
    );
  });

  // Copy buttons are rendered hidden, with a hint to select and copy by
  // hand beside them: without this script a button would do nothing. The
  // script that makes them work is the one that shows them.
  function initCopy(root) {
    if (!root.querySelectorAll) {
      return;
    }
    var buttons = Array.prototype.slice.call(root.querySelectorAll("[data-copy]"));
    var hints = Array.prototype.slice.call(root.querySelectorAll("[data-copy-hint]"));
    if (root.matches && root.matches("[data-copy]")) {
      buttons.push(root);
    }
    if (root.matches && root.matches("[data-copy-hint]")) {
      hints.push(root);
    }
    buttons.forEach(function (b) {
      b.hidden = false;
    });
    hints.forEach(function (h) {
      h.hidden = true;
    });
  }

  // --- Click-to-select read-only fields ---------------------------------

  function selectOnFocus(ev) {
    var input = ev.target;
    if (input instanceof HTMLInputElement && input.readOnly && input.hasAttribute("data-select-on-focus")) {
      input.select();
    }
  }
  document.addEventListener("focusin", selectOnFocus);
  // click too: the mouseup after a focusing click would drop the selection.
  document.addEventListener("click", selectOnFocus);

  // --- Confirm before leaving a show-once panel -------------------------

  var leaveOkAt = 0;

  function markLeaveOk(ev) {
    if (ev.target instanceof Element && ev.target.closest("[data-leave-ok]")) {
      leaveOkAt = Date.now();
    }
  }
  document.addEventListener("click", markLeaveOk, true);
  document.addEventListener("submit", markLeaveOk, true);

  window.addEventListener("beforeunload", function (ev) {
    // Checked on the fly, so a panel swapped in by htmx counts as well.
    if (!document.querySelector("[data-confirm-leave]")) {
      return;
    }
    if (Date.now() - leaveOkAt < LEAVE_OK_MS) {
      return;
    }
    ev.preventDefault();
    ev.returnValue = "";
  });

  // --- <select data-toggle-target="#id" data-toggle-value="custom"> ------

  function syncToggle(select) {
    var target = document.querySelector(select.getAttribute("data-toggle-target"));
    if (target) {
      target.hidden = select.value !== select.getAttribute("data-toggle-value");
    }
  }

  function initToggles(root) {
    if (root.matches && root.matches("select[data-toggle-target]")) {
      syncToggle(root);
    }
    if (root.querySelectorAll) {
      root.querySelectorAll("select[data-toggle-target]").forEach(syncToggle);
    }
  }

  document.addEventListener("change", function (ev) {
    if (ev.target instanceof Element && ev.target.matches("select[data-toggle-target]")) {
      syncToggle(ev.target);
    }
  });
  // --- <input type="checkbox" data-check-all="id"> ------------------------
  // Checks or unchecks every enabled checkbox named "id" in the same form,
  // and follows them (checked, unchecked or mixed). It does nothing without
  // script, so the markup hides it and this shows it.

  function checkAllBoxes(master) {
    if (!master.form) {
      return [];
    }
    var name = master.getAttribute("data-check-all");
    return Array.prototype.filter.call(master.form.elements, function (el) {
      return el !== master && el.type === "checkbox" && el.name === name && !el.disabled;
    });
  }

  function syncCheckAll(master) {
    var boxes = checkAllBoxes(master);
    var checked = boxes.filter(function (b) {
      return b.checked;
    }).length;
    master.checked = boxes.length > 0 && checked === boxes.length;
    master.indeterminate = checked > 0 && checked < boxes.length;
  }

  function initCheckAll(root) {
    if (!root.querySelectorAll) {
      return;
    }
    var masters = Array.prototype.slice.call(root.querySelectorAll("input[data-check-all]"));
    if (root.matches && root.matches("input[data-check-all]")) {
      masters.push(root);
    }
    masters.forEach(function (master) {
      master.hidden = false;
      // A master with a text label is hidden with it: a [data-check-all-wrap].
      var wrap = master.closest("[data-check-all-wrap]");
      if (wrap) {
        wrap.hidden = false;
      }
      syncCheckAll(master);
    });
  }

  document.addEventListener("change", function (ev) {
    var el = ev.target;
    if (!(el instanceof HTMLInputElement) || el.type !== "checkbox" || !el.form) {
      return;
    }
    if (el.hasAttribute("data-check-all")) {
      checkAllBoxes(el).forEach(function (b) {
        b.checked = el.checked;
      });
      return;
    }
    el.form.querySelectorAll("input[data-check-all]").forEach(function (master) {
      if (master.getAttribute("data-check-all") === el.name) {
        syncCheckAll(master);
      }
    });
  });

  // htmx:load fires for every piece of content htmx adds to the page.
  document.addEventListener("htmx:load", function (ev) {
    initToggles(ev.detail.elt);
    initCheckAll(ev.detail.elt);
  });
  // htmx:load comes after the settle delay (20 ms), long enough to paint the
  // swapped-in panel without its Copy buttons; htmx:afterSwap fires in the
  // same task as the swap, before any paint.
  document.addEventListener("htmx:afterSwap", function (ev) {
    initCopy(ev.target);
  });
  initToggles(document);
  initCheckAll(document);
  initCopy(document);
})();
