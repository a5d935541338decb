// The study page's live results: swap in a fresh table and bar chart (rendered by the server with
// the same template as at page load) whenever the page's progress poll (researcher/progress.js)
// reports a change in what the summary depends on. The summary reruns screening and bootstrap
// intervals, so it is fetched only on a change, never on a timer of its own; the progress poll,
// and with it this refresh, stops once the study is closed.
(function () {
  "use strict";
  var section = document.getElementById("progress");
  if (!section) { return; }
  var loading = false;
  var again = false;

  function signature(figures, status) {
    // The ratings, and who finished or was screened out.
    return [figures.ratings, figures.completed, figures.screened_out, status].join("/");
  }

  function pageFigures() {
    var figures = {};
    ["ratings", "completed", "screened_out"].forEach(function (key) {
      figures[key] = document.getElementById("p-" + key).textContent.trim();
    });
    return figures;
  }

  // What the page was rendered with: a change before the first poll is not missed.
  var lastSeen = signature(pageFigures(), section.dataset.status);

  function refresh() {
    var current = document.getElementById("live-summary");
    if (!current) { return; }
    if (loading) { again = true; return; }
    loading = true;
    fetch(current.dataset.url, { credentials: "same-origin", headers: { Accept: "text/html" } })
      .then(function (response) { return response.ok ? response.text() : null; })
      .then(function (html) {
        if (html === null) { return; }
        var holder = document.createElement("div");
        holder.innerHTML = html;
        var fresh = holder.querySelector("#live-summary");
        if (fresh) { current.replaceWith(fresh); }
      })
      .catch(function () { /* offline for a moment: the next change retries */ })
      .finally(function () {
        loading = false;
        if (again) { again = false; refresh(); }
      });
  }

  document.addEventListener("study:progress", function (event) {
    var seen = signature(event.detail, event.detail.status);
    if (seen !== lastSeen) {
      lastSeen = seen;
      refresh();
    }
  });
})();
