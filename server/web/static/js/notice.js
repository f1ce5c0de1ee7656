// The public notice board of a grid: its outline on a map (no sign-in; data embedded in the page).
(function () {
  "use strict";
  const config = wangge.config();
  const map = wangge.map("map", { preferCanvas: false, attributionControl: false });
  const outline = L.geoJSON(config.geometry, { style: { color: "#b42318", weight: 3, fillColor: "#f0b429",
                                                        fillOpacity: 0.35 } }).addTo(map);
  map.fitBounds(outline.getBounds(), { padding: [16, 16] });
  // Printing resizes the page: let Leaflet redraw the outline at the printed size.
  window.addEventListener("beforeprint", function () { map.invalidateSize(); map.fitBounds(outline.getBounds()); });
  // The print button: wired here, since the page's CSP allows no inline handlers.
  document.getElementById("print").addEventListener("click", function () { window.print(); });
  document.body.dataset.ready = "true";
}());
