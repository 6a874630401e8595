/* The create/edit dialog of the jobs page and a job's page: WF.jobEditor.open(jobId | null,
 * onSaved) creates or edits; WF.jobEditor.copy(jobId, onSaved) creates a new job filled with
 * that job's definition, as "<id>_copy" (or _copy2, _copy3… when taken) named "<name> (copy)".
 * onSaved gets the saved job.
 *
 * 1. Built-in functions come from GET /api/tasks; the code kind (admins only: the server
 *    renders that option for them alone) uses CodeMirror with a "check" button calling
 *    POST /api/code/check, which marks the line the server names. The shell kind (admins
 *    only too) is a /bin/sh script in CodeMirror's shell mode or an argv list (one argument
 *    per line), with a working directory and rows of environment variables.
 * 2. The cron editor keeps the seven fields and the expression in step; presets fill them.
 *    A typed expression (or a job's stored one) is sent as typed, so that a 5-field crontab
 *    means what cron means (either day field); edited fields are sent as fields, whose text in
 *    the expression box is then the seven fields, which mean the same.
 * 3. Any change to the trigger asks POST /api/cron/preview (debounced) for the description
 *    and the next five run times; the server's errors appear under the field it names.
 * 4. Save sends the flat form to POST /api/jobs or PUT /api/jobs/<id>; errors land under
 *    their fields, and every result is also a toast.
 * 5. The alert section reads and writes the job's `notify`: only what the user set (channels
 *    from GET /api/alert-channel-names, none chosen or no event ticked = the global policy's),
 *    so an untouched section sends `notify: {}`.
 */
