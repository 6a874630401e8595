/* The overview page: the 7-day success-rate chart (ECharts, a bar per local day), and every
 * card refreshed from GET /api/overview every 30 s (not while the tab is hidden). The cards are
 * the server's at first; a refresh rebuilds each list with WF.el (textContent only). The
 * refresher is kept as WF.overview so a test can ask for a refresh at once. */
(function () {
  "use strict";

  var STATUSES = ["queued", "running", "success", "failed", "timeout", "cancelled", "skipped", "missed",
    "interrupted"];

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function chartOption(days) {
    var text = cssVar("--bs-secondary-color"), grid = cssVar("--bs-border-color");
    return {
      animation: false,
      grid: { left: 44, right: 12, top: 16, bottom: 28 },
      // richText: the tooltip is drawn on the canvas, never HTML built from the data.
      tooltip: {
        trigger: "item", renderMode: "richText",
        formatter: function (point) {
          var day = days[point.dataIndex];
          if (!day.total) return day.day + "\n" + WF.t("ov_no_runs_day");
          return day.day + "\n" + WF.t("ov_rate") + " " + day.rate + "%\n" +
            WF.t("ov_runs_judged", { ok: day.success, total: day.total });
        },
      },
      xAxis: {
        type: "category", data: days.map(function (d) { return d.day; }),
        axisLabel: { color: text, formatter: function (value) { return String(value).slice(5); } },
        axisLine: { lineStyle: { color: grid } },
      },
      yAxis: {
        type: "value", min: 0, max: 100,
        axisLabel: { color: text, formatter: "{value}%" }, splitLine: { lineStyle: { color: grid } },
      },
      series: [{
        type: "bar", barMaxWidth: 28,
        data: days.map(function (d) {
          var colour = d.rate === null ? "--bs-secondary" : d.rate >= 95 ? "--bs-success" : d.rate >= 80 ?
            "--bs-warning" : "--bs-danger";
          return { value: d.rate === null ? 0 : d.rate, itemStyle: { color: cssVar(colour) } };
        }),
      }],
    };
  }

  function fill(listId, items, build) {
    var list = document.getElementById(listId);
    list.replaceChildren.apply(list, items.map(build));
    document.querySelector('[data-empty="' + listId + '"]').classList.toggle("d-none", items.length > 0);
  }

  function statusBadge(status) {
    return WF.el("span", { class: "badge wf-status wf-status-" + (status || "none"), "data-f": "status" },
      status ? WF.t("status_" + status) : "");
  }

  function runItem(run, withError) {
    return WF.el("li", { class: "list-group-item d-flex flex-wrap align-items-center gap-2", "data-run-id": run.id }, [
      WF.el("a", { "data-f": "link", href: "/scheduler/runs/" + encodeURIComponent(run.id) }, "#" + run.id),
      WF.el("code", { class: "text-break", "data-f": "job_id", translate: "no" }, run.job_id),
      statusBadge(run.status),
      WF.el("span", { class: "small text-body-secondary ms-auto", "data-f": "at" },
        run.finished_at.local || run.started_at.local || run.created_at.local || ""),
      withError ? WF.el("span", { class: "w-100 small text-danger-emphasis text-break wf-clip", "data-f": "error",
        translate: "no" }, run.error) : null,
    ]);
  }

  function deliveriesLink(d) {
    var query = d.job_id ? "job_id=" + encodeURIComponent(d.job_id) : "channel=" + encodeURIComponent(d.channel);
    return "/scheduler/alerts/deliveries?" + query;
  }

  function draw(ov, chart) {
    var h = ov.health;
    var card = document.getElementById("ov-health");
    card.dataset.status = h.status;
    var badge = card.querySelector('[data-f="badge"]');
    badge.className = "badge wf-health wf-health-" + h.status;
    badge.textContent = WF.t("ov_health_" + h.status);
    card.querySelector('[data-f="no_scheduler"]').classList.toggle("d-none", h.running);
    var problems = card.querySelector('[data-f="problems"]');
    problems.replaceChildren.apply(problems, h.problems.map(function (p) { return WF.el("li", {}, p); }));
    card.querySelector('[data-f="leader"]').textContent = h.leader || WF.t("none");
    card.querySelector('[data-f="last_heartbeat"]').textContent = h.last_heartbeat.local || WF.t("none");
    card.querySelector('[data-f="heartbeat_age"]').textContent = h.heartbeat_age_seconds === null ? "" :
      WF.t("ov_seconds_ago", { n: Math.floor(h.heartbeat_age_seconds) });
    card.querySelector('[data-f="lease_expires_at"]').textContent = h.lease_expires_at.local || WF.t("none");

    document.getElementById("ov-24h-total").textContent = ov.runs_24h.total;
    var counts = document.getElementById("ov-24h");
    counts.replaceChildren.apply(counts, STATUSES
      .filter(function (s) { return ov.runs_24h[s]; })
      .map(function (s) {
        return WF.el("li", { class: "list-inline-item mb-1", "data-status": s },
          [statusBadge(s), " ", WF.el("span", { "data-f": "count" }, ov.runs_24h[s])]);
      }));

    if (chart) chart.setOption(chartOption(ov.success_by_day));
    fill("ov-running", ov.running, function (r) { return runItem(r, false); });
    fill("ov-failures", ov.recent_failures, function (r) { return runItem(r, true); });
    fill("ov-next", ov.next_runs, function (n) {
      return WF.el("li", { class: "list-group-item d-flex flex-wrap gap-2", "data-job-id": n.job_id }, [
        WF.el("span", { class: "small text-nowrap", "data-f": "when" }, n.next_run_time.local),
        WF.el("a", { class: "text-break", "data-f": "job", translate: "no",
          href: "/scheduler/jobs/" + encodeURIComponent(n.job_id) }, n.name || n.job_id),
      ]);
    });
    fill("ov-windows", ov.open_windows, function (w) {
      return WF.el("li", { class: "list-group-item d-flex flex-wrap gap-2", "data-window-id": w.id }, [
        WF.el("span", { class: "text-break", "data-f": "name", translate: "no" }, w.name),
        WF.el("span", { class: "small text-body-secondary ms-auto", "data-f": "closes" },
          WF.t("ov_closes_at", { when: w.closes_at.local })),
        w.hold_runs ? WF.el("span", { class: "badge text-bg-warning", "data-f": "hold" }, WF.t("ov_hold_runs")) : null,
      ]);
    });
    fill("ov-deliveries", ov.deliveries, function (d) {
      var event = "alert_event_" + d.event, status = "delivery_status_" + d.status;
      return WF.el("li", { class: "list-group-item d-flex flex-wrap gap-2 align-items-center", "data-delivery-id": d.id }, [
        WF.el("a", { "data-f": "link", href: deliveriesLink(d) }, WF.t(event) === event ? d.event : WF.t(event)),
        WF.el("span", { class: "wf-word small", "data-f": "channel", translate: "no" }, d.channel),
        WF.el("span", { class: "badge wf-delivery wf-delivery-" + d.status, "data-f": "status" },
          WF.t(status) === status ? d.status : WF.t(status)),
        WF.el("span", { class: "small text-body-secondary ms-auto", "data-f": "at" }, d.created_at.local),
      ]);
    });
    document.getElementById("ov-updated").textContent = WF.t("ov_updated", { when: ov.time.local });
  }

  WF.ready(function () {
    var ov = {};
    try { ov = JSON.parse(document.getElementById("ov-data").textContent); } catch (e) { ov = {}; }
    var box = document.getElementById("ov-chart");
    var chart = null;
    if (box && window.echarts && ov.success_by_day) {
      chart = echarts.init(box, null, { renderer: "canvas" });
      chart.setOption(chartOption(ov.success_by_day));
      window.addEventListener("resize", function () { chart.resize(); });
    }
    WF.overview = WF.every(30, async function () {
      var envelope = await WF.api("GET", "/overview");
      draw(envelope.data, chart);
    });
  });
})();
