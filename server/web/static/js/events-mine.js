// My events: the events of the user's grids, most urgent first, with the actions the user may take.
(function () {
  "use strict";
  const W = window.WanggeEvents;
  const T = W.T;
  const rowsEl = document.getElementById("mine-rows");
  const emptyEl = document.getElementById("mine-empty");
  const statusEl = document.getElementById("mine-status");
  const openEl = document.getElementById("mine-open");
  const detailEl = document.getElementById("mine-detail");
  const NEEDS_NOTE = { cancel: true, "return": true, reject: true };
  const SECONDARY = { cancel: true, "return": true, reject: true };
  let matters = [];

  function setStatus(text, isError) {
    statusEl.textContent = text || "";
    statusEl.classList.toggle("error", !!isError);
  }

  function deadlineHtml(e) {
    if (!e.deadline_at) { return "—"; }
    let html = W.escapeHtml(W.shortTime(e.deadline_at));
    if (e.remaining_share != null) {
      const pct = Math.round(e.remaining_share * 100);
      html += '<span class="ev-bar' + (e.warned ? " warned" : "") + '" title="' + W.escapeHtml(T.ev_remaining) +
        " " + pct + '%"><span style="width:' + pct + '%"></span></span>';
    }
    if (e.handler_unit) { html += '<span class="sub">' + W.escapeHtml(e.handler_unit) + "</span>"; }
    return html;
  }

  function actionsHtml(e) {
    if (!e.actions.length) { return ""; }
    let html = '<div class="ev-actions">';
    if (e.actions.some(function (a) { return NEEDS_NOTE[a]; }) || e.actions.length) {
      html += '<input class="ev-note" type="text" maxlength="1000" placeholder="' + W.escapeHtml(T.ev_note) + '">';
    }
    if (!e.category && e.actions.some(function (a) { return a === "register" || a === "dispatch"; })) {
      html += '<select class="ev-category"><option value="">' + W.escapeHtml(T.ev_choose_category) + "</option>" +
        matters.filter(function (m) { return m.parent_id; }).map(function (m) {
          return '<option value="' + W.escapeHtml(m.code) + '">' + W.escapeHtml(m.parent_name + " / " + m.name) +
            "</option>";
        }).join("") + "</select>";
    }
    e.actions.forEach(function (a) {
      html += '<button type="button" data-action="' + a + '"' + (SECONDARY[a] ? ' class="secondary"' : "") + ">" +
        W.escapeHtml(W.actionLabel(a)) + "</button>";
    });
    return html + "</div>";
  }

  function render(events) {
    rowsEl.innerHTML = events.map(function (e) {
      return '<tr data-id="' + e.id + '" data-code="' + W.escapeHtml(e.code) + '" data-status="' + e.status + '">' +
        '<td><a href="#" class="ev-open">' + W.escapeHtml(e.code) + '</a><span class="sub">' +
        W.escapeHtml(W.shortTime(e.reported_at)) + "</span></td>" +
        "<td>" + W.escapeHtml(e.title) + (e.staff && e.staff.mine ? '<span class="sub">' +
          W.escapeHtml(T.ev_assigned_to_me) + "</span>" : "") + "</td>" +
        "<td>" + W.escapeHtml(e.category ? e.category.name : "—") + "</td>" +
        "<td>" + W.escapeHtml(e.grid_code || "—") + '<span class="sub">' +
          W.escapeHtml(e.community ? e.community.name : "") + "</span></td>" +
        '<td class="ev-state">' + W.badge(e) + "</td>" +
        "<td>" + deadlineHtml(e) + "</td>" +
        "<td>" + actionsHtml(e) + "</td></tr>";
    }).join("");
    emptyEl.hidden = events.length > 0;
  }

  function load() {
    const url = "/api/v1/events" + (openEl.checked ? "?open=1" : "");
    return W.api(url).then(function (res) {
      if (!res.ok) { setStatus(W.errorText(res), true); return; }
      render(res.body.events);
      document.body.dataset.ready = "true";
    });
  }

  function showDetail(id) {
    W.api("/api/v1/events/" + id).then(function (res) {
      if (!res.ok) { setStatus(W.errorText(res), true); return; }
      const e = res.body;
      detailEl.innerHTML = "<h2>" + W.escapeHtml(e.code + " " + e.title) + "</h2>" +
        "<p>" + W.escapeHtml(e.description || "") + "</p>" +
        (e.address ? "<p>" + W.escapeHtml(T.ev_address + "：" + e.address) + "</p>" : "") +
        "<h3>" + W.escapeHtml(T.ev_history) + '</h3><ol class="ev-history" id="mine-history">' +
        e.history.map(function (h) {
          return "<li><time>" + W.escapeHtml(W.shortTime(h.at)) + "</time><b>" + W.escapeHtml(W.actionLabel(h.action)) +
            "</b> " + W.escapeHtml(h.user || "") + (h.note ? " — " + W.escapeHtml(h.note) : "") + "</li>";
        }).join("") + "</ol>";
      detailEl.hidden = false;
    });
  }

  rowsEl.addEventListener("click", function (ev) {
    const row = ev.target.closest("tr");
    if (!row) { return; }
    if (ev.target.classList.contains("ev-open")) {
      ev.preventDefault();
      Array.prototype.forEach.call(rowsEl.querySelectorAll("tr.selected"), function (r) {
        r.classList.remove("selected");
      });
      row.classList.add("selected");
      showDetail(row.dataset.id);
      return;
    }
    const button = ev.target.closest("button[data-action]");
    if (!button) { return; }
    const action = button.dataset.action;
    const noteEl = row.querySelector(".ev-note");
    const categoryEl = row.querySelector(".ev-category");
    const body = { action: action };
    if (noteEl && noteEl.value.trim()) { body.note = noteEl.value.trim(); }
    if (NEEDS_NOTE[action] && !body.note) { setStatus(T.ev_note_required, true); noteEl.focus(); return; }
    if (categoryEl && categoryEl.value) { body.category = categoryEl.value; }
    button.disabled = true;
    W.api("/api/v1/events/" + row.dataset.id + "/actions", { json: body }).then(function (res) {
      if (!res.ok) { button.disabled = false; setStatus(W.errorText(res), true); return; }
      setStatus(res.body.code + " · " + W.actionLabel(action) + " · " + W.statusLabel(res.body.status));
      load().then(function () { showDetail(res.body.id); });
    });
  });
  openEl.addEventListener("change", load);

  W.api("/api/v1/matters").then(function (res) {
    if (res.ok) { matters = res.body.matters; }
    load();
  });
})();
