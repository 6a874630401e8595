/* The jobs page's import dialog: the chosen YAML file is sent as a dry run first, its report
 * (what it would create, change, leave unchanged) shown; Apply sends it again to be kept. An
 * import is all or nothing: a bad job in the file is named, and nothing changes. */
(function () {
  "use strict";

  WF.ready(function () {
    var opener = document.getElementById("import-jobs");
    var box = document.getElementById("import-dialog");
    if (!opener || !box) return;
    var input = document.getElementById("import-file");
    var apply = box.querySelector('[data-f="apply"]');
    var error = box.querySelector('[data-f="error"]');
    var report = box.querySelector('[data-f="report"]');
    var modal = bootstrap.Modal.getOrCreateInstance(box);
    var text = null;

    function part(name) { return box.querySelector('[data-f="' + name + '"]'); }
    function list(name, items) {
      var shown = items.length ? items : [WF.t("none")];
      part(name).replaceChildren(...shown.map(function (item) { return WF.el("li", { translate: "no" }, item); }));
    }
    function reset() {
      text = null;
      input.value = "";
      apply.disabled = true;
      error.classList.add("d-none");
      report.classList.add("d-none");
    }
    async function check() {
      error.classList.add("d-none");
      report.classList.add("d-none");
      apply.disabled = true;
      var file = input.files[0];
      if (!file) return;
      text = await file.text();
      try {
        var envelope = await WF.api("POST", "/import/jobs?dry_run=1", text, "application/yaml");
        var data = envelope.data;
        part("summary").textContent = envelope.message;
        list("created", data.created);
        list("changed", data.changed.map(function (c) { return c.id + " (" + c.fields.join(", ") + ")"; }));
        list("unchanged", data.unchanged);
        report.classList.remove("d-none");
        apply.disabled = !(data.created.length || data.changed.length);
      } catch (failure) {
        error.textContent = failure.message;
        error.classList.remove("d-none");
      }
    }

    opener.addEventListener("click", function () { reset(); modal.show(); });
    input.addEventListener("change", function () { check().catch(function (e) { WF.toast(e.message, "danger"); }); });
    apply.addEventListener("click", async function () {
      if (text === null) return;
      var envelope = await WF.call("POST", "/import/jobs", text, apply, "application/yaml");
      if (envelope === null) return;
      WF.hideModal(box);
      document.dispatchEvent(new CustomEvent("wf:jobs-changed"));
    });
  });
})();
