// The supervisor pages: the KPI charts (vendored Chart.js, no CDN) and the live figures,
// polled every few seconds without reloading the page.
(function () {
  "use strict";
  var PALETTE = ["#1d4ed8", "#b45309", "#047857", "#7c3aed", "#be123c", "#0e7490", "#4b5563"];

  function json(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  function drawCharts() {
    var data = json("kpi-data");
    var labels = json("kpi-labels");
    if (!data || typeof Chart === "undefined") return;
    var bars = data.attempts.map(function (pair, i) {
      return { type: "bar", label: pair[0], data: pair[1], stack: "attempts",
               backgroundColor: PALETTE[i % PALETTE.length], yAxisID: "y" };
    });
    bars.push({ type: "line", label: labels.connect_rate, data: data.connect_rate,
                borderColor: "#111827", backgroundColor: "#111827", yAxisID: "pct",
                spanGaps: true });
    var common = { responsive: true, maintainAspectRatio: false, animation: false,
                   interaction: { mode: "index", intersect: false } };
    new Chart(document.getElementById("chart-attempts"), {
      data: { labels: data.days, datasets: bars },
      options: Object.assign({}, common, {
        scales: {
          y: { stacked: true, beginAtZero: true, ticks: { precision: 0 },
               title: { display: true, text: labels.attempts } },
          pct: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false },
                 title: { display: true, text: "%" } },
          x: { stacked: true },
        },
      }),
    });
    new Chart(document.getElementById("chart-outcomes"), {
      data: {
        labels: data.days,
        datasets: [
          { type: "bar", label: labels.right_party, data: data.right_party, backgroundColor: PALETTE[2], yAxisID: "y" },
          { type: "bar", label: labels.promises, data: data.promises, backgroundColor: PALETTE[1], yAxisID: "y" },
          { type: "line", label: labels.kept_rate, data: data.kept_rate, borderColor: PALETTE[3],
            backgroundColor: PALETTE[3], yAxisID: "pct", spanGaps: true },
        ],
      },
      options: Object.assign({}, common, {
        scales: {
          y: { beginAtZero: true, ticks: { precision: 0 } },
          pct: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false },
                 title: { display: true, text: "%" } },
        },
      }),
    });
  }

  function wait(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function poll(section) {
    var url = section.getAttribute("data-url");
    function set(name, value) {
      section.querySelectorAll('[data-live="' + name + '"]').forEach(function (node) {
        node.textContent = value === null || value === undefined ? "—" : String(value);
      });
    }
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch", Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (live) {
          if (!live) return;
          ["calls_in_progress", "outbound_in_progress", "outbound_ringing", "inbound_in_progress",
           "queue_length", "agents_signed_in"].forEach(function (name) { set(name, live[name]); });
          set("longest_wait", wait(live.longest_wait_seconds));
          set("as_of", new Date(live.as_of).toLocaleTimeString(document.documentElement.lang));
          section.setAttribute("data-updated", live.as_of);
        })
        .catch(function () { /* the next tick tries again */ });
    }
    tick();
    return window.setInterval(tick, 5000);
  }

  // Today's accounts held back, by tier and reason: fetched once the page is up.
  function fillBlocked(box) {
    function show(state) {
      box.querySelectorAll("[data-state]").forEach(function (node) {
        node.hidden = node.getAttribute("data-state") !== state;
      });
      box.setAttribute("aria-busy", "false");
      box.setAttribute("data-loaded", state);
    }
    fetch(box.getAttribute("data-url"), { credentials: "same-origin", headers: { "X-Requested-With": "fetch", Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (answer) {
        if (answer.error) {
          box.querySelector('[data-state="error"]').textContent = answer.error;
          return show("error");
        }
        if (!answer.rows.length) return show("none");
        var body = box.querySelector("tbody");
        answer.rows.forEach(function (row) {
          var tr = document.createElement("tr");
          row.forEach(function (value, i) {
            var td = document.createElement("td");
            td.textContent = String(value);
            if (i === 2) td.className = "num";
            tr.appendChild(td);
          });
          body.appendChild(tr);
        });
        show("rows");
      })
      .catch(function () { show("error"); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    var held = document.getElementById("blocked");
    if (held) fillBlocked(held);
    var live = document.getElementById("live");
    if (live) poll(live);
  });
})();
