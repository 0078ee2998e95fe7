// The live queue: the rows are asked for again every few seconds (short polling; no
// reload, no event stream to hold a server thread), and the waits tick on in between.
(function () {
  "use strict";
  var body = document.getElementById("queue-rows");
  if (!body) { return; }
  var url = body.getAttribute("data-poll-url");
  var every = parseInt(body.getAttribute("data-poll-ms"), 10) || 2000;
  function tick() {
    var cells = body.querySelectorAll("td[data-wait]");
    for (var i = 0; i < cells.length; i++) {
      var seconds = parseInt(cells[i].getAttribute("data-wait"), 10) + 1;
      cells[i].setAttribute("data-wait", String(seconds));
      var rest = seconds % 60;
      cells[i].textContent = Math.floor(seconds / 60) + ":" + (rest < 10 ? "0" : "") + rest;
    }
  }
  function refresh() {
    // A form being submitted from the table must not lose its row under the click.
    if (body.contains(document.activeElement) && document.activeElement.tagName === "BUTTON") {
      window.setTimeout(refresh, every);
      return;
    }
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) { if (html !== null) { body.innerHTML = html; } })
      .catch(function () { /* the next poll tries again */ })
      .then(function () { window.setTimeout(refresh, every); });
  }
  window.setInterval(tick, 1000);
  window.setTimeout(refresh, every);
})();
