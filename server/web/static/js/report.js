// The public report page: a point on the map (or an address), a category, a description, up to 3 photos →
// an event code and a tracking code to follow it on /track.
(function () {
  "use strict";
  const W = window.WanggeEvents;
  const T = W.T;
  const form = document.getElementById("report-form");
  const statusEl = document.getElementById("report-status");
  const pointEl = document.getElementById("report-point");
  const addressEl = document.getElementById("report-address");
  const categoryEl = document.getElementById("report-category");
  const descriptionEl = document.getElementById("report-description");
  const submitEl = document.getElementById("report-submit");
  const resultEl = document.getElementById("report-result");
  const photosEl = document.getElementById("report-photos");
  const previewsEl = document.getElementById("report-previews");
  const MAX_PHOTOS = 3;
  const MAX_BYTES = 5 * 1024 * 1024;
  let point = null;
  let marker = null;

  const map = wangge.map("report-map", { tap: true });
  window.wanggeReportMap = map;  // for scripted use and the browser tests
  L.control.scale({ imperial: false }).addTo(map);
  map.setView([31.3, 120.6], 12);

  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", !!isError);
  }

  W.api("/api/v1/summary").then(function (res) {
    const e = res.ok && res.body.extent;
    if (e) { map.fitBounds([[e[1], e[0]], [e[3], e[2]]]); }
  });
  W.api("/api/v1/areas?level=community").then(function (res) {
    if (!res.ok) { return; }
    L.geoJSON(res.body, { interactive: false, style: { color: "#0b3d91", weight: 1, fillOpacity: 0.03 } }).addTo(map);
  });
  W.api("/api/v1/matters").then(function (res) {
    if (!res.ok) { return; }
    const groups = {};
    res.body.matters.forEach(function (m) {
      if (!m.parent_id) { groups[m.id] = { name: m.name, items: [] }; }
    });
    res.body.matters.forEach(function (m) {
      if (m.parent_id && groups[m.parent_id]) { groups[m.parent_id].items.push(m); }
    });
    Object.keys(groups).forEach(function (id) {
      const g = groups[id];
      if (!g.items.length) { return; }
      const og = document.createElement("optgroup");
      og.label = g.name;
      g.items.forEach(function (m) {
        const o = document.createElement("option");
        o.value = m.code;
        o.textContent = m.name;
        og.appendChild(o);
      });
      categoryEl.appendChild(og);
    });
  }).then(function () { document.body.dataset.ready = "true"; });

  map.on("click", function (e) {
    point = { lon: Math.round(e.latlng.lng * 1e7) / 1e7, lat: Math.round(e.latlng.lat * 1e7) / 1e7 };
    if (marker) { marker.setLatLng(e.latlng); } else {
      marker = L.circleMarker(e.latlng, { radius: 9, color: "#fff", weight: 2, fillColor: "#d9480f", fillOpacity: 1 })
        .addTo(map);
    }
    pointEl.textContent = W.fill(T.ev_point_chosen, { lon: point.lon.toFixed(5), lat: point.lat.toFixed(5) });
    pointEl.classList.add("chosen");
  });

  // The photos are checked here first (the server checks them again): at most 3, JPEG or PNG, 5 MB each.
  function photoProblem(files) {
    if (files.length > MAX_PHOTOS) { return T.ev_photos_too_many; }
    for (let i = 0; i < files.length; i += 1) {
      const f = files[i];
      if (f.type !== "image/jpeg" && f.type !== "image/png") { return W.fill(T.ev_photo_bad_type, { name: f.name }); }
      if (f.size > MAX_BYTES) { return W.fill(T.ev_photo_too_big, { name: f.name }); }
    }
    return "";
  }

  photosEl.addEventListener("change", function () {
    const files = Array.prototype.slice.call(photosEl.files);
    previewsEl.querySelectorAll("img").forEach(function (img) { URL.revokeObjectURL(img.src); });
    previewsEl.innerHTML = "";
    const problem = photoProblem(files);
    setStatus(problem, !!problem);
    if (problem) { return; }
    files.forEach(function (f, i) {
      const img = document.createElement("img");
      img.src = URL.createObjectURL(f);
      img.alt = W.fill(T.ev_photo_n, { n: i + 1 });
      previewsEl.appendChild(img);
    });
  });

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const description = descriptionEl.value.trim();
    if (!description) { setStatus(T.ev_need_description, true); descriptionEl.focus(); return; }
    const address = addressEl.value.trim();
    if (!point && !address) { setStatus(T.ev_need_location, true); return; }
    const files = Array.prototype.slice.call(photosEl.files);
    const problem = photoProblem(files);
    if (problem) { setStatus(problem, true); return; }
    const body = new FormData();
    body.append("description", description);
    if (point) { body.append("lon", point.lon); body.append("lat", point.lat); body.append("crs", "cgcs2000"); }
    if (address) { body.append("address", address); }
    if (categoryEl.value) { body.append("category", categoryEl.value); }
    files.forEach(function (f) { body.append("photos", f, f.name); });
    submitEl.disabled = true;
    setStatus(T.ev_submitting);
    W.api("/api/v1/public/events", { form: body }).then(function (res) {
      submitEl.disabled = false;
      if (!res.ok) { setStatus(W.errorText(res), true); return; }
      setStatus("");
      showResult(res.body);
      form.reset();
      previewsEl.innerHTML = "";
    });
  });

  function showResult(e) {
    // The grid is named only when its division is filed (approved); the community always.
    const rows = (e.grid ? [[T.ev_your_grid, (e.grid.name || "") + " " + e.grid.code]] : []).concat([
      [T.community, e.community ? e.community.name : "—"],
      [T.ev_category, e.category ? e.category.name : T.ev_category_unknown],
      [T.ev_status, W.statusLabel(e.status)],
      [T.ev_reported_at, W.localTime(e.reported_at)]
    ]);
    const track = "/track/" + encodeURIComponent(e.tracking_code);
    resultEl.innerHTML = "<h2>" + W.escapeHtml(T.ev_submitted) + '</h2><p class="ev-code" id="report-code" ' +
      'translate="no">' + W.escapeHtml(e.code) + "</p><dl>" + rows.map(function (r) {
        return "<dt>" + W.escapeHtml(r[0]) + "</dt><dd>" + W.escapeHtml(r[1]) + "</dd>";
      }).join("") + "</dl>" + (e.photos ? "<p>" + W.escapeHtml(W.fill(T.ev_photos_count, { n: e.photos })) + "</p>"
      : "") + '<p class="ev-hint">' + W.escapeHtml(T.ev_tracking_code) + '</p><p class="ev-code" ' +
      'id="report-tracking" translate="no">' + W.escapeHtml(e.tracking_code) + '</p><p class="ev-hint">' +
      W.escapeHtml(T.ev_keep_tracking) + '</p><a class="ev-button" id="report-track-link" href="' + track + '">' +
      W.escapeHtml(T.ev_track_link) + "</a>";
    resultEl.dataset.grid = e.grid ? e.grid.code : "";
    resultEl.dataset.community = e.community ? e.community.code : "";
    resultEl.hidden = false;
    const at = [e.point.lat, e.point.lon];
    if (marker) { marker.setLatLng(at); } else { marker = L.circleMarker(at, { radius: 9 }).addTo(map); }
    map.panTo(at);
    point = null;
    pointEl.textContent = T.ev_tap_map;
    pointEl.classList.remove("chosen");
  }
})();
