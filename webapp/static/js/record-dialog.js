// Record dialogs (Person, Firma): leaving edit mode with unsaved changes asks first (UI.md).
// A form with data-unsaved-message becomes "dirty" on input; "Abbrechen" ([data-discard]) and
// leaving the page ask for confirmation while it is. Loaded once per page; works after swaps.
(function () {
  if (window.__recordDialog) return;
  window.__recordDialog = true;

  const DIRTY = "form[data-unsaved-message][data-dirty]";

  function dirtyForm(scope) {
    if (scope && scope.matches && scope.matches(DIRTY)) return scope;
    return (scope || document).querySelector(DIRTY);
  }

  document.addEventListener("input", function (event) {
    const form = event.target.closest("form[data-unsaved-message]");
    if (form) form.setAttribute("data-dirty", "");
  });

  document.addEventListener("submit", function (event) {
    if (event.target.matches("form[data-unsaved-message]")) {
      event.target.removeAttribute("data-dirty");
    }
  });

  // Capture phase: runs before htmx handles the click on the Abbrechen link.
  document.addEventListener(
    "click",
    function (event) {
      const discard = event.target.closest("[data-discard]");
      if (!discard) return;
      const form = dirtyForm(discard.closest("form") || document);
      if (form && !window.confirm(form.dataset.unsavedMessage)) {
        event.preventDefault();
        event.stopPropagation();
      } else if (form) {
        form.removeAttribute("data-dirty");
      }
    },
    true
  );

  window.addEventListener("beforeunload", function (event) {
    if (dirtyForm()) {
      event.preventDefault();
      event.returnValue = "";
    }
  });
})();
