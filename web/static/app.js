// Vigil dashboard: keyboard shortcuts on the alert list, "select all",
// saving the playbook checklist when a box is ticked, and confirmations.
// Every page works without this file.
(function () {
  "use strict";

  function typing(el) {
    return el && (el.tagName === "INPUT" || el.tagName === "SELECT" || el.tagName === "TEXTAREA" || el.isContentEditable);
  }

  // Alert list: / search, j/k move, x select, Enter open.
  var rows = Array.prototype.slice.call(document.querySelectorAll("table.alerts tbody tr"));
  var current = -1;
  function move(i) {
    if (!rows.length) return;
    if (current >= 0) rows[current].classList.remove("current");
    current = Math.max(0, Math.min(rows.length - 1, i));
    rows[current].classList.add("current");
    var link = rows[current].querySelector("a.alert-link");
    if (link) link.focus();
  }
  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (typing(document.activeElement)) {
      if (e.key === "Escape") document.activeElement.blur();
      return;
    }
    var search = document.getElementById("f-q");
    if (e.key === "/" && search) { e.preventDefault(); search.focus(); search.select(); return; }
    if (!rows.length) return;
    if (e.key === "j") { e.preventDefault(); move(current + 1); }
    else if (e.key === "k") { e.preventDefault(); move(current - 1); }
    else if (e.key === "x" && current >= 0) {
      var box = rows[current].querySelector("input[type=checkbox]");
      if (box) { box.checked = !box.checked; }
    }
  });
  rows.forEach(function (row, i) {
    row.addEventListener("focusin", function () {
      if (current >= 0 && rows[current]) rows[current].classList.remove("current");
      current = i;
      row.classList.add("current");
    });
  });

  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      document.querySelectorAll("#bulk input[name=id]").forEach(function (b) { b.checked = all.checked; });
    });
  }

  // Playbook: save when a box changes.
  document.querySelectorAll("form[data-autosave]").forEach(function (form) {
    form.addEventListener("change", function (e) {
      if (e.target && e.target.type === "checkbox") form.requestSubmit();
    });
  });

  // Confirm destructive forms.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  });
})();
