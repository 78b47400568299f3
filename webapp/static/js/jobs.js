// Job dialog: show only the details that apply to the current choice (Zeitplan "Job ausführen",
// Einstellungen "Variante" and "Anmeldung"). An element with data-show-if="name=a b" is shown
// while the form field `name` has the value a or b. A section with a validation error stays
// visible. Without JavaScript everything is shown. Loaded once per page; works after swaps.
(function () {
  if (window.__jobDialog) return;
  window.__jobDialog = true;

  function apply() {
    document.querySelectorAll("form [data-show-if]").forEach(function (element) {
      const rule = element.dataset.showIf.split("=");
      const control = element.closest("form").elements[rule[0]];
      if (!control) return;
      const wanted = rule[1].split(" ");
      const show = wanted.indexOf(control.value) >= 0 || element.querySelector(".field-error");
      element.hidden = !show;
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.form) apply();
  });
  document.addEventListener("DOMContentLoaded", apply);
  document.addEventListener("htmx:load", apply);
})();
