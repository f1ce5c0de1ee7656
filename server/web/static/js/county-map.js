// County map: townships, communities (coloured urban/rural), roads and rivers, sites, buildings.
// All data comes from the REST API; base tiles only if the server is configured with some.
(function () {
  "use strict";
  const config = wangge.config();
  const T = config.strings;
  const statusEl = document.getElementById("status");

  const map = wangge.map("map");
  window.wanggeMap = map;  // for scripted use and the browser tests
  const baseLayers = map.baseLayers;
  baseLayers[T.plain_background] = L.layerGroup();

  const palette = { urban: "#3e7cb1", rural: "#6a9f58" };
  const barrierStyle = {
    road: function (cls) { return { color: "#7b8794", weight: { arterial: 5, secondary: 3.5, local: 2, lane: 1 }[cls] || 2 }; },
    river: function () { return { color: "#2f80ed", weight: 6, opacity: 0.8 }; },
    rail: function () { return { color: "#3e4c59", weight: 2, dashArray: "6 4" }; },
    wall: function () { return { color: "#9a6b3f", weight: 1, dashArray: "2 2" }; }
  };

  const getJSON = wangge.getJSON;
  const escapeHtml = wangge.escapeHtml;
  function fmt(n) { return wangge.fmt(n || 0, config.lang); }

  const layers = {};
  function communityLayer(fc) {
    return L.geoJSON(fc, {
      style: function (f) {
        return { color: "#102a43", weight: 1.5, fillColor: palette[f.properties.kind] || "#999", fillOpacity: 0.18 };
      },
      onEachFeature: function (f, layer) {
        const p = f.properties;
        layer.bindTooltip(escapeHtml(p.name), { permanent: true, direction: "center", className: "area-label" });
        layer.bindPopup("<b>" + escapeHtml(p.name) + "</b><br>" + T.code + ": " + escapeHtml(p.code) + "<br>" +
          (T[p.kind] || "") + "<br>" + T.households + ": " + fmt(p.households) + "<br>" + T.buildings + ": " +
          fmt(p.buildings));
      }
    });
  }
  function fillTable(fc) {
    const table = document.getElementById("community-table");
    const tbody = table.querySelector("tbody");
    let total = 0;
    fc.features.forEach(function (f) {
      const p = f.properties;
      total += p.households;
      const tr = document.createElement("tr");
      tr.dataset.code = p.code;
      tr.innerHTML = '<td><span class="swatch" style="background:' + (palette[p.kind] || "#999") + '"></span>' +
        escapeHtml(p.name) + "</td><td class=\"num\">" + fmt(p.households) + "</td>";
      tr.addEventListener("click", function () { map.fitBounds(L.geoJSON(f).getBounds()); });
      tbody.appendChild(tr);
    });
    document.getElementById("total-households").textContent = fmt(total);
    table.hidden = false;
  }

  Promise.all([
    getJSON("/api/v1/summary"),
    getJSON("/api/v1/areas?level=county"),
    getJSON("/api/v1/areas?level=township"),
    getJSON("/api/v1/areas?level=community"),
    getJSON("/api/v1/barriers"),
    getJSON("/api/v1/sites"),
    getJSON("/api/v1/buildings")
  ]).then(function (res) {
    const summary = res[0], county = res[1], townships = res[2], communities = res[3];
    if (!summary.extent) {
      statusEl.textContent = T.no_data;
      map.setView([31.7, 120.0], 11);
      document.body.dataset.ready = "empty";
      return;
    }
    if (county.features.length) {
      document.getElementById("county-name").textContent = county.features[0].properties.name;
    }
    layers[T.townships] = L.geoJSON(townships, { style: { color: "#243b53", weight: 3, fill: false } });
    layers[T.communities] = communityLayer(communities);
    layers[T.barriers] = L.geoJSON(res[4], { style: function (f) {
      return (barrierStyle[f.properties.kind] || barrierStyle.road)(f.properties.class);
    } });
    layers[T.sites] = L.geoJSON(res[5], {
      style: function (f) {
        return f.properties.kind === "residential_compound"
          ? { color: "#9a6b3f", weight: 1, fillOpacity: 0.05 }
          : { color: "#d9480f", weight: 1.5, fillColor: "#ffa94d", fillOpacity: 0.3 };
      },
      onEachFeature: function (f, layer) {
        layer.bindPopup("<b>" + escapeHtml(f.properties.name) + "</b><br>" + (T["site_" + f.properties.kind] || ""));
      }
    });
    layers[T.buildings] = L.geoJSON(res[6], {
      style: { color: "#52606d", weight: 0.5, fillColor: "#9fb3c8", fillOpacity: 0.8 },
      onEachFeature: function (f, layer) {
        const p = f.properties;
        layer.bindPopup("<b>" + escapeHtml((p.road || "") + (p.number ? p.number + "号" : "") + (p.name || "")) +
          "</b><br>" + T.storeys + ": " + fmt(p.storeys) + "<br>" + T.units + ": " + fmt(p.units) + "<br>" +
          T.households + ": " + fmt(p.households));
      }
    });
    [T.communities, T.barriers, T.sites, T.buildings, T.townships].forEach(function (k) { layers[k].addTo(map); });
    const control = L.control.layers(baseLayers, layers, { collapsed: false }).addTo(map);
    // Leaflet titles its (here hidden) toggle in English.
    control.getContainer().querySelectorAll("[title]").forEach(function (el) { el.title = T.map_layers; });
    L.control.scale({ imperial: false }).addTo(map);
    const e = summary.extent;
    map.fitBounds([[e[1], e[0]], [e[3], e[2]]]);
    fillTable(communities);
    statusEl.textContent = fmt(summary.counts.building) + " " + T.buildings + " · " +
      fmt(communities.features.length) + " " + T.communities;
    document.body.dataset.ready = "true";
  }).catch(function (err) {
    statusEl.textContent = T.load_failed + ": " + err.message;
    statusEl.classList.add("error");
    document.body.dataset.ready = "error";
  });
})();
