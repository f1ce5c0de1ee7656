// County map: townships, communities (coloured urban/rural), roads and rivers, sites, grids, buildings.
// Areas, roads and sites come from the REST API as GeoJSON (a county has few); grids and buildings are
// vector tiles of the visible area only (a county has tens of thousands of buildings); base tiles only if
// the server is configured with some.
(function () {
  "use strict";

  // Leaflet.VectorGrid 1.3.0's canvas tiles stop a click with L.DomEvent.fakeStop, which Leaflet 1.8
  // removed: every click on a drawn feature threw (Leaflet.VectorGrid#274; fixed upstream in #288, not
  // released). This is Leaflet 1.9's own canvas hit test, in tile coordinates. Leaflet hands a canvas
  // every event over it, so a click where a tile draws nothing goes on to what lies under it: the grids
  // under the buildings, the communities and sites under both.
  L.Canvas.Tile.include({
    _onClick: function (e) {
      const point = this._map.mouseEventToLayerPoint(e).subtract(this.getOffset());
      let hit = null;
      for (const id in this._layers) {
        const layer = this._layers[id];
        if (layer.options.interactive && layer._containsPoint(point) &&
            !((e.type === "click" || e.type === "preclick") && this._map._draggableMoved(layer))) {
          hit = layer;
        }
      }
      if (hit || e.type !== "click") {
        this._fireEvent(hit ? [hit] : false, e);
      } else {
        clickBelow(this._container, e);
      }
    }
  });
  function clickBelow(canvas, e) {
    const before = canvas.style.pointerEvents;
    canvas.style.pointerEvents = "none";
    const below = document.elementFromPoint(e.clientX, e.clientY);
    canvas.style.pointerEvents = before;
    if (below) { below.dispatchEvent(new MouseEvent("click", e)); }
  }

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
  // Vector tiles above the GeoJSON overlays, the buildings on top: each pane's canvases take the clicks on
  // what they draw and pass the others down (see _onClick above).
  const BUILDINGS_MIN_ZOOM = 15;  // the server serves building tiles from this zoom (server/web/tiles.py)
  map.createPane("grids").style.zIndex = 410;
  map.createPane("buildings").style.zIndex = 420;

  // featureId: a feature's key for VectorGrid's setFeatureStyle (none: its features cannot be restyled).
  function vectorTiles(url, pane, styles, minZoom, featureId) {
    return L.vectorGrid.protobuf(url, {
      pane: pane, rendererFactory: L.canvas.tile, interactive: true, minZoom: minZoom || 0,
      vectorTileLayerStyles: styles, getFeatureId: featureId
    });
  }
  // Leaflet labels a popup's close button in English for screen readers.
  map.on("popupopen", function (e) {
    const close = e.popup.getElement().querySelector(".leaflet-popup-close-button");
    if (close) { close.setAttribute("aria-label", T.close_popup); }
  });
  function popupOn(layer, content) {
    return layer.on("click", function (e) {
      L.popup().setLatLng(e.latlng).setContent(content(e.layer.properties)).openOn(map);
    });
  }
  // The grid tapped stays drawn darker while its popup is open: among grids of the same colour the popup
  // alone does not show how far the grid reaches.
  const SELECTED_GRID = { color: "#5f3dc4", weight: 4, fill: true, fillColor: "#862e9c", fillOpacity: 0.3 };
  function selectOnClick(tiles) {
    let selected = null;
    function select(code) {
      if (selected !== null) { tiles.resetFeatureStyle(selected); }
      selected = code;
      if (code !== null) { tiles.setFeatureStyle(code, SELECTED_GRID); }
    }
    // Opening the next popup closes the last one first, so the old grid is let go before the new is held.
    map.on("popupclose", function () { select(null); });
    return tiles.on("click", function (e) { select(e.layer.properties.code); });
  }
  function gridTiles() {
    // The grid tiles carry the communities too; this map draws those from the API, with their labels.
    const tiles = vectorTiles("/tiles/grids/{z}/{x}/{y}.pbf", "grids", {
      grids: function (p) {
        // Purple: apart from the roads' grey, the rivers' blue, the sites' orange and the communities' navy.
        return { color: "#862e9c", weight: 1.5, fill: true, fillOpacity: 0.06,
                 fillColor: p.type === "exclusive" ? "#e64980" : "#862e9c" };
      },
      communities: []
    }, 0, function (f) { return f.properties.code; });
    return selectOnClick(popupOn(tiles, function (p) {
      return "<b>" + escapeHtml(p.name || p.code) + "</b><br>" + T.grid_code + ": " + escapeHtml(p.code) + "<br>" +
        (T["grid_type_" + p.type] || "") + "<br>" + T.households + ": " + fmt(p.households) + "<br>" +
        '<a href="/notice/' + encodeURIComponent(p.code) + '">' + T.lookup_notice + "</a>";
    }));
  }
  function buildingTiles() {
    return popupOn(vectorTiles("/tiles/buildings/{z}/{x}/{y}.pbf", "buildings", {
      buildings: { color: "#52606d", weight: 0.5, fill: true, fillColor: "#9fb3c8", fillOpacity: 0.8 }
    }, BUILDINGS_MIN_ZOOM), function (p) {
      return "<b>" + escapeHtml((p.road || "") + (p.number ? p.number + "号" : "") + (p.name || "")) +
        "</b><br>" + T.storeys + ": " + fmt(p.storeys) + "<br>" + T.units + ": " + fmt(p.units) + "<br>" +
        T.households + ": " + fmt(p.households);
    });
  }
  function showZoomHint() {
    document.getElementById("zoom-hint").hidden = map.getZoom() >= BUILDINGS_MIN_ZOOM;
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
    getJSON("/api/v1/sites")
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
    layers[T.grids] = gridTiles();
    layers[T.buildings] = buildingTiles();
    [T.communities, T.barriers, T.sites, T.grids, T.buildings, T.townships].forEach(function (k) {
      layers[k].addTo(map);
    });
    map.on("zoomend", showZoomHint);
    showZoomHint();
    // Open beside the map on a desktop; behind its button on a phone, where it would cover the map.
    const narrow = window.matchMedia("(max-width: 600px)").matches;
    const control = L.control.layers(baseLayers, layers, { collapsed: narrow }).addTo(map);
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
