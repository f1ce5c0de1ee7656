// County overview: communities coloured by the status of their latest division; click one to edit it.
(function () {
  "use strict";
  const config = wangge.config();
  const T = config.strings;
  const STATUS_COLOURS = { none: "#bcccdc", draft: "#f0b429", submitted: "#2f80ed", approved: "#27ab83",
                           returned: "#e12d39" };
  const statusEl = document.getElementById("status");
  const map = wangge.map("map");
  window.wanggeOverview = { map: map };

  function fmt(n) { return wangge.fmt(n || 0, config.lang); }
  const escapeHtml = wangge.escapeHtml;
  function editorUrl(code) { return "/communities/" + code + "/editor" + (config.lang === "en" ? "?lang=en" : ""); }

  const legend = document.getElementById("legend");
  Object.keys(STATUS_COLOURS).forEach(function (s) {
    const li = document.createElement("li");
    li.innerHTML = "<span class='swatch' style='background:" + STATUS_COLOURS[s] + "'></span>" + escapeHtml(T["status_" + s]);
    legend.appendChild(li);
  });

  wangge.getJSON("/api/v1/areas/" + config.area.code + "/overview")
    .then(function (fc) {
      const layer = L.geoJSON(fc, {
        style: function (f) {
          return { color: "#102a43", weight: 1.5, fillColor: STATUS_COLOURS[f.properties.status] || "#999",
                   fillOpacity: 0.55 };
        },
        onEachFeature: function (f, l) {
          const p = f.properties;
          l.bindTooltip(escapeHtml(p.name) + "<br>" + escapeHtml(T["status_" + p.status]) + " · " + fmt(p.n_grids) + " " +
                        escapeHtml(T.n_grids), { permanent: true, direction: "center", className: "area-label" });
          l.on("click", function () { window.location.href = editorUrl(p.code); });
        }
      }).addTo(map);
      map.fitBounds(layer.getBounds());
      const table = document.getElementById("overview-table");
      const tbody = table.querySelector("tbody");
      fc.features.forEach(function (f) {
        const p = f.properties;
        const tr = document.createElement("tr");
        tr.dataset.code = p.code;
        tr.innerHTML = "<td><a href='" + editorUrl(p.code) + "'>" + escapeHtml(p.name) + "</a></td><td>" +
          "<span class='swatch' style='background:" + STATUS_COLOURS[p.status] + "'></span>" +
          escapeHtml(T["status_" + p.status]) + "</td><td class='num'>" + fmt(p.n_grids) + "</td><td class='num'>" +
          fmt(p.households) + "</td>";
        tbody.appendChild(tr);
      });
      table.hidden = false;
      statusEl.textContent = fc.features.length + " " + T.communities;
      document.body.dataset.ready = "true";
    })
    .catch(function (err) {
      // API messages are "中文 / English": the page's language only.
      const text = String(err.message || ""), cut = text.indexOf(" / ");
      const said = cut < 0 ? text : (config.lang === "en" ? text.slice(cut + 3) : text.slice(0, cut));
      statusEl.textContent = T.load_failed + "：" + said;
      statusEl.className = "status error";
    });
}());
