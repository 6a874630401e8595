/* The capacity page: size over time from GET /scheduler/api/capacity, drawn here as an SVG
 * line chart (one line per instance, or the one database chosen), plus the largest and the
 * fastest-growing databases of the latest period. The chart is built with DOM calls only. */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var W = 860, H = 320, LEFT = 78, RIGHT = 16, TOP = 14, BOTTOM = 44;
  var COLOURS = ["#0d6efd", "#d63384", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#dc3545", "#0dcaf0"];

  function svg(tag, attrs, children) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, String(attrs[name])); });
    [].concat(children || []).forEach(function (child) {
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    });
    return node;
  }

  /** Bytes in binary units, as the server's `size` filter writes them. */
  function size(bytes) {
    if (bytes === null || bytes === undefined) return "";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"], value = Number(bytes), i = 0;
    while (Math.abs(value) >= 1024 && i < units.length - 1) { value /= 1024; i += 1; }
    return i === 0 ? Math.trunc(value) + " B" : value.toFixed(1) + " " + units[i];
  }

  function change(point) {
    if (point.change_bytes === null || point.change_bytes === undefined) return WF.t("none");
    var text = (point.change_bytes > 0 ? "+" : point.change_bytes < 0 ? "−" : "") + size(Math.abs(point.change_bytes));
    if (point.change_percent !== null && point.change_percent !== undefined) {
      text += " (" + (point.change_percent > 0 ? "+" : "") + Number(point.change_percent).toFixed(1) + "%)";
    }
    return text;
  }

  /** A round step for about `count` ticks between 0 and max. */
  function niceStep(max, count) {
    var raw = max / count, power = Math.pow(10, Math.floor(Math.log10(raw))), unit = raw / power;
    return (unit <= 1 ? 1 : unit <= 2 ? 2 : unit <= 5 ? 5 : 10) * power;
  }

  function draw(box, legend, series) {
    var dates = [];
    series.forEach(function (s) { s.points.forEach(function (p) { if (dates.indexOf(p.period_start) < 0) dates.push(p.period_start); }); });
    dates.sort();
    var max = 0;
    series.forEach(function (s) { s.points.forEach(function (p) { max = Math.max(max, p.avg_bytes || 0); }); });
    // Binary steps on the axis when it reads in KiB/MiB/GiB: ticks at 0, 256 MiB, 512 MiB…
    var base = Math.pow(1024, Math.max(0, Math.min(4, Math.floor(Math.log(Math.max(max, 1)) / Math.log(1024)))));
    var step = niceStep(Math.max(max, 1) / base, 5) * base;
    var top = Math.max(step, Math.ceil(max / step) * step);
    var plotW = W - LEFT - RIGHT, plotH = H - TOP - BOTTOM;
    var x = function (d) { return LEFT + (dates.length < 2 ? plotW / 2 : dates.indexOf(d) * plotW / (dates.length - 1)); };
    var y = function (v) { return TOP + plotH - (v / top) * plotH; };
    var chart = svg("svg", { viewBox: "0 0 " + W + " " + H, width: "100%", "preserveAspectRatio": "xMidYMid meet",
      "font-size": "12", fill: "currentColor", "data-points": dates.length });
    // y axis: grid lines and labels
    for (var v = 0; v <= top + step / 2; v += step) {
      chart.appendChild(svg("line", { x1: LEFT, x2: W - RIGHT, y1: y(v), y2: y(v), stroke: "currentColor",
        "stroke-opacity": v === 0 ? "0.6" : "0.15" }));
      chart.appendChild(svg("text", { x: LEFT - 6, y: y(v) + 4, "text-anchor": "end", class: "wf-axis-y" }, size(v)));
    }
    // x axis: at most eight dates, evenly picked
    var every = Math.max(1, Math.ceil(dates.length / 8));
    dates.forEach(function (d, i) {
      if (i % every && i !== dates.length - 1) return;
      chart.appendChild(svg("line", { x1: x(d), x2: x(d), y1: TOP + plotH, y2: TOP + plotH + 4, stroke: "currentColor" }));
      chart.appendChild(svg("text", { x: x(d), y: TOP + plotH + 18, "text-anchor": "middle", class: "wf-axis-x" }, d));
    });
    chart.appendChild(svg("text", { x: LEFT + plotW / 2, y: H - 4, "text-anchor": "middle", "fill-opacity": "0.7" },
      WF.t("period_start")));
    chart.appendChild(svg("line", { x1: LEFT, x2: LEFT, y1: TOP, y2: TOP + plotH, stroke: "currentColor",
      "stroke-opacity": "0.6" }));
    legend.replaceChildren();
    series.forEach(function (s, index) {
      var colour = COLOURS[index % COLOURS.length];
      var name = s.database ? s.instance_name + " / " + s.database : s.instance_name;
      var points = s.points.filter(function (p) { return p.avg_bytes !== null && p.avg_bytes !== undefined; });
      var line = svg("polyline", { fill: "none", stroke: colour, "stroke-width": "2", class: "wf-series",
        points: points.map(function (p) { return x(p.period_start) + "," + y(p.avg_bytes); }).join(" ") });
      chart.appendChild(line);
      points.forEach(function (p) {
        chart.appendChild(svg("circle", { cx: x(p.period_start), cy: y(p.avg_bytes), r: 3, fill: colour },
          svg("title", {}, name + " · " + p.period_start + " · " + size(p.avg_bytes) + " · " + change(p))));
      });
      var swatch = svg("svg", { width: 10, height: 10, viewBox: "0 0 10 10", class: "me-1", "aria-hidden": "true" },
        svg("rect", { width: 10, height: 10, fill: colour }));
      legend.appendChild(WF.el("li", { class: "list-inline-item" }, [swatch, name]));
    });
    box.replaceChildren(chart);
  }

  function fillRanking(table, rows) {
    var body = table.tBodies[0];
    body.replaceChildren();
    rows.forEach(function (r) {
      body.appendChild(WF.el("tr", {}, [
        WF.el("td", { class: "text-break" }, WF.el("a", { href: "/scheduler/instances/" + encodeURIComponent(r.instance_id) },
          r.instance_name)),
        WF.el("td", { class: "text-break" }, r.database),
        WF.el("td", { class: "text-nowrap" }, size(r.avg_bytes)),
        WF.el("td", { class: "text-nowrap" }, change(r)),
      ]));
    });
    table.closest("section").querySelector('[data-f="empty"]').classList.toggle("d-none", rows.length > 0);
  }

  WF.ready(function () {
    var form = document.getElementById("capacity-form");
    var instance = document.getElementById("c-instance");
    var database = document.getElementById("c-database");
    var period = document.getElementById("c-period");
    var caption = document.getElementById("chart-caption");
    var box = document.getElementById("chart");
    var legend = document.getElementById("chart-legend");
    var empty = document.getElementById("chart-empty");

    /** The chosen instance's databases in the second list (kept selected when still there). */
    async function loadDatabases(selected) {
      database.replaceChildren(WF.el("option", { value: "" }, WF.t("all_databases")));
      database.disabled = !instance.value;
      if (!instance.value) return;
      try {
        var envelope = await WF.api("GET", "/instances/" + encodeURIComponent(instance.value) +
          "/databases?include_gone=true&per_page=1000");
        envelope.data.databases.forEach(function (d) {
          database.appendChild(WF.el("option", { value: d.name, selected: d.name === selected }, d.name));
        });
      } catch (error) {
        WF.toast(error.message, "danger");
      }
    }

    async function show() {
      var query = new URLSearchParams({ period: period.value, top: "10" });
      if (instance.value) query.set("instance_id", instance.value);
      if (instance.value && database.value) query.set("database", database.value);
      var pageQuery = new URLSearchParams(query);
      pageQuery.delete("top");
      history.replaceState(null, "", location.pathname + "?" + pageQuery.toString());
      caption.textContent = WF.t("loading");
      try {
        var data = (await WF.api("GET", "/capacity?" + query.toString())).data;
        var what = database.value && instance.value ? instance.selectedOptions[0].textContent + " / " + database.value
          : instance.value ? instance.selectedOptions[0].textContent : WF.t("all_instances_chart");
        caption.textContent = WF.t("chart_label", { what: what, period: WF.t("period_" + data.period) });
        var hasPoints = data.series.some(function (s) { return s.points.length > 0; });
        empty.classList.toggle("d-none", hasPoints);
        if (hasPoints) draw(box, legend, data.series);
        else { box.replaceChildren(); legend.replaceChildren(); }
        document.getElementById("ranking-period").textContent =
          data.period_start ? WF.t("latest_period", { date: data.period_start }) : "";
        fillRanking(document.getElementById("largest"), data.largest || []);
        fillRanking(document.getElementById("fastest"), data.fastest_growing || []);
      } catch (error) {
        caption.textContent = error.message;
        WF.toast(error.message, "danger");
      }
    }

    instance.addEventListener("change", async function () { await loadDatabases(""); show(); });
    database.addEventListener("change", show);
    period.addEventListener("change", show);
    form.addEventListener("submit", function (event) { event.preventDefault(); show(); });
    loadDatabases(database.dataset.selected).then(show);
  });
})();
