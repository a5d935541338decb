// A stimulus set's page: poll its JSON status and show "k of K" until the build is ready or failed.
(function () {
  "use strict";
  var POLL_MS = 1000;
  var section = document.getElementById("set-progress");
  if (!section) { return; }

  function show(data) {
    document.getElementById("set-status").textContent = data.status;
    document.getElementById("set-done").textContent = data.progress_done;
    document.getElementById("set-total").textContent = data.progress_total;
    var bar = document.getElementById("set-bar");
    bar.max = data.progress_total;
    bar.value = data.progress_done;
    var error = document.getElementById("set-error");
    error.textContent = data.error;
    error.hidden = !data.error;
    document.getElementById("set-ready").hidden = data.status !== "ready";
  }

  function poll() {
    fetch(section.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return true; }
        show(data);
        if (data.status === "ready" && section.dataset.status !== "ready") {
          window.location.reload();  // the clips and their players come with the page
        }
        return data.status !== "ready" && data.status !== "failed";
      })
      .catch(function () { return true; })  // offline for a moment: try again
      .then(function (again) { if (again) { window.setTimeout(poll, POLL_MS); } });
  }
  if (section.dataset.status !== "ready" && section.dataset.status !== "failed") {
    window.setTimeout(poll, POLL_MS);
  }
})();
