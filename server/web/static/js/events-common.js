// Shared by the grid event pages: strings, requests (through wangge.request), local times, status badges.
(function () {
  "use strict";
  const config = wangge.config();
  const T = config.strings;
  const STATUS_COLOURS = {
    reported: "#6b7280", registered: "#2563eb", dispatched: "#7c3aed", handling: "#0891b2", handled: "#0d9488",
    verified: "#16a34a", closed: "#15803d", returned: "#d97706", cancelled: "#9ca3af"
  };
  const zone = config.timezone || "Asia/Shanghai";
  const locale = config.lang === "en" ? "en-GB" : "zh-CN";
  const withYear = new Intl.DateTimeFormat(locale, { timeZone: zone, year: "numeric", month: "long", day: "numeric",
                                                     hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const withoutYear = new Intl.DateTimeFormat(locale, { timeZone: zone, month: "long", day: "numeric",
                                                        hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
  const yearOf = new Intl.DateTimeFormat("en", { timeZone: zone, year: "numeric" });

  const escapeHtml = wangge.escapeHtml;
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k] == null ? "" : values[k]; });
  }
  // Resolves with {ok, status, body} (the pages branch on ok); the request itself is wangge.request's.
  // options: {json: body} or {form: FormData} (POST unless method is given).
  function api(url, options) {
    const o = options || {};
    const body = o.form !== undefined ? o.form : o.json;
    const method = o.method || (body !== undefined ? "POST" : "GET");
    return wangge.request(method, url, body, o.form !== undefined).then(function (data) {
      return { ok: true, status: 200, body: data };
    }, function (err) {
      return { ok: false, status: err.status || 0, body: err.data && err.data.error ? err.data
        : { error: { message: err.status ? err.message : T.ev_failed } } };
    });
  }
  // The server says "field 'x': 中文 / English": show the user's language only.
  function errorText(res) {
    let message = (res.body && res.body.error && res.body.error.message) || "";
    message = message.replace(/^field '[^']*': /, "");
    const parts = message.split(" / ");
    if (parts.length > 1) { message = config.lang === "en" ? parts.slice(1).join(" / ") : parts[0]; }
    if (!message || (config.lang !== "en" && !/[\u4e00-\u9fff]/.test(message))) { return T.ev_failed; }
    return message;
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
  // An ISO time from the server → "10月10日 10:00" in the calendar's zone (with the year when not this year).
  function localTime(iso) {
    if (!iso) { return "—"; }
    const at = new Date(iso);
    if (isNaN(at.getTime())) { return "—"; }
    const sameYear = yearOf.format(at) === yearOf.format(new Date());
    return (sameYear ? withoutYear : withYear).format(at);
  }
  // A phone number as a link that dials it.
  function telLink(phone) {
    if (!phone) { return ""; }
    return '<a class="ev-tel" href="tel:' + escapeHtml(String(phone).replace(/[^0-9+]/g, "")) + '" translate="no">' +
      escapeHtml(phone) + "</a>";
  }
  window.WanggeEvents = { config: config, T: T, api: api, escapeHtml: escapeHtml, fill: fill, errorText: errorText,
    statusLabel: statusLabel, actionLabel: actionLabel, badge: badge, localTime: localTime,
    telLink: telLink, STATUS_COLOURS: STATUS_COLOURS };
})();
