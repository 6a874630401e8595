/* One job's page: its code or shell script in a read-only CodeMirror (for every role), the durations of its
 * last runs as an ECharts bar chart (a bar per run, coloured by status; a click opens the run),
 * and — for operators — the actions, sent to the API: run now, pause, resume, edit, copy
 * (the create dialog filled with this definition) and delete. A code or shell job's versions:
 * what each change did as a unified diff (a line per element, coloured by class, filled with
 * textContent), and — for admins — restore after a confirmation. The page is the server's; after
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

    var DIFF_CLASS = { "+": "wf-diff-add", "-": "wf-diff-del", "@": "wf-diff-hunk" };

    function showDiff(number, text) {
      var box = document.getElementById("version-diff");
      var pre = document.getElementById("version-diff-text");
      document.getElementById("version-diff-title").textContent =
        WF.t("version_diff_title", { from: number - 1, to: number });
      pre.replaceChildren();
      text.split("\n").forEach(function (line, index, lines) {
        if (index === lines.length - 1 && line === "") return;
        var file = line.startsWith("+++ ") || line.startsWith("--- ");
        var kind = file ? "wf-diff-file" : DIFF_CLASS[line.charAt(0)] || "wf-diff-same";
        pre.appendChild(WF.el("span", { class: "wf-diff-line " + kind }, line));
      });
      if (!text) pre.appendChild(WF.el("span", { class: "wf-diff-line wf-diff-same" }, WF.t("version_no_changes")));
      box.hidden = false;
    }

    async function versionAct(button) {
      var number = Number(button.closest("[data-version]").dataset.version);
      var versionPath = path + "/versions/" + number;
      button.disabled = true;
      try {
        if (button.dataset.versionAction === "diff") {
          var diff = await WF.api("GET", path + "/versions/diff?from=" + (number - 1) + "&to=" + number);
          showDiff(number, diff.data.diff);
        } else {
          var question = WF.t("version_restore_confirm", { n: number, id: id });
          if (!(await WF.confirm(WF.t("version_restore_title"), question, WF.t("version_restore")))) return;
          reload((await WF.api("POST", versionPath + "/restore", {})).message);
        }
      } catch (error) {
        WF.toast(error.message, "danger");
      } finally {
        button.disabled = false;
      }
    }

    var versionList = document.getElementById("version-list");
    if (versionList) {
      versionList.addEventListener("click", function (event) {
        var button = event.target.closest("button[data-version-action]");
        if (button) versionAct(button);
      });
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
