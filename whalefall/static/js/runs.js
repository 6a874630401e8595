/* The run history: the server renders the page; this refreshes its rows from GET /api/runs
 * (same filters, same page) every 30 s while the tab is visible, filling the server's own
 * row template (#run-row-template) with textContent. */
(function () {
  "use strict";

  WF.ready(function () {
    var rows = document.getElementById("run-rows");
    var template = document.getElementById("run-row-template");

    function fill(row, run) {
      var set = function (name, text) { var node = row.querySelector('[data-f="' + name + '"]'); if (node) node.textContent = text || ""; };
      row.dataset.runId = run.id;
      row.querySelector('[data-f="link"]').setAttribute("href", "/scheduler/runs/" + run.id);
      set("id", run.id);
      set("job_id", run.job_id);
      set("job_name", run.job_name);
      row.querySelector('[data-f="status"]').replaceWith(WF.statusBadge(run.display_status || run.status));
      set("error_message", run.error_message);
      set("trigger_source", WF.t("source_" + run.trigger_source));
      set("scheduled_time", run.scheduled_time || WF.t("none"));
      set("started_at", WF.when(run.started_at));
      set("duration", WF.duration(run.duration_seconds));
      set("attempt", run.attempt);
    }

    async function refresh() {
      var envelope = await WF.api("GET", "/runs?" + rows.dataset.apiQuery);
      var existing = new Map();
      rows.querySelectorAll("tr[data-run-id]").forEach(function (row) { existing.set(row.dataset.runId, row); });
      var order = envelope.data.runs.map(function (run) {
        var row = existing.get(String(run.id)) || template.content.firstElementChild.cloneNode(true);
        existing.delete(String(run.id));
        fill(row, run);
        return row;
      });
      existing.forEach(function (row) { row.remove(); });
      order.forEach(function (row, index) {
        if (rows.children[index] !== row) rows.insertBefore(row, rows.children[index] || null);
      });
      document.getElementById("runs-empty").classList.toggle("d-none", order.length > 0);
    }

    WF.every(30, refresh);
  });
})();
