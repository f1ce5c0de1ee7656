// Public lookup page: search a standard address or tap the map; show the grid and whom to call.
// Data from /api/v1/lookup/*; base tiles only if the server is configured with some (offline by default).
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("config").textContent);
  const T = config.strings;
  const statusEl = document.getElementById("lookup-status");
  const resultsEl = document.getElementById("lookup-results");
  const cardEl = document.getElementById("grid-card");
  const input = document.getElementById("lookup-q");

  const map = wangge.map("lookup-map", { tap: true });  // base maps and Chinese zoom titles
  window.wanggeLookupMap = map;  // for scripted use and the browser tests
  L.control.scale({ imperial: false }).addTo(map);
  let marker = null;
  let outline = null;

  const escapeHtml = wangge.escapeHtml;
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k] == null ? "" : values[k]; });
  }
  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", !!isError);
  }
  // Resolves with {ok, status, body}; a non-JSON answer (proxy error page) becomes a generic error.
  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" } }).then(function (r) {
      return r.json().catch(function () { return { error: { message: r.statusText } }; })
        .then(function (body) { return { ok: r.ok, status: r.status, body: body }; });
    });
  }

  function staffHtml(staff) {
    if (!staff || !staff.length) { return '<p class="no-staff">' + escapeHtml(T.no_staff) + "</p>"; }
    return '<ul class="staff-list">' + staff.map(function (s) {
      const phone = s.phone ? String(s.phone) : "";
      const tel = phone.indexOf("*") >= 0 ? "" : phone.replace(/[^0-9+]/g, "");  // a masked phone cannot be called
      return "<li>" + (s.photo ? '<img class="staff-photo" src="' + escapeHtml(s.photo) + '" alt="" width="45" height="60" style="object-fit: cover; border-radius: 3px; flex: none;">' : "") +
        "<span><b>" + escapeHtml(s.name) + '</b><span class="role">' +
        escapeHtml(T["staff_role_" + s.role] || s.role) + (phone ? " · " + escapeHtml(phone) : "") + "</span></span>" +
        (tel ? '<a class="call" href="tel:' + escapeHtml(tel) + '">' + escapeHtml(T.call) + "</a>" : "") + "</li>";
    }).join("") + "</ul>";
  }

  function showCard(answer, title) {
    const g = answer.grid;
    const rows = [
      [T.grid_code, g.code],
      [T.grid_type, T["grid_type_" + g.type] || g.type],
      [T.micro_grid, answer.micro_grid ? (answer.micro_grid.name || answer.micro_grid.code) : "—"],
      [T.community, answer.community ? answer.community.name : "—"],
      [T.township, answer.township ? answer.township.name : "—"],
      [T.households, g.households]
    ];
    cardEl.innerHTML = "<h2>" + escapeHtml(g.name || g.code) + "</h2>" +
      (title ? '<p class="card-address">' + escapeHtml(title) + "</p>" : "") +
      "<dl>" + rows.map(function (r) { return "<dt>" + escapeHtml(r[0]) + "</dt><dd>" + escapeHtml(r[1]) + "</dd>"; })
        .join("") + "</dl><h3>" + escapeHtml(T.staff_contacts) + "</h3>" + staffHtml(answer.staff);
    cardEl.dataset.grid = g.code;
    cardEl.hidden = false;
    if (outline) { map.removeLayer(outline); outline = null; }
    if (g.geometry) {
      outline = L.geoJSON(g.geometry, { style: { color: "#d9480f", weight: 3, fillOpacity: 0.12 } }).addTo(map);
    }
  }

  function showPoint(lat, lon, title) {
    if (marker) { marker.setLatLng([lat, lon]); } else { marker = L.circleMarker([lat, lon], {
      radius: 8, color: "#fff", weight: 2, fillColor: "#d9480f", fillOpacity: 1 }).addTo(map); }
    setStatus(T.lookup_searching);
    const url = "/api/v1/lookup/point?crs=cgcs2000&geometry=1&lon=" + lon.toFixed(7) + "&lat=" + lat.toFixed(7);
    return getJSON(url).then(function (r) {
      if (r.ok) {
        setStatus(title ? "" : T.lookup_tap_hint);
        showCard(r.body, title);
      } else {
        cardEl.hidden = true;
        cardEl.dataset.grid = "";
        if (outline) { map.removeLayer(outline); outline = null; }
        const near = r.body.error && r.body.error.details && r.body.error.details.nearest;
        setStatus(r.status === 404 && near
          ? T.lookup_outside + " " + fill(T.lookup_nearest, { name: near.name || near.code,
                                                             distance: Math.round(near.distance_m) })
          : (r.body.error ? r.body.error.message : T.load_failed), true);
      }
      document.body.dataset.lookup = r.ok ? "found" : "none";
    }).catch(function () { setStatus(T.load_failed, true); });
  }

  function choose(result, button) {
    resultsEl.querySelectorAll("button").forEach(function (b) { b.setAttribute("aria-current", "false"); });
    if (button) { button.setAttribute("aria-current", "true"); }
    map.setView([result.point.lat, result.point.lon], Math.max(map.getZoom(), 16), { animate: false });
    return showPoint(result.point.lat, result.point.lon, result.address);
  }

  document.getElementById("lookup-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    const q = input.value.trim();
    if (!q) { return; }
    setStatus(T.lookup_searching);
    getJSON("/api/v1/lookup/address?limit=5&q=" + encodeURIComponent(q)).then(function (r) {
      resultsEl.innerHTML = "";
      const results = r.ok ? r.body.results : [];
      if (!r.ok || !results.length) {
        resultsEl.hidden = true;
        cardEl.hidden = true;
        setStatus(r.ok ? T.lookup_no_address : r.body.error.message, true);
        document.body.dataset.lookup = "none";
        return;
      }
      results.forEach(function (res, i) {
        const li = document.createElement("li");
        const b = document.createElement("button");
        b.type = "button";
        b.innerHTML = escapeHtml(res.address) + '<span class="sub">' +
          escapeHtml([res.community && res.community.name, res.grid && res.grid.name].filter(Boolean).join(" · ")) +
          "</span>";
        b.setAttribute("aria-current", i === 0 ? "true" : "false");
        b.addEventListener("click", function () { choose(res, b); });
        li.appendChild(b);
        resultsEl.appendChild(li);
      });
      resultsEl.hidden = results.length < 2;
      choose(results[0], resultsEl.querySelector("button"));
    }).catch(function () { setStatus(T.load_failed, true); });
  });

  map.on("click", function (e) { showPoint(e.latlng.lat, e.latlng.lng, null); });

  // Community outlines give orientation on the plain background; failure to load them is not fatal.
  getJSON("/api/v1/areas?level=community").then(function (r) {
    if (r.ok && r.body.features && r.body.features.length) {
      const layer = L.geoJSON(r.body, {
        style: { color: "#102a43", weight: 1.2, fillColor: "#3e7cb1", fillOpacity: 0.06 },
        interactive: false
      }).addTo(map);
      map.fitBounds(layer.getBounds());
    } else {
      map.setView([31.7, 120.0], 12);
    }
    document.body.dataset.ready = "true";
  }).catch(function () {
    map.setView([31.7, 120.0], 12);
    document.body.dataset.ready = "true";
  });
})();
