// The county editor's review section: the reviewer's comments on this version and on the version it was
// copied from, why that version was returned, the lifecycle history, and "submit for review" for a draft.
// Kept apart from editor.js: it only reads the page's #config and talks to the review API.
(function () {
  "use strict";
  const section = document.getElementById("review-comments");
  if (!section) { return; }
  const config = wangge.config();
  const T = config.strings;
  const E = config.editor;
  const list = section.querySelector(".comments");
  const reasonEl = section.querySelector(".return-reason");
  const message = section.querySelector(".message");
  const submitButton = section.querySelector("#submit-review");

  const escapeHtml = wangge.escapeHtml;
  const request = wangge.request;
  function lastReturn(transitions) {
    const returned = transitions.filter(function (t) { return t.to_status === "returned"; });
    return returned.length ? returned[returned.length - 1] : null;
  }

  function showComments(comments) {
    if (!comments.length) {
      list.innerHTML = "<li class='empty'>" + escapeHtml(T.rv_no_comments) + "</li>";
      return;
    }
    list.innerHTML = comments.map(function (c) {
      const where = c.grid_id != null ? T.grid + " " + (c.grid_code || "") + (c.grid_name ? " " + c.grid_name : "") : "";
      return "<li data-comment='" + c.id + "' class='" + (c.resolved ? "resolved" : "") + "'>" + escapeHtml(c.text) +
        "<div class='meta'>" + escapeHtml(c.author_name || c.author || "") + " · " + escapeHtml(T.rv_of_version) + " " +
        c.version + (where ? " · " + escapeHtml(where) : "") + (c.point ? " · ⊙ " + c.point[0].toFixed(5) + ", " +
        c.point[1].toFixed(5) : "") + "</div></li>";
    }).join("");
  }

  function load() {
    const api = "/api/v1/divisions/" + E.division;
    return Promise.all([request("GET", api + "/comments"), request("GET", api + "/transitions"),
                        request("GET", "/api/v1/me")]).then(function (answers) {
      showComments(answers[0].comments);
      const own = answers[1];
      const parent = own.parent_id ? request("GET", "/api/v1/divisions/" + own.parent_id + "/transitions")
        .catch(function () { return null; }) : Promise.resolve(null);
      const role = answers[2].role;
      // The server decides (403 otherwise); the button only shows for roles that may submit.
      submitButton.hidden = !(own.status === "draft" && E.canEdit && (role === "county_editor" || role === "admin"));
      return parent.then(function (p) {
        const returned = lastReturn(own.transitions) || (p ? lastReturn(p.transitions) : null);
        reasonEl.hidden = !returned;
        if (returned) {
          reasonEl.textContent = T.rv_returned_because + ": " + returned.reason + " (" + (returned.username || "") + ", " +
            returned.at.slice(0, 10) + ")";
        }
        section.dataset.ready = "true";
      });
    }).catch(function (err) {
      message.textContent = T.load_failed + ": " + err.message;
      message.className = "message error";
    });
  }

  // -- reasons for grids out of the band: offered only for grids the engine proves cannot be in it -------
  const reasons = section.querySelector(".exemptions");
  const dialog = document.getElementById("exemption-dialog");
  const api = "/api/v1/divisions/" + E.division;
  let offering = null;

  function reasonItem(grid, code, households, proofText, written) {
    const li = document.createElement("li");
    li.dataset.grid = grid;
    li.dataset.status = written ? written.status : "none";
    li.innerHTML = "<div>" + escapeHtml(T.grid) + " <span translate='no'>" + escapeHtml(code || "") + "</span> · " +
      households + " " + escapeHtml(T.rv_hh) + (written ? " · <b>" +
      escapeHtml(T["rv_reason_status_" + written.status]) + "</b>" : "") + "</div><div class='meta'>" +
      escapeHtml(proofText) + "</div>" + (written ? "<p class='reason-text'>" + escapeHtml(written.reason) + "</p>" +
      (written.review_note ? "<div class='meta'>" + escapeHtml(written.review_note) + "</div>" : "") : "");
    return li;
  }

  function loadReasons() {
    return request("GET", api + "/exemptions").then(function (body) {
      const list = reasons.querySelector(".reasons");
      list.innerHTML = "";
      const byGrid = {};
      body.exemptions.forEach(function (e) { byGrid[e.grid] = e; });
      const editable = E.canEdit && body.status === "draft";
      body.candidates.forEach(function (c) {
        const li = reasonItem(c.grid, c.grid_code, c.households, c.proof_text, byGrid[c.grid]);
        if (editable) {
          const button = document.createElement("button");
          button.type = "button";
          button.className = "offer-reason";
          button.textContent = byGrid[c.grid] ? T.ex_written + " · " + T.ex_save : T.ex_offer;
          button.addEventListener("click", function () { openDialog(c, byGrid[c.grid]); });
          li.appendChild(button);
        }
        list.appendChild(li);
        delete byGrid[c.grid];
      });
      Object.keys(byGrid).forEach(function (grid) {  // written reasons of a version under review or filed
        const e = byGrid[grid];
        list.appendChild(reasonItem(e.grid, e.grid_code, e.households, e.proof_text, e));
      });
      reasons.hidden = !list.children.length;
    });
  }

  function openDialog(candidate, written) {
    offering = candidate;
    dialog.querySelector(".exemption-grid").textContent = candidate.grid_code || "";
    dialog.querySelector(".exemption-proof").textContent = candidate.proof_text;
    document.getElementById("exemption-reason").value = written ? written.reason : "";
    dialog.showModal();
  }

  dialog.addEventListener("close", function () {
    if (dialog.returnValue !== "save" || !offering) { return; }
    request("POST", api + "/exemptions", { grid: offering.grid, reason: document.getElementById("exemption-reason").value })
      .then(function () {
        message.textContent = T.ex_saved;
        message.className = "message";
        return loadReasons();
      })
      .catch(function (err) {
        message.textContent = err.message;
        message.className = "message error";
      });
  });

  // The editor rewrites the version line after every edit: the proofs may have changed with it.
  const label = document.getElementById("division-label");
  if (label) { new MutationObserver(function () { loadReasons().catch(function () {}); }).observe(label,
    { childList: true, characterData: true, subtree: true }); }

  submitButton.addEventListener("click", function () {
    submitButton.disabled = true;
    message.textContent = T.loading;
    message.className = "message";
    request("POST", "/api/v1/divisions/" + E.division + "/submit").then(function () {
      message.textContent = T.rv_submitted_done;
      section.dataset.submitted = "true";
      window.setTimeout(function () { window.location.reload(); }, 300);
    }).catch(function (err) {
      submitButton.disabled = false;
      message.textContent = err.message;
      message.className = "message error";
    });
  });

  load();
  loadReasons().catch(function (err) {
    message.textContent = T.load_failed + ": " + err.message;
    message.className = "message error";
  });
}());
