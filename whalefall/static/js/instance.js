/* One instance's page: test its connection (operators), filter its accounts as you type, and switch
 * their privileges between GRANT statements and the structured form.
 * Everything else on the page is rendered by the server. */
(function () {
  "use strict";

  WF.ready(function () {
    var head = document.getElementById("instance");
    var test = head && head.querySelector('button[data-action="test"]');
    if (test) {
      test.addEventListener("click", async function () {
        test.disabled = true;
        try {
          var envelope = await WF.api("POST", "/instances/" + encodeURIComponent(head.dataset.instanceId) + "/test");
          var result = envelope.data || {};
          var cell = document.getElementById("connection");
          var badge = WF.el("span", { class: "badge " + (result.connected ? "text-bg-success" : "text-bg-danger") },
            WF.t(result.connected ? "connected" : "not_connected"));
          cell.replaceChildren(badge, " ", WF.el("span", { "data-f": "version" }, result.version || ""),
            WF.el("span", { class: "d-block text-break text-danger", "data-f": "error" },
              result.connected ? "" : (result.error || "")));
          WF.toast(envelope.message, result.connected ? "success" : "danger");
        } catch (error) {
          WF.toast(error.message, "danger");
        } finally {
          test.disabled = false;
        }
      });
    }

    // Privileges as GRANT statements (the default) or as the stored structure with every attribute.
    var raw = document.getElementById("privileges-raw");
    if (raw) {
      raw.addEventListener("change", function () {
        document.querySelectorAll("#accounts [data-view]").forEach(function (list) {
          var structured = list.dataset.view === "structured";
          var hasGrants = !!list.parentNode.querySelector('[data-view="grants"]');
          list.classList.toggle("d-none", hasGrants && structured !== raw.checked);
        });
      });
    }

    var search = document.getElementById("account-search");
    var accounts = document.getElementById("accounts");
    if (search && accounts) {
      search.addEventListener("input", WF.debounce(function () {
        var needle = search.value.trim().toLowerCase();
        Array.prototype.forEach.call(accounts.tBodies[0].rows, function (row) {
          row.classList.toggle("d-none", needle !== "" && row.textContent.toLowerCase().indexOf(needle) < 0);
        });
      }, 150));
    }
  });
})();
