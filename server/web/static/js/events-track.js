// Follow a report by its tracking code: status, category, place, photos and the steps taken (no names).
(function () {
  "use strict";
  const W = window.WanggeEvents;
  const T = W.T;
  const esc = W.escapeHtml;
  const form = document.getElementById("track-form");
  const codeEl = document.getElementById("track-code");
  const statusEl = document.getElementById("track-status");
  const resultEl = document.getElementById("track-result");

  function show(e) {
    const rows = [[T.ev_code, '<span translate="no">' + esc(e.code) + "</span>"],
      [T.ev_category, esc(e.category ? e.category.name : T.ev_category_unknown)],
      [T.community, esc(e.community ? e.community.name : "—")],
      [T.ev_reported_at, esc(W.localTime(e.reported_at))]];
    if (e.address) { rows.push([T.ev_address, esc(e.address)]); }
    if (e.deadline_at) { rows.push([T.ev_deadline, esc(W.localTime(e.deadline_at))]); }
    resultEl.innerHTML = "<h2>" + esc(e.title) + " " + W.badge(e) + "</h2><p>" + esc(e.description || "") + "</p><dl>" +
      rows.map(function (r) { return "<dt>" + esc(r[0]) + "</dt><dd>" + r[1] + "</dd>"; }).join("") + "</dl>" +
      (e.photo_list.length ? '<div class="ev-previews">' + e.photo_list.map(function (p) {
        return '<img src="' + esc(p.url) + '" alt="' + esc(W.fill(T.ev_photo_n, { n: p.position })) + '">';
      }).join("") + "</div>" : "") +
      "<h3>" + esc(T.ev_history) + '</h3><ol class="ev-history" id="track-history">' + e.history.map(function (h) {
        return "<li><time>" + esc(W.localTime(h.at)) + "</time><b>" + esc(W.actionLabel(h.action)) + "</b> " +
          esc(W.statusLabel(h.status)) + "</li>";
      }).join("") + "</ol>";
    resultEl.hidden = false;
  }

  function lookUp(code) {
    statusEl.textContent = "";
    statusEl.classList.remove("error");
    return W.api("/api/v1/public/events/" + encodeURIComponent(code)).then(function (res) {
      if (!res.ok) {
        resultEl.hidden = true;
        statusEl.textContent = res.status === 404 ? T.ev_track_none : W.errorText(res);
        statusEl.classList.add("error");
        return;
      }
      show(res.body);
      if (window.history.replaceState) { window.history.replaceState(null, "", "/track/" + res.body.tracking_code); }
    });
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const code = codeEl.value.trim().toUpperCase();
    if (code) { lookUp(code); }
  });
  const first = (W.config.code || "").trim();
  (first ? lookUp(first) : Promise.resolve()).then(function () { document.body.dataset.ready = "true"; });
})();
