// My events: cards of the events of the user's grids, most urgent first, with the actions as buttons.
// Works on a phone (grid staff in the field) and on a desk (the dispatch centre).
(function () {
  "use strict";
  const W = window.WanggeEvents;
  const T = W.T;
  const esc = W.escapeHtml;
  const listEl = document.getElementById("mine-rows");
  const emptyEl = document.getElementById("mine-empty");
  const statusEl = document.getElementById("mine-status");
  const openEl = document.getElementById("mine-open");
  const NEEDS_NOTE = { cancel: true, "return": true, reject: true };
  const SECONDARY = { cancel: true, "return": true, reject: true };
  let matters = [];
  const opened = {};  // event id → detail shown

  function setStatus(text, isError) {
    statusEl.textContent = text || "";
    statusEl.classList.toggle("error", !!isError);
  }

  function deadlineHtml(e) {
    if (!e.deadline_at) { return ""; }
    let html = '<p class="ev-deadline"><span class="ev-label">' + esc(T.ev_deadline) + "</span> <time>" +
      esc(W.localTime(e.deadline_at)) + "</time>";
    if (e.remaining_share != null) {
      const pct = Math.round(e.remaining_share * 100);
      html += '<span class="ev-bar' + (e.warned ? " warned" : "") + '" title="' + esc(T.ev_remaining) + " " + pct +
        '%"><span style="width:' + pct + '%"></span></span>';
    }
    if (e.handler_unit) { html += '<span class="sub">' + esc(T.ev_handler_unit + "：" + e.handler_unit) + "</span>"; }
    return html + "</p>";
  }

  function categoryPicker(e) {
    if (e.category || !e.actions.some(function (a) { return a === "register" || a === "dispatch"; })) { return ""; }
    return '<select class="ev-category" aria-label="' + esc(T.ev_choose_category) + '"><option value="">' +
      esc(T.ev_choose_category) + "</option>" + matters.filter(function (m) { return m.parent_id; }).map(function (m) {
        return '<option value="' + esc(m.code) + '">' + esc(m.parent_name + " / " + m.name) + "</option>";
      }).join("") + "</select>";
  }

  function actionsHtml(e) {
    let html = "";
    if (e.fed_back_by_me && e.status === "handled") {
      html += '<p class="ev-hint">' + esc(T.ev_fed_back_by_you) + "</p>";
    }
    if (!e.actions.length) { return html; }
    html += '<div class="ev-actions"><input class="ev-note" type="text" maxlength="1000" placeholder="' +
      esc(T.ev_note) + '" aria-label="' + esc(T.ev_note) + '">' + categoryPicker(e) + '<div class="ev-buttons">';
    e.actions.forEach(function (a) {
      html += '<button type="button" data-action="' + a + '"' + (SECONDARY[a] ? ' class="secondary"' : "") + ">" +
        esc(W.actionLabel(a)) + "</button>";
    });
    return html + "</div></div>";
  }

  function card(e) {
    const staff = e.staff ? '<p class="ev-meta">' + esc(T.ev_staff + "：" + (e.staff.name || "")) +
      (e.staff.mine ? ' <span class="ev-mine">' + esc(T.ev_assigned_to_me) + "</span>" : "") +
      (e.staff.phone ? " " + W.telLink(e.staff.phone) : "") + "</p>" : "";
    return '<article class="ev-item" data-id="' + e.id + '" data-code="' + esc(e.code) + '" data-status="' +
      e.status + '"><header><a href="#" class="ev-open" translate="no">' + esc(e.code) + "</a>" + W.badge(e) +
      "</header><h2>" + esc(e.title) + "</h2>" +
      '<p class="ev-meta">' + esc(e.category ? e.category.name : T.ev_category_unknown) + " · " +
      '<span translate="no">' + esc(e.grid_code || "—") + "</span> " + esc(e.community ? e.community.name : "") +
      "</p>" + '<p class="ev-meta">' + esc(T.ev_reported_at) + " " + esc(W.localTime(e.reported_at)) + "</p>" +
      deadlineHtml(e) + staff + actionsHtml(e) + '<section class="ev-detail" hidden></section></article>';
  }

  function render(events) {
    listEl.innerHTML = events.map(card).join("");
    emptyEl.hidden = events.length > 0;
    Object.keys(opened).forEach(function (id) { if (opened[id]) { showDetail(id); } });
  }

  function load() {
    return W.api("/api/v1/events" + (openEl.checked ? "?open=1" : "")).then(function (res) {
      if (!res.ok) { setStatus(W.errorText(res), true); return; }
      render(res.body.events);
      document.body.dataset.ready = "true";
    });
  }

  function historyHtml(e) {
    return '<h3>' + esc(T.ev_history) + '</h3><ol class="ev-history">' + e.history.map(function (h) {
      return "<li><time>" + esc(W.localTime(h.at)) + "</time><b>" + esc(W.actionLabel(h.action)) + "</b> " +
        esc(h.user || "") + (h.note ? " — " + esc(h.note) : "") + "</li>";
    }).join("") + "</ol>";
  }

  function showDetail(id) {
    const item = listEl.querySelector('.ev-item[data-id="' + id + '"]');
    if (!item) { delete opened[id]; return; }
    const detail = item.querySelector(".ev-detail");
    W.api("/api/v1/events/" + id).then(function (res) {
      if (!res.ok) { setStatus(W.errorText(res), true); return; }
      const e = res.body;
      detail.innerHTML = "<p>" + esc(e.description || "") + "</p>" +
        (e.address ? "<p>" + esc(T.ev_address + "：" + e.address) + "</p>" : "") +
        (e.photo_list.length ? '<div class="ev-previews">' + e.photo_list.map(function (p) {
          return '<a href="' + esc(p.url) + '" target="_blank" rel="noopener"><img src="' + esc(p.url) + '" alt="' +
            esc(W.fill(T.ev_photo_n, { n: p.position })) + '"></a>';
        }).join("") + "</div>" : "") + historyHtml(e);
      detail.hidden = false;
      item.classList.add("selected");
      opened[id] = true;
    });
  }

  listEl.addEventListener("click", function (ev) {
    const item = ev.target.closest(".ev-item");
    if (!item) { return; }
    if (ev.target.classList.contains("ev-open")) {
      ev.preventDefault();
      const detail = item.querySelector(".ev-detail");
      if (!detail.hidden) { detail.hidden = true; item.classList.remove("selected"); delete opened[item.dataset.id]; }
      else { showDetail(item.dataset.id); }
      return;
    }
    const button = ev.target.closest("button[data-action]");
    if (button) { act(item, button); }
  });

  function act(item, button) {
    const action = button.dataset.action;
    const noteEl = item.querySelector(".ev-note");
    const categoryEl = item.querySelector(".ev-category");
    const body = { action: action };
    if (noteEl && noteEl.value.trim()) { body.note = noteEl.value.trim(); }
    if (NEEDS_NOTE[action] && !body.note) { setStatus(T.ev_note_required, true); noteEl.focus(); return; }
    if (categoryEl && categoryEl.value) { body.category = categoryEl.value; }
    button.disabled = true;
    W.api("/api/v1/events/" + item.dataset.id + "/actions", { json: body }).then(function (res) {
      if (!res.ok) { button.disabled = false; setStatus(W.errorText(res), true); return; }
      setStatus(res.body.code + " · " + W.actionLabel(action) + " · " + W.statusLabel(res.body.status));
      opened[res.body.id] = true;
      load();
    });
  }
  openEl.addEventListener("change", load);

  W.api("/api/v1/matters").then(function (res) {
    if (res.ok) { matters = res.body.matters; }
    load();
  });
})();
