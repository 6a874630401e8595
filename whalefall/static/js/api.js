/* The console's one shared helper, loaded by every page before its own script.
 *
 * - the colour theme: Bootstrap's data-bs-theme follows the system setting (set here,
 *   before the first paint, and again whenever the setting changes);
 * - WF.t: the page's words (the layout's #wf-text table, in the page's language);
 * - WF.api / WF.call: fetch under /scheduler/api with the CSRF header on every write and
 *   the JSON envelope unpacked; WF.call also shows a toast for the result;
 * - WF.toast, WF.el, WF.showErrors, WF.every, WF.debounce, WF.when, WF.duration.
 *
 * Nothing here (or in any page script) turns data into HTML: elements are built with
 * WF.el and filled with textContent.
 */
(function () {
  "use strict";

  var media = window.matchMedia("(prefers-color-scheme: dark)");
  function applyTheme() {
    document.documentElement.setAttribute("data-bs-theme", media.matches ? "dark" : "light");
  }
  applyTheme();
  media.addEventListener("change", applyTheme);

  var WF = (window.WF = { text: {}, config: {} });
  var FLASH_KEY = "wf-flash";

  function readJson(id) {
    var node = document.getElementById(id);
    if (!node) return {};
    try { return JSON.parse(node.textContent); } catch (e) { return {}; }
  }

  var tablesRead = false;
  /** Read the layout's JSON tables, once: the first caller after parsing does it. */
  function readTables() {
    if (tablesRead) return;
    tablesRead = true;
    WF.text = readJson("wf-text");
    WF.config = readJson("wf-config");
  }

  /** Run fn once the page is parsed, with its JSON tables read. A deferred page script runs
   *  after parsing but before DOMContentLoaded, so it calls fn at once: the tables are read
   *  here first, never left to this file's own DOMContentLoaded listener (which comes later). */
  WF.ready = function (fn) {
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", function () { readTables(); fn(); });
    } else {
      readTables();
      fn();
    }
  };

  WF.ready(function () {
    var flash = sessionStorage.getItem(FLASH_KEY);
    if (flash) {
      sessionStorage.removeItem(FLASH_KEY);
      try { flash = JSON.parse(flash); WF.toast(flash.message, flash.kind); } catch (e) { /* ignore */ }
    }
  });

  /** The word for key, with {name} placeholders filled from values. */
  WF.t = function (key, values) {
    var text = Object.prototype.hasOwnProperty.call(WF.text, key) ? WF.text[key] : key;
    Object.keys(values || {}).forEach(function (name) {
      text = text.split("{" + name + "}").join(String(values[name]));
    });
    return text;
  };

  /** A new element: attrs set as attributes (class, href, data-*, …), children appended as
   *  nodes or as text. Never parses markup. */
  WF.el = function (tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === null || value === undefined || value === false) return;
      node.setAttribute(name, value === true ? "" : String(value));
    });
    [].concat(children === undefined ? [] : children).forEach(function (child) {
      if (child === null || child === undefined) return;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    });
    return node;
  };

  function ApiError(message, status, errors, envelope) {
    this.name = "ApiError";
    this.message = message;
    this.status = status;
    this.errors = errors || {};
    this.envelope = envelope || {};
  }
  ApiError.prototype = Object.create(Error.prototype);
  WF.ApiError = ApiError;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  /** Call the API: resolves to the envelope ({success, data, message}), rejects with an
   *  ApiError carrying the envelope's message, HTTP status and per-field errors. The body is
   *  sent as JSON, or as it is (a text) with the content type `type` when that is given. */
  WF.api = async function (method, path, body, type) {
    var headers = { Accept: "application/json" };
    var init = { method: method, headers: headers, credentials: "same-origin", cache: "no-store" };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
    if (body !== undefined) {
      headers["Content-Type"] = type || "application/json";
      init.body = type ? body : JSON.stringify(body);
    }
    var response;
    try {
      response = await fetch("/scheduler/api" + path, init);
    } catch (e) {
      throw new ApiError(WF.t("network_error"), 0);
    }
    var envelope = null;
    try { envelope = await response.json(); } catch (e) { envelope = null; }
    if (!envelope || typeof envelope !== "object") {
      throw new ApiError(WF.t("request_failed", { status: response.status }), response.status);
    }
    if (!response.ok || envelope.success === false) {
      if (response.status === 401) {
        // The session ended (signed out elsewhere, password changed): sign in again, then come back.
        window.location.assign("/auth/login?next=" + encodeURIComponent(location.pathname + location.search));
      }
      throw new ApiError(envelope.message || WF.t("request_failed", { status: response.status }),
        response.status, envelope.errors, envelope);
    }
    return envelope;
  };

  /** WF.api plus a toast for the result either way; resolves to the envelope, or null on
   *  failure. `button` (optional) is disabled while the request runs; `type` as in WF.api. */
  WF.call = async function (method, path, body, button, type) {
    if (button) button.disabled = true;
    try {
      var envelope = await WF.api(method, path, body, type);
      WF.toast(envelope.message, "success");
      return envelope;
    } catch (error) {
      WF.toast(error.message, "danger");
      return null;
    } finally {
      if (button) button.disabled = false;
    }
  };

  var MAX_TOASTS = 3;
  /** Where a new toast goes: the bottom right of the page, or, while a dialog is open, a strip
   *  at the bottom of the dialog's body (sticky, so it stays in view as the body scrolls). That
   *  strip lies inside the body, so a toast never covers the dialog's footer (Save, Cancel). */
  function dialogStrip(modal) {
    var body = modal.querySelector(".modal-body");
    if (!body) return null;
    var strip = body.querySelector(":scope > .wf-dialog-toasts");
    if (!strip) {
      strip = WF.el("div", { class: "wf-dialog-toasts", "aria-live": "polite", "aria-atomic": "false" });
      body.appendChild(strip);
    }
    return strip;
  }
  function toastBox() {
    var open = document.querySelectorAll(".modal.show");
    return (open.length && dialogStrip(open[open.length - 1])) || document.getElementById("wf-toasts");
  }
  // A dialog that opens takes the page's toasts (they would lie over its footer), and one that
  // closes hands its toasts (a "saved" message, say) back to the page's corner.
  document.addEventListener("show.bs.modal", function (event) {
    var page = document.getElementById("wf-toasts"), strip = dialogStrip(event.target);
    if (page && strip) Array.prototype.slice.call(page.children).forEach(function (toast) { strip.appendChild(toast); });
  });
  document.addEventListener("hidden.bs.modal", function (event) {
    var page = document.getElementById("wf-toasts");
    event.target.querySelectorAll(".wf-dialog-toasts .toast").forEach(function (toast) {
      if (page) page.appendChild(toast);
      else toast.remove();
    });
  });

  /** A toast (see toastBox for where). kind: success | danger | info. link: {href, text}. */
  WF.toast = function (message, kind, link) {
    var box = toastBox();
    if (!box || !message) return;
    kind = kind || "info";
    var body = WF.el("div", { class: "toast-body text-break" }, message);
    if (link) {
      body.appendChild(document.createTextNode(" "));
      body.appendChild(WF.el("a", { href: link.href, class: "link-light fw-semibold" }, link.text));
    }
    var close = WF.el("button", { type: "button", class: "btn-close btn-close-white me-2 m-auto",
      "data-bs-dismiss": "toast", "aria-label": WF.t("close") });
    var toast = WF.el("div", { class: "toast align-items-center border-0 text-bg-" + kind,
      role: kind === "danger" ? "alert" : "status", "aria-atomic": "true",
      "data-kind": kind }, WF.el("div", { class: "d-flex" }, [body, close]));
    // The oldest go first: a stack of toasts stays short.
    while (box.children.length >= MAX_TOASTS) {
      var oldest = box.firstElementChild, shown = bootstrap.Toast.getInstance(oldest);
      if (shown) shown.dispose();
      oldest.remove();
    }
    box.appendChild(toast);
    toast.addEventListener("hidden.bs.toast", function () { toast.remove(); });
    new bootstrap.Toast(toast, { delay: kind === "danger" ? 10000 : 5000 }).show();
  };

  /** Show a toast after the coming reload (admin pages reload their server-rendered list). */
  WF.flashAfterReload = function (message, kind) {
    sessionStorage.setItem(FLASH_KEY, JSON.stringify({ message: message, kind: kind || "success" }));
  };

  /** Pause the job at `path` (/jobs/<id>); when active jobs depend on it (409 naming them),
   *  ask, then pause anyway. Resolves to the envelope, or null (refused or not confirmed). */
  WF.pauseJob = async function (path) {
    try {
      return await WF.api("POST", path + "/pause");
    } catch (error) {
      if (error.status !== 409) throw error;
      if (!(await WF.confirm(WF.t("pause_anyway_title"), error.message, WF.t("pause_anyway")))) return null;
      return WF.api("POST", path + "/pause", { force: true });
    }
  };

  // Bootstrap ignores hide() while a dialog is still opening (its fade-in): a click that fast
  // (a quick user, a test) would leave the dialog open. Every dialog is closed through
  // WF.hideModal, which waits for the opening to finish.
  // Bootstrap also moves the focus to the dialog itself once it has opened, and a dialog's own
  // "shown" handler may focus its first field: a user (or a test) already typing in a field
  // during the fade-in would see the rest of the typing land elsewhere. The field typed in
  // keeps the focus.
  var typedIn = new WeakMap();
  document.addEventListener("show.bs.modal", function (event) {
    if (event.defaultPrevented) return;
    event.target.dataset.wfOpening = "1";
    typedIn.delete(event.target);
  });
  document.addEventListener("focusin", function (event) {
    var box = event.target.closest && event.target.closest(".modal[data-wf-opening]");
    if (box && event.target !== box) typedIn.set(box, event.target);
  });
  // Captured, so before the dialog's own handlers: the field typed in is the user's, not the one
  // a "shown" handler focuses.
  var typedWhenShown = new WeakMap();
  document.addEventListener("shown.bs.modal", function (event) {
    var box = event.target;
    delete box.dataset.wfOpening;
    if (typedIn.has(box)) typedWhenShown.set(box, typedIn.get(box));
    typedIn.delete(box);
  }, true);
  // Bubbling, so after the dialog's own handlers.
  document.addEventListener("shown.bs.modal", function (event) {
    var box = event.target, field = typedWhenShown.get(box);
    typedWhenShown.delete(box);
    if (field && box.contains(field) && document.activeElement !== field) field.focus();
  });

  /** Close the dialog element ``box`` now, or as soon as it has finished opening. */
  WF.hideModal = function (box) {
    var modal = bootstrap.Modal.getOrCreateInstance(box);
    if (!box.dataset.wfOpening) {
      modal.hide();
    } else if (!box.dataset.wfCloseAsked) {
      box.dataset.wfCloseAsked = "1";
      box.addEventListener("shown.bs.modal", function () { delete box.dataset.wfCloseAsked; modal.hide(); }, { once: true });
    }
  };
  // Escape during the fade-in, which Bootstrap ignores, closes the dialog once it has opened.
  document.addEventListener("keydown", function (event) {
    if (event.key !== "Escape") return;
    var box = document.querySelector(".modal[data-wf-opening]");
    if (box && box.dataset.bsKeyboard !== "false") WF.hideModal(box);
  });

  /** Ask in the layout's confirmation dialog; resolves to true when confirmed. items
   *  (optional): lines listed under the question (the jobs a bulk delete removes). */
  WF.confirm = function (title, question, label, items) {
    return new Promise(function (resolve) {
      var box = document.getElementById("wf-confirm");
      var ok = box.querySelector('[data-f="ok"]');
      var modal = bootstrap.Modal.getOrCreateInstance(box);
      var answer = false;
      box.querySelector('[data-f="title"]').textContent = title;
      box.querySelector('[data-f="question"]').textContent = question;
      var list = box.querySelector('[data-f="items"]');
      list.replaceChildren(...(items || []).map(function (item) { return WF.el("li", {}, item); }));
      list.classList.toggle("d-none", !(items && items.length));
      ok.textContent = label || WF.t("confirm");
      function yes() { answer = true; WF.hideModal(box); }
      // Focus starts on Cancel: Enter on a freshly opened confirmation must not delete anything.
      function focus() { box.querySelector(".modal-footer [data-bs-dismiss]").focus(); }
      ok.addEventListener("click", yes);
      box.addEventListener("shown.bs.modal", focus, { once: true });
      box.addEventListener("hidden.bs.modal", function () {
        ok.removeEventListener("click", yes);
        resolve(answer);
      }, { once: true });
      modal.show();
    });
  };

  /** Mark the form's inputs named in errors ({field: why}) invalid, with the reason under
   *  each; returns the messages of fields the form has no input for. */
  WF.showErrors = function (form, errors) {
    var unplaced = [];
    Object.keys(errors || {}).forEach(function (field) {
      var input = form.querySelector('[name="' + CSS.escape(field) + '"]');
      var feedback = input && input.parentElement.querySelector(".invalid-feedback");
      if (!input || !feedback || input.type === "radio") {
        unplaced.push(errors[field]);
        return;
      }
      input.classList.add("is-invalid");
      input.setAttribute("aria-invalid", "true");
      feedback.textContent = errors[field];
    });
    return unplaced;
  };

  /** Send a form's body to the API: its errors cleared first and its submit button held while the
   *  request runs. On a refusal the reasons go under the fields the server names, the rest in the
   *  form's ``form_error`` box and a toast; returns the envelope, or null when refused. */
  WF.send = async function (form, method, path, body, button) {
    var alert = form.querySelector('[data-f="form_error"]');
    button = button || form.querySelector('[type="submit"]');
    WF.clearErrors(form);
    if (alert) alert.classList.add("d-none");
    if (button) button.disabled = true;
    try {
      return await WF.api(method, path, body);
    } catch (error) {
      var unplaced = WF.showErrors(form, error.errors);
      if (alert && (unplaced.length || !Object.keys(error.errors || {}).length)) {
        alert.textContent = error.message;
        alert.classList.remove("d-none");
      }
      WF.toast(error.message, "danger");
      return null;
    } finally {
      if (button) button.disabled = false;
    }
  };

  WF.clearErrors = function (form, names) {
    form.querySelectorAll(".is-invalid").forEach(function (input) {
      if (names && names.indexOf(input.name) < 0) return;
      input.classList.remove("is-invalid");
      input.removeAttribute("aria-invalid");
      var feedback = input.parentElement.querySelector(".invalid-feedback");
      if (feedback) feedback.textContent = "";
    });
  };

  /** Call fn every `seconds` while the tab is visible; stop while it is hidden, and call it at
   *  once when the tab shows again. fn may return a promise: calls never overlap. */
  WF.every = function (seconds, fn) {
    var timer = null, running = false, stopped = false;
    async function tick() {
      if (running || stopped || document.hidden) return;
      running = true;
      try { await fn(); } catch (e) { /* the next tick tries again */ } finally { running = false; }
    }
    function start() { if (!timer && !stopped) timer = setInterval(tick, seconds * 1000); }
    function pause() { clearInterval(timer); timer = null; }
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) pause();
      else { tick(); start(); }
    });
    if (!document.hidden) start();
    return {
      stop: function () { stopped = true; pause(); },
      now: tick,
      get active() { return timer !== null; },
    };
  };

  WF.debounce = function (fn, ms) {
    var timer = null;
    return function () {
      var args = arguments, self = this;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(self, args); }, ms);
    };
  };

  var formatters = {};
  /** An ISO 8601 time as "YYYY-MM-DD HH:MM:SS" in the server's time zone (as the server renders it). */
  WF.when = function (iso) {
    if (!iso) return "";
    var date = new Date(iso);
    if (isNaN(date.getTime())) return String(iso);
    var zone = WF.config.timezone || undefined;
    if (!formatters[zone]) {
      try {
        formatters[zone] = new Intl.DateTimeFormat("sv-SE", { timeZone: zone, year: "numeric", month: "2-digit",
          day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
      } catch (e) {
        formatters[zone] = new Intl.DateTimeFormat("sv-SE", { year: "numeric", month: "2-digit", day: "2-digit",
          hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
      }
    }
    return formatters[zone].format(date);
  };

  /** Seconds as the server's duration filter writes them: "1.234 s", "2m 05s", "1h 02m 05s". */
  WF.duration = function (seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 60) return String(Number(seconds.toFixed(3))) + " s";
    var total = Math.round(seconds), s = total % 60, m = Math.floor(total / 60) % 60, h = Math.floor(total / 3600);
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return h ? h + "h " + pad(m) + "m " + pad(s) + "s" : m + "m " + pad(s) + "s";
  };

  /** A run status badge, as macros.html renders it. */
  WF.statusBadge = function (status) {
    return WF.el("span", { class: "badge wf-status wf-status-" + (status || "none"), "data-f": "status" },
      status ? WF.t("status_" + status) : "");
  };
})();
