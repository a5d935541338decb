// The study page: copy the volunteer link, and refresh the progress figures every few seconds.
(function () {
  "use strict";
  var POLL_MS = 5000;

  var copy = document.getElementById("copy-link");
  if (copy) {
    copy.addEventListener("click", function () {
      var input = document.getElementById(copy.dataset.target);
      var done = function () { document.getElementById("copy-done").hidden = false; };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done);
      } else {
        input.select();
        document.execCommand("copy");
        done();
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
    document.getElementById("progress-updated").textContent = "updated " + new Date().toLocaleTimeString();
  }

  function poll() {
    fetch(section.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) { if (data) { render(data); } })
      .catch(function () { /* offline for a moment: the next poll retries */ })
      .finally(function () { window.setTimeout(poll, POLL_MS); });
  }
  window.setTimeout(poll, POLL_MS);
})();
