// Community editor: atoms coloured by grid, grid outlines and labels, editing tools, live checks.
// Every edit is one POST to /api/v1/divisions/{id}/edits carrying the revision this page last saw; the
// server applies it to the atom assignment (so no gap or overlap can arise), stores a new revision and
// answers the live checks. A stale revision gets 409 and nothing changes: the page offers a reload.
(function () {
  "use strict";
  const config = wangge.config();
  const T = config.strings;
  const E = config.editor;
  const API = "/api/v1/divisions/" + E.division;
  const PALETTE = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                   "#9c755f", "#86bcb6", "#d4a6c8", "#8cd17d"];

  // Undo and redo walk the revisions stored on the server (op "undo"/"redo"): the server answers how
  // many steps each way remain, so the history survives a reload and is the same in every tab.
  const state = { division: null, revision: null, grids: {}, checks: null, current: null, tool: "select",
                  undo: { available: 0 }, redo: { available: 0 }, atoms: null, gridFc: null, editable: false,
                  busy: false };
  const el = function (id) { return document.getElementById(id); };
  const statusEl = el("status");

  const map = wangge.map("map");
  map.pm.setLang(config.lang === "zh" ? "zh" : "en");
  map.pm.setGlobalOptions({ snappable: true, snapDistance: 15 });

  // -- helpers ------------------------------------------------------------------------------------
  const request = wangge.request;
  const getJSON = wangge.getJSON;
  const escapeHtml = wangge.escapeHtml;
  function fmt(n) { return wangge.fmt(n || 0, config.lang); }
  // Neighbouring grids never share a colour: the server colours the grid adjacency greedily.
  function colour(label) {
    const g = state.grids[String(label)];
    const i = g && g.colour != null ? g.colour : label;
    return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length];
  }
  // The one text naming a grid on the map, in the table and in messages: the server's `display`
  // (its name, or the code it shows), so the words of a message and of the map always agree.
  function gridName(label) {
    const g = state.grids[String(label)] || {};
    const shown = config.lang === "en" ? (g.display_en || g.display) : g.display;
    return (shown || "") + (g.locked ? " · " + T.locked : "");
  }
  // API messages are "中文 / English": show the page's language only, once.
  function say(message) {
    const text = String(message || "");
    const cut = text.indexOf(" / ");
    if (cut < 0) { return text; }
    return config.lang === "en" ? text.slice(cut + 3) : text.slice(0, cut);
  }
  function setStatus(text, isError) {
    statusEl.textContent = text;
    statusEl.className = "status" + (isError ? " error" : "");
  }
  function showBanner(text, reload) {
    el("banner").hidden = false;
    el("banner").className = "banner error";
    el("banner-text").textContent = text;
    el("banner-reload").hidden = !reload;
  }
  function hideBanner() { el("banner").hidden = true; }

  // -- layers -------------------------------------------------------------------------------------
  let atomLayer = null;
  let gridLayer = null;
  let microLayer = null;
  let buildingLayer = null;
  let reshapeLayer = null;
  const barrierLayer = L.layerGroup().addTo(map);

  function drawAtoms() {
    if (atomLayer) { map.removeLayer(atomLayer); }
    atomLayer = L.geoJSON(state.atoms, {
      pmIgnore: true,
      style: function (f) {
        const current = f.properties.grid === state.current;
        return { color: "#ffffff", weight: 0.6, fillColor: colour(f.properties.grid),
                 fillOpacity: current ? 0.65 : 0.4 };
      },
      onEachFeature: function (f, layer) {
        layer.on("click", function () { onAtomClick(f.properties); });
        layer.on("mousedown", function () { if (state.tool === "brush") { startBrush(f.properties); } });
        layer.on("mouseover", function () { if (brush) { brush[f.properties.atom] = f.properties; } });
      }
    }).addTo(map);
  }

  // Brush: press on an atom and sweep; every atom passed over goes into the current grid, in one edit
  // when the button is released (so a stroke is one undo step).
  let brush = null;
  function startBrush(p) {
    if (!state.editable || !needCurrent()) { return; }
    brush = {};
    brush[p.atom] = p;
    map.dragging.disable();
  }
  function endBrush() {
    if (!brush) { return; }
    const atoms = Object.keys(brush).map(Number).filter(function (a) { return brush[a].grid !== state.current; });
    brush = null;
    map.dragging.enable();
    if (atoms.length) { edit({ op: "paint", atoms: atoms, grid: state.current }); }
  }
  map.on("mouseup", endBrush);
  document.addEventListener("mouseup", endBrush);

  function drawGrids() {
    if (gridLayer) { map.removeLayer(gridLayer); }
    gridLayer = L.geoJSON(state.gridFc, {
      pmIgnore: true, interactive: false,
      style: function (f) {
        const current = f.properties.label === state.current;
        return { color: current ? "#0b3d91" : "#102a43", weight: current ? 4 : 2, fill: false,
                 dashArray: f.properties.locked ? "6 4" : null };
      },
      onEachFeature: function (f, layer) {
        layer.bindTooltip("<span translate=\"no\">" + escapeHtml(gridName(f.properties.label)) + "</span><br>" +
                          fmt(f.properties.households) + " " + (config.lang === "en" ? "hh" : "户"),
                          { permanent: true, direction: "center", className: "grid-label" });
      }
    }).addTo(map);
    window.requestAnimationFrame(hideCollidingLabels);
  }

  // Labels never overlap: larger grids keep theirs; a label that would cover one already placed is
  // hidden until zooming in makes room (as map UIs do), and the current grid's label always shows.
  function hideCollidingLabels() {
    if (!gridLayer) { return; }
    const placed = [];
    const layers = gridLayer.getLayers().slice().sort(function (a, b) {
      const ca = a.feature.properties.label === state.current, cb = b.feature.properties.label === state.current;
      if (ca !== cb) { return ca ? -1 : 1; }
      return (b.feature.properties.households || 0) - (a.feature.properties.households || 0);
    });
    layers.forEach(function (layer) {
      const tip = layer.getTooltip();
      const node = tip && tip.getElement();
      if (!node) { return; }
      node.style.visibility = "";
      const r = node.getBoundingClientRect();
      const hit = placed.some(function (p) {
        return r.left < p.right && r.right > p.left && r.top < p.bottom && r.bottom > p.top;
      });
      if (hit) { node.style.visibility = "hidden"; } else { placed.push(r); }
    });
  }
  // After Leaflet has moved the tooltips to their new places (their own handlers run after ours).
  map.on("zoomend moveend", function () { window.requestAnimationFrame(hideCollidingLabels); });

  function drawBarriers(bounds) {
    const b = bounds.pad(0.05);
    getJSON("/api/v1/barriers?bbox=" + [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].join(","))
      .then(function (fc) {
        barrierLayer.clearLayers();
        L.geoJSON(fc, { pmIgnore: true, interactive: false, style: function (f) {
          return f.properties.kind === "river" ? { color: "#2f80ed", weight: 4, opacity: 0.7 }
                                               : { color: "#52606d", weight: 1.5, opacity: 0.8 };
        } }).addTo(barrierLayer);
      })
      .catch(function () { /* barriers are context only */ });
  }

  // -- panel ----------------------------------------------------------------------------------------
  function renderPanel() {
    const d = state.division;
    el("division-label").textContent = "· " + T.version + " " + d.version + " · " + (T["status_" + d.status] || d.status) +
      " · " + T.revision + " " + d.revision;
    el("current-grid").textContent = state.current == null ? T.none_selected : gridName(state.current);
    el("undo").disabled = !state.editable || !state.undo.available;
    el("redo").disabled = !state.editable || !state.redo.available;
    el("lock").disabled = !state.editable || state.current == null;
    const g = state.current == null ? null : state.grids[String(state.current)];
    el("lock").textContent = g && g.locked ? T.unlock : T.lock;
    el("attributes").hidden = !state.editable || !g;
    if (g) {
      el("attr-name").value = g.name || "";
      el("attr-type").value = g.type || "comprehensive";
      el("attr-subtype").value = g.subtype || "";
    }
    // grid table
    const tbody = el("grid-table").querySelector("tbody");
    tbody.innerHTML = "";
    state.checks.grids.forEach(function (row) {
      const tr = document.createElement("tr");
      tr.dataset.grid = row.label;
      if (row.label === state.current) { tr.className = "current"; }
      const pp = row.polsby_popper == null ? "–" : row.polsby_popper.toFixed(2);
      const bs = row.barrier_share == null ? "–" : Math.round(row.barrier_share * 100) + "%";
      tr.innerHTML = "<td><span class='swatch' style='background:" + colour(row.label) + "'></span>" +
        escapeHtml(gridName(row.label)) + "</td><td class='num " + escapeHtml(row.status) + "'>" + fmt(row.households) +
        "</td><td>" + (row.contiguous ? "✓" : "✗") + "</td><td class='num'>" + pp + "</td><td class='num'>" + bs + "</td>";
      tr.addEventListener("click", function () { setCurrent(row.label, true); });
      tbody.appendChild(tr);
    });
    // problems
    const list = el("problems");
    list.innerHTML = "";
    if (state.checks.ok) {
      const li = document.createElement("li");
      li.id = "checks-ok";
      li.textContent = T.checks_ok;
      list.appendChild(li);
    }
    state.checks.problems.forEach(function (p) {
      const li = document.createElement("li");
      li.className = p.severity;
      li.dataset.code = p.code;
      li.textContent = "[" + (T["severity_" + p.severity] || p.severity) + "] " +
        (p.grid == null ? "" : gridName(p.grid) + ": ") + problemText(p);
      li.addEventListener("click", function () {
        if (p.bbox) { map.fitBounds([[p.bbox[1], p.bbox[0]], [p.bbox[3], p.bbox[2]]], { maxZoom: 18 }); }
        if (p.grid != null) { setCurrent(p.grid, false); }
      });
      list.appendChild(li);
    });
    document.body.dataset.revision = String(d.revision);
  }

  // The server's message is English and names internal labels; the panel says it in the page's
  // language from the problem's code and the grid's figures (the full message stays in the tooltip).
  function problemText(p) {
    const template = T["problem_" + p.code];
    if (!template) { return say(p.message); }
    const row = state.checks.grids.find(function (g) { return g.label === p.grid; }) || {};
    const band = state.division.band;
    return template.replace("{h}", fmt(row.households)).replace("{min}", band.min).replace("{max}", band.max)
      .replace("{pp}", row.polsby_popper == null ? "–" : row.polsby_popper.toFixed(2))
      .replace("{bs}", row.barrier_share == null ? "–" : Math.round(row.barrier_share * 100) + "%");
  }

  function setCurrent(label, zoom) {
    state.current = label;
    drawAtoms();
    drawGrids();
    renderPanel();
    if (state.tool === "reshape") { startReshape(); }
    if (zoom) {
      const row = state.checks.grids.find(function (g) { return g.label === label; });
      if (row && row.bbox) { map.fitBounds([[row.bbox[1], row.bbox[0]], [row.bbox[3], row.bbox[2]]], { maxZoom: 18 }); }
    }
  }

  // -- loading --------------------------------------------------------------------------------------
  function applyDivision(answer) {
    if (answer.undo) { state.undo = answer.undo; state.redo = answer.redo; }
    state.division = answer.division;
    state.revision = answer.division.revision;
    state.grids = answer.division.grids;
    state.checks = answer.checks;
    state.editable = E.canEdit && answer.division.status === "draft";
    if (state.current != null && !state.grids[String(state.current)]) { state.current = null; }
  }

  function reloadLayers() {
    return Promise.all([getJSON(API + "/atoms"), getJSON(API + "/grids")]).then(function (res) {
      state.atoms = res[0];
      state.gridFc = res[1];
      drawAtoms();
      drawGrids();
      if (microLayer) { toggleMicro(true); }
      renderPanel();
    });
  }

  function load(first) {
    return getJSON(API).then(function (answer) {
      applyDivision(answer);
      el("edit-tools").hidden = !state.editable;
      el("import-section").hidden = !state.editable;
      el("read-only").hidden = state.editable || !E.canEdit;
      return reloadLayers();
    }).then(function () {
      if (first) {
        const bounds = atomLayer.getBounds();
        map.fitBounds(bounds);
        drawBarriers(bounds);
      }
      setStatus(T.saved + " · " + T.revision + " " + state.revision);
      document.body.dataset.ready = "true";
    }).catch(function (err) { setStatus(T.load_failed + "：" + say(err.message), true); });
  }

  // -- editing ----------------------------------------------------------------------------------------
  function edit(body, options) {
    if (state.busy) { return Promise.resolve(); }
    options = options || {};
    state.busy = true;
    body.revision = state.revision;
    setStatus(T.loading);
    return request("POST", API + "/edits", body).then(function (answer) {
      hideBanner();
      applyDivision(answer);
      if (answer.change && answer.change.created && answer.change.created.length && options.selectCreated) {
        state.current = answer.change.created[0];
      }
      const said = say(answer.change.description);
      if (answer.change.stored === false) {  // nothing changed: no revision, nothing to redraw
        renderPanel();
        setStatus(said);
        return;
      }
      return reloadLayers().then(function () {
        setStatus(T.saved + " · " + T.revision + " " + state.revision + " · " + said);
      });
    }).catch(function (err) {
      // The banner says it; the status line only says that the edit was not saved (said once).
      showBanner(say(err.message), err.status === 409);
      setStatus(T.not_saved, true);
      renderPanel();
    }).finally(function () { state.busy = false; document.body.dataset.revision = String(state.revision); });
  }

  function needCurrent() {
    if (state.current == null) { showBanner(T.hint_select, false); return false; }
    return true;
  }

  function onAtomClick(p) {
    // While a line or polygon is being drawn, clicks place its vertices; they must not change the grid.
    if (["split", "lasso", "new", "reshape"].indexOf(state.tool) >= 0) { return; }
    if (state.tool === "brush") { return; }  // the stroke is sent on mouseup
    if (!state.editable || state.tool === "select" || state.current == null) { setCurrent(p.grid, false); return; }
    if (state.tool === "paint" && p.grid !== state.current) {
      edit({ op: "paint", atoms: [p.atom], grid: state.current });
    } else if (state.tool === "merge" && p.grid !== state.current) {
      edit({ op: "merge", a: state.current, b: p.grid });
    } else if (state.tool === "delete" && p.grid !== state.current) {
      const target = p.grid;
      edit({ op: "delete_grid", grid: state.current, into: target }).then(function () { setCurrent(target, false); });
    } else {
      setCurrent(p.grid, false);
    }
  }

  function pointInRing(x, y, ring) {
    let inside = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if (((yi > y) !== (yj > y)) && (x < (xj - xi) * (y - yi) / (yj - yi) + xi)) { inside = !inside; }
    }
    return inside;
  }
  function atomsInside(polygon) {
    const ring = polygon.coordinates[0];
    return state.atoms.features.filter(function (f) {
      return pointInRing(f.properties.px, f.properties.py, ring);
    }).map(function (f) { return f.properties; });
  }

  map.on("pm:create", function (e) {
    const geometry = e.layer.toGeoJSON().geometry;
    map.removeLayer(e.layer);
    if (state.tool === "split") {
      if (needCurrent()) { edit({ op: "split", grid: state.current, line: geometry }, { selectCreated: false }); }
    } else if (state.tool === "lasso") {
      if (!needCurrent()) { return; }
      const atoms = atomsInside(geometry).filter(function (p) { return p.grid !== state.current; })
        .map(function (p) { return p.atom; });
      if (atoms.length) { edit({ op: "paint", atoms: atoms, grid: state.current }); }
    } else if (state.tool === "new") {
      const atoms = atomsInside(geometry).map(function (p) { return p.atom; });
      if (atoms.length) { edit({ op: "new_grid", atoms: atoms }, { selectCreated: true }); }
    }
    // keep drawing with the same tool
    if (["split", "lasso", "new"].indexOf(state.tool) >= 0) { startDraw(); }
  });

  function stopTools() {
    map.pm.disableDraw();
    map.doubleClickZoom.enable();
    if (reshapeLayer) { map.removeLayer(reshapeLayer); reshapeLayer = null; }
  }
  function startDraw() {
    const shape = state.tool === "split" ? "Line" : "Polygon";
    // The double-click that finishes a line must not also zoom the map.
    if (state.tool === "split") { map.doubleClickZoom.disable(); }
    map.pm.enableDraw(shape, { finishOn: state.tool === "split" ? "dblclick" : null, snappable: false,
                               templineStyle: { color: "#b42318" }, hintlineStyle: { color: "#b42318", dashArray: "5 5" } });
  }
  function startReshape() {
    if (reshapeLayer) { map.removeLayer(reshapeLayer); reshapeLayer = null; }
    if (state.current == null) { return; }
    const feature = state.gridFc.features.find(function (f) { return f.properties.label === state.current; });
    if (!feature) { return; }
    const geometry = feature.geometry.type === "MultiPolygon" && feature.geometry.coordinates.length === 1
      ? { type: "Polygon", coordinates: feature.geometry.coordinates[0] } : feature.geometry;
    reshapeLayer = L.geoJSON(geometry, { style: { color: "#0b3d91", weight: 3, fillOpacity: 0.05 } })
      .getLayers()[0];
    reshapeLayer.addTo(map);
    reshapeLayer.pm.enable({ allowSelfIntersection: false, draggable: false, removeVertexOn: "contextmenu" });
    window.wanggeEditor.reshapeLayer = reshapeLayer;
    reshapeLayer.on("pm:markerdragend", function () {
      const shape = reshapeLayer.toGeoJSON().geometry;
      edit({ op: "reshape", grid: state.current, shape: shape }).then(function () {
        if (state.tool === "reshape") { startReshape(); }
      });
    });
  }

  function setTool(tool) {
    stopTools();
    state.tool = tool;
    document.querySelectorAll(".tool").forEach(function (b) { b.classList.toggle("active", b.dataset.tool === tool); });
    el("hint").textContent = T["hint_" + tool] || "";
    if (["split", "lasso", "new"].indexOf(tool) >= 0) { startDraw(); }
    if (tool === "reshape") { startReshape(); }
    document.body.dataset.tool = tool;
  }
  document.querySelectorAll(".tool").forEach(function (b) {
    b.addEventListener("click", function () { setTool(b.dataset.tool); });
  });

  function undo() { if (state.editable && state.undo.available) { edit({ op: "undo" }); } }
  function redo() { if (state.editable && state.redo.available) { edit({ op: "redo" }); } }
  el("undo").addEventListener("click", undo);
  el("redo").addEventListener("click", redo);
  // Ctrl+Z undoes, Ctrl+Shift+Z or Ctrl+Y redoes, Esc cancels the tool in use (not while typing).
  document.addEventListener("keydown", function (event) {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(event.target.tagName);
    const key = (event.key || "").toLowerCase();
    if (event.key === "Escape") {
      if (state.tool !== "select") { setTool("select"); }
      return;
    }
    if (typing || !(event.ctrlKey || event.metaKey)) { return; }
    if (key === "z" && !event.shiftKey) { event.preventDefault(); undo(); }
    else if ((key === "z" && event.shiftKey) || key === "y") { event.preventDefault(); redo(); }
  });
  el("lock").addEventListener("click", function () {
    if (!needCurrent()) { return; }
    const g = state.grids[String(state.current)];
    edit({ op: "set_grid", grid: state.current, locked: !g.locked });
  });
  el("auto-divide").addEventListener("click", function () { edit({ op: "auto_divide" }); });
  el("rebalance").addEventListener("click", function () { edit({ op: "rebalance" }); });
  el("rebuild-micro").addEventListener("click", function () {
    request("POST", API + "/micro-grids", {}).then(function (answer) {
      setStatus(T.rebuild_micro + "：" + answer.micro_grids_made);
      if (microLayer) { toggleMicro(true); }
    }).catch(function (err) { showBanner(say(err.message), err.status === 409); });
  });
  el("attributes").addEventListener("submit", function (event) {
    event.preventDefault();
    if (!needCurrent()) { return; }
    edit({ op: "set_grid", grid: state.current, name: el("attr-name").value || null, type: el("attr-type").value,
           subtype: el("attr-subtype").value || null });
  });
  el("banner-reload").addEventListener("click", function () {
    hideBanner();
    load(false);
  });
  el("new-draft").addEventListener("click", function () {
    request("POST", "/api/v1/communities/" + E.community.code + "/divisions", { from: E.division })
      .then(function (answer) { window.location.search = "?division=" + answer.division.id; })
      .catch(function (err) { showBanner(say(err.message), false); });
  });

  function toggleMicro(on) {
    if (microLayer) { map.removeLayer(microLayer); microLayer = null; }
    if (!on) { return; }
    getJSON(API + "/micro-grids").then(function (fc) {
      microLayer = L.geoJSON(fc, { pmIgnore: true, interactive: false,
                                   style: { color: "#7c2d12", weight: 1, dashArray: "3 3", fill: false } }).addTo(map);
    });
  }
  el("toggle-micro").addEventListener("change", function (e) { toggleMicro(e.target.checked); });
  el("toggle-buildings").addEventListener("change", function (e) {
    if (buildingLayer) { map.removeLayer(buildingLayer); buildingLayer = null; }
    if (!e.target.checked) { return; }
    getJSON("/api/v1/buildings?community=" + E.community.code).then(function (fc) {
      buildingLayer = L.geoJSON(fc, { pmIgnore: true, interactive: false,
                                      style: { color: "#3e4c59", weight: 0.5, fillColor: "#9aa5b1", fillOpacity: 0.6 } })
        .addTo(map);
    });
  });

  el("import-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const file = el("import-file").files[0];
    if (!file) { showBanner(T.import_drawing, false); return; }
    const form = new FormData();
    form.append("file", file);
    form.append("revision", String(state.revision));
    if (el("import-key").value) { form.append("key", el("import-key").value); }
    request("POST", API + "/import", form, true).then(function (answer) {
      hideBanner();
      applyDivision(answer);
      const r = answer.change.report;
      el("import-report").hidden = false;
      el("import-report").textContent = say(answer.change.description) + "\n" +
        T.import_unmatched + "：" + r.unmatched_atoms.length + "\n" + T.import_empty + "：" + r.empty_grids.length +
        "\n" + T.import_failing + "：" + r.failing_grids.map(gridName).join("、");
      return reloadLayers();
    }).catch(function (err) { showBanner(say(err.message), err.status === 409); });
  });

  window.wanggeEditor = { map: map, state: state, setTool: setTool, setCurrent: setCurrent, reshapeLayer: null,
                          gridName: gridName, say: say };
  setTool("select");
  load(true);
}());
