/* The alert channels page: add, edit and delete a channel through the alerts API, and send a
 * test alert to one, its result shown in the row (sent, or failed with the reason) and as a
 * toast. A channel's URL is write-only: the edit dialog starts with it empty, meaning "keep".
 * Below, the global alert policy is saved with PUT /api/alert-policy (the alert window is in
 * minutes in the form, in seconds in the API). */
(function () {
  "use strict";

  WF.ready(function () {
    var policy = document.getElementById("policy-form");
    if (!policy) return;
    var p = policy.elements;
    var setMode = function () { p.channels.disabled = p.channels_mode.value !== "chosen"; };
    policy.querySelectorAll('input[name="channels_mode"]').forEach(function (r) { r.addEventListener("change", setMode); });
    policy.addEventListener("submit", async function (event) {
      event.preventDefault();
      var number = function (input) { var v = input.value.trim(); return v === "" ? null : Number(v); };
      var minutes = number(p.throttle_seconds);
      var body = {
        channels: p.channels_mode.value === "chosen"
          ? Array.from(p.channels.selectedOptions).map(function (o) { return o.value; }) : ["*"],
        events: Array.from(policy.querySelectorAll("[data-policy-event]:checked")).map(function (b) { return b.value; }),
        threshold: number(p.threshold),
        throttle_seconds: minutes === null ? null : Math.round(minutes * 60),
        long_running_seconds: number(p.long_running_seconds),
      };
      var saved = await WF.send(policy, "PUT", "/alert-policy", body, document.getElementById("policy-save"));
      if (saved) WF.toast(saved.message, "success");
    });
  });

  WF.ready(function () {
    var table = document.getElementById("channels");
    var form = document.getElementById("channel-form");
    if (!table || !form) return;
    var dialog = document.getElementById("channel-dialog");
    var modal = function () { return bootstrap.Modal.getOrCreateInstance(dialog); };
    var channelPath = function (id) { return "/alert-channels/" + encodeURIComponent(id); };

    function reloadWith(envelope) {
      WF.flashAfterReload(envelope.message, "success");
      window.location.reload();
    }

    /** Open the dialog for a new channel (row omitted) or to edit the row's channel. */
    function open(row) {
      form.reset();
      WF.clearErrors(form);
      form.querySelector('[data-f="form_error"]').classList.add("d-none");
      var editing = Boolean(row);
      form.dataset.method = editing ? "PUT" : "POST";
      form.dataset.path = editing ? channelPath(row.dataset.channelId) : "/alert-channels";
      form.querySelector('[data-f="title_new"]').classList.toggle("d-none", editing);
      form.querySelector('[data-f="title_edit"]').classList.toggle("d-none", !editing);
      form.querySelector('[data-f="url_keep"]').classList.toggle("d-none", !editing);
      var url = form.elements.url;
      url.required = !editing;
      if (editing) {
        form.elements.name.value = row.dataset.name;
        form.elements.description.value = row.dataset.description;
        form.elements.enabled.checked = row.dataset.enabled === "true";
      }
      modal().show();
    }

    dialog.addEventListener("shown.bs.modal", function () { form.elements.name.focus(); });
    document.getElementById("new-channel").addEventListener("click", function () { open(null); });

    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      var body = {
        name: form.elements.name.value,
        description: form.elements.description.value,
        enabled: form.elements.enabled.checked,
      };
      var url = form.elements.url.value.trim();
      if (url || form.dataset.method === "POST") body.url = url;  // on edit, empty keeps the stored URL
      var saved = await WF.send(form, form.dataset.method, form.dataset.path, body);
      if (saved) reloadWith(saved);
    });

    /** The test's outcome under the row's buttons: a status badge and, for a failure, why. */
    function showResult(row, delivery) {
      var box = row.querySelector('[data-f="test_result"]');
      box.replaceChildren();
      box.classList.remove("d-none");
      if (!delivery) {
        box.appendChild(WF.el("span", { class: "text-body-secondary" }, WF.t("test_sending")));
        return;
      }
      box.dataset.status = delivery.status;
      box.appendChild(WF.el("span", { class: "badge wf-delivery wf-delivery-" + delivery.status, "data-f": "test_status" },
        WF.t("delivery_status_" + delivery.status)));
      if (delivery.error) {
        box.appendChild(WF.el("span", { class: "d-block text-danger-emphasis text-break", "data-f": "test_error",
          translate: "no" }, delivery.error));
      }
    }

    table.addEventListener("click", async function (event) {
      var button = event.target.closest("button[data-action]");
      if (!button) return;
      var row = button.closest("tr");
      var action = button.dataset.action;
      if (action === "edit") { open(row); return; }
      if (action === "delete") {
        var question = WF.t("delete_channel_confirm", { name: row.dataset.name });
        if (!(await WF.confirm(WF.t("delete_channel"), question, WF.t("delete")))) return;
        var deleted = await WF.call("DELETE", channelPath(row.dataset.channelId), undefined, button);
        if (deleted) reloadWith(deleted);
        return;
      }
      if (action === "test") {
        showResult(row, null);
        button.disabled = true;
        try {
          var envelope = await WF.api("POST", channelPath(row.dataset.channelId) + "/test");
          showResult(row, envelope.data);
          WF.toast(envelope.message, envelope.data.status === "sent" ? "success" : "danger");
        } catch (error) {
          row.querySelector('[data-f="test_result"]').classList.add("d-none");
          WF.toast(error.message, "danger");
        } finally {
          button.disabled = false;
        }
      }
    });
  });
})();
