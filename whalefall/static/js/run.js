/* One run: while it is queued or running, follow it like `tail -f` — every second ask
 * GET /api/runs/<id>?offset=<the end of what we have> and append only the new log text —
 * and update its status, times and results. Cancel goes to POST /api/runs/<id>/cancel. */
(function () {
  "use strict";

  var ACTIVE = ["queued", "running"];

  WF.ready(function () {
    var root = document.getElementById("run");
    var id = root.dataset.runId;
    var log = document.getElementById("log");
    var follow = document.getElementById("follow");
    var cancel = document.getElementById("cancel-run");
    var offset = Number(root.dataset.nextOffset) || 0;
    var poller = null;

    function set(name, text) {
      var node = root.querySelector('[data-f="' + name + '"]');
      if (node) node.textContent = text || WF.t("none");
    }
    function section(name, value) {
      var box = root.querySelector('[data-section="' + name + '"]');
      box.classList.toggle("d-none", value === null || value === undefined || value === "");
      box.querySelector('[data-f="' + name + '"]').textContent = value === null || value === undefined ? "" : value;
    }

    function scrollToEnd() {
      if (follow && follow.checked) log.scrollTop = log.scrollHeight;
    }

    function update(run) {
      if (run.log_offset > offset && log.textContent) {
        log.appendChild(document.createTextNode("…\n"));  // the log's head was dropped meanwhile
      }
      if (run.log) log.appendChild(document.createTextNode(run.log));
      offset = run.next_offset;
      document.getElementById("log-truncated").classList.toggle("d-none", !run.log_truncated);
      root.dataset.status = run.status;
      root.querySelector('[data-f="status"]').replaceWith(WF.statusBadge(run.status));
      set("started_at", WF.when(run.started_at));
      set("finished_at", WF.when(run.finished_at));
      set("duration", WF.duration(run.duration_seconds));
      set("node", run.node);
      section("return_value", run.return_value);
      section("error_message", run.error_message);
      section("traceback", run.traceback);
      var active = ACTIVE.indexOf(run.status) >= 0;
      if (cancel) cancel.classList.toggle("d-none", !active);
      document.getElementById("follow-box").classList.toggle("d-none", !active);
      document.getElementById("log-spinner").classList.toggle("d-none", !active);
      scrollToEnd();
      if (!active && poller) poller.stop();
    }

    async function poll() {
      try {
        update((await WF.api("GET", "/runs/" + encodeURIComponent(id) + "?offset=" + offset)).data);
      } catch (error) {
        if (error.status === 404 && poller) poller.stop();  // removed meanwhile: nothing more to follow
        throw error;
      }
    }

    scrollToEnd();
    if (ACTIVE.indexOf(root.dataset.status) >= 0) {
      poller = WF.every(1, poll);
      poller.now();
    }

    if (cancel) {
      cancel.addEventListener("click", async function () {
        if (await WF.call("POST", "/runs/" + encodeURIComponent(id) + "/cancel", undefined, cancel)) {
          if (poller) poller.now(); else await poll();
        }
      });
    }
  });
})();
