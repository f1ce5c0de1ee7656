// The staffing coverage of the overview's area: share of grids fully staffed and the grids that are not.
(function () {
  "use strict";
  const W = window.wangge;
  const cfg = W.config();
  const T = cfg.strings;
  const el = document.getElementById("staff-coverage");
  if (!el || !cfg.area) { return; }
  const esc = W.escapeHtml;
  const SHOWN = 30;
  W.getJSON("/api/v1/staff/coverage?area=" + encodeURIComponent(cfg.area.code)).then(function (c) {
    const pct = Math.round(c.share * 1000) / 10;
    let html = "<h3>" + esc(T.st_coverage) + ' <span class="share" id="coverage-share">' + pct + "%</span></h3><p>" +
      esc(T.st_fully_staffed) + " " + W.fmt(c.staffed, cfg.lang) + " / " + W.fmt(c.grids, cfg.lang) + "</p>";
    if (c.unstaffed.length) {
      html += "<p><b>" + esc(T.st_unstaffed) + "</b></p><ul id=\"coverage-gaps\" style=\"max-height: 200px; overflow-y: auto; padding-left: 18px;\">" +
        c.unstaffed.slice(0, SHOWN).map(function (u) {
          return '<li><span translate="no">' + esc(u.code) + (u.name ? " " + esc(u.name) : "") + "</span> · " +
            u.kinds.map(function (k) { return esc(T["st_kind_" + k]); }).join("、") + "</li>";
        }).join("") + (c.unstaffed.length > SHOWN ? "<li>…</li>" : "") + "</ul>";
    } else {
      html += "<p>" + esc(T.st_all_staffed) + "</p>";
    }
    if (document.getElementById("nav-staff")) { html += '<p><a href="/staff" id="manage-staff">' + esc(T.st_manage) + "</a></p>"; }
    el.innerHTML = html;
    el.hidden = false;
  }).catch(function () { el.hidden = true; });
}());
