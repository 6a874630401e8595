/* The instances page: test a connection (operators), create / edit / delete (admins).
 * Every change is one call to the fleet API; the server-rendered list is then reloaded with
 * the API's message as a toast. The dialog can test its unsaved fields first. A connection test shows the version or the driver's error
 * as a toast and in the row. The stored password is never sent to the page: the dialog's
 * password field starts empty, and left empty on edit keeps the stored one — unless the host,
 * port, engine or username changed, when it must be given again. */
(function () {
  "use strict";

  WF.ready(function () {
    var table = document.getElementById("instances");
    var form = document.getElementById("instance-form");
    var dialog = document.getElementById("instance-dialog");
    var data = {};
    var dataNode = document.getElementById("instances-data");
    if (dataNode) {
      try { JSON.parse(dataNode.textContent).forEach(function (i) { data[i.id] = i; }); } catch (e) { data = {}; }
    }
    var path = function (id) { return "/instances/" + encodeURIComponent(id); };
    var GIB = 1024 * 1024 * 1024;

    // Test all: every active instance at once (the server's fleet pool), then the list again.
    var testAll = document.getElementById("test-all");
    if (testAll) {
      testAll.addEventListener("click", async function () {
        var tested = await WF.call("POST", "/instances/test-all", undefined, testAll);
        if (tested) reloadWith(tested);
      });
    }

    function reloadWith(envelope) {
      WF.flashAfterReload(envelope.message, "success");
      window.location.reload();
    }

    /** The row's connection cell after a test (the same shape the server renders). */
    function showConnection(row, result) {
      var cell = row.querySelector('[data-f="connection_cell"]');
      if (!cell) return;
      var badge = result.connected
        ? WF.el("span", { class: "badge text-bg-success", "data-f": "connection" }, WF.t("connected"))
        : WF.el("span", { class: "badge text-bg-danger", "data-f": "connection" }, WF.t("not_connected"));
      cell.replaceChildren(badge,
        WF.el("span", { class: "d-block small text-break", "data-f": "version" }, result.version || ""),
        WF.el("span", { class: "d-block small text-body-secondary text-break wf-clip", "data-f": "contact_error" },
          result.connected ? "" : (result.error || "")));
    }

    if (table) {
      table.addEventListener("click", async function (event) {
        var button = event.target.closest("button[data-action]");
        if (!button) return;
        var row = button.closest("tr");
        var id = row.dataset.instanceId;
        var action = button.dataset.action;
        if (action === "test") {
          button.disabled = true;
          try {
            var envelope = await WF.api("POST", path(id) + "/test");
            showConnection(row, envelope.data || {});
            WF.toast(envelope.message, envelope.data && envelope.data.connected ? "success" : "danger");
          } catch (error) {
            WF.toast(error.message, "danger");
          } finally {
            button.disabled = false;
          }
        } else if (action === "edit") {
          openDialog(data[id]);
        } else if (action === "delete") {
          var name = row.dataset.name;
          if (!(await WF.confirm(WF.t("delete_instance"), WF.t("delete_instance_confirm", { name: name }),
            WF.t("delete")))) return;
          var deleted = await WF.call("DELETE", path(id), undefined, button);
          if (deleted) reloadWith(deleted);
        }
      });
    }

    if (!form) return;
    var title = dialog.querySelector('[data-f="dialog_title"]');
    var passwordHelp = document.getElementById("i-password-help");
    var passwordAgain = document.getElementById("i-password-again");
    var editing = null;
    var field = function (name) { return form.elements.namedItem(name); };

    /** Editing an instance with a stored password: a new host, port, engine or username needs the
     *  password again (the server answers 400 otherwise), so the field says so and is required. */
    function retargeted() {
      if (!editing || !editing.has_password) return false;
      var port = field("port").value.trim();
      return field("db_type").value !== editing.db_type || field("host").value.trim() !== editing.host ||
        field("username").value.trim() !== editing.username || (port !== "" && port !== String(editing.port));
    }
    function markPassword() {
      var again = retargeted();
      field("password").required = again;
      passwordAgain.classList.toggle("d-none", !again);
      passwordHelp.classList.toggle("d-none", !editing || again);
    }
    ["db_type", "host", "port", "username"].forEach(function (name) {
      field(name).addEventListener("input", markPassword);
      field(name).addEventListener("change", markPassword);
    });

    /** The dialog for a new instance (no argument) or filled from one; the password stays empty. */
    function openDialog(instance) {
      editing = instance || null;
      form.reset();
      WF.clearErrors(form);
      form.querySelector('[data-f="form_error"]').classList.add("d-none");
      title.textContent = editing ? title.dataset.edit : title.dataset.new;
      passwordHelp.classList.toggle("d-none", !editing);
      if (editing) {
        ["name", "db_type", "host", "port", "database", "username", "description"].forEach(function (name) {
          var value = editing[name];
          field(name).value = value === null || value === undefined ? "" : String(value);
        });
        field("tags").value = (editing.tags || []).join(", ");
        field("disk_capacity_bytes").value = editing.disk_capacity_bytes ? String(+(editing.disk_capacity_bytes / GIB).toFixed(3)) : "";
        field("is_active").checked = !!editing.is_active;
      }
      field("password").value = "";
      markPassword();
      bootstrap.Modal.getOrCreateInstance(dialog).show();
    }
    document.getElementById("new-instance").addEventListener("click", function () { openDialog(null); });
    dialog.addEventListener("shown.bs.modal", function () { field("name").focus(); });

    function body() {
      var out = {
        name: field("name").value.trim(), db_type: field("db_type").value, host: field("host").value.trim(),
        database: field("database").value.trim(), username: field("username").value.trim(),
        tags: field("tags").value.split(",").map(function (s) { return s.trim(); }).filter(Boolean),
        description: field("description").value, is_active: field("is_active").checked,
      };
      if (field("port").value.trim()) out.port = Number(field("port").value);
      // GiB in the dialog, bytes in the API; empty clears it.
      var disk = field("disk_capacity_bytes").value.trim();
      out.disk_capacity_bytes = disk ? Math.round(Number(disk) * GIB) : null;
      // Blank: unchanged (edit) / none (new); the server refuses a blank one on a new host, port, engine or user.
      if (field("password").value) out.password = field("password").value;
      return out;
    }

    /** Test the connection with what the dialog holds now, before saving (the stored password stands in
     *  for a blank one on edit, as the server allows); the outcome is shown under the button. */
    var check = document.getElementById("instance-check");
    var checkResult = document.getElementById("instance-check-result");
    check.addEventListener("click", async function () {
      var fields = body();
      if (editing) fields.instance_id = editing.id;
      checkResult.replaceChildren();
      var envelope = await WF.send(form, "POST", "/instances/test", fields, check);
      if (!envelope) return;
      var result = envelope.data || {};
      checkResult.replaceChildren(
        WF.el("span", { class: "badge " + (result.connected ? "text-bg-success" : "text-bg-danger"), "data-f": "check" },
          WF.t(result.connected ? "connected" : "not_connected")),
        " ", result.connected ? (result.version || "") : (result.error || ""));
    });
    dialog.addEventListener("hidden.bs.modal", function () { checkResult.replaceChildren(); });

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var saved = editing ? await WF.send(form, "PUT", path(editing.id), body())
        : await WF.send(form, "POST", "/instances", body());
      if (saved) reloadWith(saved);
    });
  });
})();
