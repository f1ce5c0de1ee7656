// Helpers every page shares: JSON requests with the CSRF token, escaping, number formatting, base maps.
// Loaded by base.html before the page's own script, as window.wangge.
(function () {
  "use strict";
  const csrf = function () { return (document.querySelector('meta[name="csrf-token"]') || {}).content || ""; };

  // JSON in and out; a non-2xx answer becomes an Error carrying the server's message and the status.
  function request(method, url, body, isForm) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") { headers["X-CSRF-Token"] = csrf(); }
    if (body !== undefined && !isForm) { headers["Content-Type"] = "application/json"; }
    return fetch(url, { method: method, headers: headers, credentials: "same-origin",
                        body: body === undefined ? undefined : (isForm ? body : JSON.stringify(body)) })
      .then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (data) {
          if (!r.ok) {
            const err = new Error(data.error ? data.error.message : (data.description || r.statusText));
            err.status = r.status;
            err.data = data;
            throw err;
          }
          return data;
        });
      });
  }

  function escapeHtml(s) {
    return String(s == null ? "" : s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function fmt(n, lang) {
    return n == null ? "—" : Number(n).toLocaleString(lang === "en" ? "en" : "zh-CN");
  }

  // The configured base maps (none by default: offline networks); the first one, plus Tianditu's
  // label layer, is shown. Returns the layers by id.
  function addBaseLayers(map, layers) {
    const out = {};
    (layers || []).forEach(function (b, i) {
      const layer = L.tileLayer(b.url, { maxZoom: b.maxZoom, subdomains: b.subdomains || "abc",
                                         attribution: b.attribution });
      out[b.id] = layer;
      if (i === 0 || b.id === "tianditu-cva") { layer.addTo(map); }
    });
    return out;
  }

  // The page's settings, rendered by the server as <script id="config" type="application/json">.
  let pageConfig = null;
  function config() {
    if (pageConfig === null) {
      const el = document.getElementById("config");
      pageConfig = el ? JSON.parse(el.textContent) : {};
    }
    return pageConfig;
  }

  // A Leaflet map in element `id` with the configured base maps; options go to L.map.
  // The zoom buttons carry Chinese titles (Leaflet's own are English).
  function map(id, options) {
    const opts = Object.assign({ preferCanvas: true, zoomControl: true }, options || {});
    const zoom = opts.zoomControl;
    opts.zoomControl = false;
    const m = L.map(id, opts);
    if (zoom) {
      const en = config().lang === "en";
      L.control.zoom({ zoomInTitle: en ? "Zoom in" : "放大", zoomOutTitle: en ? "Zoom out" : "缩小" }).addTo(m);
    }
    m.baseLayers = addBaseLayers(m, config().baseLayers);
    return m;
  }

  // The header's menu button (phones): opens and closes the links; a tap elsewhere or Esc closes them.
  function menu() {
    const bar = document.querySelector(".topbar");
    const button = document.getElementById("menu-toggle");
    if (!bar || !button) { return; }
    function set(open) {
      bar.classList.toggle("open", open);
      button.setAttribute("aria-expanded", open ? "true" : "false");
    }
    button.addEventListener("click", function (ev) { ev.stopPropagation(); set(!bar.classList.contains("open")); });
    document.addEventListener("click", function (ev) { if (!bar.contains(ev.target)) { set(false); } });
    document.addEventListener("keydown", function (ev) { if (ev.key === "Escape") { set(false); } });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", menu); } else { menu(); }

  window.wangge = { request: request, getJSON: function (url) { return request("GET", url); },
                    escapeHtml: escapeHtml, fmt: fmt, addBaseLayers: addBaseLayers, config: config, map: map };
}());