(function () {
  "use strict";

  var CRON_FIELDS = ["second", "minute", "hour", "day", "month", "day_of_week", "year"];
  // APScheduler's order of significance (see cronFromParams).
  var SIGNIFICANCE = ["year", "month", "day", "day_of_week", "hour", "minute", "second"];
  var MINIMUM = { second: "0", minute: "0", hour: "0", day: "1", month: "1" };
  var PRESETS = {
    hourly: ["0", "0", "*", "*", "*", "*", "*"],
    daily: ["0", "0", "2", "*", "*", "*", "*"],
    weekly: ["0", "0", "2", "*", "*", "mon", "*"],
    monthly: ["0", "0", "2", "1", "*", "*", "*"],
  };
  var INTERVAL_FIELDS = ["weeks", "days", "hours", "minutes", "seconds"];
  var POLICIES = ["timeout_seconds", "max_retries", "retry_delay_seconds", "misfire_grace_time", "max_instances"];
  var TRIGGER_INPUTS = CRON_FIELDS.map(function (f) { return "cron_" + f; })
    .concat(INTERVAL_FIELDS.map(function (f) { return "interval_" + f; }))
    .concat(["cron_expression", "run_date", "start_date", "end_date", "jitter", "timezone"]);
  var NEW_CODE = "def execute_task():\n    logger.info(\"hello from %s\", context[\"job_id\"])\n    return \"ok\"\n";
  var NEW_SCRIPT = "#!/bin/sh\nset -eu\necho \"hello from $WHALEFALL_JOB_ID\"\n";

  WF.ready(function () {
    var dialog = document.getElementById("job-dialog");
    if (!dialog) return;
    var modal = bootstrap.Modal.getOrCreateInstance(dialog);
    var form = document.getElementById("job-form");
    var els = form.elements;
    var title = document.getElementById("job-dialog-title");
    var formError = document.getElementById("job-form-error");
    var expression = els.cron_expression;
    var codeArea = document.getElementById("f-code");
    var verdict = document.getElementById("code-verdict");
    var scriptArea = document.getElementById("f-script");
    var envRows = document.getElementById("env-rows");
    var editor = null, shellEditor = null, badLine = null, editing = null, onSaved = null, tasks = null;
    var typedExpression = false, previewSeq = 0;

    // --- the code editor ----------------------------------------------------------------
    if (codeArea && window.CodeMirror) {
      editor = CodeMirror.fromTextArea(codeArea, {
        mode: "python", lineNumbers: true, indentUnit: 4, matchBrackets: true, viewportMargin: Infinity,
        extraKeys: {
          Tab: function (cm) { cm.somethingSelected() ? cm.indentSelection("add") : cm.replaceSelection("    "); },
          "Shift-Tab": function (cm) { cm.indentSelection("subtract"); },
          // Esc leaves the editor (Tab indents inside it) instead of closing the dialog.
          Esc: function () { document.getElementById("code-check").focus(); },
        },
      });
      editor.getWrapperElement().addEventListener("keydown", function (event) {
        if (event.key === "Escape") event.stopPropagation();
      });
      editor.on("change", function () { markLine(null); verdict.textContent = ""; });
    }
    function code() { return editor ? editor.getValue() : (codeArea ? codeArea.value : ""); }

    // --- the shell editor: a script in CodeMirror's shell mode, or an argv list ------------
    if (scriptArea && window.CodeMirror) {
      shellEditor = CodeMirror.fromTextArea(scriptArea, {
        mode: "shell", lineNumbers: true, indentUnit: 2, matchBrackets: true, viewportMargin: Infinity,
        extraKeys: {
          Tab: function (cm) { cm.somethingSelected() ? cm.indentSelection("add") : cm.replaceSelection("  "); },
          "Shift-Tab": function (cm) { cm.indentSelection("subtract"); },
          Esc: function () { els.working_dir.focus(); },
        },
      });
      shellEditor.getWrapperElement().addEventListener("keydown", function (event) {
        if (event.key === "Escape") event.stopPropagation();
      });
    }
    function script() { return shellEditor ? shellEditor.getValue() : (scriptArea ? scriptArea.value : ""); }
    function setScript(text) { if (shellEditor) shellEditor.setValue(text); else if (scriptArea) scriptArea.value = text; }
    function shellMode() {
      var checked = form.querySelector('input[name="shell_mode"]:checked');
      return checked ? checked.value : "script";
    }
    function addEnvRow(name, value) {
      var row = document.getElementById("env-row").content.firstElementChild.cloneNode(true);
      row.querySelector('[data-env="name"]').value = name || "";
      row.querySelector('[data-env="value"]').value = value || "";
      row.querySelector('[data-env="remove"]').addEventListener("click", function () { row.remove(); });
      envRows.appendChild(row);
      return row;
    }
    function fillEnv(env) {
      if (!envRows) return;
      envRows.replaceChildren();
      Object.keys(env || {}).forEach(function (name) { addEnvRow(name, env[name]); });
    }
    function envPayload() {
      var env = {};
      envRows.querySelectorAll(".wf-env-row").forEach(function (row) {
        var name = row.querySelector('[data-env="name"]').value.trim();
        var value = row.querySelector('[data-env="value"]').value;
        if (name || value) env[name] = value;
      });
      return env;
    }
    var envAdd = document.getElementById("env-add");
    if (envAdd) {
      envAdd.addEventListener("click", function () { addEnvRow("", "").querySelector("input").focus(); });
    }
    function setCode(text) { if (editor) editor.setValue(text); else if (codeArea) codeArea.value = text; }
    function markLine(line) {
      if (!editor) return;
      if (badLine !== null) editor.removeLineClass(badLine, "background", "wf-bad-line");
      badLine = null;
      if (line && line > 0 && line <= editor.lineCount()) {
        badLine = line - 1;
        editor.addLineClass(badLine, "background", "wf-bad-line");
        editor.scrollIntoView({ line: badLine, ch: 0 }, 40);
      }
    }
    function showVerdict(ok, message, line) {
      verdict.className = "small mt-1 " + (ok ? "text-success" : "text-danger");
      verdict.textContent = line ? message + " (" + WF.t("code_line", { line: line }) + ")" : message;
      markLine(ok ? null : line);
    }
    var checkButton = document.getElementById("code-check");
    if (checkButton) {
      checkButton.addEventListener("click", async function () {
        checkButton.disabled = true;
        try {
          var envelope = await WF.api("POST", "/code/check", { code: code() });
          showVerdict(true, WF.t("code_ok"));
          WF.toast(envelope.message, "success");
        } catch (error) {
          showVerdict(false, error.message, error.envelope.line);
          WF.toast(error.message, "danger");
        } finally {
          checkButton.disabled = false;
        }
      });
    }

    // --- panels ---------------------------------------------------------------------------
    function kind() { return form.querySelector('input[name="kind"]:checked').value; }
    function triggerType() { return form.querySelector('input[name="trigger_type"]:checked').value; }
    function showPanels() {
      form.querySelectorAll("[data-kind-panel]").forEach(function (panel) {
        panel.classList.toggle("d-none", panel.dataset.kindPanel.split(" ").indexOf(kind()) < 0);
      });
      form.querySelectorAll("[data-shell-panel]").forEach(function (panel) {
        panel.classList.toggle("d-none", panel.dataset.shellPanel !== shellMode());
      });
      form.querySelectorAll("[data-trigger-panel]").forEach(function (panel) {
        panel.classList.toggle("d-none", panel.dataset.triggerPanel.split(" ").indexOf(triggerType()) < 0);
      });
      if (editor && kind() === "code") editor.refresh();
      if (shellEditor && kind() === "shell") shellEditor.refresh();
    }
    form.querySelectorAll('input[name="shell_mode"]').forEach(function (radio) {
      radio.addEventListener("change", showPanels);
    });
    form.querySelectorAll('input[name="kind"], input[name="trigger_type"]').forEach(function (radio) {
      radio.addEventListener("change", function () { showPanels(); schedulePreview(); });
    });

    // --- the cron fields and the expression -------------------------------------------------
    function cronValues() {
      return CRON_FIELDS.map(function (f) { return els["cron_" + f].value.trim() || (f === "second" ? "0" : "*"); });
    }
    function setCron(values) {
      CRON_FIELDS.forEach(function (f, i) { els["cron_" + f].value = values[i]; });
      expression.value = values.join(" ");
      typedExpression = false;
    }
    function splitExpression(text) {
      var parts = text.trim().split(/\s+/).filter(Boolean);
      if (parts.length === 5) return ["0"].concat(parts, ["*"]);
      if (parts.length === 6) return parts.concat(["*"]);
      if (parts.length === 7) return parts;
      return null;
    }
    CRON_FIELDS.forEach(function (f) {
      els["cron_" + f].addEventListener("input", function () {
        expression.value = cronValues().join(" ");
        typedExpression = false;
      });
    });
    expression.addEventListener("input", function () {
      var values = splitExpression(expression.value);
      typedExpression = true;  // the server reads it (or explains what is wrong with it)
      if (values) CRON_FIELDS.forEach(function (f, i) { els["cron_" + f].value = values[i]; });
    });
    form.querySelectorAll("[data-preset]").forEach(function (button) {
      button.addEventListener("click", function () { setCron(PRESETS[button.dataset.preset]); schedulePreview(); });
    });

    /** The trigger in the platform's flat form, only the fields of the chosen type. */
    function triggerPayload() {
      var type = triggerType(), payload = { trigger_type: type };
      var put = function (name) { var v = els[name].value.trim(); if (v) payload[name] = v; };
      if (type === "cron") {
        if (typedExpression) payload.cron_expression = expression.value.trim();
        else CRON_FIELDS.forEach(function (f, i) { payload["cron_" + f] = cronValues()[i]; });
      } else if (type === "interval") {
        INTERVAL_FIELDS.forEach(function (f) { put("interval_" + f); });
      } else if (type === "date") {
        put("run_date");
      }
      if (type === "cron" || type === "interval") { put("start_date"); put("end_date"); put("jitter"); }
      return payload;
    }

    // --- the preview --------------------------------------------------------------------------
    var previewDescription = document.getElementById("preview-description");
    var previewError = document.getElementById("preview-error");
    var previewTimes = document.getElementById("preview-times");
    async function preview() {
      var seq = ++previewSeq;
      var body = Object.assign(triggerPayload(), { lang: WF.config.lang });
      var zone = els.timezone.value.trim();
      if (zone) body.timezone = zone;
      try {
        var envelope = await WF.api("POST", "/cron/preview", body);
        if (seq !== previewSeq) return;  // a newer preview is on its way
        WF.clearErrors(form, TRIGGER_INPUTS);
        previewError.textContent = "";
        previewDescription.textContent = envelope.data.description;
        previewTimes.replaceChildren(...envelope.data.next_run_times.map(function (time) {
          return WF.el("li", {}, time);
        }));
      } catch (error) {
        if (seq !== previewSeq) return;
        WF.clearErrors(form, TRIGGER_INPUTS);
        previewDescription.textContent = "";
        previewTimes.replaceChildren();
        var unplaced = WF.showErrors(form, pick(error.errors, TRIGGER_INPUTS));
        previewError.textContent = unplaced.length || !Object.keys(error.errors).length ? error.message : "";
      }
    }
    var schedulePreview = WF.debounce(preview, 300);
    TRIGGER_INPUTS.forEach(function (name) { els[name].addEventListener("input", schedulePreview); });

    function pick(errors, names) {
      var out = {};
      Object.keys(errors || {}).forEach(function (k) { if (names.indexOf(k) >= 0 || k === "trigger_type") out[k] = errors[k]; });
      return out;
    }

    // --- built-in functions ---------------------------------------------------------------
    async function loadTasks() {
      if (tasks) return;
      var envelope = await WF.api("GET", "/tasks");
      tasks = envelope.data.tasks;
      // No task is chosen for the user: an empty first option, and saving without a choice is refused.
      els.function.replaceChildren(WF.el("option", { value: "" }, WF.t("choose_task")),
        ...tasks.map(function (task) { return WF.el("option", { value: task.name }, task.name); }));
      describeTask();
    }
    function describeTask() {
      var task = (tasks || []).find(function (t) { return t.name === els.function.value; });
      document.getElementById("f-function-help").textContent = task ? task.description : "";
    }
    els.function.addEventListener("change", function () {
      describeTask();
      if (els.function.value) WF.clearErrors(form, ["function"]);
    });

    // --- alert settings (notify) ----------------------------------------------------------
    var channelSelect = els["notify.channels"];
    var eventBoxes = form.querySelectorAll("[data-notify-event]");
    var channelNames = null;
    async function loadChannels() {
      if (channelNames) return;
      try {
        channelNames = (await WF.api("GET", "/alert-channel-names")).data.channels.map(function (c) { return c.name; });
      } catch (error) {
        channelNames = null;  // the dialog still opens: the job's own channels and "all" stay choosable
      }
    }
    /** The channel options: "*" (all), the known names, and any the job names that is gone or off. */
    function channelOptions(chosen) {
      var names = ["*"].concat(channelNames || []);
      chosen.forEach(function (name) { if (names.indexOf(name) < 0) names.push(name); });
      channelSelect.replaceChildren(...names.map(function (name) {
        return WF.el("option", { value: name, translate: name === "*" ? null : "no", selected: chosen.indexOf(name) >= 0 },
          name === "*" ? channelSelect.dataset.all : name);
      }));
    }
    // The registered instances a code or shell job may connect to (names; admins only).
    var instanceSelect = els.uses_instances;
    var instanceNames = null;
    async function loadInstances() {
      if (instanceNames) return;
      try {
        instanceNames = (await WF.api("GET", "/instances?per_page=200")).data.instances.map(function (i) { return i.name; });
      } catch (error) {
        instanceNames = null;  // the dialog still opens with the job's own names
      }
    }
    function instanceOptions(chosen) {
      var names = (instanceNames || []).slice();
      chosen.forEach(function (name) { if (names.indexOf(name) < 0) names.push(name); });
      instanceSelect.replaceChildren(...names.map(function (name) {
        return WF.el("option", { value: name, translate: "no", selected: chosen.indexOf(name) >= 0 }, name);
      }));
    }
    // The jobs a job may depend on: every job but itself (loaded each time the dialog opens,
    // as jobs come and go), listed by name and id.
    var dependsSelect = els.depends_on;
    var knownJobs = [];
    async function loadJobs() {
      try {
        knownJobs = (await WF.api("GET", "/jobs?per_page=200")).data.jobs.map(function (j) { return { id: j.id, name: j.name }; });
      } catch (error) {
        knownJobs = [];  // the dialog still opens with the job's own upstreams
      }
    }
    function dependsOptions(chosen, self) {
      var jobs = knownJobs.filter(function (j) { return j.id !== self; });
      chosen.forEach(function (id) {
        if (!jobs.some(function (j) { return j.id === id; })) jobs.push({ id: id, name: id });
      });
      dependsSelect.replaceChildren(...jobs.map(function (j) {
        var label = j.name === j.id ? j.id : j.name + " (" + j.id + ")";
        return WF.el("option", { value: j.id, selected: chosen.indexOf(j.id) >= 0 }, label);
      }));
    }
    function fillNotify(notify) {
      notify = notify || {};
      els["notify.enabled"].checked = notify.enabled !== false;
      channelOptions(notify.channels || []);
      eventBoxes.forEach(function (box) { box.checked = (notify.events || []).indexOf(box.value) >= 0; });
      els["notify.threshold"].value = notify.threshold || "";
      els["notify.long_running_seconds"].value = notify.long_running_seconds || "";
    }
    function notifyPayload() {
      var notify = {};
      if (!els["notify.enabled"].checked) notify.enabled = false;
      var channels = Array.from(channelSelect.selectedOptions).map(function (o) { return o.value; });
      if (channels.length) notify.channels = channels;
      var events = Array.from(eventBoxes).filter(function (b) { return b.checked; }).map(function (b) { return b.value; });
      if (events.length) notify.events = events;
      ["threshold", "long_running_seconds"].forEach(function (name) {
        var value = els["notify." + name].value.trim();
        if (value) notify[name] = Number(value);
      });
      return notify;
    }

    // --- filling the form -----------------------------------------------------------------
    function localInput(iso) { return iso ? String(iso).slice(0, 19) : ""; }

    function cronFromParams(params) {
      // As APScheduler reads them: a field left out is "*" before the last one given, its minimum after.
      var given = function (f) { return params[f] !== undefined && params[f] !== null; };
      var last = -1, values = {};
      SIGNIFICANCE.forEach(function (f, i) { if (given(f)) last = i; });
      SIGNIFICANCE.forEach(function (f, i) { values[f] = given(f) ? String(params[f]) : (i > last && MINIMUM[f]) || "*"; });
      return CRON_FIELDS.map(function (f) { return values[f]; });
    }

    function reset() {
      form.reset();
      WF.clearErrors(form);
      formError.classList.add("d-none");
      formError.textContent = "";
      if (verdict) verdict.textContent = "";
      markLine(null);
      setCode(NEW_CODE);
      setScript(NEW_SCRIPT);
      fillEnv({});
      els.params.value = "{}";
      setCron(PRESETS.daily);
      POLICIES.forEach(function (name) { els[name].value = ""; });
      els.max_retries.value = "0";
      els.retry_delay_seconds.value = "60";
      els.misfire_grace_time.value = "300";
      els.max_instances.value = "1";
      els.coalesce.checked = true;
      fillNotify({});
      describeTask();
      // The last job's preview must not stand for this one while it loads (and a late answer
      // to the last one's request is ignored).
      previewSeq++;
      previewDescription.textContent = "";
      previewError.textContent = "";
      previewTimes.replaceChildren();
    }

    function check(name, value) {
      var radio = form.querySelector('input[name="' + name + '"][value="' + value + '"]');
      if (radio) radio.checked = true;
    }

    function fill(job) {
      if (els.version_note) els.version_note.value = "";  // a note is about one change: never carried over
      els.id.value = job.id;
      els.name.value = job.name;
      els.description.value = job.description || "";
      els.category.value = job.category || "";
      check("kind", job.kind);
      if (job.kind === "builtin") els.function.value = job.func_name;
      else if (job.kind === "shell") fillShell(job);
      else setCode(job.code || "");
      els.params.value = JSON.stringify(job.params || {}, null, 2);
      check("trigger_type", job.trigger_type);
      var p = job.trigger_params || {};
      if (job.trigger_type === "cron") setCron(cronFromParams(p));
      if (job.trigger_type === "cron" && p.expression) {
        expression.value = p.expression;  // kept as the user wrote it, and sent back so
        typedExpression = true;
      }
      INTERVAL_FIELDS.forEach(function (f) { els["interval_" + f].value = p[f] || ""; });
      els.run_date.value = localInput(p.run_date);
      els.start_date.value = localInput(p.start_date);
      els.end_date.value = localInput(p.end_date);
      els.jitter.value = p.jitter || "";
      dependsOptions(job.depends_on || [], editing);
      instanceOptions(job.uses_instances || []);
      els.timezone.value = job.timezone === WF.config.timezone ? "" : job.timezone;
      POLICIES.forEach(function (name) { els[name].value = job[name] === null ? "" : job[name]; });
      els.coalesce.checked = !!job.coalesce;
      fillNotify(job.notify);
      describeTask();
    }

    function fillShell(job) {
      check("shell_mode", job.shell_mode || "script");
      if (job.shell_mode === "argv") els.command.value = (job.command || []).join("\n");
      else setScript(job.script || "");
      els.working_dir.value = job.working_dir || "";
      fillEnv(job.env);
    }

    /** The first of <id>_copy, <id>_copy2, … that no job has (ids are at most 64 characters). */
    async function freeId(jobId) {
      for (var n = 1; n < 100; n++) {
        var suffix = n === 1 ? "_copy" : "_copy" + n;
        var candidate = jobId.slice(0, 64 - suffix.length) + suffix;
        try {
          await WF.api("GET", "/jobs/" + encodeURIComponent(candidate));
        } catch (error) {
          if (error.status === 404) return candidate;
          throw error;
        }
      }
      return "";
    }

    // A second open while the first is still loading wins: the first neither fills nor shows.
    var openSeq = 0;
    async function open(jobId, saved, copyOf) {
      var seq = ++openSeq;
      onSaved = saved;
      editing = jobId;
      reset();
      title.textContent = jobId ? title.dataset.edit : copyOf ? title.dataset.copy : title.dataset.new;
      els.id.readOnly = !!jobId;
      try {
        await loadTasks();
        await loadChannels();
        await loadInstances();
        await loadJobs();
        var job = jobId ? (await WF.api("GET", "/jobs/" + encodeURIComponent(jobId))).data : null;
        var original = copyOf ? (await WF.api("GET", "/jobs/" + encodeURIComponent(copyOf))).data : null;
        var copyId = original ? await freeId(original.id) : null;
        if (seq !== openSeq) return;
        fillNotify({});
        instanceOptions([]);
        dependsOptions([], null);
        if (job) fill(job);
        if (original) {
          fill(original);
          els.id.value = copyId;
          els.name.value = WF.t("copy_name", { name: original.name }).slice(0, 200);
        }
      } catch (error) {
        if (seq === openSeq) WF.toast(error.message, "danger");
        return;
      }
      showPanels();
      modal.show();
      preview();
    }
    function copy(jobId, saved) { return open(null, saved, jobId); }
    function close() { WF.hideModal(dialog); }
    dialog.addEventListener("shown.bs.modal", function () {
      if (editor) editor.refresh();
      if (shellEditor) shellEditor.refresh();
      (editing ? els.name : els.id).focus();
    });

    // --- saving -----------------------------------------------------------------------------
    function payload() {
      var body = Object.assign(triggerPayload(), {
        name: els.name.value, description: els.description.value, category: els.category.value.trim(),
        depends_on: Array.from(dependsSelect.selectedOptions).map(function (o) { return o.value; }), timezone: els.timezone.value.trim(),
        coalesce: els.coalesce.checked, notify: notifyPayload(),
      });
      if (!editing) body.id = els.id.value.trim();
      POLICIES.forEach(function (name) {
        var value = els[name].value.trim();
        if (value) body[name] = value;
        else if (name === "timeout_seconds") body[name] = null;
      });
      var note = els.version_note ? els.version_note.value.trim() : "";  // admins only
      if (kind() !== "builtin" && note) body.version_note = note;
      if (kind() !== "builtin") {
        body.uses_instances = Array.from(instanceSelect.selectedOptions).map(function (o) { return o.value; });
      }
      if (kind() === "code") {
        body.code = code();
      } else if (kind() === "shell") {
        if (shellMode() === "argv") {
          // One argument per line, as typed: only the empty lines at the very end are dropped.
          var argv = els.command.value.replace(/\s+$/, "").split("\n");
          if (!argv[0].trim()) return { invalid: { command: WF.t("shell_required") } };
          body.command = argv;
        } else {
          if (!script().trim()) return { invalid: { script: WF.t("shell_required") } };
          body.script = script();
        }
        body.working_dir = els.working_dir.value.trim();
        body.env = envPayload();
        return { body: body };
      } else {
        if (!els.function.value) return { invalid: { function: WF.t("function_required") } };
        body.function = els.function.value;
      }
      var params;
      try { params = JSON.parse(els.params.value || "{}"); } catch (e) { params = null; }
      if (!params || typeof params !== "object" || Array.isArray(params)) return { invalid: { params: WF.t("params_invalid") } };
      body.params = params;
      return { body: body };
    }

    function fail(message, errors, line) {
      var unplaced = WF.showErrors(form, errors);
      if (line) markLine(line);
      formError.textContent = unplaced.length || !Object.keys(errors || {}).length ? message : WF.t("fix_errors");
      formError.classList.remove("d-none");
      var first = form.querySelector(".is-invalid");
      if (first) first.focus();
      else if (errors && errors.code && editor) editor.focus();
    }

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      WF.clearErrors(form);
      formError.classList.add("d-none");
      var built = payload();
      if (built.invalid) { fail(WF.t("fix_errors"), built.invalid); return; }
      var save = document.getElementById("job-save");
      save.disabled = true;
      try {
        var envelope = editing
          ? await WF.api("PUT", "/jobs/" + encodeURIComponent(editing), built.body)
          : await WF.api("POST", "/jobs", built.body);
        WF.toast(envelope.message, "success");
        close();
        if (onSaved) await onSaved(envelope.data);
      } catch (error) {
        fail(error.message, error.errors, error.envelope.line);
        WF.toast(error.message, "danger");
      } finally {
        save.disabled = false;
      }
    });

    WF.jobEditor = { open: open, copy: copy };
  });
})();
