/* The admin pages (users, API tokens): each form and button sends one request to the admin
 * API; the server-rendered list is then reloaded, with the API's message as a toast.
 * A new token is shown once, here, and never again. */
(function () {
  "use strict";

  WF.ready(function () {
    var userPath = function (name) { return "/users/" + encodeURIComponent(name); };

    function reloadWith(envelope) {
      WF.flashAfterReload(envelope.message, "success");
      window.location.reload();
    }

    /** Send a form's fields as JSON (a checkbox as true or false); errors go under the fields the server names. */
    async function submit(form, path) {
      var body = {};
      Array.prototype.forEach.call(form.elements, function (input) {
        if (input.name) body[input.name] = input.type === "checkbox" ? input.checked : input.value;
      });
      return WF.send(form, form.dataset.method, path, body);
    }

    // --- users ---------------------------------------------------------------------------
    var userForm = document.getElementById("user-form");
    if (userForm) {
      userForm.addEventListener("submit", async function (event) {
        event.preventDefault();
        var envelope = await submit(userForm, userForm.dataset.path);
        if (envelope) reloadWith(envelope);
      });
    }
    var passwordForm = document.getElementById("password-form");
    if (passwordForm) {
      passwordForm.addEventListener("submit", async function (event) {
        event.preventDefault();
        var envelope = await submit(passwordForm, userPath(passwordForm.dataset.username));
        if (envelope) reloadWith(envelope);
      });
    }
    document.querySelectorAll("[data-open]").forEach(function (button) {
      button.addEventListener("click", function () {
        bootstrap.Modal.getOrCreateInstance(document.getElementById(button.dataset.open)).show();
      });
    });
    document.querySelectorAll(".modal form").forEach(function (form) {
      form.closest(".modal").addEventListener("shown.bs.modal", function () {
        var first = form.querySelector("input:not([type=hidden])");
        if (first) first.focus();
      });
    });

    var users = document.getElementById("users");
    if (users) {
      users.addEventListener("click", async function (event) {
        var button = event.target.closest("button[data-action]");
        if (!button) return;
        var row = button.closest("tr");
        var name = row.dataset.username;
        var action = button.dataset.action;
        if (action === "password") {
          passwordForm.reset();
          WF.clearErrors(passwordForm);
          passwordForm.dataset.username = name;
          passwordForm.querySelector('[data-f="username"]').textContent = name;
          bootstrap.Modal.getOrCreateInstance(document.getElementById("password-dialog")).show();
          return;
        }
        var body = action === "role" ? { role: row.querySelector("[data-role-select]").value }
          : { is_active: action === "enable" };
        if (action === "disable" && !(await WF.confirm(WF.t("disable"), WF.t("disable_confirm", { name: name }),
          WF.t("disable")))) return;
        var envelope = await WF.call("PUT", userPath(name), body, button);
        if (envelope) reloadWith(envelope);
      });
    }

    // --- tokens --------------------------------------------------------------------------
    var tokenForm = document.getElementById("token-form");
    if (tokenForm) {
      tokenForm.addEventListener("submit", async function (event) {
        event.preventDefault();
        var envelope = await submit(tokenForm, tokenForm.dataset.path);
        if (!envelope) return;
        WF.toast(envelope.message, "success");
        document.getElementById("new-token-value").value = envelope.data.token;
        document.getElementById("new-token").classList.remove("d-none");
        document.getElementById("new-token-value").select();
        tokenForm.querySelector("[name=label]").value = "";
        addTokenRow(envelope.data);
      });
      var copy = document.getElementById("copy-token");
      copy.addEventListener("click", async function () {
        var input = document.getElementById("new-token-value");
        input.select();
        try { await navigator.clipboard.writeText(input.value); } catch (e) { document.execCommand("copy"); }
        copy.textContent = copy.dataset.copied;
      });
    }
    var tokens = document.getElementById("tokens");
    /** The new token at the top of the list (a reload would lose the one-time value above). */
    function addTokenRow(token) {
      var revoke = WF.el("button", { type: "button", class: "btn btn-sm btn-outline-danger", "data-action": "revoke" },
        WF.t("revoke"));
      var row = WF.el("tr", { "data-token-id": token.id, "data-prefix": token.prefix, "data-user": token.username }, [
        WF.el("td", {}, token.id), WF.el("td", { class: "text-break" }, token.username),
        WF.el("td", { class: "text-break" }, token.label), WF.el("td", {}, WF.el("code", {}, token.prefix + "…")),
        WF.el("td", { class: "small d-none d-md-table-cell" }, WF.when(token.created_at)),
        WF.el("td", { class: "small d-none d-md-table-cell" }, WF.t("none")),
        WF.el("td", {}, WF.el("span", { class: "badge text-bg-success" }, WF.t("valid"))), WF.el("td", {}, revoke),
      ]);
      tokens.tBodies[0].prepend(row);
      document.getElementById("tokens-empty").classList.add("d-none");
    }
    if (tokens) {
      tokens.addEventListener("click", async function (event) {
        var button = event.target.closest("button[data-action=revoke]");
        if (!button) return;
        var row = button.closest("tr");
        var question = WF.t("revoke_confirm", { prefix: row.dataset.prefix, user: row.dataset.user });
        if (!(await WF.confirm(WF.t("revoke"), question, WF.t("revoke")))) return;
        var envelope = await WF.call("POST", "/tokens/" + encodeURIComponent(row.dataset.tokenId) + "/revoke",
          undefined, button);
        if (envelope) reloadWith(envelope);
      });
    }
  });
})();
