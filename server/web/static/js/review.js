// The review page: the submitted division against the version in force (or its parent), colour coded and
// labelled with the codes the grids will be filed under; the grid table in code order with renames and
// checks; the county's reasons for grids out of the band (accept or return); comments pinned to a grid or
// a point; approve (with a date, sending the codes the reviewer saw) or return.
(function () {
  "use strict";
  const config = wangge.config();
  const T = config.strings;
  const R = config.review;
  const API = "/api/v1/divisions/" + R.division;
  const COLOURS = { added: "#27ab83", changed: "#f0b429", attributes: "#7cc4fa", unchanged: "#bcccdc" };
  const el = function (id) { return document.getElementById(id); };
  const state = { diff: null, pinning: false, point: null, pointMarker: null, gridLayers: {}, byLabel: {} };

  const map = wangge.map("map", { preferCanvas: false });
  const commentLayer = L.layerGroup().addTo(map);
  window.wanggeReview = { map: map };  // for tests and the browser console, as the overview exposes its map

  const escapeHtml = wangge.escapeHtml;
  const request = wangge.request;
  function fmt(n) { return wangge.fmt(n, config.lang); }
  function setStatus(text, isError) {
    el("status").textContent = text;
    el("status").className = "status" + (isError ? " error" : "");
  }
  function code(g) { return g.planned_code || g.code || null; }
  // Short label as on the map (the last three digits of the code, as the editor shows it).
  function shortTitle(g) {
    const c = code(g);
    return T.grid + " " + (c ? c.slice(-3) : T.rv_code_pending) + (g.name ? " " + g.name : "");
  }
  function codeHtml(c) {
    return c ? "<span class='code' translate='no'>" + escapeHtml(c) + "</span>" : escapeHtml(T.rv_code_pending);
  }

  // -- the diff on the map and in the table --------------------------------------------------------
  function drawDiff(grids, before, diff) {
    const removed = new Set(diff.removed.map(function (g) { return g.label; }));
    if (before) {
      L.geoJSON({ type: "FeatureCollection", features: before.features.filter(function (f) {
        return removed.has(f.properties.label);
      }) }, { interactive: false, style: { color: "#e12d39", weight: 2, dashArray: "6 4", fill: false } }).addTo(map);
    }
    const layer = L.geoJSON(grids, {
      style: function (f) {
        const g = state.byLabel[f.properties.label] || {};
        return { color: "#102a43", weight: 1.2, fillColor: COLOURS[g.status] || "#bcccdc", fillOpacity: 0.5 };
      },
      onEachFeature: function (f, l) {
        const p = f.properties;
        state.gridLayers[p.label] = l;
        const c = p.planned_code;
        const where = p.label_point ? L.latLng(p.label_point[1], p.label_point[0]) : l.getBounds().getCenter();
        L.tooltip({ permanent: true, direction: "center", className: "area-label", interactive: false })
          .setLatLng(where).setContent("<span translate='no'>" + escapeHtml(c ? c.slice(-3) : "—") + "</span>" +
                                      (p.name ? "<br>" + escapeHtml(p.name) : "") + "<br>" + fmt(p.households) + " " +
                                      escapeHtml(T.rv_hh)).addTo(map);
        l.on("click", function (e) {
          if (state.pinning) { pinPoint(e.latlng); return; }
          selectGrid(p.label);
        });
      }
    }).addTo(map);
    L.geoJSON(diff.changed_areas, { interactive: false,
                                    style: { color: "#9446ed", weight: 1, fillColor: "#9446ed", fillOpacity: 0.55 }
    }).addTo(map);
    map.fitBounds(layer.getBounds());
  }

  function drawSummary(diff) {
    el("against-label").textContent = diff.against ? (T.version + " " + diff.against.version + " · " +
      (T["status_" + diff.against.status] || diff.against.status)) : T.rv_against_none;
    const s = diff.summary;
    const rows = [[T.rv_added, s.grids_added], [T.rv_changed, s.grids_changed], [T.rv_attributes, s.grids_attributes],
                  [T.rv_unchanged, s.grids_unchanged], [T.rv_removed, s.grids_removed]];
    if (diff.against) {
      rows.push([diff.method === "atoms" ? T.rv_atoms_moved : T.rv_buildings_moved,
                 diff.method === "atoms" ? s.atoms_moved : s.buildings_moved]);
      rows.push([T.rv_households_moved, s.households_moved]);
    }
    el("diff-summary").innerHTML = rows.map(function (r) {
      return "<dt>" + escapeHtml(r[0]) + "</dt><dd>" + fmt(r[1]) + "</dd>";
    }).join("");
  }

  function changesHtml(g) {
    return g.changes.map(function (c) {
      const show = function (v) {
        if (!v) { return T.rv_unnamed; }
        return c.field === "type" ? (T["rv_grid_type_" + v] || v) : v;
      };
      return "<div class='change'>" + escapeHtml(T["rv_field_" + c.field] || c.field) + "：" +
        escapeHtml(show(c.before)) + " → " + escapeHtml(show(c.after)) + "</div>";
    }).join("");
  }

  function drawTable(diff, checks) {
    const byLabel = {};
    checks.grids.forEach(function (g) { byLabel[g.label] = g; });
    const tbody = el("grid-table").querySelector("tbody");
    tbody.innerHTML = "";
    const select = el("comment-grid");
    diff.grids.forEach(function (g) {
      const c = byLabel[g.label] || {};
      const tr = document.createElement("tr");
      tr.dataset.label = g.label;
      tr.dataset.code = code(g) || "";
      tr.dataset.status = g.status;
      const inBand = c.in_band == null ? "—" : (c.in_band ? T.rv_yes : T.rv_no);
      tr.innerHTML = "<td>" + codeHtml(code(g)) + (g.name ? "<div>" + escapeHtml(g.name) + "</div>" : "") +
        "</td><td><span class='swatch " + g.status + "'></span>" + escapeHtml(T["rv_" + g.status]) +
        changesHtml(g) + "</td><td class='num'>" + (g.households_before == null ? "—" : fmt(g.households_before)) +
        "</td><td class='num'>" + fmt(g.households_after) + "</td><td class='" + (c.in_band === false ? "bad" : "") +
        "'>" + inBand + "</td><td class='" + (c.contiguous === false ? "bad" : "") + "'>" +
        (c.contiguous === false ? T.rv_no : T.rv_yes) + "</td>";
      tr.addEventListener("click", function () { selectGrid(g.label, true); });
      tbody.appendChild(tr);
      const option = document.createElement("option");
      option.value = g.label;
      option.textContent = shortTitle(g);
      select.appendChild(option);
    });
  }

  // Staffing warnings (no chief, no full-time member, a new grid to staff): the reviewer sees what the
  // township still has to staff, as the editor's live checks say it.
  function drawStaffing(checks) {
    const list = el("staffing-warnings");
    const staffing = (checks.problems || []).filter(function (p) { return String(p.code).indexOf("staffing") === 0; });
    list.innerHTML = staffing.map(function (p) {
      return "<li>" + escapeHtml(T.rv_staffing_warning) + "：" + escapeHtml(p.message) + "</li>";
    }).join("");
    list.hidden = !staffing.length;
  }

  function selectGrid(label, zoom) {
    el("comment-grid").value = String(label);
    document.querySelectorAll("#grid-table tr.selected").forEach(function (tr) { tr.classList.remove("selected"); });
    const row = document.querySelector("#grid-table tr[data-label='" + label + "']");
    if (row) { row.classList.add("selected"); }
    const layer = state.gridLayers[label];
    if (layer && zoom) { map.fitBounds(layer.getBounds(), { maxZoom: 17 }); }
  }

  // -- reasons for grids out of the band --------------------------------------------------------------
  function drawReasons(body) {
    const list = body.exemptions;
    el("reasons-section").hidden = !list.length;
    const ul = el("reasons");
    ul.innerHTML = "";
    list.forEach(function (e) {
      const li = document.createElement("li");
      li.dataset.exemption = e.id;
      li.dataset.status = e.status;
      const canDecide = R.canReview && R.status === "submitted";
      li.innerHTML = "<div>" + escapeHtml(T.grid) + " " + codeHtml(e.grid_code) + " · " + fmt(e.households) + " " +
        escapeHtml(T.rv_hh) + " · <b class='reason-status'>" + escapeHtml(T["rv_reason_status_" + e.status]) +
        "</b></div><p class='reason-text'>" + escapeHtml(e.reason) + "</p><div class='meta'>" +
        escapeHtml(T.rv_reason_by) + "：" + escapeHtml(e.author_name || e.author || "") + "</div><div class='meta'>" +
        escapeHtml(T.rv_reason_proof) + "：" + escapeHtml(e.proof_text) + "</div>" +
        (e.review_note ? "<div class='meta'>" + escapeHtml(e.review_note) + "</div>" : "") +
        (canDecide ? "<div class='row'><input class='reason-note' maxlength='2000' placeholder='" +
          escapeHtml(T.rv_reason_note) + "'><button type='button' class='reason-accept primary'>" +
          escapeHtml(T.rv_reason_accept) + "</button><button type='button' class='reason-return danger'>" +
          escapeHtml(T.rv_reason_return) + "</button></div>" : "");
      ul.appendChild(li);
      if (!canDecide) { return; }
      const decide = function (decision) {
        request("PATCH", API + "/exemptions/" + e.id, { decision: decision,
                                                         note: li.querySelector(".reason-note").value })
          .then(function () { return loadReasons(); })
          .then(function () { setStatus(""); })
          .catch(function (err) { setStatus(err.message, true); });
      };
      li.querySelector(".reason-accept").addEventListener("click", function () { decide("accepted"); });
      li.querySelector(".reason-return").addEventListener("click", function () { decide("returned"); });
    });
  }

  function loadReasons() { return request("GET", API + "/exemptions").then(drawReasons); }

  // -- comments -------------------------------------------------------------------------------------
  function pinPoint(latlng) {
    state.pinning = false;
    el("map").classList.remove("picking");
    el("comment-pin").classList.remove("active");
    state.point = [Number(latlng.lng.toFixed(7)), Number(latlng.lat.toFixed(7))];
    if (state.pointMarker) { map.removeLayer(state.pointMarker); }
    state.pointMarker = L.circleMarker(latlng, { radius: 7, color: "#2f80ed", fillOpacity: 0.8 }).addTo(map);
    el("comment-point").textContent = T.rv_comment_point_set + ": " + state.point[0] + ", " + state.point[1];
    el("comment-point").dataset.set = "true";
  }

  function drawComments(list) {
    const ul = el("comments");
    ul.innerHTML = "";
    commentLayer.clearLayers();
    if (!list.length) { ul.innerHTML = "<li class='empty'>" + escapeHtml(T.rv_no_comments) + "</li>"; return; }
    list.forEach(function (c, i) {
      const li = document.createElement("li");
      li.className = c.resolved ? "resolved" : "";
      li.dataset.comment = c.id;
      if (c.grid_id != null) { li.dataset.gridId = c.grid_id; li.dataset.gridCode = c.grid_code || ""; }
      const where = c.grid_id != null ? escapeHtml(T.grid) + " " + codeHtml(c.grid_code) +
        (c.grid_name ? " " + escapeHtml(c.grid_name) : "") : "";
      li.innerHTML = "<b>" + (i + 1) + ".</b> " + escapeHtml(c.text) + "<div class='meta'>" +
        escapeHtml(c.author_name || c.author || "") + " · " + escapeHtml(c.created_at.slice(0, 16).replace("T", " ")) +
        (c.division_id !== R.division ? " · " + escapeHtml(T.version) + " " + c.version : "") +
        (where ? " · <span class='comment-grid'>" + where + "</span>" : "") + (c.point ? " ⊙" : "") +
        (c.resolved ? " · " + escapeHtml(T.rv_resolved) : "") + "</div>";
      ul.appendChild(li);
      if (c.point) {
        L.marker([c.point[1], c.point[0]], { icon: L.divIcon({ className: "comment-pin", html: String(i + 1),
                                                              iconSize: [18, 18] }) })
          .bindTooltip(escapeHtml(c.text)).addTo(commentLayer);
      }
    });
  }

  function loadComments() {
    return request("GET", API + "/comments").then(function (body) { drawComments(body.comments); });
  }

  function loadHistory() {
    return request("GET", API + "/transitions").then(function (body) {
      el("history").innerHTML = body.transitions.map(function (t) {
        return "<li>" + escapeHtml(t.at.slice(0, 16).replace("T", " ")) + " · " + escapeHtml(t.display_name || t.username || "") + " · " +
          escapeHtml(T["status_" + t.from_status] || t.from_status || "") + " → " +
          escapeHtml(T["status_" + t.to_status] || t.to_status) + (t.reason ? ": " + escapeHtml(t.reason) : "") + "</li>";
      }).join("");
    });
  }

  el("comment-pin").addEventListener("click", function () {
    state.pinning = !state.pinning;
    el("map").classList.toggle("picking", state.pinning);
    el("comment-pin").classList.toggle("active", state.pinning);
    if (state.pinning) { setStatus(T.rv_comment_click_map); }
  });
  map.on("click", function (e) { if (state.pinning) { pinPoint(e.latlng); } });

  el("comment-form").addEventListener("submit", function (e) {
    e.preventDefault();
    const body = { text: el("comment-text").value };
    if (el("comment-grid").value !== "") { body.grid = Number(el("comment-grid").value); }
    if (state.point) { body.point = state.point; }
    request("POST", API + "/comments", body).then(function () {
      el("comment-text").value = "";
      state.point = null;
      el("comment-point").textContent = "";
      delete el("comment-point").dataset.set;
      if (state.pointMarker) { map.removeLayer(state.pointMarker); state.pointMarker = null; }
      return loadComments();
    }).then(function () { setStatus(""); }).catch(function (err) { setStatus(err.message, true); });
  });

  // -- the decision ---------------------------------------------------------------------------------
  function decided(answer, message) {
    const s = answer.division.status;
    el("division-status").textContent = T["status_" + s] || s;
    el("division-status").dataset.status = s;
    el("decision").hidden = true;
    el("comment-form").hidden = true;
    el("packet").hidden = s !== "approved";
    setStatus(message);
    document.body.dataset.decided = s;
    R.status = s;
    return Promise.all([loadHistory(), loadComments(), loadReasons()]);
  }

  // The codes the reviewer sees are sent with the approval: filing refuses if it would give any other.
  function seenCodes() {
    const codes = {};
    state.diff.grids.forEach(function (g) { if (g.planned_code) { codes[g.label] = g.planned_code; } });
    return codes;
  }

  el("effective-from").value = new Date().toISOString().slice(0, 10);
  el("approve-form").addEventListener("submit", function (e) {
    e.preventDefault();
    request("POST", API + "/approve", { effective_from: el("effective-from").value, note: el("approve-note").value,
                                        codes: seenCodes() })
      .then(function (answer) { return decided(answer, T.rv_approved_done); })
      .catch(function (err) { setStatus(err.message, true); });
  });
  el("return-form").addEventListener("submit", function (e) {
    e.preventDefault();
    request("POST", API + "/return", { reason: el("return-reason").value })
      .then(function (answer) { return decided(answer, T.rv_returned_done); })
      .catch(function (err) { setStatus(err.message, true); });
  });

  // -- load -----------------------------------------------------------------------------------------
  const diffUrl = API + "/diff" + (R.against ? "?against=" + R.against : "");
  Promise.all([
    request("GET", API + "/grids"),
    R.against ? request("GET", "/api/v1/divisions/" + R.against + "/grids") : Promise.resolve(null),
    request("GET", diffUrl),
    request("GET", API)
  ]).then(function (answers) {
    state.diff = answers[2];
    state.diff.grids.forEach(function (g) { state.byLabel[g.label] = g; });
    drawDiff(answers[0], answers[1], answers[2]);
    drawSummary(answers[2]);
    drawTable(answers[2], answers[3].checks);
    drawStaffing(answers[3].checks);
    const submitted = R.status === "submitted";
    el("decision").hidden = !(R.canReview && submitted);
    el("comment-form").hidden = !(R.canComment && R.status !== "approved");
    return Promise.all([loadComments(), loadHistory(), loadReasons()]);
  }).then(function () {
    setStatus("");
    document.body.dataset.ready = "true";
  }).catch(function (err) { setStatus(T.load_failed + ": " + err.message, true); });
}());
