// The study page: copy the volunteer link, and refresh the progress figures every few seconds
// until the study is closed. Each refresh is announced as a "study:progress" event (detail: the
// progress JSON), on which the live results (studies/analysis/live_summary.js) refresh themselves.
(function () {
  "use strict";
  var POLL_MS = 5000;

  var copy = document.getElementById("copy-link");
  if (copy) {
    copy.addEventListener("click", function () {
      var input = document.getElementById(copy.dataset.target);
      var done = function () { document.getElementById("copy-done").hidden = false; };
      var selectAndCopy = function () {
        input.select();
        document.execCommand("copy");
        done();
      };
      if (navigator.clipboard && window.isSecureContext) {
        // Refused when the page lacks focus or permission: copying the selection still works.
        navigator.clipboard.writeText(input.value).then(done, selectAndCopy);
      } else {
        selectAndCopy();
      }
    });
  }

  var section = document.getElementById("progress");
  if (!section) { return; }

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text;
    return td;
  }

  function render(data) {
    ["completed", "in_progress", "started", "screened_out", "abandoned", "ratings"].forEach(function (key) {
      var el = document.getElementById("p-" + key);
      if (el) { el.textContent = data[key]; }
    });
    var head = document.querySelector("#progress-table thead tr");
    head.replaceChildren();
    ["Condition", "Role", "Total"].concat(data.items).forEach(function (label) {
      var th = document.createElement("th");
      th.textContent = label;
      head.appendChild(th);
    });
    var body = document.querySelector("#progress-table tbody");
    body.replaceChildren();
    data.conditions.forEach(function (row) {
      var tr = document.createElement("tr");
      [row.name, row.role, row.ratings].concat(row.per_item).forEach(function (v) { tr.appendChild(cell(v)); });
      body.appendChild(tr);
    });
    var pairs = document.querySelector("#pairs-table tbody");
    if (pairs && data.pairs) {
      pairs.replaceChildren();
      data.pairs.forEach(function (pair) {
        var tr = document.createElement("tr");
        [pair.first, pair.second, pair.pages, pair.first_left].forEach(function (v) { tr.appendChild(cell(v)); });
        pairs.appendChild(tr);
      });
    }
    var updated = "updated " + new Date().toLocaleTimeString();
    if (data.status === "closed") { updated += "; the study is closed, no further updates"; }
    document.getElementById("progress-updated").textContent = updated;
    if (data.status !== section.dataset.status) {
      section.dataset.status = data.status;
      var badge = document.getElementById("study-status");
      if (badge) {
        badge.textContent = data.status.charAt(0).toUpperCase() + data.status.slice(1);
        badge.className = "status status-" + data.status;
      }
    }
    document.dispatchEvent(new CustomEvent("study:progress", { detail: data }));
  }

  // A closed study takes no joins and no ratings: its figures are final.
  function polling() { return section.dataset.status !== "closed"; }

  function poll() {
    fetch(section.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) { render(data); } })
      .catch(function () { /* offline for a moment: the next poll retries */ })
      .finally(function () { if (polling()) { window.setTimeout(poll, POLL_MS); } });
  }
  if (polling()) { window.setTimeout(poll, POLL_MS); }
})();
