/* The jobs page: live filters, the cards refreshed every 30 s from GET /api/jobs (not while
 * the tab is hidden), and the card actions — run now, pause, resume, edit, copy, delete — sent to
 * the API with a toast for every result. The cards' markup is the server's (#job-card-template
 * is the same Jinja macro); this script only fills it, with textContent. */
(function () {
  "use strict";

  WF.ready(function () {
    var grid = document.getElementById("job-grid");
    var template = document.getElementById("job-card-template");
    var filters = document.getElementById("job-filters");
    var isAdmin = grid.dataset.isAdmin === "1";
    var PAGE = 200;

    function filterParams() {
      var params = new URLSearchParams();
      ["q", "category", "state"].forEach(function (name) {
        var value = filters.elements[name].value.trim();
        if (value) params.set(name, value);
      });
      return params;
    }

    // The card's schedule line, as console/jobs.py writes it on the server.
    var CRON_ORDER = ["second", "minute", "hour", "day", "month", "day_of_week", "year"];
    var SIGNIFICANCE = ["year", "month", "day", "day_of_week", "hour", "minute", "second"];
    var MINIMUM = { second: "0", minute: "0", hour: "0", day: "1", month: "1" };
    var INTERVAL_UNITS = ["weeks", "days", "hours", "minutes", "seconds"];
    function crontab(params) {
      if (params.expression) return String(params.expression);  // as the user wrote it
      // APScheduler makes a field left out "*" before the last one given, its minimum after it.
      var given = function (name) { return params[name] !== undefined && params[name] !== null; };
      var last = -1, values = {};
      SIGNIFICANCE.forEach(function (name, i) { if (given(name)) last = i; });
      SIGNIFICANCE.forEach(function (name, i) {
        values[name] = given(name) ? String(params[name]) : (i > last && MINIMUM[name]) || "*";
      });
      var fields = CRON_ORDER.map(function (name) { return values[name]; });
      // Both day fields restricted: six fields, as five would read as cron's "either day".
      var bothDays = fields[3].charAt(0) !== "*" && fields[5].charAt(0) !== "*";
      if (fields[6] === "*") fields = fields[0] === "0" && !bothDays ? fields.slice(1, 6) : fields.slice(0, 6);
      return fields.join(" ");
    }
    function scheduleText(job) {
      var params = job.trigger_params || {};
      if (job.trigger_type === "cron") return crontab(params);
      if (job.trigger_type === "interval") {
        var parts = INTERVAL_UNITS.filter(function (u) { return params[u]; }).map(function (u) {
          return WF.t(params[u] === 1 ? "unit_" + u + "_one" : "unit_" + u, { n: params[u] });
        });
        return WF.t("schedule_interval", { every: parts.join(" ") });
      }
      if (job.trigger_type === "date") {
        return WF.t("schedule_date", { when: String(params.run_date || "").slice(0, 19).replace("T", " ") });
      }
      return WF.t("schedule_dependency", { jobs: (job.depends_on || []).join(", ") });
    }
    /** A one-off job that is active with nothing left to run is completed. */
    function displayState(job) {
      var done = job.trigger_type === "date" && !job.next_run_time && !job.broken_reason;
      return job.state === "active" && done ? "completed" : job.state;
    }

    function field(card, name) { return card.querySelector('[data-f="' + name + '"]'); }
    function setText(card, name, text) { var node = field(card, name); if (node) node.textContent = text || ""; }

    function lastRun(run) {
      if (!run) return [WF.el("span", { class: "text-body-secondary" }, WF.t("never_run"))];
      return [
        WF.el("a", { class: "wf-last-link", href: "/scheduler/runs/" + encodeURIComponent(run.id) }, WF.statusBadge(run.display_status || run.status)),
        " ", WF.el("span", { "data-f": "last_started" }, WF.when(run.started_at)),
        " ", WF.el("span", { class: "text-body-secondary", "data-f": "last_duration" }, WF.duration(run.duration_seconds)),
      ];
    }

    function fill(card, job) {
      card.dataset.jobId = job.id;
      card.dataset.state = job.state;
      card.dataset.kind = job.kind;
      setText(card, "name", job.name);
      field(card, "name").setAttribute("href", "/scheduler/jobs/" + encodeURIComponent(job.id));
      setText(card, "id", job.id);
      setText(card, "description", job.description);
      field(card, "description").classList.toggle("d-none", !job.description);
      setText(card, "category", job.category_label);
      field(card, "category").classList.toggle("d-none", !job.category);
      setText(card, "kind", job.kind === "builtin" ? job.func_name : WF.t("kind_" + job.kind));
      card.querySelector('[data-f="template"]').classList.toggle("d-none", !job.template);
      var badge = field(card, "state");
      var state = displayState(job);
      badge.className = "badge wf-state wf-state-" + state;
      badge.textContent = WF.t("state_" + state);
      field(card, "broken").classList.toggle("d-none", !job.broken_reason);
      setText(card, "broken_reason", job.broken_reason);
      setText(card, "trigger_description", job.trigger_description);
      setText(card, "trigger", scheduleText(job));
      // Crontab text is the same in every language; the interval and date lines are words.
      field(card, "trigger").translate = job.trigger_type !== "cron";
      setText(card, "next_run_time", job.next_run_time || WF.t("none"));
      field(card, "last_run").replaceChildren(...lastRun(job.last_run));
      field(card, "runs_link").setAttribute("href", "/scheduler/runs?job_id=" + encodeURIComponent(job.id));
      var toggle = function (action, hidden) {
        var button = card.querySelector('[data-action="' + action + '"]');
        if (button) button.classList.toggle("d-none", hidden);
      };
      // A job that runs code (any kind but builtin) is the admin's: operators get a note instead.
      var locked = job.kind !== "builtin" && !isAdmin;
      toggle("run", locked);
      toggle("pause", locked || job.state === "paused");
      toggle("resume", locked || job.state !== "paused");
      ["edit", "copy", "delete"].forEach(function (action) { toggle(action, locked); });
      var note = field(card, "admin_only");
      if (note) note.classList.toggle("d-none", !locked);
    }

    function render(jobs, total) {
      var existing = new Map();
      grid.querySelectorAll(".wf-job").forEach(function (card) { existing.set(card.dataset.jobId, card.parentElement); });
      var order = jobs.map(function (job) {
        var col = existing.get(job.id) || template.content.firstElementChild.cloneNode(true);
        existing.delete(job.id);
        fill(col.querySelector(".wf-job"), job);
        return col;
      });
      existing.forEach(function (col) { col.remove(); });
      if (bulkBar) showPicked();  // a picked job that is gone is no longer picked
      // Move only what is out of place, so a focused button keeps its focus.
      order.forEach(function (col, index) {
        if (grid.children[index] !== col) grid.insertBefore(col, grid.children[index] || null);
      });
      document.getElementById("jobs-total").textContent = WF.t("jobs_total", { n: total });
      document.getElementById("jobs-empty").classList.toggle("d-none", jobs.length > 0);
    }

    /** The banner of the maintenance windows open now, as the server draws it. */
    var banner = document.getElementById("window-banner");
    function renderWindows(windows) {
      banner.replaceChildren(...windows.filter(function (w) { return w.open && !w.ended_at; }).map(function (w) {
        return WF.el("div", { class: "alert alert-warning py-2 small d-flex flex-wrap gap-1", "data-window-id": String(w.id), role: "status" }, [
          WF.el("strong", {}, WF.t("mw_banner_label")),
          WF.el("span", { class: "fw-semibold text-break", "data-f": "name", translate: "no" }, w.name),
          WF.el("span", { "data-f": "until" }, WF.t("mw_banner_until", { time: w.closes_at })), " · ",
          WF.el("span", { "data-f": "held" }, WF.t(w.hold_runs ? "mw_banner_held" : "mw_banner_not_held"))]);
      }));
    }

    async function refresh() {
      var params = filterParams();
      params.set("per_page", String(PAGE));
      var envelope = await WF.api("GET", "/jobs?" + params.toString());
      render(envelope.data.jobs, envelope.data.total);
      if (banner) renderWindows((await WF.api("GET", "/maintenance-windows")).data.windows);
      var now = WF.when(new Date().toISOString()).slice(11);
      document.getElementById("jobs-refreshed").textContent = WF.t("refreshed", { time: now });
    }

    WF.every(30, function () {
      return refresh().catch(function (error) {
        document.getElementById("jobs-refreshed").textContent = error.message;  // stale cards, said so
      });
    });

    var applyFilters = function () {
      var params = filterParams().toString();
      history.replaceState(null, "", location.pathname + (params ? "?" + params : ""));
      refresh().catch(function (error) { WF.toast(error.message, "danger"); });
    };
    filters.addEventListener("submit", function (event) { event.preventDefault(); applyFilters(); });
    filters.addEventListener("input", WF.debounce(applyFilters, 300));

    // --- actions (one delegated handler for every card) ---------------------------------
    async function act(button, card) {
      var id = card.dataset.jobId;
      var path = "/jobs/" + encodeURIComponent(id);
      var action = button.dataset.action;
      if (action === "edit") {
        WF.jobEditor.open(id, refresh);
        return;
      }
      if (action === "copy") {
        WF.jobEditor.copy(id, refresh);
        return;
      }
      if (action === "delete") {
        var question = WF.t("delete_confirm", { name: field(card, "name").textContent, id: id });
        if (!(await WF.confirm(WF.t("delete_title"), question, WF.t("delete")))) return;
        if (await WF.call("DELETE", path, undefined, button) === null) return;
      } else if (action === "run") {
        button.disabled = true;
        try {
          var envelope = await WF.api("POST", path + "/run");
          WF.toast(envelope.message, "success",
            { href: "/scheduler/runs/" + envelope.data.run_id, text: WF.t("view_run") });
        } catch (error) {
          WF.toast(error.message, "danger");
        } finally {
          button.disabled = false;
        }
      } else if (action === "pause") {
        await pauseJob(path, button);
      } else if (await WF.call("POST", path + "/" + action, undefined, button) === null) {
        return;
      }
      await refresh();
    }

    async function pauseJob(path, button) {
      button.disabled = true;
      try {
        var envelope = await WF.pauseJob(path);
        if (envelope) WF.toast(envelope.message, "success");
      } catch (error) {
        WF.toast(error.message, "danger");
      } finally {
        button.disabled = false;
      }
    }

    // --- bulk actions on the cards picked, group actions on the category filtered on ----------
    var bulkBar = document.getElementById("bulk-bar");
    var groupBar = document.getElementById("group-bar");
    function picked() {
      return Array.from(grid.querySelectorAll(".wf-pick:checked")).map(function (box) {
        return box.closest(".wf-job");
      });
    }
    function showPicked() {
      if (!bulkBar) return;
      var count = picked().length;
      bulkBar.classList.toggle("d-none", count === 0);
      bulkBar.querySelector('[data-f="count"]').textContent = WF.t("bulk_selected", { n: count });
    }
    function showGroup() {
      if (!groupBar) return;
      var category = filters.elements.category.value;
      groupBar.classList.toggle("d-none", !category);
      groupBar.querySelector('[data-f="group"]').textContent = category;
    }
    /** A group's or a selection's answer: the summary, and each job skipped with why. */
    function summarise(envelope) {
      var skipped = envelope.data.skipped || [];
      WF.toast(envelope.message, skipped.length ? "info" : "success");
      skipped.forEach(function (skip) { WF.toast(skip.message, "danger"); });
    }
    async function bulk(button) {
      var action = button.dataset.bulkAction;
      var cards = picked();
      if (action === "clear" || !cards.length) {
        cards.forEach(function (card) { field(card, "pick").checked = false; });
        showPicked();
        return;
      }
      var ids = cards.map(function (card) { return card.dataset.jobId; });
      if (action === "delete") {
        var names = cards.map(function (card) { return field(card, "name").textContent + " (" + card.dataset.jobId + ")"; });
        var question = WF.t("bulk_delete_confirm", { n: ids.length });
        if (!(await WF.confirm(WF.t("bulk_delete_title"), question, WF.t("delete"), names))) return;
      }
      button.disabled = true;
      try {
        summarise(await WF.api("POST", "/bulk/" + action, { ids: ids }));
      } finally {
        button.disabled = false;
      }
      await refresh();
      showPicked();
    }
    async function group(button) {
      var action = button.dataset.groupAction;
      var category = filters.elements.category.value;
      if (!category) return;
      var question = WF.t("group_" + action + "_confirm", { name: category });
      if (!(await WF.confirm(WF.t("group_" + action), question, WF.t("group_" + action)))) return;
      button.disabled = true;
      try {
        summarise(await WF.api("POST", "/groups/" + encodeURIComponent(category) + "/" + action));
      } finally {
        button.disabled = false;
      }
      await refresh();
    }
    if (bulkBar) {
      bulkBar.addEventListener("click", function (event) {
        var button = event.target.closest("button[data-bulk-action]");
        if (button) bulk(button).catch(function (error) { WF.toast(error.message, "danger"); });
      });
      grid.addEventListener("change", function (event) { if (event.target.matches(".wf-pick")) showPicked(); });
    }
    if (groupBar) {
      groupBar.addEventListener("click", function (event) {
        var button = event.target.closest("button[data-group-action]");
        if (button) group(button).catch(function (error) { WF.toast(error.message, "danger"); });
      });
      filters.elements.category.addEventListener("change", showGroup);
    }
    document.addEventListener("wf:jobs-changed", function () {
      refresh().catch(function (error) { WF.toast(error.message, "danger"); });
    });

    grid.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-action]");
      if (!button) return;
      act(button, button.closest(".wf-job")).catch(function (error) { WF.toast(error.message, "danger"); });
    });

    var newJob = document.getElementById("new-job");
    if (newJob) newJob.addEventListener("click", function () { WF.jobEditor.open(null, refresh); });
  });
})();
