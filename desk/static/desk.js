// The desk's small shared script: no framework, no build step.
// - window.desk.post(url, data): a fetch() POST that carries the CSRF token (from the
//   page's <meta name="csrf-token">) in X-CSRFToken, as flask-wtf expects; data is a
//   FormData, a plain object (sent as a form) or undefined. Resolves to the Response.
// - <select data-submit-on-change> submits its form when changed (the language switch).
(function () {
  "use strict";
  function token() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }
  function post(url, data) {
    var body = data instanceof FormData ? data : new URLSearchParams(data || {});
    return fetch(url, {
      method: "POST",
      body: body,
      credentials: "same-origin",
      headers: { "X-CSRFToken": token(), "X-Requested-With": "fetch" },
    });
  }
  window.desk = { post: post, csrfToken: token };
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches && target.matches("select[data-submit-on-change]") && target.form) {
      target.form.submit();
    }
  });
})();
