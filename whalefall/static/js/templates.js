/* New job from a template: the chosen template's parameters as form fields drawn from its JSON
 * Schema (string, integer, boolean, enum, and a registered-instance picker for
 * "format": "instance"), sent with the job's fields to POST /api/templates/<id>/jobs. The
 * server checks everything and names each bad field; its reasons go under the inputs. */
(function () {
  "use strict";

  function readJson(id) {
    try { return JSON.parse(document.getElementById(id).textContent); } catch (e) { return []; }
  }

  /** A property's own schema: an optional one (anyOf [X, null]) is X, marked optional. */
  function unwrap(spec) {
    if (Array.isArray(spec.anyOf)) {
      var inner = spec.anyOf.filter(function (s) { return s.type !== "null"; })[0] || {};
      return Object.assign({}, inner, { default: spec.default, optional: true, description: spec.description });
    }
    return spec;
  }

  function control(name, spec, instances) {
    var id = "p-" + name, attrs = { id: id, name: "params." + name, "data-param": name };
    if (spec.format === "instance") {
      var engines = spec["x-db-types"] || [];
      var options = [WF.el("option", { value: "" }, WF.t("template_pick_instance"))].concat(
        instances.filter(function (i) { return !engines.length || engines.indexOf(i.db_type) >= 0; })
          .map(function (i) { return WF.el("option", { value: i.id }, i.name + " (" + i.db_type + ")"); }));
      return WF.el("select", Object.assign(attrs, { class: "form-select", "data-type": "integer" }), options);
    }
    if (Array.isArray(spec.enum)) {
      return WF.el("select", Object.assign(attrs, { class: "form-select", "data-type": "string" }),
        spec.enum.map(function (v) { return WF.el("option", { value: v, selected: v === spec.default }, v); }));
    }
    if (spec.type === "boolean") {
      return WF.el("input", Object.assign(attrs, { type: "checkbox", class: "form-check-input",
        "data-type": "boolean", checked: spec.default === true }));
    }
    if (spec.type === "integer") {
      return WF.el("input", Object.assign(attrs, { type: "number", step: 1, class: "form-control",
        "data-type": "integer", min: spec.minimum, max: spec.maximum,
        value: spec.default === null || spec.default === undefined ? "" : spec.default }));
    }
    var long = name === "sql" || name === "request_body";
    return WF.el(long ? "textarea" : "input", Object.assign(attrs, {
      class: "form-control" + (long ? " font-monospace" : ""), "data-type": "string", rows: long ? 4 : null,
      maxlength: spec.maxLength, value: long ? null : (spec.default || ""), spellcheck: "false",
    }), long ? (spec.default || "") : undefined);
  }

  function field(name, spec, template, instances, required) {
    spec = unwrap(spec);
    var input = control(name, spec, instances);
    var label = (template.fields && template.fields[name]) || name;
    if (spec.type === "boolean") {
      return WF.el("div", { class: "col-md-6 col-lg-4" }, WF.el("div", { class: "form-check mt-md-4" }, [
        input, WF.el("label", { class: "form-check-label", for: input.id }, label),
        WF.el("div", { class: "invalid-feedback" })]));
    }
    var text = required ? label + " *" : label;
    return WF.el("div", { class: name === "sql" ? "col-12" : "col-md-6 col-lg-4" }, [
      WF.el("label", { class: "form-label", for: input.id }, text), input,
      WF.el("div", { class: "invalid-feedback" })]);
  }

  function params(form) {
    var out = {};
    form.querySelectorAll("[data-param]").forEach(function (input) {
      var name = input.getAttribute("data-param"), type = input.getAttribute("data-type");
      if (type === "boolean") { out[name] = input.checked; return; }
      if (input.value === "") return;  // left out: the schema's default, or "missing"
      out[name] = type === "integer" && /^-?\d+$/.test(input.value) ? Number(input.value) : input.value;
    });
    return out;
  }

  WF.ready(function () {
    var form = document.getElementById("template-form");
    if (!form) return;
    var templates = readJson("templates-data"), instances = readJson("instances-data");
    var box = document.getElementById("template-params"), trigger = form.querySelector('[name="trigger_type"]');
    var current = null;

    function choose(id) {
      current = templates.filter(function (t) { return t.id === id; })[0];
      if (!current) return;
      var required = current.schema.required || [];
      box.replaceChildren.apply(box, Object.keys(current.schema.properties || {}).map(function (name) {
        return field(name, current.schema.properties[name], current, instances, required.indexOf(name) >= 0);
      }));
      form.querySelector('[data-f="title"]').textContent = WF.t("template_form_title", { name: current.name });
      WF.clearErrors(form);
      form.classList.remove("d-none");
      form.querySelector('[name="id"]').focus();
    }

    document.querySelectorAll('[data-action="use"]').forEach(function (button) {
      button.addEventListener("click", function () {
        choose(button.closest("[data-template-id]").getAttribute("data-template-id"));
      });
    });
    form.querySelector('[data-action="close"]').addEventListener("click", function () {
      form.classList.add("d-none");
    });
    trigger.addEventListener("change", function () {
      form.querySelectorAll("[data-trigger]").forEach(function (part) {
        part.classList.toggle("d-none", part.getAttribute("data-trigger") !== trigger.value);
      });
    });
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      if (!current) return;
      var value = function (name) { return form.querySelector('[name="' + name + '"]').value.trim(); };
      var body = { id: value("id"), name: value("name"), category: value("category"),
        trigger_type: trigger.value, params: params(form) };
      if (trigger.value === "cron") body.cron_expression = value("cron_expression");
      else body.interval_minutes = value("interval_minutes");
      var envelope = await WF.send(form, "POST", "/templates/" + encodeURIComponent(current.id) + "/jobs", body);
      if (envelope) {
        WF.flashAfterReload(envelope.message);
        window.location.assign("/scheduler/jobs/" + encodeURIComponent(envelope.data.id));
      }
    });
    if (form.getAttribute("data-chosen")) choose(form.getAttribute("data-chosen"));
  });
})();
