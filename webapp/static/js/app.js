// htmx: swap 422 answers (validation errors shown in place); other errors stay unswapped.
document.addEventListener("DOMContentLoaded", function () {
  if (!window.htmx) return;
  htmx.config.responseHandling = [
    { code: "204", swap: false },
    { code: "[23]..", swap: true },
    { code: "422", swap: true },
    { code: "[45]..", swap: false, error: true },
  ];
});
// A 401 to an htmx request carries HX-Redirect to the login page; htmx follows it.
