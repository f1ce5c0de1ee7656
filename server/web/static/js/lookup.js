// Public lookup page: search a standard address or tap the map; show the grid and whom to call.
// Data from /api/v1/lookup/*; base tiles only if the server is configured with some (offline by default).
(function () {
  "use strict";
  const T = wangge.config().strings;
  const statusEl = document.getElementById("lookup-status");
  const resultsEl = document.getElementById("lookup-results");
  const cardEl = document.getElementById("grid-card");
  const input = document.getElementById("lookup-q");
  const escapeHtml = wangge.escapeHtml;

  const map = wangge.map("lookup-map", { tap: true });  // base maps and Chinese zoom titles
  window.wanggeLookupMap = map;  // for scripted use and the browser tests
  L.control.scale({ imperial: false }).addTo(map);
  let marker = null;
  let outline = null;
  let asked = 0;  // answers to an older question (a slow search after a new tap) are dropped

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k] == null ? "" : values[k]; });
  }
  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.classList.toggle("error", !!isError);
  }
  // A phone number as a link the phone dials: digits and a leading + only.
  function telLink(phone, label, cls) {
    const tel = String(phone).replace(/[^0-9+]/g, "");
    return tel ? '<a class="' + cls + '" href="tel:' + escapeHtml(tel) + '" translate="no">' +
      escapeHtml(label) + "</a>" : "";
  }

  function staffHtml(staff) {
    if (!staff || !staff.length) { return '<p class="no-staff">' + escapeHtml(T.no_staff) + "</p>"; }
    return '<ul class="staff-list">' + staff.map(function (s) {
      const phone = s.phone ? String(s.phone) : "";
      const masked = phone.indexOf("*") >= 0;  // a masked phone cannot be called
      return "<li>" + (s.photo ? '<img class="staff-photo" src="' + escapeHtml(s.photo) + '" alt="" width="45" height="60" style="object-fit: cover; border-radius: 3px; flex: none;">' : "") +
        '<span><b translate="no">' + escapeHtml(s.name) + '</b><span class="role">' +
        escapeHtml(T["staff_role_" + s.role] || s.role) +
        (phone ? " · " + (masked ? '<span translate="no">' + escapeHtml(phone) + "</span>" : telLink(phone, phone, "phone")) : "") +
        "</span></span>" + (phone && !masked ? telLink(phone, T.call, "call").replace('translate="no"', "") : "") + "</li>";
    }).join("") + "</ul>";
  }

  function clearCard() {
    cardEl.hidden = true;
    cardEl.dataset.grid = "";
    if (outline) { map.removeLayer(outline); outline = null; }
  }

  function showCard(answer, title) {
    const g = answer.grid;
    const rows = [
      [T.grid_code, g.code, true],
      [T.grid_type, T["grid_type_" + g.type] || g.type],
      [T.micro_grid, answer.micro_grid ? (answer.micro_grid.name || answer.micro_grid.code) : "—", true],
      [T.community, answer.community ? answer.community.name : "—", true],
      [T.township, answer.township ? answer.township.name : "—", true],
      [T.households, g.households]
    ];
    const filed = answer.division && answer.division.status === "approved";
    cardEl.innerHTML = '<h2 translate="no">' + escapeHtml(g.name || g.code) + "</h2>" +
      (title ? '<p class="card-address" translate="no">' + escapeHtml(title) + "</p>" : "") +
      "<dl>" + rows.map(function (r) {
        return "<dt>" + escapeHtml(r[0]) + "</dt><dd" + (r[2] ? ' translate="no"' : "") + ">" + escapeHtml(r[1]) +
          "</dd>";
      }).join("") + "</dl><h3>" + escapeHtml(T.staff_contacts) + "</h3>" + staffHtml(answer.staff) +
      '<p class="card-links">' +
      (filed ? '<a class="notice-link" id="notice-link" href="/notice/' + encodeURIComponent(g.code) + '">' +
               escapeHtml(T.lookup_notice) + "</a>" : "") +
      '<a class="report-link" id="report-link" href="/report">' + escapeHtml(T.lookup_report) + "</a></p>";
    cardEl.dataset.grid = g.code;
    cardEl.hidden = false;
    if (outline) { map.removeLayer(outline); outline = null; }
    if (g.geometry) {
      outline = L.geoJSON(g.geometry, { style: { color: "#d9480f", weight: 3, fillOpacity: 0.12 } }).addTo(map);
    }
  }

  // Why a place has no grid: its community has no division yet, or it lies outside the grids.
  function outsideMessage(err) {
    const details = (err.data && err.data.error && err.data.error.details) || {};
    if (err.status === 404 && details.division_in_force === false && details.community) {
      return fill(T.lookup_no_division, { community: details.community.name });
    }
    if (err.status === 404 && details.nearest) {
      return T.lookup_outside + " " + fill(T.lookup_nearest, { name: details.nearest.name || details.nearest.code,
                                                               distance: Math.round(details.nearest.distance_m) });
    }
    return err.status === 404 ? T.lookup_outside : T.load_failed;
  }

  function showPoint(lat, lon, title) {
    if (marker) { marker.setLatLng([lat, lon]); } else { marker = L.circleMarker([lat, lon], {
      radius: 8, color: "#fff", weight: 2, fillColor: "#d9480f", fillOpacity: 1 }).addTo(map); }
    setStatus(T.lookup_searching);
    const question = ++asked;
    const url = "/api/v1/lookup/point?crs=cgcs2000&geometry=1&lon=" + lon.toFixed(7) + "&lat=" + lat.toFixed(7);
    return wangge.getJSON(url).then(function (answer) {
      if (question !== asked) { return; }
      setStatus(title ? "" : T.lookup_tap_hint);
      showCard(answer, title);
      document.body.dataset.lookup = "found";
    }).catch(function (err) {
      if (question !== asked) { return; }
      clearCard();
      setStatus(outsideMessage(err), true);
      document.body.dataset.lookup = "none";
    });
  }

  function choose(result, button) {
    resultsEl.querySelectorAll("button").forEach(function (b) { b.setAttribute("aria-current", "false"); });
    if (button) { button.setAttribute("aria-current", "true"); }
    map.setView([result.point.lat, result.point.lon], Math.max(map.getZoom(), 16), { animate: false });
    return showPoint(result.point.lat, result.point.lon, result.address);
  }

  function clearResults() {
    resultsEl.innerHTML = "";
    resultsEl.hidden = true;
  }

  function listResults(results) {
    results.forEach(function (res, i) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.setAttribute("translate", "no");
      b.innerHTML = escapeHtml(res.address) + '<span class="sub">' +
        escapeHtml([res.community && res.community.name, res.grid && (res.grid.name || res.grid.code)]
          .filter(Boolean).join(" · ")) + "</span>";
      b.setAttribute("aria-current", i === 0 ? "true" : "false");
      b.addEventListener("click", function () { choose(res, b); });
      li.appendChild(b);
      resultsEl.appendChild(li);
    });
    resultsEl.hidden = results.length < 2;
  }

  document.getElementById("lookup-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    const q = input.value.trim();
    if (!q) { return; }
    setStatus(T.lookup_searching);
    const question = ++asked;
    wangge.getJSON("/api/v1/lookup/address?limit=5&q=" + encodeURIComponent(q)).then(function (body) {
      if (question !== asked) { return; }
      clearResults();
      if (!body.results.length) {
        clearCard();
        setStatus(T.lookup_no_address, true);
        document.body.dataset.lookup = "none";
        return;
      }
      listResults(body.results);
      choose(body.results[0], resultsEl.querySelector("button"));
    }).catch(function (err) {
      if (question !== asked) { return; }
      clearResults();
      clearCard();
      setStatus(err.status === 400 && err.message ? err.message : T.load_failed, true);
      document.body.dataset.lookup = "none";
    });
  });

  // A tap is a new question: the previous search's list goes, so it cannot be mistaken for this answer.
  map.on("click", function (e) {
    clearResults();
    showPoint(e.latlng.lat, e.latlng.lng, null);
  });

  // Community outlines give orientation on the plain background; failure to load them is not fatal.
  wangge.getJSON("/api/v1/areas?level=community").then(function (body) {
    if (body.features && body.features.length) {
      const layer = L.geoJSON(body, {
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
