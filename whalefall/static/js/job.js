/* One job's page: its code or shell script in a read-only CodeMirror (for every role), the durations of its
 * last runs as an ECharts bar chart (a bar per run, coloured by status; a click opens the run),
 * and — for operators — the actions, sent to the API: run now, pause, resume, edit, copy
 * (the create dialog filled with this definition) and delete. The page is the server's; after
 * a change it is loaded again, with the API's message kept for a toast. */
(function () {
  "use strict";

  var STATUS_COLOUR = {
    success: "--bs-success", running: "--bs-primary", queued: "--bs-info",
    failed: "--bs-danger", timeout: "--bs-danger", interrupted: "--bs-danger", missed: "--bs-warning",
  };

  function cssVar(name) {
    return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  }

  function chartOf(box, runs) {
    var chart = echarts.init(box, null, { renderer: "canvas" });
    var text = cssVar("--bs-secondary-color"), grid = cssVar("--bs-border-color");
    chart.setOption({
      animation: false,
      grid: { left: 56, right: 16, top: 16, bottom: 32 },
      // richText: the tooltip is drawn on the canvas, never HTML built from the data.
      tooltip: {
        trigger: "item", renderMode: "richText",
        formatter: function (point) {
          var run = runs[point.dataIndex];
          return "#" + run.id + " " + WF.t("status_" + run.status) + "\n" + WF.when(run.started_at) +
            "\n" + (run.seconds === null ? WF.t("none") : WF.duration(run.seconds));
        },
      },
      xAxis: {
        type: "category", data: runs.map(function (run) { return "#" + run.id; }),
        axisLabel: { color: text }, axisLine: { lineStyle: { color: grid } },
      },
      yAxis: {
        type: "value", axisLabel: { color: text }, splitLine: { lineStyle: { color: grid } },
      },
      series: [{
        type: "bar", barMaxWidth: 24,
        data: runs.map(function (run) {
          return { value: run.seconds === null ? 0 : run.seconds,
            itemStyle: { color: cssVar(STATUS_COLOUR[run.status] || "--bs-secondary") } };
        }),
      }],
    });
    chart.on("click", function (point) {
      window.location.assign("/scheduler/runs/" + encodeURIComponent(runs[point.dataIndex].id));
    });
    window.addEventListener("resize", function () { chart.resize(); });
    return chart;
  }

  WF.ready(function () {
    var root = document.getElementById("job");
    var id = root.dataset.jobId;
    var path = "/jobs/" + encodeURIComponent(id);

    var codeArea = document.getElementById("job-code");
    if (codeArea && window.CodeMirror) {
      var viewer = CodeMirror.fromTextArea(codeArea, {
        mode: codeArea.dataset.mode || "python", lineNumbers: true, readOnly: true, matchBrackets: true, viewportMargin: Infinity,
      });
      viewer.getWrapperElement().parentElement.classList.add("wf-readonly");
    }

    var box = document.getElementById("duration-chart");
    var runs = [];
    try { runs = JSON.parse(document.getElementById("job-chart").textContent); } catch (e) { runs = []; }
    if (box && runs.length && window.echarts) chartOf(box, runs);

    function reload(message) {
      if (message) WF.flashAfterReload(message);
      window.location.reload();
    }

    async function act(button) {
      var action = button.dataset.action;
      if (action === "edit") {
        WF.jobEditor.open(id, function () { reload(); });
        return;
      }
      if (action === "copy") {
        WF.jobEditor.copy(id, function (saved) {
          window.location.assign("/scheduler/jobs/" + encodeURIComponent(saved.id));
        });
        return;
      }
      if (action === "delete") {
        var name = root.querySelector('[data-f="name"]').textContent;
        var question = WF.t("delete_confirm", { name: name, id: id });
        if (!(await WF.confirm(WF.t("delete_title"), question, WF.t("delete")))) return;
      }
      button.disabled = true;
      try {
        if (action === "run") {
          var run = await WF.api("POST", path + "/run");
          WF.toast(run.message, "success", { href: "/scheduler/runs/" + run.data.run_id, text: WF.t("view_run") });
        } else if (action === "delete") {
          WF.flashAfterReload((await WF.api("DELETE", path)).message);
          window.location.assign("/scheduler/");
        } else if (action === "pause") {
          var paused = await WF.pauseJob(path);  // asks first when other jobs depend on it
          if (paused) reload(paused.message);
        } else {
          reload((await WF.api("POST", path + "/" + action)).message);
        }
      } catch (error) {
        WF.toast(error.message, "danger");
      } finally {
        button.disabled = false;
      }
    }

    var actions = document.getElementById("job-actions");
    if (actions) {
      actions.addEventListener("click", function (event) {
        var button = event.target.closest("button[data-action]");
        if (button) act(button);
      });
    }
  });
})();
