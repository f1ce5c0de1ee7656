// The OGC landing page: one small map per collection with its first features, and their count.
(function () {
  "use strict";
  document.querySelectorAll(".ogc-collection").forEach(function (section) {
    const el = section.querySelector(".ogc-map");
    const map = wangge.map(el.id, { scrollWheelZoom: false });
    map.setView([32, 119], 8);
    wangge.getJSON(el.dataset.items).then(function (data) {
      section.querySelector(".count").textContent = wangge.fmt(data.numberMatched, wangge.config().lang);
      if (!data.features.length) {
        el.textContent = wangge.config().strings.ogc_empty;
        return;
      }
      const layer = L.geoJSON(data, { style: { color: "#1f6feb", weight: 1, fillOpacity: 0.15 } }).addTo(map);
      map.fitBounds(layer.getBounds());
    }).catch(function (err) {
      el.textContent = wangge.config().strings.load_failed + "：" + err.message;
    });
  });
}());
