// Events of a county on the map: grids coloured by how many events they had, events as dots by status, a list.
(function () {
  "use strict";
  const W = window.WanggeEvents;
  const T = W.T;
  const area = W.config.area;
  const statusSel = document.getElementById("map-status");
  const listEl = document.getElementById("map-list");
  const summaryEl = document.getElementById("map-summary");
  const legendEl = document.getElementById("map-legend");
  // Sequential reds for grid event counts: 0, 1, 2-3, 4-6, 7+.
  const BREAKS = [0, 1, 2, 4, 7];
  const HEAT = ["#f7f7f7", "#fdd0a2", "#fdae6b", "#f16913", "#a63603"];

  const map = wangge.map("events-map");
  window.wanggeEventsMap = map;  // for scripted use and the browser tests
  L.control.scale({ imperial: false }).addTo(map);
  let gridLayer = null;
  let eventLayer = null;
  let events = [];

  let pending = 2;
  function loaded() {
    pending -= 1;
    if (pending === 0) { document.body.dataset.ready = "true"; }
  }

  function heat(n) {
    let k = 0;
    BREAKS.forEach(function (b, i) { if (n >= b) { k = i; } });
    return HEAT[k];
  }

  Object.keys(W.STATUS_COLOURS).forEach(function (s) {
    const o = document.createElement("option");
    o.value = s;
    o.textContent = W.statusLabel(s);
    statusSel.appendChild(o);
  });
  legendEl.innerHTML = "<div>" + W.escapeHtml(T.ev_heat_legend) + "</div><div>" + BREAKS.map(function (b, i) {
    const label = i === BREAKS.length - 1 ? b + "+" : (BREAKS[i + 1] - 1 > b ? b + "-" + (BREAKS[i + 1] - 1) : b);
    return '<i style="background:' + HEAT[i] + '"></i>' + label;
  }).join("") + "</div><div>" + Object.keys(W.STATUS_COLOURS).map(function (s) {
    return '<i class="dot" style="background:' + W.STATUS_COLOURS[s] + '"></i>' + W.escapeHtml(W.statusLabel(s));
  }).join("") + "</div>";

  W.api("/api/v1/events/grids?area=" + encodeURIComponent(area)).then(function (res) {
    if (!res.ok) { summaryEl.textContent = W.errorText(res); summaryEl.classList.add("error"); return; }
    gridLayer = L.geoJSON(res.body, {
      style: function (f) {
        return { color: "#52606d", weight: 0.6, fillColor: heat(f.properties.n_events), fillOpacity: 0.7 };
      },
      onEachFeature: function (f, layer) {
        const p = f.properties;
        layer.bindTooltip(W.escapeHtml((p.name || p.code) + " · " + T.ev_events + " " + p.n_events + " · " +
          T.ev_open_count + " " + p.n_open + " · " + T.ev_overdue_count + " " + p.n_overdue));
      }
    }).addTo(map);
    if (res.body.features.length) { map.fitBounds(gridLayer.getBounds()); } else { map.setView([31.3, 120.6], 12); }
    if (eventLayer) { eventLayer.bringToFront(); }
    map.getContainer().dataset.grids = String(res.body.features.length);
    loaded();
  });

  function draw() {
    const wanted = statusSel.value;
    const shown = events.filter(function (e) { return !wanted || e.status === wanted; });
    if (eventLayer) { map.removeLayer(eventLayer); }
    eventLayer = L.featureGroup(shown.filter(function (e) { return e.point; }).map(function (e) {
      return L.circleMarker([e.point.lat, e.point.lon], {
        radius: 7, color: e.overdue ? "#b42318" : "#fff", weight: e.overdue ? 3 : 1.5,
        fillColor: W.STATUS_COLOURS[e.status] || "#7b8794", fillOpacity: 0.95
      }).bindPopup("<b>" + W.escapeHtml(e.code) + "</b><br>" + W.escapeHtml(e.title) + "<br>" + W.badge(e));
    })).addTo(map);
    listEl.innerHTML = shown.map(function (e, i) {
      return '<li data-index="' + i + '">' + W.badge(e) + " <b>" + W.escapeHtml(e.code) + "</b> " +
        W.escapeHtml(e.title) + "</li>";
    }).join("");
    listEl.dataset.count = String(shown.length);
    summaryEl.textContent = T.ev_events + "：" + shown.length;
    listEl.onclick = function (ev) {
      const li = ev.target.closest("li");
      const e = li && shown[Number(li.dataset.index)];
      if (e && e.point) { map.setView([e.point.lat, e.point.lon], Math.max(map.getZoom(), 16)); }
    };
  }

  W.api("/api/v1/events?area=" + encodeURIComponent(area) + "&limit=2000").then(function (res) {
    if (!res.ok) { summaryEl.textContent = W.errorText(res); summaryEl.classList.add("error"); return; }
    events = res.body.events;
    draw();
    loaded();
  });
  statusSel.addEventListener("change", draw);
})();
