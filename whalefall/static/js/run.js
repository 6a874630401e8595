/* One run: while it is queued or running, follow it like `tail -f` — every second ask
 * GET /api/runs/<id>?offset=<the end of what we have> and append only the new log text —
 * and update its status, times and results. Cancel (after a confirmation) goes to
 * POST /api/runs/<id>/cancel; re-run to POST /api/jobs/<job>/run, then to the new run's page.
 *
 * The log is kept as lines, each a block of its own in #log (its text plus "\n", so the
 * element's text is still the log) with its number drawn by CSS from data-n:
 * 1. a line's level is the word after its time stamp (DEBUG, INFO, WARNING/WARN,
 *    ERROR/CRITICAL, as the run's logger writes them); a stamped line without one is printed
 *    output and counts as INFO; a line without a stamp (a traceback, the rest of a
 *    multi-line message) belongs to the line before it;
 * 2. the level buttons hide and show lines; the search marks its matches in the lines shown,
 *    counts them, and ↑/↓ (or Enter / Shift+Enter) step through them;
 * 3. copy takes the lines shown; download saves the whole log as <job>-run-<id>.log.
 */
(function () {
  "use strict";

  var ACTIVE = ["queued", "running"];
  var LEVELS = ["DEBUG", "INFO", "WARNING", "ERROR"];
  var STAMP = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d /;
  var LEVEL_WORD = /^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d )?(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\b/;
  var CANONICAL = { WARN: "WARNING", CRITICAL: "ERROR", FATAL: "ERROR" };

  WF.ready(function () {
    var root = document.getElementById("run");
    var id = root.dataset.runId;
    var log = document.getElementById("log");
    var follow = document.getElementById("follow");
    var cancel = document.getElementById("cancel-run");
    var rerun = document.getElementById("rerun");
    var elapsed = document.getElementById("elapsed");
    var search = document.getElementById("log-search");
    var count = document.getElementById("log-count");
    var prev = document.getElementById("log-prev");
    var next = document.getElementById("log-next");
    var offset = Number(root.dataset.nextOffset) || 0;
    var poller = null, ticker = null;

    // --- the log as lines ------------------------------------------------------------------
    var lines = [];           // {text, closed, level, node}
    var shown = {};           // level -> shown?
    LEVELS.forEach(function (level) { shown[level] = document.getElementById("lvl-" + level).checked; });
    var query = "", marks = [], current = -1;

    function levelOf(text, before) {
      var match = LEVEL_WORD.exec(text);
      if (match) return CANONICAL[match[1]] || match[1];
      return before && !STAMP.test(text) ? before.level : "INFO";
    }

    /** (Re)draw one line: its level class, its visibility and its search marks. */
    function paint(line) {
      var node = line.node;
      node.className = "wf-line wf-lv-" + line.level.toLowerCase() + (shown[line.level] ? "" : " d-none");
      node.dataset.level = line.level;
      var parts = [], text = line.text;
      if (query && shown[line.level]) {
        var lower = text.toLowerCase(), from = 0, at;
        while ((at = lower.indexOf(query, from)) >= 0) {
          if (at > from) parts.push(text.slice(from, at));
          parts.push(WF.el("mark", { class: "wf-match" }, text.slice(at, at + query.length)));
          from = at + query.length;
        }
        if (from < text.length) parts.push(text.slice(from));
      } else {
        parts.push(text);
      }
      if (line.closed) parts.push("\n");
      node.replaceChildren.apply(node, parts.map(function (p) {
        return p instanceof Node ? p : document.createTextNode(p);
      }));
    }

    /** Append log text (which may end inside a line, and go on in the next chunk). */
    function append(chunk) {
      if (!chunk) return;
      var pieces = chunk.split("\n");
      var last = lines[lines.length - 1];
      var first = 0;
      if (last && !last.closed) {
        last.text += pieces[0];
        last.closed = pieces.length > 1;
        last.level = levelOf(last.text, lines[lines.length - 2]);
        paint(last);
        first = 1;
      }
      var fragment = document.createDocumentFragment();
      for (var i = first; i < pieces.length; i++) {
        var closed = i < pieces.length - 1;
        if (!closed && pieces[i] === "") break;  // the chunk ended with its line
        var line = { text: pieces[i], closed: closed, node: WF.el("span", { "data-n": lines.length + 1 }) };
        line.level = levelOf(line.text, lines[lines.length - 1]);
        lines.push(line);
        paint(line);
        fragment.appendChild(line.node);
      }
      log.appendChild(fragment);
    }

    function collectMarks() {
      marks = query ? Array.prototype.slice.call(log.querySelectorAll("mark.wf-match")) : [];
      if (current >= marks.length) current = marks.length - 1;
      if (current < 0 && marks.length) current = 0;
      marks.forEach(function (mark, index) { mark.classList.toggle("wf-current", index === current); });
      count.textContent = !query ? "" : marks.length ? WF.t("log_matches", { i: current + 1, n: marks.length })
        : WF.t("log_no_match");
      prev.disabled = next.disabled = marks.length === 0;
    }

    function step(by) {
      if (!marks.length) return;
      current = (current + by + marks.length) % marks.length;
      collectMarks();
      if (follow) follow.checked = false;  // looking at a match: stop jumping to the end
      var mark = marks[current], box = log.getBoundingClientRect(), at = mark.getBoundingClientRect();
      if (at.top < box.top || at.bottom > box.bottom) log.scrollTop += at.top - box.top - log.clientHeight / 3;
    }

    function repaintAll() {
      lines.forEach(paint);
      collectMarks();
    }

    search.addEventListener("input", WF.debounce(function () {
      query = search.value.toLowerCase();
      current = -1;
      repaintAll();
      if (marks.length) step(0);
    }, 150));
    search.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); step(event.shiftKey ? -1 : 1); }
    });
    prev.addEventListener("click", function () { step(-1); });
    next.addEventListener("click", function () { step(1); });
    LEVELS.forEach(function (level) {
      document.getElementById("lvl-" + level).addEventListener("change", function (event) {
        shown[level] = event.target.checked;
        current = -1;
        repaintAll();
      });
    });

    function fullText() {
      return lines.map(function (line) { return line.text + (line.closed ? "\n" : ""); }).join("");
    }

    document.getElementById("log-download").addEventListener("click", function () {
      var blob = new Blob([fullText()], { type: "text/plain;charset=utf-8" });
      var url = URL.createObjectURL(blob);
      var link = WF.el("a", { href: url, download: root.dataset.jobId + "-run-" + id + ".log", class: "d-none" });
      document.body.appendChild(link);
      link.click();
      link.remove();
      setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
    });

    var copy = document.getElementById("log-copy");
    copy.addEventListener("click", async function () {
      var text = lines.filter(function (line) { return shown[line.level]; })
        .map(function (line) { return line.text + (line.closed ? "\n" : ""); }).join("");
      try {
        await navigator.clipboard.writeText(text);
      } catch (e) {
        // No async clipboard (a plain-http address other than localhost): the old way.
        var area = WF.el("textarea", { class: "visually-hidden", readonly: true });
        area.value = text;
        document.body.appendChild(area);
        area.select();
        document.execCommand("copy");
        area.remove();
      }
      WF.toast(copy.dataset.copied, "success");
    });

    // --- the run's state -----------------------------------------------------------------------
    function set(name, text) {
      var node = root.querySelector('[data-f="' + name + '"]');
      if (node) node.textContent = text || WF.t("none");
    }
    function section(name, value) {
      var box = root.querySelector('[data-section="' + name + '"]');
      box.classList.toggle("d-none", value === null || value === undefined || value === "");
      box.querySelector('[data-f="' + name + '"]').textContent = value === null || value === undefined ? "" : value;
    }

    function scrollToEnd() {
      if (follow && follow.checked) log.scrollTop = log.scrollHeight;
    }

    // The elapsed timer counts on the server's clock: the page says what time the server had.
    var skew = root.dataset.now ? Date.parse(root.dataset.now) - Date.now() : 0;
    if (isNaN(skew)) skew = 0;
    function tick() {
      var started = Date.parse(root.dataset.startedAt || "");
      var running = root.dataset.status === "running" && !isNaN(started);
      elapsed.classList.toggle("d-none", !running);
      if (running) {
        var seconds = Math.max(0, Math.floor((Date.now() + skew - started) / 1000));
        elapsed.textContent = WF.t("elapsed", { time: WF.duration(seconds) });
      }
      if (!running && ticker) { clearInterval(ticker); ticker = null; }
      if (running && !ticker) ticker = setInterval(tick, 1000);
    }

    function update(run) {
      if (run.log_offset > offset && lines.length) append("…\n");  // the log's head was dropped meanwhile
      var wasQuery = query && marks.length;
      append(run.log);
      if (query) {
        collectMarks();
        if (!wasQuery && marks.length) step(0);
      }
      offset = run.next_offset;
      document.getElementById("log-truncated").classList.toggle("d-none", !run.log_truncated);
      root.dataset.status = run.status;
      root.dataset.startedAt = run.started_at || "";
      root.querySelector('[data-f="status"]').replaceWith(WF.statusBadge(run.display_status || run.status));
      set("started_at", WF.when(run.started_at));
      set("finished_at", WF.when(run.finished_at));
      set("duration", WF.duration(run.duration_seconds));
      set("node", run.node);
      section("return_value", run.return_value);
      section("error_message", run.error_message);
      section("traceback", run.traceback);
      var active = ACTIVE.indexOf(run.status) >= 0;
      if (cancel) cancel.classList.toggle("d-none", !active);
      if (rerun) rerun.classList.toggle("d-none", active);
      document.getElementById("follow-box").classList.toggle("d-none", !active);
      document.getElementById("log-spinner").classList.toggle("d-none", !active);
      tick();
      scrollToEnd();
      if (!active && poller) poller.stop();
    }

    async function poll() {
      try {
        update((await WF.api("GET", "/runs/" + encodeURIComponent(id) + "?offset=" + offset)).data);
      } catch (error) {
        if (error.status === 404 && poller) poller.stop();  // removed meanwhile: nothing more to follow
        throw error;
      }
    }

    // The server rendered the log as plain text (readable without this script): redo it as lines.
    var initial = log.textContent;
    log.replaceChildren();
    append(initial);
    tick();
    scrollToEnd();
    if (ACTIVE.indexOf(root.dataset.status) >= 0) {
      poller = WF.every(1, poll);
      poller.now();
    }

    if (cancel) {
      cancel.addEventListener("click", async function () {
        var name = root.querySelector('[data-f="job_name"]').textContent;
        var question = WF.t("cancel_confirm", { id: id, name: name });
        if (!(await WF.confirm(WF.t("cancel_run"), question, WF.t("cancel_run")))) return;
        if (await WF.call("POST", "/runs/" + encodeURIComponent(id) + "/cancel", undefined, cancel)) {
          if (poller) poller.now(); else await poll();
        }
      });
    }

    if (rerun) {
      rerun.addEventListener("click", async function () {
        rerun.disabled = true;
        try {
          var envelope = await WF.api("POST", "/jobs/" + encodeURIComponent(root.dataset.jobId) + "/run");
          WF.flashAfterReload(envelope.message);
          window.location.assign("/scheduler/runs/" + encodeURIComponent(envelope.data.run_id));
        } catch (error) {
          WF.toast(error.message, "danger");
          rerun.disabled = false;
        }
      });
    }
  });
})();
