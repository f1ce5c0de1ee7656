// The grid staff roster (/staff): list, search and filters, add/edit, assign (also by dragging a person onto a
// grid on the map), end a post, import a spreadsheet (row-level errors), export, and the staffing coverage.
(function () {
  "use strict";
  const W = window.wangge;
  const cfg = W.config();
  const T = cfg.strings;
  const S = cfg.staff;
  const $ = function (id) { return document.getElementById(id); };
  const esc = W.escapeHtml;
  const fill = function (s, v) { return s.replace(/\{(\w+)\}/g, function (_, k) { return v[k]; }); };
  let people = [];
  let coverage = { unstaffed: [] };
  let editing = null;

  function toast(text) {
    const el = $("toast");
    el.textContent = text;
    el.classList.add("show");
    setTimeout(function () { el.classList.remove("show"); }, 2500);
  }

  // -- the map of grids -----------------------------------------------------------------------------
  const map = W.map("map");
  W.staffMap = map;  // for scripted use (the journey test, the console): the grid under a point
  const layer = L.geoJSON({ type: "FeatureCollection", features: S.grids.map(function (g) {
    return { type: "Feature", geometry: JSON.parse(g.geometry), properties: { code: g.code, name: g.name } };
  }) }, { onEachFeature: function (f, l) {
    l.bindTooltip('<span translate="no">' + esc(f.properties.name || f.properties.code) + "</span>", { sticky: true });
  } }).addTo(map);
  if (S.grids.length) { map.fitBounds(layer.getBounds(), { padding: [12, 12] }); } else { map.setView([32, 120], 12); }

  function paint() {
    const missing = {};
    coverage.unstaffed.forEach(function (u) { missing[u.code] = true; });
    layer.eachLayer(function (l) {
      const bad = missing[l.feature.properties.code];
      l.setStyle({ color: bad ? "#b42318" : "#16794a", weight: 2, fillColor: bad ? "#f97066" : "#32d583",
                   fillOpacity: 0.3 });
    });
  }

  // Ray casting over the grid's rings: which grid a dropped point falls in.
  function inRing(pt, ring) {
    let inside = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const xi = ring[i][0], yi = ring[i][1], xj = ring[j][0], yj = ring[j][1];
      if ((yi > pt[1]) !== (yj > pt[1]) && pt[0] < (xj - xi) * (pt[1] - yi) / (yj - yi) + xi) { inside = !inside; }
    }
    return inside;
  }
  function gridAt(latlng) {
    const pt = [latlng.lng, latlng.lat];
    let found = null;
    layer.eachLayer(function (l) {
      const g = l.feature.geometry;
      const polys = g.type === "Polygon" ? [g.coordinates] : g.coordinates;
      polys.forEach(function (p) {
        if (inRing(pt, p[0]) && !p.slice(1).some(function (h) { return inRing(pt, h); })) { found = l.feature.properties; }
      });
    });
    return found;
  }

  const box = map.getContainer();
  box.addEventListener("dragover", function (e) { e.preventDefault(); box.classList.add("drop-target"); });
  box.addEventListener("dragleave", function () { box.classList.remove("drop-target"); });
  box.addEventListener("drop", function (e) {
    e.preventDefault();
    box.classList.remove("drop-target");
    const id = Number(e.dataTransfer.getData("text/plain"));
    const grid = gridAt(map.mouseEventToLatLng(e));
    const person = people.find(function (p) { return p.id === id; });
    if (person && grid) { openAssign(person, grid.code); }
  });

  // -- coverage -------------------------------------------------------------------------------------
  function loadCoverage() {
    return W.getJSON("/api/v1/staff/coverage").then(function (c) {
      coverage = c;
      const pct = Math.round(c.share * 1000) / 10;
      let html = '<div>' + esc(T.st_coverage) + ' <span class="share' + (c.share >= 1 ? " full" : "") + '" id="share">' +
        pct + "%</span> · " + esc(T.st_fully_staffed) + " " + c.staffed + " / " + c.grids + "</div>";
      if (c.unstaffed.length) {
        html += "<b>" + esc(T.st_unstaffed) + "</b><ul id=\"unstaffed\">" + c.unstaffed.map(function (u) {
          return '<li><span translate="no">' + esc(u.code) + (u.name ? " " + esc(u.name) : "") + "</span> · " +
            u.kinds.map(function (k) { return esc(T["st_kind_" + k]); }).join("、") + "</li>";
        }).join("") + "</ul>";
      } else { html += "<p>" + esc(T.st_all_staffed) + "</p>"; }
      if (c.overloaded.length) {
        html += "<b>" + esc(T.st_overloaded) + "</b><ul>" + c.overloaded.map(function (f) {
          return "<li>" + esc(f.message) + "</li>"; }).join("") + "</ul>";
      }
      $("coverage").innerHTML = html;
      paint();
    });
  }

  // -- the list -------------------------------------------------------------------------------------
  function postHtml(a) {
    const ended = a.end_date && a.end_date <= new Date().toISOString().slice(0, 10);
    if (ended) { return ""; }
    return '<li><span translate="no">' + esc(a.grid_code) + "</span> " + esc(T["staff_role_" + a.role]) +
      ' <button type="button" data-end="' + a.id + '">' + esc(T.st_end_post) + "</button></li>";
  }
  function personHtml(p) {
    const photo = p.photo ? '<img src="' + esc(p.photo) + '" alt="">'
      : '<span class="no-photo" aria-hidden="true">' + esc(p.name.slice(0, 1)) + "</span>";
    return '<li draggable="true" data-id="' + p.id + '" class="' + (p.end_date ? "left" : "") + '">' + photo +
      '<div class="who"><b>' + esc(p.name) + '</b> <span translate="no">' + esc(p.phone || "") + "</span> · " +
      esc(T["st_emp_" + p.employment]) + (p.end_date ? " · " + esc(T.st_left) : "") +
      '<ul class="posts">' + p.assignments.map(postHtml).join("") + "</ul>" +
      '<div class="row-actions"><button type="button" data-edit="' + p.id + '">' + esc(T.st_edit) + "</button>" +
      '<button type="button" data-assign="' + p.id + '">' + esc(T.st_assign) + "</button></div></div></li>";
  }
  function load() {
    const q = new URLSearchParams();
    if ($("q").value.trim()) { q.set("q", $("q").value.trim()); }
    if ($("role-filter").value) { q.set("role", $("role-filter").value); }
    if ($("grid-filter").value.trim()) { q.set("grid", $("grid-filter").value.trim()); }
    return W.getJSON("/api/v1/staff?" + q.toString()).then(function (r) {
      people = r.people;
      $("count").textContent = fill(T.st_total, { n: r.total });
      $("people").innerHTML = people.length ? people.map(personHtml).join("") : "<li>" + esc(T.st_none) + "</li>";
    });
  }
  function refresh() { return Promise.all([load(), loadCoverage()]); }
  let timer = null;
  ["q", "grid-filter"].forEach(function (id) {
    $(id).addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(load, 250); });
  });
  $("role-filter").addEventListener("change", load);

  $("people").addEventListener("dragstart", function (e) {
    const li = e.target.closest("li[data-id]");
    if (li) { e.dataTransfer.setData("text/plain", li.dataset.id); e.dataTransfer.effectAllowed = "copy"; }
  });
  $("people").addEventListener("click", function (e) {
    const t = e.target;
    const find = function (id) { return people.find(function (p) { return p.id === Number(id); }); };
    if (t.dataset.edit) { openPerson(find(t.dataset.edit)); }
    if (t.dataset.assign) { openAssign(find(t.dataset.assign), ""); }
    if (t.dataset.end) {
      W.request("POST", "/api/v1/staff/assignments/" + t.dataset.end + "/end", {})
        .then(function () { toast(T.st_saved); return refresh(); })
        .catch(function (err) { toast(err.message); });
    }
  });

  // -- dialogs --------------------------------------------------------------------------------------
  document.querySelectorAll("dialog .cancel").forEach(function (b) {
    b.addEventListener("click", function () { b.closest("dialog").close(); });
  });

  function openPerson(p) {
    editing = p || null;
    const f = $("person-form");
    f.reset();
    $("person-error").textContent = "";
    $("photo-name").textContent = "";
    $("person-title").textContent = p ? T.st_edit + " · " + p.name : T.st_add;
    if (p) {
      ["name", "phone", "employment", "duties", "start_date", "end_date", "username"].forEach(function (k) {
        f.elements[k].value = p[k] || "";
      });
      f.elements.publish_contact.checked = p.publish_contact;
    }
    $("person-dialog").showModal();
  }
  function personBody(f) {
    const body = {};
    ["name", "phone", "employment", "duties", "start_date", "end_date", "username"].forEach(function (k) {
      body[k] = f.elements[k].value.trim() || null;
    });
    body.publish_contact = f.elements.publish_contact.checked;
    return body;
  }
  function uploadPhoto(id, f) {
    const file = f.elements.photo.files[0];
    if (!file) { return Promise.resolve(); }
    const form = new FormData();
    form.append("photo", file);
    return W.request("PUT", "/api/v1/staff/" + id + "/photo", form, true);
  }
  function savePerson(merge) {
    const f = $("person-form");
    const body = personBody(f);
    const call = editing ? W.request("PATCH", "/api/v1/staff/" + editing.id, body)
      : W.request("POST", "/api/v1/staff", Object.assign(body, { merge: merge, township_code: S.scope.length === 12 &&
          S.scope.slice(9) === "000" ? S.scope : null }));
    return call.then(function (p) { return uploadPhoto(p.id, f); })
      .then(function () { $("person-dialog").close(); toast(T.st_saved); return refresh(); })
      .catch(function (err) {
        if (err.status === 409 && err.data.error.details && err.data.error.details.merge_with && !editing &&
            window.confirm(err.message.split(" / ")[0] + "\n" + T.st_merge_q)) { return savePerson(true); }
        $("person-error").textContent = err.message.split(" / ")[0];
      });
  }
  $("person-form").addEventListener("submit", function (e) { e.preventDefault(); savePerson(false); });
  $("add").addEventListener("click", function () { openPerson(null); });

  function openAssign(p, code) {
    const f = $("assign-form");
    f.reset();
    f.dataset.id = p.id;
    $("assign-error").textContent = "";
    $("assign-who").textContent = p.name;
    f.elements.code.value = code || "";
    const gap = coverage.unstaffed.find(function (u) { return u.code === code; });
    f.elements.role.value = gap && gap.kinds.indexOf("no_chief") >= 0 ? "grid_chief"
      : (gap && gap.kinds.indexOf("no_full_time") >= 0 ? "full_time" : "part_time");
    $("assign-dialog").showModal();
  }
  $("assign-form").addEventListener("submit", function (e) {
    e.preventDefault();
    const f = e.target;
    W.request("POST", "/api/v1/staff/" + f.dataset.id + "/assignments",
              { code: f.elements.code.value.trim(), role: f.elements.role.value,
                start_date: f.elements.start_date.value || null })
      .then(function () { $("assign-dialog").close(); toast(T.st_saved); return refresh(); })
      .catch(function (err) { $("assign-error").textContent = err.message.split(" / ")[0]; });
  });

  [["import-file", "import-name"], ["photo-file", "photo-name"]].forEach(function (pair) {
    $(pair[0]).addEventListener("change", function () {
      $(pair[1]).textContent = this.files[0] ? this.files[0].name : "";
    });
  });
  $("open-import").addEventListener("click", function () {
    $("import-form").reset();
    $("import-error").textContent = "";
    $("import-errors").innerHTML = "";
    $("import-name").textContent = "";
    $("import-dialog").showModal();
  });
  $("import-form").addEventListener("submit", function (e) {
    e.preventDefault();
    const form = new FormData();
    form.append("file", $("import-file").files[0]);
    W.request("POST", "/api/v1/staff/import", form, true).then(function (r) {
      $("import-dialog").close();
      toast(fill(T.st_imported, { rows: r.rows, people: r.people_added, assignments: r.assignments }));
      return refresh();
    }).catch(function (err) {
      $("import-error").textContent = err.message.split(" / ")[0];
      const errors = (err.data.error && err.data.error.details && err.data.error.details.errors) || [];
      $("import-errors").innerHTML = errors.map(function (x) {
        return "<tr><td>" + esc(fill(T.st_row_col, x)) + "</td><td>" + esc(x.message) + "</td></tr>";
      }).join("");
    });
  });

  refresh().then(function () { document.body.dataset.ready = "true"; });
}());
