// Shared by the grid event pages: configuration, strings, fetch with CSRF, formatting, status colours.
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("config").textContent);
  const T = config.strings;
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const STATUS_COLOURS = {
    reported: "#6b7280", registered: "#2563eb", dispatched: "#7c3aed", handling: "#0891b2", handled: "#0d9488",
    verified: "#16a34a", closed: "#15803d", returned: "#d97706", cancelled: "#9ca3af"
  };

  const escapeHtml = wangge.escapeHtml;
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k] == null ? "" : values[k]; });
  }
  // Resolves with {ok, status, body}; a non-JSON answer becomes a generic error body.
  function api(url, options) {
    const opts = Object.assign({ headers: {} }, options || {});
    opts.headers = Object.assign({ Accept: "application/json" }, opts.headers);
    if (opts.json !== undefined) {
      opts.method = opts.method || "POST";
      opts.body = JSON.stringify(opts.json);
      opts.headers["Content-Type"] = "application/json";
      opts.headers["X-CSRF-Token"] = csrf;
      delete opts.json;
    }
    return fetch(url, opts).then(function (r) {
      return r.json().catch(function () { return { error: { message: r.statusText } }; })
        .then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
    });
  }
  function errorText(res) {
    return (res.body && res.body.error && res.body.error.message) || T.ev_failed;
  }
  function statusLabel(status) { return T["ev_status_" + status] || status; }
  function actionLabel(action) { return T["ev_action_" + action] || action; }
  function badge(e) {
    let html = '<span class="ev-badge" style="background:' + (STATUS_COLOURS[e.status] || "#7b8794") + '">' +
      escapeHtml(statusLabel(e.status)) + "</span>";
    if (e.overdue) { html += ' <span class="ev-badge overdue">' + escapeHtml(T.ev_overdue) + "</span>"; }
    else if (e.warned) { html += ' <span class="ev-badge warned">' + escapeHtml(T.ev_warned) + "</span>"; }
    return html;
  }
  // "2026-12-07T11:30:00+08:00" → "12-07 11:30" (the server sends calendar-local times).
  function shortTime(iso) {
    if (!iso) { return "—"; }
    return iso.slice(5, 10) + " " + iso.slice(11, 16);
  }
  function baseLayers(map) { wangge.addBaseLayers(map, config.baseLayers); }
  window.WanggeEvents = { config: config, T: T, api: api, escapeHtml: escapeHtml, fill: fill, errorText: errorText,
    statusLabel: statusLabel, actionLabel: actionLabel, badge: badge, shortTime: shortTime,
    STATUS_COLOURS: STATUS_COLOURS, baseLayers: baseLayers };
})();
