/* The maintenance windows page (operators): create a window through the dialog (once: start and
 * end; recurring: a crontab expression, described by POST /api/cron/preview, and a duration),
 * scoped to all jobs, some categories or some jobs; end one now or delete it, each after a
 * confirmation. Errors land under the field the server names. */
(function () {
  "use strict";

  WF.ready(function () {
    var table = document.getElementById("windows");
    var form = document.getElementById("window-form");
    if (!table || !form) return;
    var els = form.elements;
    var dialog = document.getElementById("window-dialog");
    var modal = function () { return bootstrap.Modal.getOrCreateInstance(dialog); };
    var windowPath = function (id) { return "/maintenance-windows/" + encodeURIComponent(id); };
    var pickers = {
      category: document.getElementById("w-scope-category"),
      jobs: document.getElementById("w-scope-jobs"),
    };
    var cronDescription = document.getElementById("w-cron-description");

    function reloadWith(envelope) {
      WF.flashAfterReload(envelope.message, "success");
      window.location.reload();
    }
    function kind() { return form.querySelector('input[name="kind"]:checked').value; }

    /** Show the fields of the chosen kind and scope; the scope's picker carries name="scope_values". */
    function showPanels() {
      form.querySelectorAll("[data-window-panel]").forEach(function (panel) {
        panel.classList.toggle("d-none", panel.dataset.windowPanel !== kind());
      });
      Object.keys(pickers).forEach(function (scope) {
        var chosen = els.scope.value === scope;
        pickers[scope].closest("[data-scope-panel]").classList.toggle("d-none", !chosen);
        if (chosen) pickers[scope].setAttribute("name", "scope_values");
        else pickers[scope].removeAttribute("name");
      });
    }
    form.querySelectorAll('input[name="kind"]').forEach(function (radio) { radio.addEventListener("change", showPanels); });
    els.scope.addEventListener("change", showPanels);

    var describeSeq = 0;
    async function describeCron() {
      var seq = ++describeSeq;
      var text = els.cron.value.trim();
      cronDescription.textContent = "";
      if (!text) return;
      try {
        var envelope = await WF.api("POST", "/cron/preview",
          { trigger_type: "cron", cron_expression: text, lang: WF.config.lang });
        if (seq === describeSeq) cronDescription.textContent = envelope.data.description;
      } catch (error) {
        if (seq === describeSeq) cronDescription.textContent = "";
      }
    }
    els.cron.addEventListener("input", WF.debounce(describeCron, 300));

    function open() {
      form.reset();
      WF.clearErrors(form);
      form.querySelector('[data-f="form_error"]').classList.add("d-none");
      cronDescription.textContent = "";
      showPanels();
      modal().show();
    }
    dialog.addEventListener("shown.bs.modal", function () { els.name.focus(); });
    document.getElementById("new-window").addEventListener("click", open);

    function payload() {
      var body = { name: els.name.value.trim(), description: els.description.value, scope: els.scope.value,
        hold_runs: els.hold_runs.checked };
      if (kind() === "once") {
        body.starts_at = els.starts_at.value;
        body.ends_at = els.ends_at.value;
      } else {
        body.cron = els.cron.value.trim();
        var minutes = els.duration_minutes.value.trim();
        body.duration_minutes = minutes ? Number(minutes) : null;
      }
      if (body.scope !== "all") {
        body.scope_values = Array.from(pickers[body.scope].selectedOptions).map(function (o) { return o.value; });
      }
      return body;
    }

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var saved = await WF.send(form, "POST", "/maintenance-windows", payload());
      if (saved) reloadWith(saved);
    });

    table.addEventListener("click", async function (event) {
      var button = event.target.closest("button[data-action]");
      if (!button) return;
      var row = button.closest("tr");
      var name = row.dataset.name;
      var done;
      if (button.dataset.action === "end") {
        if (!(await WF.confirm(WF.t("mw_end_title"), WF.t("mw_end_confirm", { name: name }), WF.t("mw_end_now")))) return;
        done = await WF.call("POST", windowPath(row.dataset.windowId) + "/end", undefined, button);
      } else if (button.dataset.action === "delete") {
        if (!(await WF.confirm(WF.t("mw_delete_title"), WF.t("mw_delete_confirm", { name: name }), WF.t("delete")))) return;
        done = await WF.call("DELETE", windowPath(row.dataset.windowId), undefined, button);
      }
      if (done) reloadWith(done);
    });
  });
})();
