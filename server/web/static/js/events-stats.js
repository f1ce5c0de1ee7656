// Per-grid statistics of grid events: counts, closure rate, on-time closure rate, backlog; CSV download.
(function () {
  "use strict";
  const W = window.WanggeEvents;
  const area = W.config.area;
  const form = document.getElementById("stats-form");
  const fromEl = document.getElementById("stats-from");
  const toEl = document.getElementById("stats-to");
  const rowsEl = document.getElementById("stats-rows");
  const totalEl = document.getElementById("stats-total");
  const statusEl = document.getElementById("stats-status");
  const csvEl = document.getElementById("stats-csv");

  function pct(v) { return v == null ? "—" : (v * 100).toFixed(1) + "%"; }
  function cells(r) {
    return ["events", "registered", "closed"].map(function (k) { return '<td class="num">' + r[k] + "</td>"; })
      .join("") + '<td class="num">' + pct(r.closure_rate) + '</td><td class="num">' + r.on_time + "</td>" +
      '<td class="num">' + pct(r.on_time_rate) + '</td><td class="num">' + r.overdue + '</td><td class="num">' +
      r.open + "</td>";
  }
  function query() {
    const q = new URLSearchParams({ area: area });
    if (fromEl.value) { q.set("from", fromEl.value); }
    if (toEl.value) { q.set("to", toEl.value); }
    return q;
  }
  function load() {
    const q = query();
    const csv = new URLSearchParams(q);
    csv.set("format", "csv");
    csvEl.href = "/api/v1/events/stats?" + csv.toString();
    W.api("/api/v1/events/stats?" + q.toString()).then(function (res) {
      if (!res.ok) { statusEl.textContent = W.errorText(res); statusEl.classList.add("error"); return; }
      rowsEl.innerHTML = res.body.grids.map(function (g) {
        return '<tr data-grid="' + W.escapeHtml(g.grid_code) + '"><td>' + W.escapeHtml(g.grid_name || g.grid_code) +
          '<span class="sub">' + W.escapeHtml(g.grid_code) + "</span></td><td>" + W.escapeHtml(g.community_name) +
          "</td>" + cells(g) + "</tr>";
      }).join("");
      totalEl.innerHTML = '<tr><td colspan="2">' + W.escapeHtml(W.T.ev_total) + "</td>" + cells(res.body.total) +
        "</tr>";
      statusEl.textContent = "";
      document.body.dataset.ready = "true";
    });
  }
  form.addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
  load();
})();
